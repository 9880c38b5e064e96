"""Command line: ``skbreastcad demo``, ``run``, ``layers`` and ``backbones``.

Every subcommand is one ``_<name>`` function and one ``_add_<name>`` parser builder.
Bad input (an unknown experiment, data spec or backbone, empty or one-class data, fewer
patients than folds, missing weights) is one line on stderr and exit code 2, before any
long work.
"""

import argparse
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .utils._output_folder import UnsafeOutputError, check_output_folder, write_folder

__all__ = ["main"]

DEFAULT_FEATURES = ("gabor", "glcm", "haar", "gabor+glcm+haar")
EXPERIMENTS = ("features", "layers", "backbones", "transfer", "ablation")
# Probed by default when no --layers are given (VGG16: the study's layers 8-17)
DEFAULT_LAYERS = {
    "tiny_cnn": ["relu1", "relu2", "pool"],
    "efficientnet_lite0": [f"blocks.{i}" for i in range(7)] + ["conv_head"],
    "resnet50": ["layer1", "layer2", "layer3", "layer4"],
    "inception_v3": [
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_7a",
        "Mixed_7b",
        "Mixed_7c",
    ],
}


# The demo's small, fast choices per experiment (two CPU cores, about a minute in all)
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


class UsageError(Exception):
    """Bad input found before any long work: one line, exit code 2."""


@contextmanager
def _checking():
    """Turn the library's input errors into one-line usage errors."""
    try:
        yield
    except (ValueError, FileNotFoundError, NotADirectoryError, ImportError, KeyError) as exc:
        raise UsageError(
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        ) from exc


@contextmanager
def _output_folder(final, overwrite, protect=()):
    """Write a run into a hidden partial folder, renamed to ``final`` when complete.

    Through :func:`skbreastcad.utils.write_folder`: only a run folder written
    before is replaced, and only with ``overwrite``; a folder of the user's, a
    file, the working directory, its parents and the input data (``protect``)
    are refused (one line, exit 2) before any work. An interrupted or failed
    run leaves nothing behind.
    """
    _check_output(final, overwrite, protect)
    entered = False
    try:
        with write_folder(final, kind="run", overwrite=overwrite, protect=protect) as out:
            entered = True
            yield out
    except OSError as exc:
        if entered:  # the run's own error, not the output's
            raise
        raise UsageError(f"cannot write the output folder {final}: {exc.strerror or exc}") from exc


def _check_output(final, overwrite, protect=()):
    """Refuse an output the run may not write, before the data is even loaded."""
    try:
        check_output_folder(final, kind="run", overwrite=overwrite, protect=protect)
    except UnsafeOutputError as exc:
        raise UsageError(str(exc)) from exc


def _data_paths(spec):
    """The folder or file a ``--data`` spec reads, for the output checks (none for phantoms)."""
    kind, _, path = spec.partition(":")
    return [path] if kind in ("mias", "cbis", "folder") and path else []


# -- data ------------------------------------------------------------------------------------
def load_data(spec, *, image_size=64, n_samples=250, seed=0, classes=None, group_pattern=None):
    """Load ``phantoms``, ``mias:DIR``, ``cbis:DIR`` or ``folder:DIR`` as ``(X, y, groups, text)``."""
    from .datasets import load_cbis_ddsm, load_image_folder, load_mias, make_phantoms

    kind, _, path = spec.partition(":")
    if kind == "phantoms":
        X, y = make_phantoms(n_samples, image_size=image_size, random_state=seed)
        return X, y, None, f"{len(X)} synthetic phantoms"
    if kind not in ("mias", "cbis", "folder") or not path:
        raise UsageError(
            f"unknown data spec {spec!r}: use phantoms, mias:DIR, cbis:DIR or folder:DIR"
        )
    if not Path(path).is_dir():
        raise UsageError(f"data folder {path} does not exist")
    with _checking():
        if kind == "mias":
            b = load_mias(path, task="tumour", output_size=image_size, random_state=seed)
        elif kind == "cbis":
            b = load_cbis_ddsm(path, task="malignancy", output_size=image_size, random_state=seed)
        else:
            b = load_image_folder(
                path, classes=classes, output_size=image_size, group_pattern=group_pattern
            )
            if len(b.target_names) > 2:
                raise UsageError(
                    f"{path} has {len(b.target_names)} classes {list(b.target_names)}: the experiments "
                    "are binary, choose two with --classes NEG POS"
                )
    return b.images, b.target, b.groups, f"{len(b.images)} ROIs from {spec}"


