"""``skbreastcad run``: one of the study's experiments and its report folder.

Bad input (an unknown experiment, data spec or backbone, a folder of more than
two classes, empty or one-class data, fewer patients than folds, missing
weights) is one line on stderr and exit code 2, before any long work.
"""

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ._shared import (
    MAX_INPUT_SIZE,
    UsageError,
    add_device,
    add_overwrite,
    add_seed,
    add_verbose,
    check_dask,
    check_device,
    check_output,
    checking,
    dask_address,
    data_paths,
    first_line,
    int_at_least,
    int_between,
    n_jobs,
    note,
    output_folder,
)

EXPERIMENTS = ("features", "layers", "backbones", "transfer", "ablation")


def __getattr__(name):
    # DEFAULT_LAYERS: the layers probed when no --layers are given (VGG16: the study's layers
    # 8-17), one table with `reproduce`'s; read on first use so `--help` does not import the
    # experiments (2 s)
    if name == "DEFAULT_LAYERS":
        from ..experiments._study_settings import PROBE_LAYERS

        return {backbone: list(layers) for backbone, layers in PROBE_LAYERS.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DATA_FORMS = "phantoms, mias:DIR, cbis:DIR, duke-mri:DIR or folder:DIR"


# -- data ------------------------------------------------------------------------------------
def _class_folders(path):
    # load_image_folder's rule without reading an image: every subfolder not hidden is a class
    return sorted(p.name for p in Path(path).iterdir() if p.is_dir() and not p.name.startswith("."))


def load_data(spec, *, image_size=64, n_samples=250, seed=0, classes=None, group_pattern=None):
    """Load ``phantoms``, ``mias:DIR``, ``cbis:DIR``, ``duke-mri:DIR`` or ``folder:DIR``.

    Returns ``(X, y, groups, text)``. ``duke-mri:DIR`` is a Duke-Breast-Cancer-MRI
    download (TCIA layout with ``Annotation_Boxes.csv``): subtraction ROIs, tumour
    against non-tumour, grouped by patient.

    A ``folder:`` of more than two classes without ``classes`` is refused
    before any image is read: the experiments are binary.
    """
    from ..datasets import (
        load_cbis_ddsm,
        load_duke_mri,
        load_image_folder,
        load_mias,
        make_phantoms,
    )

    kind, _, path = spec.partition(":")
    if kind == "phantoms":
        with checking():
            X, y = make_phantoms(n_samples, image_size=image_size, random_state=seed)
        return X, y, None, f"{len(X)} synthetic phantoms"
    if kind not in ("mias", "cbis", "duke-mri", "folder") or not path:
        raise UsageError(f"unknown data spec {spec!r}: use {DATA_FORMS}")
    if not Path(path).is_dir():
        raise UsageError(f"data folder {path} does not exist")
    if kind == "folder":
        chosen = list(classes) if classes is not None else _class_folders(path)
        if len(chosen) > 2:
            raise UsageError(
                f"{path} has {len(chosen)} classes {chosen}: the experiments are binary, "
                "choose two with --classes NEG POS"
            )
    with checking():
        if kind == "mias":
            b = load_mias(path, task="tumour", output_size=image_size, random_state=seed)
        elif kind == "cbis":
            b = load_cbis_ddsm(path, task="malignancy", output_size=image_size, random_state=seed)
        elif kind == "duke-mri":
            b = load_duke_mri(path, output_size=image_size, random_state=seed)
        else:
            b = load_image_folder(
                path, classes=classes, output_size=image_size, group_pattern=group_pattern
            )
    return b.images, b.target, b.groups, f"{len(b.images)} ROIs from {spec}"


# -- experiments -----------------------------------------------------------------------------
def _cnn_backbone(args):
    from ..nn import resolve_backbone

    backbone = args.backbones[0] if args.backbones else "efficientnet_lite0"
    with checking():
        return resolve_backbone(backbone, "imagenet", None if args.no_fallback else "random")


def run_experiment(name, X, y, groups, args, *, source=None):
    """Run one experiment with the command line's settings; return its report."""
    from .. import experiments as ex

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
        "source_params": {"max_epochs": args.epochs},
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
        layers = args.layers or (
            None if backbone == "vgg16" else __getattr__("DEFAULT_LAYERS").get(backbone)
        )
        if layers is None and backbone != "vgg16":
            raise UsageError(
                f"name the layers of {backbone!r} with --layers (see 'skbreastcad layers {backbone}')"
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


def check_settings(args):
    """The checks of the settings that need more than the parser, before any data is read."""
    if not args.dask or args.dask.startswith("local:"):
        # on a remote cluster the fits run on the workers' GPUs, not on this machine's
        check_device(args.device)
    check_dask(args.dask)


def check_inputs(args, X, y, groups):
    """Every check that can fail, before the first fit."""
    from ..experiments import check_experiment_data, make_feature_set
    from ..nn import get_backbone_spec, weights_status

    with checking():
        check_experiment_data(X, y, groups, args.cv)
        for spec in getattr(args, "features", None) or []:
            make_feature_set(spec)
        for backbone in args.backbones or []:
            try:
                get_backbone_spec(backbone)
            except ValueError as exc:
                hint = str(exc).split(" Valid backbones")[0]
                raise UsageError(f"{hint} See 'skbreastcad backbones'.") from exc
        if args.no_fallback:
            defaults = {"layers": ["vgg16"], "backbones": ["vgg16", "resnet50", "inception_v3"]}
            for backbone in args.backbones or defaults.get(getattr(args, "experiment", None), []):
                ok, detail = weights_status(backbone)
                if ok is False:
                    raise UsageError(
                        f"ImageNet weights of {backbone} are not available offline: {detail}"
                    )


def _gpu_resources(client, device, address):
    """The Dask resources each fit asks for: one ``GPU`` when the workers offer GPUs.

    Workers started with ``--resources GPU=1`` (one per GPU) then run one fit at
    a time each on their own device; a CUDA ``device`` on a cluster of which no
    worker offers a GPU is an error rather than fits queued forever.
    """
    if str(device) == "cpu":
        return {}
    workers = client.scheduler_info().get("workers", {})
    if any((w.get("resources") or {}).get("GPU", 0) >= 1 for w in workers.values()):
        return {"resources": {"GPU": 1}}
    if str(device).startswith("cuda") and not address.startswith("local:"):
        raise UsageError(
            f"--device {device} on the Dask cluster {address}: none of its {len(workers)} "
            "worker(s) offers a GPU resource. Start one worker per GPU with "
            "`dask worker ADDRESS --nthreads 1 --resources GPU=1` (docs/scaling.md)."
        )
    return {}


@contextmanager
def _dask(address, n_jobs, device="auto"):
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
        resources = _gpu_resources(client, device, address)
        with parallel_config(backend="dask", n_jobs=n_jobs or -1, **resources):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_all(names, X, y, groups, args, out, source=None, overrides=None, folders=None):
    """Run and save the named experiments; return their reports and seconds."""
    from tqdm.auto import tqdm

    reports, timings = {}, {}
    # disable=None: no bar when stderr is not a terminal, where its carriage-return redraws
    # would land in the middle of the tables of a log file
    bar = tqdm(names, desc="experiments", unit="experiment", disable=True if args.quiet else None)
    with _dask(args.dask, args.n_jobs, args.device):
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
                raise UsageError(first_line(exc)) from exc
            timings[name] = time.perf_counter() - start
            report.save((folders or {}).get(name, out / name))
            # where the report will be once the run's folder is renamed into place
            folder = Path(args.output) / name
            reports[name] = report
            tqdm.write(f"\n== {report.title} ({timings[name]:.1f} s) -> {folder / 'report.html'}")
            for text in report.notes:
                tqdm.write(f"note: {text}")
            c = report.config
            tqdm.write(
                f"pooled out-of-fold estimate [{c['confidence_level']:.0%} BCa bootstrap CI over "
                f"{c['n_boot']} resamples of {c['resampled_units']}], threshold policy {c['threshold']!r}"
            )
            tqdm.write(report.format_table(("f1", "roc_auc", "sensitivity", "specificity")))
            # before the next note on stderr: a log of both streams keeps every line whole
            sys.stdout.flush()
    return reports, timings


def _parse_source(args):
    if not args.source:
        return None
    from ..models import SourceData

    Xs, ys, _, _ = load_data(
        args.source,
        image_size=args.image_size,
        n_samples=args.n_samples,
        seed=args.seed + 1,
        classes=args.source_classes,
        group_pattern=args.source_group_pattern,
    )
    return SourceData(Xs, ys)


def _one_patient(groups, text):
    """Folds over the images of a single patient, said loudly: there is no grouped alternative.

    With two or more patients, fewer than the folds stays an error (lower ``--cv``).
    """
    import numpy as np

    if groups is None or len(np.unique(groups)) != 1:
        return groups
    note(
        f"{text} come from one patient ({np.unique(groups)[0]}): the folds split that "
        "patient's images, so the run checks the pipeline end to end and its scores are "
        "NOT a result; a score needs several patients, one per fold at least."
    )
    return None


def execute(args):
    """Run ``skbreastcad run``; return the exit code."""
    if args.experiment not in EXPERIMENTS:
        raise UsageError(
            f"unknown experiment {args.experiment!r}: choose from {', '.join(EXPERIMENTS)}"
        )
    output = Path(args.output) / args.experiment
    protect = data_paths(args.data, getattr(args, "source", None))
    check_output(output, args.overwrite, protect)
    check_settings(args)
    X, y, groups, text = load_data(
        args.data,
        image_size=args.image_size,
        n_samples=args.n_samples,
        seed=args.seed,
        classes=args.classes,
        group_pattern=args.group_pattern,
    )
    with checking():
        source = _parse_source(args) if args.experiment == "transfer" else None
    groups = _one_patient(groups, text)
    check_inputs(args, X, y, groups)
    print(f"skbreastcad run {args.experiment}: {text}, {int(y.sum())} positive")
    with output_folder(output, args.overwrite, protect) as out:
        run_all(
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


# -- parser ----------------------------------------------------------------------------------
def add_common(
    p, *, cv=5, n_boot=2000, epochs=5, image_size=64, n_samples=250, batch_size=32, input_size=None
):
    """The options ``run`` and ``demo`` share, with the given defaults."""
    p.add_argument("--output", default="skbreastcad_output", help="folder for the report folders")
    p.add_argument(
        "--cv",
        type=int_at_least(2),
        default=cv,
        help=f"folds, patient-grouped when the data has patients ({cv})",
    )
    p.add_argument(
        "--n-jobs", type=n_jobs, default=None, help="parallel fits (joblib; -1: every core)"
    )
    add_device(p)
    add_seed(p, "the data, the folds and the fits")
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        type=dask_address,
        help="run the fits on a Dask cluster: a scheduler ADDRESS (tcp://HOST:PORT; it must "
        "answer within 10 s) or local:N (N local workers)",
    )
    p.add_argument(
        "--n-boot", type=int_at_least(10), default=n_boot, help=f"bootstrap resamples ({n_boot})"
    )
    p.add_argument(
        "--image-size",
        type=int_between(8, MAX_INPUT_SIZE),
        default=image_size,
        help=f"ROI side in pixels ({image_size})",
    )
    p.add_argument(
        "--n-samples",
        type=int_at_least(1),
        default=n_samples,
        help=f"phantoms to draw ({n_samples})",
    )
    own = "each backbone's own" if input_size is None else input_size
    p.add_argument(
        "--input-size",
        type=int_between(1, MAX_INPUT_SIZE),
        default=input_size,
        help=f"network input side, raised to each backbone's minimum ({own})",
    )
    p.add_argument(
        "--epochs",
        type=int_at_least(1),
        default=epochs,
        help=f"fine-tuning epochs per stage ({epochs})",
    )
    p.add_argument(
        "--batch-size",
        type=int_at_least(1),
        default=batch_size,
        help=f"images per training step of the fine-tuned networks ({batch_size})",
    )
    p.add_argument("--backbones", nargs="+", help="backbones (see 'skbreastcad backbones')")
    p.add_argument(
        "--layers", nargs="+", help="layers to probe (see 'skbreastcad layers BACKBONE')"
    )
    p.add_argument("--features", nargs="+", help="feature sets: gabor glcm haar cnn, '+' fuses")
    p.add_argument(
        "--modes",
        nargs="+",
        default=["features", "fine_tuned"],
        choices=["features", "fine_tuned"],
        help="how the backbones experiment uses each network: as a frozen feature "
        "extractor, fine-tuned, or both (both)",
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
    add_overwrite(p)
    add_verbose(p)


def add_parser(subparsers):
    """Add ``run`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "run",
        help="run one of the study's experiments and write its report folder",
        description="Run an experiment (features: Table 1, layers: Table 2, backbones: "
        "Table 3, transfer: Fig. 6, ablation) and write <output>/<experiment>/.",
    )
    p.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}")
    p.add_argument("--data", default="phantoms", help=DATA_FORMS)
    p.add_argument(
        "--classes",
        nargs=2,
        metavar=("NEG", "POS"),
        help="the two class folders of folder:DIR (needed when it holds more than two)",
    )
    p.add_argument("--group-pattern", help="regex whose first group is the patient id (folder:DIR)")
    p.add_argument("--source", help="stage-1 data of two-stage transfer (same forms as --data)")
    p.add_argument("--source-classes", nargs="+", help="class folders of a folder: source")
    p.add_argument("--source-group-pattern", help=argparse.SUPPRESS)
    add_common(p)
    return p
