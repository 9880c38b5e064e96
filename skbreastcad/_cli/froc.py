"""``skbreastcad froc``: train on ROIs, FROC on whole films (mini-MIAS, folds of women)."""

import json
import time
from pathlib import Path

from ._shared import (
    UsageError,
    add_overwrite,
    add_seed,
    add_verbose,
    check_output,
    checking,
    int_at_least,
    note,
    output_folder,
    write_csv,
)
from .detect import add_geometry

_DESCRIPTION = """Grouped detection study on mini-MIAS: for each fold of women, a ROI model is trained on
the training women's ROIs (load_mias) and maps the test women's whole films; candidates of all folds
give one FROC with a bootstrap over women. Writes into --output, for each --features entry NAME
('+' written '_', e.g. glcm_haar): froc_NAME.csv (sensitivity at 0.25-4 false positives per film,
with its interval), froc_curve_NAME.csv, candidates_NAME.csv and lesion_map_NAME_FILM.png (for the
--overlays first films with lesions among those mapped); then froc.png, report.md and
settings.json. Figures of real films are derived data: keep --output outside any repository."""


def _input_size(text):
    """``--cnn-input-size``: 'native', 'default' or a positive integer."""
    if text in ("native", "default"):
        return text
    return int_at_least(1)(text)


def _check(args):
    """Every check that can fail, before a model is trained: ``(folder, films, lesions, models)``."""
    kind, _, folder = args.data.partition(":")
    if kind != "mias" or not folder:
        raise UsageError(
            f"--data must be mias:DIR (only mini-MIAS has the whole films and circles); "
            f"got {args.data!r}"
        )
    if not Path(folder).is_dir():
        raise UsageError(f"data folder {folder} does not exist")
    from ..detection import mias_films
    from ..experiments import make_feature_pipeline, make_feature_set
    from ..nn import get_backbone_spec, weights_status

    with checking():
        films, lesions, _ = mias_films(folder)
    women = films["woman"].nunique()
    if women < args.n_splits:
        raise UsageError(
            f"{folder} holds films of {women} women, too few for --n-splits {args.n_splits}"
        )
    size = {"default": None}.get(args.cnn_input_size, args.cnn_input_size)
    cnn = {"backbone": args.backbone, "input_size": size, "batch_size": 64}
    with checking():
        models = {
            name: make_feature_pipeline(
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


def add_parser(subparsers):
    """Add ``froc`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "froc",
        help="train on ROIs, FROC on whole films (mini-MIAS, grouped by woman)",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--data", required=True, metavar="mias:DIR", help="the mini-MIAS folder, as mias:DIR"
    )
    p.add_argument(
        "--features",
        nargs="+",
        default=["glcm+haar"],
        help="one model per entry: feature sets joined with '+' (gabor, glcm, haar, and "
        "'cnn', the frozen --backbone embedding); each + scaling + over-sampling + "
        "logistic regression (default: glcm+haar)",
    )
    p.add_argument(
        "--backbone", default="efficientnet_lite0", help="backbone of 'cnn' (ImageNet weights)"
    )
    p.add_argument(
        "--cnn-input-size",
        type=_input_size,
        default="native",
        help="'native' (the ROI size, cheapest), an int, or 'default' (the backbone's)",
    )
    add_geometry(p)
    p.add_argument(
        "--n-splits", type=int_at_least(2), default=3, help="folds of women (default: 3)"
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