# -- experiments -----------------------------------------------------------------------------
def _cnn_backbone(args):
    from .experiments._common import resolve_backbone

    backbone = args.backbones[0] if args.backbones else "efficientnet_lite0"
    with _checking():
        return resolve_backbone(backbone, "imagenet", None if args.no_fallback else "random")


def run_experiment(name, X, y, groups, args, *, source=None):
    """Run one experiment with the command line's settings; return its report."""
    from . import experiments as ex

    common = dict(
        groups=groups,
        cv=args.cv,
        n_boot=args.n_boot,
        random_state=args.seed,
        n_jobs=args.n_jobs,
        verbose=args.verbose,
    )
    fallback = None if args.no_fallback else "efficientnet_lite0"
    deep = {
        "max_epochs": args.epochs,
        "source_max_epochs": args.epochs,
        "batch_size": args.batch_size,
    }
    size = args.input_size
    if name == "features":
        backbone, weights, note = _cnn_backbone(args)
        cnn = {
            "backbone": backbone,
            "weights": weights,
            "input_size": size,
            "device": args.device,
            "random_state": args.seed,
        }
        sets = args.features or ["gabor", "glcm", "haar", "cnn", "cnn+glcm"]
        report = ex.compare_feature_sets(
            X, y, {s: ex.make_feature_set(s, cnn_params=cnn) for s in sets}, **common
        )
        if note:
            report.notes.append(note)
        return report
    if name == "layers":
        backbone = args.backbones[0] if args.backbones else "vgg16"
        layers = args.layers or (None if backbone == "vgg16" else DEFAULT_LAYERS.get(backbone))
        if layers is None and backbone != "vgg16":
            raise UsageError(
                f"name the layers of {backbone!r} with --layers (see `skbreastcad layers {backbone}`)"
            )
        return ex.probe_layers(
            X,
            y,
            backbone,
            layers,
            input_size=size,
            device=args.device,
            fallback=None if args.no_fallback else "random",
            memory=args.cache,
            **common,
        )
    if name == "backbones":
        backbones = args.backbones or ["vgg16", "resnet50", "inception_v3", "efficientnet_lite0"]
        return ex.compare_backbones(
            X,
            y,
            backbones,
            input_size=size,
            device=args.device,
            fallback=fallback,
            deep_params=deep,
            modes=args.modes,
            **common,
        )
    if name == "transfer":
        backbones = args.backbones or ["efficientnet_lite0"]
        transfers = ["none", "imagenet"] + (["two_stage"] if source is not None else [])
        report = ex.compare_transfer(
            X,
            y,
            backbones,
            transfers,
            source_data=source,
            input_size=size,
            device=args.device,
            fallback=fallback,
            deep_params=deep,
            memory=args.cache,
            **common,
        )
        if source is None:
            report.notes.append("No --source data: the two-stage rows were not run.")
        return report
    if name == "ablation":
        features = (args.features or ["glcm"])[0]
        return ex.compare_ablations(X, y, features, **common)
    raise UsageError(f"unknown experiment {name!r}: choose from {', '.join(EXPERIMENTS)}")


def _check_inputs(args, X, y, groups):
    """Every check that can fail, before the first fit."""
    from .experiments import check_experiment_data
    from .nn import get_backbone_spec

    with _checking():
        check_experiment_data(X, y, groups, args.cv)
        if getattr(args, "features", None):
            from .experiments import make_feature_set

            for spec in args.features:
                make_feature_set(spec)
        for backbone in args.backbones or []:
            try:
                get_backbone_spec(backbone)
            except ValueError as exc:
                hint = str(exc).split(" Valid backbones")[0]
                raise UsageError(f"{hint} See `skbreastcad backbones`.") from exc
        if args.no_fallback:
            from .experiments import weights_status

            defaults = {"layers": ["vgg16"], "backbones": ["vgg16", "resnet50", "inception_v3"]}
            for backbone in args.backbones or defaults.get(getattr(args, "experiment", None), []):
                ok, detail = weights_status(backbone)
                if ok is False:
                    raise UsageError(
                        f"ImageNet weights of {backbone} are not available offline: {detail}"
                    )


