"""``skbreastcad froc``: FROC on whole films, by folds of women or trained on another set.

The default model, ``film``, is the detector trained on whole films
(:class:`~skbreastcad.detection.FilmLesionDetector`); the other ``--features``
entries are ROI models trained on ROIs and slid over the films.
"""

import json
import tempfile
import time
from pathlib import Path

from ._shared import (
    MAX_INPUT_SIZE,
    UsageError,
    add_overwrite,
    add_seed,
    add_verbose,
    check_output,
    checking,
    int_at_least,
    int_between,
    note,
    output_folder,
    write_csv,
)
from .detect import add_geometry

_DESCRIPTION = """Grouped detection study on whole films: for each fold of women, a model is trained on the
training women and finds lesions on the test women's films; candidates of all folds give one FROC with
a bootstrap over women. The default model, 'film', is trained on the films themselves (breast and
pectoral segmentation, multi-scale windows, hard negatives, and frozen EfficientNet-Lite0 maps
when their offline weights are installed; --no-film-cnn leaves them out) and also writes froc_classes_film.csv (per
lesion class: masses, calcifications, other, all); with --train-data it is trained once on that set and
tested on every film of --data. --data cbis:DIR reads the full films and masks of a CBIS-DDSM png_copies
folder (film model only). Every other --features entry is a ROI model trained on the training women's
ROIs (load_mias) and slid over the films. Writes into --output, for each --features entry NAME
('+' written '_', e.g. glcm_haar): froc_NAME.csv (sensitivity at 0.25-4 false positives per film,
with its interval), froc_curve_NAME.csv, candidates_NAME.csv and lesion_map_NAME_FILM.png (for the
--overlays first films with lesions among those mapped); then froc.png, report.md and
settings.json. Figures of real films are derived data: keep --output outside any repository."""


FILM_MODEL = "film"


def _film_data(spec, option):
    """``mias:DIR`` or ``cbis:DIR`` (a CBIS-DDSM ``png_copies`` folder): ``(kind, folder, films, lesions)``."""
    kind, _, folder = spec.partition(":")
    if kind not in ("mias", "cbis") or not folder:
        raise UsageError(
            f"{option} must be mias:DIR or cbis:DIR (only these have whole films and lesion "
            f"outlines); got {spec!r}"
        )
    if not Path(folder).is_dir():
        raise UsageError(f"data folder {folder} does not exist")
    from ..detection import cbis_sample_detection_data, mias_detection_data

    with checking():
        if kind == "mias":
            films, lesions = mias_detection_data(folder)
        else:
            films, lesions = cbis_sample_detection_data(folder)
            films["abnormal"] = films["film"].isin(lesions["film"])
    return kind, folder, films, lesions


# the film model's CNN columns (one fully convolutional pass per film): on the mini-MIAS
# subset they raise the masses found at 1 FP/film from 0.42 to 0.75 (docs/detection.md)
FILM_CNN = "efficientnet_lite0"


def _film_detector(args):
    from ..detection import FilmLesionDetector
    from ..nn import weights_status

    # CBIS-DDSM mixes CC and MLO views; a pectoral search on a CC view would cut tissue
    view = "CC" if args.data.startswith("cbis:") else "MLO"
    cnn = None
    if not args.no_film_cnn:
        available, detail = weights_status(FILM_CNN)
        if available:
            cnn = FILM_CNN
        else:
            note(f"{FILM_MODEL}: no CNN columns ({FILM_CNN}: {detail}); blob features only")
    return FilmLesionDetector(
        view=view,
        cnn_backbone=cnn,
        random_state=args.seed,
        verbose=max(args.verbose - 1, 0),
    )


def _input_size(text):
    """``--cnn-input-size``: 'native', 'default' or a positive integer."""
    if text in ("native", "default"):
        return text
    return int_between(1, MAX_INPUT_SIZE)(text)


def _check(args):
    """Every check that can fail, before a model is trained: ``(folder, films, lesions, models)``."""
    kind, folder, films, lesions = _film_data(args.data, "--data")
    roi_names = [name for name in args.features if name != FILM_MODEL]
    if kind != "mias" and roi_names:
        raise UsageError(
            f"ROI models ({', '.join(roi_names)}) need --data mias:DIR; {args.data!r} is read by "
            f"the '{FILM_MODEL}' model only"
        )
    if args.train_data is not None:
        if roi_names:
            raise UsageError(f"--train-data trains the '{FILM_MODEL}' model only, not {roi_names}")
        _film_data(args.train_data, "--train-data")
    from ..experiments import make_feature_pipeline, make_feature_set
    from ..nn import get_backbone_spec, weights_status

    women = films["woman"].nunique()
    if women < args.n_splits and args.train_data is None:
        raise UsageError(
            f"{folder} holds films of {women} women, too few for --n-splits {args.n_splits}"
        )
    size = {"default": None}.get(args.cnn_input_size, args.cnn_input_size)
    cnn = {"backbone": args.backbone, "input_size": size, "batch_size": 64}
    with checking():
        models = {
            name: _film_detector(args)
            if name == FILM_MODEL
            else make_feature_pipeline(
                make_feature_set(name, cnn_params=cnn), random_state=args.seed
            )
            for name in args.features
        }
        if any("cnn" in name.split("+") for name in args.features):
            get_backbone_spec(args.backbone)
            available, detail = weights_status(args.backbone)
            if available is False:
                raise UsageError(
                    f"'cnn' takes ImageNet weights, and those of {args.backbone} are not "
                    f"available offline: {detail}"
                )
    return folder, films, lesions, models


