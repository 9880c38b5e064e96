"""``skbreastcad demo``: a small run of the study's four experiments, on phantoms or mini-MIAS."""

import tempfile
import time
from contextlib import contextmanager

from . import run
from ._shared import check_output, checking, int_at_least, output_folder

# The demo's small, fast choices per experiment (two CPU cores, under two minutes in all)
DEMO_SETTINGS = {
    "features": {
        "backbones": ["efficientnet_lite0"],
        "features": ["gabor", "glcm", "cnn", "cnn+glcm"],
    },
    "layers": {
        "backbones": ["efficientnet_lite0"],
        "layers": ["blocks.1", "blocks.3", "blocks.5", "conv_head"],
    },
    # EfficientNet-Lite0 as a frozen extractor only: fine-tuning it costs a minute on two cores
    "backbones": {
        "backbones": ["tiny_cnn", "efficientnet_lite0"],
        "modes": {"tiny_cnn": ["features", "fine_tuned"], "efficientnet_lite0": ["features"]},
    },
    "transfer": {"backbones": ["tiny_cnn"]},
    "ablation": {"features": ["glcm"]},
}


def execute(args):
    """Run ``skbreastcad demo``; return the exit code."""
    from ..datasets import load_mias, make_phantoms

    start = time.perf_counter()
    groups = None
    protect = [args.mias] if args.mias else []
    check_output(args.output, args.overwrite, protect)
    run.check_settings(args)
    with checking():
        if args.mias:
            b = load_mias(
                args.mias, task="tumour", output_size=args.image_size, random_state=args.seed
            )
            X, y, groups = b.images, b.target, b.groups
            source = f"real mini-MIAS ROIs from {args.mias} (patient-grouped folds)"
        else:
            X, y = make_phantoms(args.n_samples, image_size=args.image_size, random_state=args.seed)
            source = "built-in synthetic mammography phantoms"
        Xs, ys = make_phantoms(
            args.n_samples, image_size=args.image_size, random_state=args.seed + 1
        )
    run.check_inputs(args, X, y, groups)
    with output_folder(args.output, args.overwrite, protect) as out, _torch_threads(args.threads):
        return _demo_in(args, out, start, X, y, groups, source, Xs, ys)


@contextmanager
def _torch_threads(n):
    """Run torch's CPU kernels on ``n`` threads, as before afterwards.

    The demo's tensors are tiny (32 px): a second thread saves little, and on a
    loaded machine threads that wait for each other cost several times the work.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _demo_in(args, out, start, X, y, groups, source, Xs, ys):
    from ..models import SourceData
    from ..plotting import plot_roi_grid

    print(
        f"skbreastcad demo: {len(X)} ROIs of {X.shape[1]}x{X.shape[2]} px, "
        f"{int((y == 1).sum())} tumour : {int((y == 0).sum())} non-tumour, from {source}"
    )
    plot_roi_grid(
        X[: args.grid], y[: args.grid], target_names=["non-tumour", "tumour"], path=out / "rois.png"
    )
    with tempfile.TemporaryDirectory(prefix="skbreastcad-demo-cache-") as cache:
        # stage 1 of the two-stage rows is trained once, not once per fold
        if args.cache is None:
            args.cache = cache
        reports, timings = run.run_all(
            args.experiments, X, y, groups, args, out, SourceData(Xs, ys), DEMO_SETTINGS
        )
    if "features" in reports:
        from ..metrics import CAD_METRICS
        from ..plotting import plot_metric_bars

        report = reports["features"]
        best = report.comparisons[report.comparisons["test"] == "DeLong"]
        if len(best):
            print(
                f"\nFeature sets' ROC AUC against the best ({report.reference}), DeLong, Holm-adjusted p:"
            )
            one_class = report.config.get("one_class_candidates") or {}
            for row in best.itertuples():
                # marked as in the tables: a row that predicts one class for every ROI
                name = row.candidate
                if name in one_class:
                    name = f"{name} [always {one_class[name]}]"
                print(f"  {name:<20} difference {row.difference:+.3f}  p = {row.pvalue_holm:.3g}")
        report.table().to_csv(out / "feature_comparison.csv")
        plot_metric_bars(
            report.results,
            metrics=CAD_METRICS,
            path=out / "feature_comparison.png",
            ylabel="cross-validated score",
        )
    total = time.perf_counter() - start
    print(
        f"\n{len(reports)} experiments in {total:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f"); reports under {args.output}/"
    )
    return 0


def add_parser(subparsers):
    """Add ``demo`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "demo",
        help="a small run of all four experiments on built-in phantoms",
        description="Feature sets (Table 1), layer probe (Table 2), backbones (Table 3) "
        "and transfer (Fig. 6) on synthetic phantoms, each with bootstrap CIs; writes "
        "one report folder per experiment. Under two minutes on two CPU cores.",
    )
    p.add_argument(
        "--experiments",
        nargs="+",
        default=["features", "layers", "backbones", "transfer"],
        choices=run.EXPERIMENTS,
        help="experiments to run, of features layers backbones transfer ablation "
        "(features layers backbones transfer)",
        metavar="EXPERIMENT",
    )
    p.add_argument(
        "--mias", metavar="DIR", help="use the real mini-MIAS folder (Info.txt + PGMs) instead"
    )
    p.add_argument("--grid", type=int_at_least(1), default=32, help="ROIs shown in rois.png (32)")
    p.add_argument(
        "--threads",
        type=int_at_least(1),
        default=1,
        help="torch CPU threads; the demo's networks are small, so more threads mostly "
        "wait for each other (1)",
    )
    # tiny_cnn is the only network the demo trains: 10 epochs cost seconds and, unlike 2,
    # leave no fine-tuned row predicting one class (tests/test_demo.py checks both)
    run.add_common(
        p, cv=3, n_boot=500, epochs=10, image_size=40, n_samples=80, batch_size=16, input_size=32
    )
    return p