@contextmanager
def _dask(address, n_jobs):
    """Run joblib's parallel loops on a Dask cluster (``ADDRESS`` or ``local:N``)."""
    if not address:
        yield
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise UsageError("--dask needs dask.distributed: pip install 'skbreastcad[dask]'") from exc
    from joblib import parallel_config

    if address.startswith("local:"):
        cluster = LocalCluster(n_workers=int(address[6:]), threads_per_worker=1, processes=True)
        client = Client(cluster)
    else:
        cluster, client = None, Client(address)
    try:
        with parallel_config(backend="dask", n_jobs=n_jobs or -1):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_all(names, X, y, groups, args, out, source=None, overrides=None, folders=None):
    from tqdm.auto import tqdm

    reports, timings = {}, {}
    bar = tqdm(names, desc="experiments", unit="experiment", disable=args.quiet)
    with _dask(args.dask, args.n_jobs):
        for name in bar:
            bar.set_postfix_str(name)
            start = time.perf_counter()
            # the demo's choices fill in what the user left unset
            chosen = {
                k: v
                for k, v in (overrides or {}).get(name, {}).items()
                if getattr(args, k, None) is None or k == "modes"
            }
            settings = argparse.Namespace(**{**vars(args), **chosen})
            try:
                report = run_experiment(name, X, y, groups, settings, source=source)
            except FileNotFoundError as exc:
                # a weight or data file found missing once the run started: still one line
                raise UsageError(str(exc).strip().splitlines()[0]) from exc
            timings[name] = time.perf_counter() - start
            report.save((folders or {}).get(name, out / name))
            # where the report will be once the run's folder is renamed into place
            folder = Path(args.output) / name
            reports[name] = report
            tqdm.write(f"\n== {report.title} ({timings[name]:.1f} s) -> {folder / 'report.html'}")
            for note in report.notes:
                tqdm.write(f"note: {note}")
            c = report.config
            tqdm.write(
                f"pooled out-of-fold estimate [{c['confidence_level']:.0%} BCa bootstrap CI over "
                f"{c['n_boot']} resamples of {c['resampled_units']}], threshold policy {c['threshold']!r}"
            )
            tqdm.write(report.format_table(("f1", "roc_auc", "sensitivity", "specificity")))
    return reports, timings


def _parse_source(args):
    if not args.source:
        return None
    from .models import SourceData

    Xs, ys, _, _ = load_data(
        args.source,
        image_size=args.image_size,
        n_samples=args.n_samples,
        seed=args.seed + 1,
        classes=args.source_classes,
        group_pattern=args.source_group_pattern,
    )
    return SourceData(Xs, ys)


def _run(args):
    if args.experiment not in EXPERIMENTS:
        raise UsageError(
            f"unknown experiment {args.experiment!r}: choose from {', '.join(EXPERIMENTS)}"
        )
    output = Path(args.output) / args.experiment
    _check_output(output, args.overwrite, _data_paths(args.data))
    with _checking():
        X, y, groups, text = load_data(
            args.data,
            image_size=args.image_size,
            n_samples=args.n_samples,
            seed=args.seed,
            classes=args.classes,
            group_pattern=args.group_pattern,
        )
        source = _parse_source(args) if args.experiment == "transfer" else None
    _check_inputs(args, X, y, groups)
    print(f"skbreastcad run {args.experiment}: {text}, {int(y.sum())} positive")
    with _output_folder(output, args.overwrite, protect=_data_paths(args.data)) as out:
        _run_all(
            [args.experiment],
            X,
            y,
            groups,
            args,
            out.parent,
            source,
            folders={args.experiment: out},
        )
    return 0