def execute(args):
    """Run ``skbreastcad froc``; return the exit code."""
    folder, films, lesions, models = _check(args)
    # before a model is trained, after --data is known to be mias:DIR
    check_output(args.output, args.overwrite, [folder], kind="froc")
    with output_folder(args.output, args.overwrite, [folder], kind="froc") as out:
        _froc(args, folder, films, lesions, models, out)
    print(f"Report: {Path(args.output) / 'report.md'}")
    return 0


def _froc(args, folder, films, lesions, models, out):
    from ..datasets import read_image
    from ..detection import evaluate_mias_froc
    from ..plotting import plot_froc, plot_overlay

    results, lines = {}, []
    for name, model in models.items():
        if name == FILM_MODEL:
            results[name] = _film_froc(args, films, lesions, model, out, lines)
            continue
        start = time.perf_counter()
        res = evaluate_mias_froc(
            folder,
            model,
            n_splits=args.n_splits,
            crop_size=args.crop_size,
            output_size=args.output_size,
            stride=args.stride,
            min_breast_fraction=args.min_breast_fraction,
            min_distance=args.min_distance,
            max_candidates=args.max_candidates,
            max_films=args.max_films,
            n_bootstraps=args.bootstraps,
            keep_maps=args.overlays,
            random_state=args.seed,
            verbose=args.verbose,
        )
        total = time.perf_counter() - start
        results[name] = res.froc
        slug = name.replace("+", "_")
        table = res.froc.table
        write_csv(table, out / f"froc_{slug}.csv")
        write_csv(res.froc.curve, out / f"froc_curve_{slug}.csv", index=False)
        write_csv(res.candidates, out / f"candidates_{slug}.csv", index=False)
        mapped = res.films[res.films["fold"] >= 0]
        lines += [
            f"## {name}",
            "",
            f"{len(mapped)} films of {mapped['woman'].nunique()} women mapped ({int(mapped['abnormal'].sum())} with "
            f"lesions, {res.froc.n_lesions} lesions); {args.n_splits} folds of women; windows "
            f"{args.crop_size} px -> {args.output_size} px at stride {args.stride}; mapping {res.seconds:.0f} s "
            f"({res.seconds / max(len(mapped), 1):.1f} s/film), total {total:.0f} s.",
            "",
            "| FP per film | sensitivity | 95% CI (bootstrap over women) |",
            "|---|---|---|",
            *[
                f"| {rate:g} | {row.sensitivity:.3f} | {row.ci_low:.3f} - {row.ci_high:.3f} |"
                for rate, row in table.iterrows()
            ],
            "",
        ]
        if len(res.maps) < args.overlays:
            note(
                f"{name}: {len(res.maps)} lesion-map overlay(s) of the {args.overlays} asked for: "
                f"only {int(mapped['abnormal'].sum())} mapped film(s) have lesions"
            )
        for film_id, prob in res.maps.items():
            row = films[films["film"] == film_id].iloc[0]
            plot_overlay(
                read_image(row["path"]),
                prob,
                path=out / f"lesion_map_{slug}_{film_id}.png",
                candidates=res.candidates[res.candidates["film"] == film_id],
                lesions=lesions[lesions["film"] == film_id],
                title=f"{film_id} ({name})",
            )
        print("\n".join(lines[-(len(table) + 6) :]), flush=True)
    plot_froc(results, path=out / "froc.png")
    header = [
        "# FROC on mini-MIAS whole films",
        "",
        f"Data: {folder}. A hit is a candidate centre inside the annotated circle. Films with calcifications "
        "lacking coordinates (Info.txt note 4) are left out.",
        "",
        "![FROC](froc.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(header + lines))
    (out / "settings.json").write_text(json.dumps(vars(args), indent=1))


def _film_froc(args, films, lesions, detector, out, lines):
    """The film-trained detector: per-class FROC, out of fold by woman or trained on --train-data."""
    from sklearn.base import clone

    from ..detection import evaluate_froc

    start = time.perf_counter()
    train = (None, None)
    if args.train_data is not None:
        train = _film_data(args.train_data, "--train-data")[2:]
    # every film is preprocessed and mapped once, not once per fold that uses it (the CNN
    # pass is the costliest step): a cache that lives as long as the command
    with checking(), tempfile.TemporaryDirectory(prefix="skbreastcad-froc-") as cache:
        if detector.memory is None:
            detector = clone(detector).set_params(memory=cache)
        res = evaluate_froc(
            films,
            lesions,
            detector,
            n_splits=args.n_splits,
            train_films=train[0],
            train_lesions=train[1],
            n_bootstraps=args.bootstraps,
            random_state=args.seed,
            verbose=args.verbose,
        )
    total = time.perf_counter() - start
    overall = res.froc["all"]
    write_csv(overall.table, out / f"froc_{FILM_MODEL}.csv")
    write_csv(overall.curve, out / f"froc_curve_{FILM_MODEL}.csv", index=False)
    write_csv(res.table, out / f"froc_classes_{FILM_MODEL}.csv")
    write_csv(res.candidates, out / f"candidates_{FILM_MODEL}.csv", index=False)
    how = (
        f"trained on {args.train_data}"
        if args.train_data
        else f"{args.n_splits} folds of women, out-of-fold films pooled"
    )
    rates = [c for c in res.table.columns if c.startswith("sensitivity@")]
    lines += [
        f"## {FILM_MODEL} (trained on whole films)",
        "",
        f"{len(res.films)} films of {res.films['woman'].nunique()} women ({overall.n_lesions} "
        f"lesions); {how}; fitting {res.fit_seconds:.0f} s, "
        f"{res.predict_seconds_per_film:.2f} s per film, total {total:.0f} s. A hit is a candidate "
        "centre inside the lesion circle, radii below 10 px raised to 10 px.",
        "",
        "| class | lesions | recall ceiling | " + " | ".join(c.split("@")[1] for c in rates) + " |",
        "|---|---|---|" + "---|" * len(rates),
        *[
            f"| {cls} | {int(row['n_lesions'])} | {row.get('ceiling', float('nan')):.3f} | "
            + " | ".join(f"{row[c]:.3f}" for c in rates)
            + " |"
            for cls, row in res.table.iterrows()
        ],
        "",
    ]
    if args.overlays:
        note(f"{FILM_MODEL}: no lesion-map overlays (the film model writes candidates only)")
    print("\n".join(lines[-(len(res.table) + 5) :]), flush=True)
    return overall


def add_parser(subparsers):
    """Add ``froc`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "froc",
        help="FROC on whole films (grouped by woman, or trained on --train-data)",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="mias:DIR",
        help="the films: a mini-MIAS folder as mias:DIR, or a CBIS-DDSM png_copies folder as "
        "cbis:DIR (film model only)",
    )
    p.add_argument(
        "--train-data",
        default=None,
        metavar="SPEC",
        help="train the film model on this set (mias:DIR or cbis:DIR) and test it on every "
        "film of --data, instead of folds of women",
    )
    p.add_argument(
        "--features",
        nargs="+",
        default=[FILM_MODEL],
        help="one model per entry: 'film', the detector trained on whole films (default), or "
        "a ROI model: feature sets joined with '+' (gabor, glcm, haar, and 'cnn', the frozen "
        "--backbone embedding); each + scaling + over-sampling + logistic regression",
    )
    p.add_argument(
        "--backbone", default="efficientnet_lite0", help="backbone of 'cnn' (ImageNet weights)"
    )
    p.add_argument(
        "--no-film-cnn",
        action="store_true",
        help="the film model without its CNN columns (frozen EfficientNet-Lite0 maps, used "
        "by default when its offline weights are installed): blob features and context only",
    )
    p.add_argument(
        "--cnn-input-size",
        type=_input_size,
        default="native",
        help="'native' (the ROI size, cheapest), an int, or 'default' (the backbone's)",
    )
    add_geometry(p)
    p.add_argument(
        "--n-splits", type=int_at_least(2), default=5, help="folds of women (default: 5)"
    )
    p.add_argument(
        "--max-films",
        type=int_at_least(1),
        default=None,
        help="map at most this many test films per fold (default: all)",
    )
    p.add_argument(
        "--bootstraps",
        type=int_at_least(0),
        default=2000,
        help="bootstrap replicates over women for the intervals (default: 2000)",
    )
    p.add_argument(
        "--overlays",
        type=int_at_least(0),
        default=4,
        help="lesion-map overlays written: of the first films with lesions among those "
        "mapped (default: 4)",
    )
    add_seed(p, "the folds, the ROI sampling, --max-films and the bootstrap")
    p.add_argument("--output", default="skbreastcad_froc", help="folder for the report")
    add_overwrite(p)
    add_verbose(p)
    return p
