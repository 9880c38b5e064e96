"""``skbreastcad detect MODEL FILM...``: lesion maps and candidates of whole films."""

import os
import time
from collections import Counter
from pathlib import Path

from ._shared import (
    MAX_INPUT_SIZE,
    UsageError,
    add_overwrite,
    check_output,
    checking,
    first_line,
    fraction,
    int_at_least,
    int_between,
    output_folder,
    write_csv,
)

_DESCRIPTION = """Map whole films with a fitted model: a lesion-map overlay PNG per film and one
candidates.csv (film, row, col, radius, score). FILM, in file names and in the film column, is the
film's path relative to the folder that holds all the films given (its name for films of one
folder; in file names '/' is written '__' and the extension dropped), so two films of one name in
different folders stay apart. Every film is read and checked before anything is written. MODEL is
a model folder written by 'skbreastcad train' or save_model (docs/models.md); it loads without
running code from it. A whole-film detector ('train --model film-detector') finds its own
candidates and maps at its own scales (the window options below do not apply to it;
--max-candidates does; mini-MIAS films mdbNNN given with their woman's other film are searched with
it as context). Any other model is a classifier or pipeline with predict_proba, slid over the films
as a ROI model. A pickle or joblib file is refused unless --trust-pickle (it runs code from the
file: trusted sources only). --crop-size and --output-size must be the ROI
geometry the model was trained on (load_mias' roi_size and output_size). Writes into --output:
candidates.csv, FILM_lesion_map.png per film and, with --explain, FILM_candidateK_METHOD.png for
its top three candidates."""


def _load_model(path, trust_pickle):
    from .predict import load_model_arg

    return load_model_arg(path, trust_pickle, accept=("predict_proba", "predict_candidates"))[0]


def _is_film_detector(model):
    return hasattr(model, "predict_candidates") and hasattr(model, "decision_maps")


def _check_model(model, args):
    """Map one blank window and explain it: every mismatch found before a film is read.

    The library's own checks run (window geometry against the training ROIs,
    ``predict_proba``, the positive class, a network for Grad-CAM), on one
    window instead of a film.
    """
    import numpy as np

    from ..detection import grad_cam, lesion_map

    side = args.crop_size
    with checking():
        lesion_map(
            model,
            np.zeros((side, side), dtype=np.uint8),
            crop_size=side,
            output_size=args.output_size,
            stride=args.stride,
            mask=np.ones((side, side), dtype=bool),
        )
        if args.explain == "grad-cam":
            grad_cam(model, np.zeros((1, args.output_size, args.output_size), dtype=np.uint8))


def film_keys(paths):
    """A unique key and a file-name stem for each film: its path relative to the films' folder.

    The key is the film's path relative to the deepest folder holding every
    film (``film.pgm`` for films of one folder, ``a/film.pgm`` and
    ``b/film.pgm`` for two films of one name); the stem names its PNGs: the
    key without the extension, ``/`` written ``__``, the extension kept when
    two films would share a stem (``film.pgm`` and ``film.png``).

    Parameters
    ----------
    paths : list of pathlib.Path
        The films, each given once.

    Returns
    -------
    keys, stems : list of str

    Examples
    --------
    >>> from pathlib import Path
    >>> film_keys([Path("a/film.pgm"), Path("b/film.pgm")])
    (['a/film.pgm', 'b/film.pgm'], ['a__film', 'b__film'])
    >>> film_keys([Path("x/mdb001.pgm")])
    (['mdb001.pgm'], ['mdb001'])
    """
    absolute = [Path(os.path.abspath(p)) for p in paths]
    root = Path(os.path.commonpath([p.parent for p in absolute]))
    keys = [p.relative_to(root).as_posix() for p in absolute]
    bases = [str(Path(k).with_suffix("")).replace("/", "__") for k in keys]
    fulls = [k.replace("/", "__") for k in keys]
    # case-folded: on a case-insensitive file system A.png and a.png are one file
    n_base = Counter(b.casefold() for b in bases)
    n_full = Counter(f.casefold() for f in fulls)
    unique, taken = [], set()
    for base, full in zip(bases, fulls, strict=True):
        stem = (
            base if n_base[base.casefold()] == 1 else full if n_full[full.casefold()] == 1 else base
        )
        name, n = stem, 1
        while name.casefold() in taken:  # '__' inside names ('a__b/c', 'a/b__c'): numbered
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        unique.append(name)
    return keys, unique