def _demo(args):
    from .datasets import load_mias, make_phantoms

    start = time.perf_counter()
    groups = None
    protect = [args.mias] if args.mias else []
    _check_output(args.output, args.overwrite, protect)
    with _checking():
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
    _check_inputs(args, X, y, groups)
    with _output_folder(
        args.output, args.overwrite, protect=[args.mias] if args.mias else []
    ) as out:
        return _demo_in(args, out, start, X, y, groups, source, Xs, ys)


def _demo_in(args, out, start, X, y, groups, source, Xs, ys):
    from .plotting import plot_roi_grid

    print(
        f"skbreastcad demo: {len(X)} ROIs of {X.shape[1]}x{X.shape[2]} px, "
        f"{int((y == 1).sum())} tumour : {int((y == 0).sum())} non-tumour, from {source}"
    )
    plot_roi_grid(
        X[: args.grid], y[: args.grid], target_names=["non-tumour", "tumour"], path=out / "rois.png"
    )
    from .models import SourceData

    with tempfile.TemporaryDirectory(prefix="skbreastcad-demo-cache-") as cache:
        # stage 1 of the two-stage rows is trained once, not once per fold
        if args.cache is None:
            args.cache = cache
        reports, timings = _run_all(
            args.experiments, X, y, groups, args, out, SourceData(Xs, ys), DEMO_SETTINGS
        )
    if "features" in reports:
        from .metrics import CAD_METRICS
        from .plotting import plot_metric_bars

        report = reports["features"]
        best = report.comparisons[report.comparisons["test"] == "DeLong"]
        if len(best):
            print(
                f"\nFeature sets' ROC AUC against the best ({report.reference}), DeLong, Holm-adjusted p:"
            )
            for row in best.itertuples():
                print(
                    f"  {row.candidate:<20} difference {row.difference:+.3f}  p = {row.pvalue_holm:.3g}"
                )
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


def _layers(args):
    from .nn import VGG16_STUDY_LAYERS, list_layers

    with _checking():
        layers = list_layers(args.backbone)
    study = {v: k for k, v in VGG16_STUDY_LAYERS.items()} if args.backbone == "vgg16" else {}
    default = DEFAULT_LAYERS.get(args.backbone, [])
    for name in layers:
        tags = []
        if name in study:
            tags.append(f"study layer {study[name]}")
        if name in default:
            tags.append("probed by default")
        print(name + (f"  ({', '.join(tags)})" if tags else ""))
    return 0


def _backbones(args):
    from .experiments import weights_status
    from .nn import get_backbone_spec, list_backbones

    for name in list_backbones():
        spec = get_backbone_spec(name)
        available, detail = weights_status(name)
        state = {True: "weights offline", False: "no weights offline", None: "weights unknown"}[
            available
        ]
        size = (
            "any size"
            if spec.input_size is None
            else f"{spec.input_size[0]} px (min {spec.min_input_size})"
        )
        print(f"{name:<20} {state:<18} {size:<18} {detail}")
    return 0


# -- parsers -----------------------------------------------------------------------------------
def _add_common(p, *, cv=5, n_boot=2000, epochs=5, image_size=64, n_samples=250):
    p.add_argument("--output", default="skbreastcad_output", help="folder for the report folders")
    p.add_argument(
        "--cv",
        type=int,
        default=cv,
        help=f"folds, patient-grouped when the data has patients ({cv})",
    )
    p.add_argument("--n-jobs", type=int, default=None, help="parallel fits (joblib)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dask", metavar="ADDRESS", help="run the fits on a Dask cluster: ADDRESS or local:N"
    )
    p.add_argument("--n-boot", type=int, default=n_boot, help=f"bootstrap resamples ({n_boot})")
    p.add_argument(
        "--image-size", type=int, default=image_size, help=f"ROI side in pixels ({image_size})"
    )
    p.add_argument(
        "--n-samples", type=int, default=n_samples, help=f"phantoms to draw ({n_samples})"
    )
    p.add_argument(
        "--input-size",
        type=int,
        default=None,
        help="network input side (default: each backbone's own; raised to its minimum)",
    )
    p.add_argument(
        "--epochs", type=int, default=epochs, help=f"fine-tuning epochs per stage ({epochs})"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--backbones", nargs="+", help="backbones (see `skbreastcad backbones`)")
    p.add_argument(
        "--layers", nargs="+", help="layers to probe (see `skbreastcad layers BACKBONE`)"
    )
    p.add_argument("--features", nargs="+", help="feature sets: gabor glcm haar cnn, '+' fuses")
    p.add_argument(
        "--modes", nargs="+", default=["features", "fine_tuned"], choices=["features", "fine_tuned"]
    )
    p.add_argument(
        "--cache", metavar="DIR", help="joblib cache of CNN features and stage-1 trainings"
    )
    p.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail instead of falling back when ImageNet weights are not offline",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an output folder that already holds a run (refused otherwise)",
    )
    p.add_argument("--verbose", type=int, default=0)


