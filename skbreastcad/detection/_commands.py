"""The ``skbreastcad detect`` and ``skbreastcad froc`` commands.

``cli.py`` only calls :func:`add_parsers`; everything else lives here.
"""

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["add_parsers"]

_DETECT_HELP = """Map whole films with a fitted ROI model: a lesion-map overlay PNG per film and one
candidates.csv (film, row, col, radius, score). MODEL is a joblib (or pickle) file of a fitted
classifier or pipeline with predict_proba, e.g. joblib.dump(model, "model.joblib"); loading it runs
code from the file, so load only files you trust. --crop-size and --output-size must be the ROI
geometry the model was trained on (load_mias' roi_size and output_size)."""

_FROC_HELP = """Grouped detection study on mini-MIAS: for each fold of women, a ROI model is trained on
the training women's ROIs (load_mias) and maps the test women's whole films; candidates of all folds
give one FROC with a bootstrap over women. Writes froc.csv, froc_curve.csv, candidates.csv, froc.png,
report.md and lesion-map overlays of a few films into --output. Figures of real films are
derived data: keep --output outside any repository."""


def add_parsers(subparsers):
    """Add the ``detect`` and ``froc`` sub-commands to an argparse sub-parser collection.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    parsers : dict of str to argparse.ArgumentParser
    """
    detect = subparsers.add_parser(
        "detect",
        help="lesion maps and candidates of whole films from a fitted ROI model",
        description=_DETECT_HELP,
    )
    detect.add_argument(
        "model", metavar="MODEL", help="joblib/pickle file of a fitted estimator or pipeline"
    )
    detect.add_argument(
        "films", metavar="FILM", nargs="+", help="film images (PGM, PNG, TIFF, DICOM...)"
    )
    _geometry(detect)
    detect.add_argument(
        "--explain",
        choices=["none", "grad-cam", "occlusion"],
        default="none",
        help="also write ROI overlays explaining the top candidates (default: none)",
    )
    detect.add_argument(
        "--output", default="skbreastcad_detect", help="folder for PNGs and candidates.csv"
    )
    detect.set_defaults(func=run_detect)

    froc = subparsers.add_parser(
        "froc",
        help="train on ROIs, FROC on whole films (mini-MIAS, grouped by woman)",
        description=_FROC_HELP,
    )
    froc.add_argument(
        "--data", required=True, metavar="mias:DIR", help="the mini-MIAS folder, as mias:DIR"
    )
    froc.add_argument(
        "--features",
        nargs="+",
        default=["glcm+haar"],
        help="one model per entry: hand-crafted sets joined with '+' (gabor, glcm, haar) or "
        "'cnn' (frozen --backbone embedding); each + scaling + over-sampling + "
        "logistic regression (default: glcm+haar)",
    )
    froc.add_argument(
        "--backbone", default="efficientnet_lite0", help="backbone of 'cnn' (ImageNet weights)"
    )
    froc.add_argument(
        "--cnn-input-size",
        default="native",
        help="'native' (the ROI size, cheapest), an int, or 'default' (the backbone's)",
    )
    _geometry(froc)
    froc.add_argument("--n-splits", type=int, default=3, help="folds of women (default: 3)")
    froc.add_argument(
        "--max-films", type=int, default=None, help="map at most this many test films per fold"
    )
    froc.add_argument("--bootstraps", type=int, default=2000)
    froc.add_argument(
        "--overlays", type=int, default=4, help="lesion-map overlays written (films with lesions)"
    )
    froc.add_argument("--seed", type=int, default=0)
    froc.add_argument("--output", default="skbreastcad_froc", help="folder for the report")
    froc.add_argument("--verbose", type=int, default=0)
    froc.set_defaults(func=run_froc)
    return {"detect": detect, "froc": froc}


def _geometry(parser):
    parser.add_argument(
        "--crop-size", type=int, default=128, help="window side in film pixels (default: 128)"
    )
    parser.add_argument(
        "--output-size", type=int, default=64, help="ROI side the model takes (default: 64)"
    )
    parser.add_argument(
        "--stride", type=int, default=32, help="window step in pixels (default: 32)"
    )
    parser.add_argument(
        "--min-distance", type=int, default=64, help="between candidates (default: 64)"
    )
    parser.add_argument("--max-candidates", type=int, default=10, help="per film (default: 10)")
    parser.add_argument(
        "--min-breast-fraction",
        type=float,
        default=0.0,
        help="score only windows with at least this share of breast (default: 0)",
    )


def _load_model(path):
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    model = joblib.load(path)
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"{path} holds a {type(model).__name__}, which has no predict_proba.")
    return model