def _check_films(paths, args):
    """Read every film before anything is written: each failure names its file."""
    from ..datasets import read_image

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"film(s) not found: {', '.join(missing)}")
    seen = {}
    for path in paths:
        info = path.stat()
        first = seen.setdefault((info.st_dev, info.st_ino), path)
        if first is not path:
            again = "" if str(first) == str(path) else f" (as {first}: a link or another spelling)"
            raise UsageError(f"{path}: this film is given twice{again}")
    for path in paths:
        if path.stat().st_size == 0:
            raise UsageError(f"{path}: the film is an empty file (0 bytes)")
        try:
            film = read_image(path)  # undecodable, truncated, several frames, NaN...
        except (ValueError, OSError) as exc:
            message = first_line(exc)
            raise UsageError(message if str(path) in message else f"{path}: {message}") from exc
        if film.ndim != 2:
            raise UsageError(f"{path}: not a 2-D grayscale film (shape {film.shape})")
        if min(film.shape) < args.crop_size:
            raise UsageError(
                f"{path}: the film ({film.shape[0]}x{film.shape[1]} px) is smaller than one "
                f"{args.crop_size}x{args.crop_size} window (--crop-size)"
            )


def execute(args):
    """Run ``skbreastcad detect``; return the exit code."""
    paths = [Path(f) for f in args.films]
    protect = [*paths, args.model]
    check_output(args.output, args.overwrite, protect, kind="detection")
    _check_films(paths, args)
    model = _load_model(args.model, args.trust_pickle)
    if _is_film_detector(model):
        if args.explain != "none":
            raise UsageError(
                f"--explain {args.explain} explains ROI models; {args.model} holds a whole-film "
                "detector (its overlays show its own lesion maps)"
            )
        with output_folder(args.output, args.overwrite, protect, kind="detection") as out:
            _detect_films(model, paths, args, out)
    else:
        _check_model(model, args)
        with output_folder(args.output, args.overwrite, protect, kind="detection") as out:
            _detect(model, paths, args, out)
    final = Path(args.output)
    print(f"Candidates: {final / 'candidates.csv'}; overlays in {final}")
    return 0


def _detect(model, paths, args, out):
    import numpy as np
    import pandas as pd

    from ..datasets import cut_roi, read_image
    from ..detection import find_candidates, grad_cam, lesion_map, occlusion_sensitivity
    from ..plotting import plot_overlay

    rows = []
    for path, key, stem in zip(paths, *film_keys(paths), strict=True):
        with checking():
            film = read_image(path)  # its errors name the file
        try:
            start = time.perf_counter()
            result = lesion_map(
                model,
                film,
                crop_size=args.crop_size,
                output_size=args.output_size,
                stride=args.stride,
                min_breast_fraction=args.min_breast_fraction,
            )
        except ValueError as exc:
            # an empty breast mask: the user's file, named
            raise UsageError(f"{path}: {first_line(exc)}") from exc
        found = find_candidates(
            result.probability, min_distance=args.min_distance, max_candidates=args.max_candidates
        )
        elapsed = time.perf_counter() - start
        plot_overlay(
            film,
            result.probability,
            path=out / f"{stem}_lesion_map.png",
            candidates=found,
            title=f"{key}: {len(result.scores)} windows, {elapsed:.1f} s",
        )
        rows.append(found.assign(film=key))
        print(
            f"{key}: {len(found)} candidate(s), top score "
            f"{found['score'].max() if len(found) else float('nan'):.3f} ({elapsed:.1f} s)"
        )
        if args.explain != "none" and len(found):
            top = found.head(3)
            rois = np.stack(
                [
                    cut_roi(film, r, c, args.crop_size, args.output_size)[0]
                    for r, c in zip(top["row"], top["col"], strict=True)
                ]
            )
            maps = (
                grad_cam(model, rois)
                if args.explain == "grad-cam"
                else occlusion_sensitivity(model, rois)
            )
            for k, (roi, heat) in enumerate(zip(rois, maps, strict=True), start=1):
                plot_overlay(
                    roi,
                    heat,
                    path=out / f"{stem}_candidate{k}_{args.explain}.png",
                    size=3,
                    title=f"candidate {k} ({args.explain})",
                )
    table = pd.concat(rows, ignore_index=True)[["film", "row", "col", "radius", "score"]]
    write_csv(table, out / "candidates.csv", index=False)