def _add_run(sub):
    p = sub.add_parser(
        "run",
        help="run one of the study's experiments and write its report folder",
        description="Run an experiment (features: Table 1, layers: Table 2, backbones: "
        "Table 3, transfer: Fig. 6, ablation) and write <output>/<experiment>/.",
    )
    p.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}")
    p.add_argument("--data", default="phantoms", help="phantoms, mias:DIR, cbis:DIR or folder:DIR")
    p.add_argument(
        "--classes", nargs=2, metavar=("NEG", "POS"), help="the two class folders of folder:DIR"
    )
    p.add_argument("--group-pattern", help="regex whose first group is the patient id (folder:DIR)")
    p.add_argument("--source", help="stage-1 data of two-stage transfer (same forms as --data)")
    p.add_argument("--source-classes", nargs="+", help="class folders of a folder: source")
    p.add_argument("--source-group-pattern", help=argparse.SUPPRESS)
    _add_common(p)
    p.set_defaults(func=_run)


def _add_demo(sub):
    p = sub.add_parser(
        "demo",
        help="a small run of all four experiments on built-in phantoms",
        description="Feature sets (Table 1), layer probe (Table 2), backbones (Table 3) "
        "and transfer (Fig. 6) on synthetic phantoms, each with bootstrap CIs; writes "
        "one report folder per experiment. About a minute on two CPU cores.",
    )
    p.add_argument(
        "--experiments",
        nargs="+",
        default=["features", "layers", "backbones", "transfer"],
        choices=EXPERIMENTS,
    )
    p.add_argument(
        "--mias", metavar="DIR", help="use the real mini-MIAS folder (Info.txt + PGMs) instead"
    )
    p.add_argument("--grid", type=int, default=32, help="ROIs shown in rois.png")
    _add_common(p, cv=3, n_boot=500, epochs=2, image_size=40, n_samples=80)
    p.set_defaults(func=_demo, backbones=None)
    p.set_defaults(input_size=32, batch_size=16)
    return p


def _add_layers(sub):
    p = sub.add_parser("layers", help="list the probe-able layers of a backbone")
    p.add_argument("backbone")
    p.set_defaults(func=_layers)


def _add_backbones(sub):
    p = sub.add_parser("backbones", help="list backbones and whether their weights are offline")
    p.set_defaults(func=_backbones)


def build_parser():
    """The ``skbreastcad`` argument parser."""
    parser = argparse.ArgumentParser(prog="skbreastcad", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_run(sub)
    _add_layers(sub)
    _add_backbones(sub)

    # -- detection: `skbreastcad detect` and `skbreastcad froc` (logic in skbreastcad.detection) --
    from .detection._commands import add_parsers as add_detection_parsers

    add_detection_parsers(sub)
    # -- end of detection --
    return parser


def main(argv=None):
    """Run the ``skbreastcad`` command.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    code : int
        The exit code: 0 on success, 2 for a bad argument or unusable data
        (one line on standard error, before any long work).

    Examples
    --------
    >>> from skbreastcad.cli import main
    >>> main(["layers", "tiny_cnn"])  # doctest: +ELLIPSIS
    conv1
    ...
    0
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "backbones", None) is None and args.command == "demo":
        args.backbones = None
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"skbreastcad: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