def run_detect(args):
    """Run ``skbreastcad detect``: overlays and ``candidates.csv``; returns the exit status."""
    import pandas as pd

    from ..datasets import read_image
    from ..datasets._roi import cut_roi
    from ._candidates import find_candidates
    from ._explain import grad_cam, occlusion_sensitivity
    from ._lesion_map import lesion_map
    from ._overlay import save_overlay

    paths = [Path(f) for f in args.films]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"film(s) not found: {missing}")
    model = _load_model(args.model)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in paths:
        film = read_image(path)
        start = time.perf_counter()
        result = lesion_map(
            model,
            film,
            crop_size=args.crop_size,
            output_size=args.output_size,
            stride=args.stride,
            min_breast_fraction=args.min_breast_fraction,
        )
        found = find_candidates(
            result.probability, min_distance=args.min_distance, max_candidates=args.max_candidates
        )
        elapsed = time.perf_counter() - start
        save_overlay(
            film,
            result.probability,
            out / f"{path.stem}_lesion_map.png",
            candidates=found,
            title=f"{path.name}: {len(result.scores)} windows, {elapsed:.1f} s",
        )
        rows.append(found.assign(film=path.name))
        print(
            f"{path.name}: {len(found)} candidate(s), top score "
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
                save_overlay(
                    roi,
                    heat,
                    out / f"{path.stem}_candidate{k}_{args.explain}.png",
                    size=3,
                    title=f"candidate {k} ({args.explain})",
                )
    table = pd.concat(rows, ignore_index=True)[["film", "row", "col", "radius", "score"]]
    _write_csv(table, out / "candidates.csv", index=False)
    print(f"Candidates: {out / 'candidates.csv'}; overlays in {out}")
    return 0


def _write_csv(frame, path, **kwargs):
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, **kwargs)
    os.replace(tmp, path)


def _model(name, args):
    from ..experiments import make_feature_pipeline
    from ..features import CNNLayerFeatures, GaborFeatures, GLCMFeatures, HaarFeatures

    if name == "cnn":
        size = args.cnn_input_size
        size = None if size == "default" else ("native" if size == "native" else int(size))
        return make_feature_pipeline(
            CNNLayerFeatures(args.backbone, input_size=size, batch_size=64), random_state=args.seed
        )
    builders = {"gabor": GaborFeatures, "glcm": GLCMFeatures, "haar": HaarFeatures}
    parts = name.split("+")
    unknown = [p for p in parts if p not in builders]
    if unknown:
        raise ValueError(
            f"Unknown feature set {unknown[0]!r} in {name!r}: use {sorted(builders)} joined by '+', "
            "or 'cnn'."
        )
    if len(parts) == 1:
        return make_feature_pipeline(builders[parts[0]](), random_state=args.seed)
    from sklearn.pipeline import FeatureUnion

    return make_feature_pipeline(
        FeatureUnion([(p, builders[p]()) for p in parts]), random_state=args.seed
    )


def run_froc(args):
    """Run ``skbreastcad froc``: the grouped FROC study and its report; returns the exit status."""
    from ..datasets import read_image
    from ._evaluate import evaluate_mias_froc, mias_films
    from ._froc import plot_froc
    from ._overlay import save_overlay

    kind, _, folder = args.data.partition(":")
    if kind != "mias" or not folder:
        raise ValueError(
            f"--data must be mias:DIR (only mini-MIAS has the whole films and circles); got {args.data!r}."
        )
    films, lesions, _ = mias_films(folder)
    models = {name: _model(name, args) for name in args.features}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    shown = list(films.loc[films["abnormal"], "film"].head(args.overlays))
    results, lines = {}, []
    for name, model in models.items():
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
            keep_maps=shown,
            random_state=args.seed,
            verbose=args.verbose,
        )
        total = time.perf_counter() - start
        results[name] = res.froc
        slug = name.replace("+", "_")
        table = res.froc.table
        _write_csv(table, out / f"froc_{slug}.csv")
        _write_csv(res.froc.curve, out / f"froc_curve_{slug}.csv", index=False)
        _write_csv(res.candidates, out / f"candidates_{slug}.csv", index=False)
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
        for film_id, prob in res.maps.items():
            row = films[films["film"] == film_id].iloc[0]
            save_overlay(
                read_image(row["path"]),
                prob,
                out / f"lesion_map_{slug}_{film_id}.png",
                candidates=res.candidates[res.candidates["film"] == film_id],
                lesions=lesions[lesions["film"] == film_id],
                title=f"{film_id} ({name})",
            )
        print("\n".join(lines[-(len(table) + 6) :]), flush=True)
    plot_froc(results, out / "froc.png")
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
    (out / "settings.json").write_text(json.dumps(vars(args), default=str, indent=1))
    print(f"Report: {out / 'report.md'}")
    return 0