def _film_map(shape, maps, scales):
    """One lesion map at the film's size: each scale's map blown up, the highest score kept.

    The map of reduction factor ``f`` has one value per ``f x f`` block of the film.
    """
    import numpy as np

    out = np.full(shape, np.nan)
    for m, factor in zip(maps, np.atleast_1d(scales).astype(int), strict=True):
        big = np.repeat(np.repeat(m, factor, axis=0), factor, axis=1)[: shape[0], : shape[1]]
        rows, cols = big.shape
        out[:rows, :cols] = np.fmax(out[:rows, :cols], big)
    # unsearched pixels (outside the breast) show no colour
    return np.nan_to_num(out, nan=0.0)


def _partners(paths):
    """Each film's partner index: mini-MIAS films 2k-1 and 2k are one woman's, when both given."""
    import re

    names = [p.stem for p in paths]
    if not all(re.fullmatch(r"mdb\d{3}", n) for n in names) or len(set(names)) < len(names):
        # one name in two folders: which copy is the partner is not ours to guess
        return None
    from ..detection import mias_pairs

    index = {n: k for k, n in enumerate(names)}
    return [None if p is None else index[p] for p in mias_pairs(names)]


def _detect_films(model, paths, args, out):
    """The whole-film detector: its own candidates and decision maps, per film."""
    import pandas as pd

    from ..datasets import read_image
    from ..plotting import plot_overlay

    films = []
    for path in paths:
        with checking():
            film = read_image(path)  # its errors name the file
        if film.ndim != 2:
            raise UsageError(f"{path}: a film must be a 2-D grayscale image; got {film.shape}")
        films.append(film)
    partners = _partners(paths)
    rows = []
    keys, stems = film_keys(paths)
    for k, film in enumerate(films):
        # each film with its partner (when given) as context, as it was trained
        other = None if partners is None or partners[k] is None else films[partners[k]]
        start = time.perf_counter()
        with checking():
            found, maps = model.predict_candidates([film], contralateral=[other], return_maps=True)
            found, maps = found[0], maps[0]
        found = found.head(args.max_candidates)
        elapsed = time.perf_counter() - start
        plot_overlay(
            film,
            _film_map(film.shape, maps, model.scales),
            path=out / f"{stems[k]}_lesion_map.png",
            candidates=found,
            title=f"{keys[k]}: film detector, {len(found)} candidate(s), {elapsed:.1f} s",
        )
        rows.append(found.assign(film=keys[k]))
        print(
            f"{keys[k]}: {len(found)} candidate(s), top score "
            f"{found['score'].max() if len(found) else float('nan'):.3f} ({elapsed:.1f} s)"
        )
    table = pd.concat(rows, ignore_index=True)
    front = ["film", "row", "col", "radius", "score"]
    write_csv(
        table[front + [c for c in table.columns if c not in front]],
        out / "candidates.csv",
        index=False,
    )


def add_geometry(parser):
    """The window options ``detect`` and ``froc`` share."""
    parser.add_argument(
        "--crop-size",
        type=int_at_least(8),
        default=128,
        help="window side in film pixels (default: 128)",
    )
    parser.add_argument(
        "--output-size",
        type=int_between(8, MAX_INPUT_SIZE),
        default=64,
        help="ROI side the model takes (default: 64)",
    )
    parser.add_argument(
        "--stride", type=int_at_least(1), default=32, help="window step in pixels (default: 32)"
    )
    parser.add_argument(
        "--min-distance",
        type=int_at_least(0),
        default=64,
        help="between candidates (default: 64)",
    )
    parser.add_argument(
        "--max-candidates", type=int_at_least(1), default=10, help="per film (default: 10)"
    )
    parser.add_argument(
        "--min-breast-fraction",
        type=fraction,
        default=0.0,
        help="score only windows with at least this share of breast (default: 0)",
    )


def add_parser(subparsers):
    """Add ``detect`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "detect",
        help="lesion maps and candidates of whole films from a saved film detector or ROI model",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="model folder of a whole-film detector, or of a classifier or pipeline",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load a pickle/joblib MODEL (it runs code from the file: trusted sources only)",
    )
    p.add_argument(
        "films", metavar="FILM", nargs="+", help="film images (PGM, PNG, TIFF, DICOM...)"
    )
    add_geometry(p)
    p.add_argument(
        "--explain",
        choices=["none", "grad-cam", "occlusion"],
        default="none",
        help="also write ROI overlays explaining the top candidates (default: none)",
    )
    p.add_argument(
        "--output", default="skbreastcad_detect", help="folder for PNGs and candidates.csv"
    )
    add_overwrite(p)
    return p
