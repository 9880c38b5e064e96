"""``skbreastcad reproduce``: the study's whole protocol as one resumable command.

Bad input (an unknown data spec, a missing folder, data no experiment can run
on, an output folder that is not this run's to resume) is one line on stderr
and exit code 2, before any long work. A killed or interrupted run keeps every
finished unit of work: the same command continues it.
"""

import signal
import sys
from pathlib import Path

from ._shared import (
    INTERRUPTED,
    MAX_INPUT_SIZE,
    TERMINATED,
    UsageError,
    add_device,
    add_seed,
    checking,
    data_paths,
    int_at_least,
    int_between,
)

DATA_FORMS = "phantoms, mias:DIR, cesm:DIR, cbis:DIR, duke-mri:DIR or folder:DIR"
# CDD-CESM as the project's shared copy lays it out: benign/ and malignant/, files P<id>_...
CESM_CLASSES = ["benign", "malignant"]
CESM_PATIENT = r"(P\d+)_"


def _load(spec, args, seed):
    """``(StudyData arguments, name)`` of a ``--data``/``--source`` spec."""
    from .run import load_data

    kind, _, path = spec.partition(":")
    name = kind.replace("-", "_") or "data"
    if kind == "cesm":
        if not path:
            raise UsageError(f"unknown data spec {spec!r}: use {DATA_FORMS}")
        spec, classes, pattern = f"folder:{path}", CESM_CLASSES, CESM_PATIENT
    else:
        classes, pattern = None, None
    if kind not in ("phantoms", "mias", "cesm", "cbis", "duke-mri", "folder") or (
        kind != "phantoms" and not path
    ):
        raise UsageError(f"unknown data spec {spec!r}: use {DATA_FORMS}")
    X, y, groups, text = load_data(
        spec,
        image_size=args.image_size,
        n_samples=args.n_samples,
        seed=seed,
        classes=classes,
        group_pattern=pattern,
    )
    if kind == "cesm":
        text = text.replace(f"folder:{path}", f"cesm:{path}")
    return (X, y, groups), name, text


def _settings(args):
    changes = {}
    options = {
        "cv": "cv",
        "n_boot": "n_boot",
        "backbone": "backbone",
        "layers": "layers",
        "features": "hand_crafted",
        "offline_backbones": "offline_backbones",
    }
    for option, key in options.items():
        value = getattr(args, option)
        if value is not None:
            changes[key] = value
    changes["seed"] = args.seed
    if args.no_ablation:
        changes["ablation"] = None
    return changes


def execute(args):
    """Run ``skbreastcad reproduce``; return the exit code."""
    import warnings

    from ..experiments import StudyData, check_reproduction, reproduce_study, study_settings

    mode = "full" if args.full else "quick"
    if args.image_size is None:
        args.image_size = 128 if args.full else 64
    protect = data_paths(args.data, args.source)
    with checking():
        settings = study_settings(mode, **_settings(args))
    with warnings.catch_warnings():
        # the loaders' notes about files of a subset that are absent, said once below
        warnings.simplefilter("ignore")
        arrays, name, text = _load(args.data, args, args.seed)
        source = None
        if args.source:
            source_arrays, source_name, source_text = _load(args.source, args, args.seed + 1)
            if source_name == name:
                source_name += "_source"
    with checking():
        target = StudyData(*arrays, name=name)
        if args.source:
            source = StudyData(*source_arrays, name=source_name)
        resumed = check_reproduction(args.output, target, source, settings, protect=protect)
    print(
        f"skbreastcad reproduce ({mode}): {text}"
        + (f"; source {source_text}" if source is not None else "")
        + (f"; resuming {args.output}" if resumed else ""),
        flush=True,
    )
    try:
        result = reproduce_study(
            target,
            args.output,
            source=source,
            mode=mode,
            settings={k: v for k, v in settings.items() if k != "mode"},
            only=args.only,
            device=args.device,
            protect=protect,
            # a log file gets one line per unit rather than a bar's carriage returns
            progress=False if args.quiet else (True if sys.stderr.isatty() else "lines"),
        )
    except KeyboardInterrupt:
        # run_command's SIGTERM handler records the signal: a scheduler's stop, not Ctrl-C
        terminated = getattr(signal.getsignal(signal.SIGTERM), "received", False)
        print(
            f"skbreastcad reproduce: {'terminated' if terminated else 'interrupted'}; the "
            f"finished units are kept in {args.output}: the same command continues the run",
            file=sys.stderr,
        )
        return TERMINATED if terminated else INTERRUPTED
    claims = result.claims
    print()
    for row in claims.itertuples():
        diff = (
            ""
            if row.difference is None
            else f"{row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]"
        )
        print(f"  {row.claim:<55} {diff:<26} {row.verdict}")
    report = Path(args.output) / "REPRODUCTION.md"
    if result.complete:
        print(f"\nReport: {report}")
    else:
        print(
            f"\nReport so far: {report} ({len(result.pending)} units pending; "
            "the same command without --only continues)"
        )
    return 0


def add_parser(subparsers):
    """Add ``reproduce`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "reproduce",
        help="the study's whole protocol, resumable, one claim per row of its report",
        description="Run Table 1 (features, fusions, fine-tuned CNN), Table 2 (layer probe), "
        "Table 3 (backbones), Fig. 6 (transfer: none, ImageNet, two-stage in both "
        "directions between --data and --source) and the ablation, and write "
        "<output>/REPRODUCTION.md with every claim's estimate, patient-bootstrap CI, paired "
        "test and verdict. Every unit of work is saved as it ends: rerun the same command to "
        "continue a killed run.",
    )
    p.add_argument("--data", required=True, help=DATA_FORMS)
    p.add_argument(
        "--source",
        help="the second data set: stage 1 of the two-stage transfer to --data, and the "
        "target of the transfer the other way round (same forms as --data)",
    )
    p.add_argument(
        "--output",
        default="skbreastcad_reproduction",
        help="the reproduction folder, new or resumed (skbreastcad_reproduction)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="smoke test (the default): 3 folds, 64-px CNN features, the last two layers "
        "fine-tuned at 32 px for 3 epochs; its verdicts are not the study's test",
    )
    mode.add_argument(
        "--full",
        action="store_true",
        help="the study's test: patient-grouped 5-fold CV, CNN features at the backbone's "
        "native size, the classifier's default fine-tuning at 128 px, whole network (hours)",
    )
    p.add_argument("--cv", type=int_at_least(2), help="folds (quick 3, full 5)")
    p.add_argument("--n-boot", type=int_at_least(10), help="bootstrap resamples (500, 2000)")
    p.add_argument(
        "--backbone",
        help="network of the CNN features, the layer probe and the transfers "
        "(efficientnet_lite0, whose ImageNet weights ship offline)",
    )
    p.add_argument("--layers", nargs="+", help="layers to probe (default: the backbone's blocks)")
    p.add_argument(
        "--features",
        nargs="+",
        choices=["gabor", "glcm", "haar"],
        help="the hand-crafted sets of Table 1, each also fused with the CNN features "
        "(gabor glcm haar)",
    )
    p.add_argument(
        "--offline-backbones",
        nargs="+",
        metavar="BACKBONE",
        help="Table 3's backbones when VGG16, ResNet50 or InceptionV3 have no offline "
        "ImageNet weights (those of efficientnet_lite0 lite1 lite2 that have them)",
    )
    p.add_argument(
        "--image-size",
        type=int_between(8, MAX_INPUT_SIZE),
        help="ROI side in pixels (quick 64, full 128)",
    )
    p.add_argument("--n-samples", type=int_at_least(8), default=120, help="phantoms (120)")
    p.add_argument(
        "--only",
        metavar="PATTERN",
        help="compute only the units whose names match (fnmatch), e.g. '*/fold0' to time one "
        "fold of every phase; the rest stays pending",
    )
    p.add_argument("--no-ablation", action="store_true", help="skip the ablation phase")
    add_device(p)
    add_seed(p, "the data, the folds, the fits and the bootstrap")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p
