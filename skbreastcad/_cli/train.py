"""``skbreastcad train``: fit one model on a data set and save it as a model folder.

With ``--evaluate`` it first runs the patient-grouped cross-validation and puts its metrics,
with their patient-bootstrap intervals, and the threshold chosen on the out-of-fold scores,
into the model card. Bad input is one line on stderr and exit code 2, before any fit.
"""

import json
import shlex
import sys
from pathlib import Path

from ._shared import (
    MAX_INPUT_SIZE,
    UsageError,
    add_device,
    add_overwrite,
    add_seed,
    add_verbose,
    check_device,
    checking,
    int_at_least,
    int_between,
    threshold_policy,
)

_DESCRIPTION = """Fit a model and save it as a model folder (model.safetensors, estimator.skops,
config.json and the README.md model card; see docs/models.md), which 'skbreastcad predict' and
'skbreastcad detect' load without running code from it. MODEL is a feature set that 'run' accepts
(glcm, gabor+glcm, haar, cnn+glcm...: features, scaling, over-sampling and a logistic regression), a
backbone (tiny_cnn, efficientnet_lite0, resnet50...: fine-tuned from ImageNet when its weights are
offline, else from a random initialisation), film-detector (alias film: the lesion detector trained
on whole films, as 'froc' trains it; --data mias:DIR or cbis:DIR; --evaluate puts its FROC by folds
of women into the card), or a JSON file {"model": NAME, "params": {...}} whose params are set on
that estimator (set_params names)."""

#: the whole-film detector's names: ``film`` is what ``froc --features`` calls it
FILM_DETECTOR = "film-detector"
_FILM_NAMES = (FILM_DETECTOR, "film")


def _read_config(text):
    path = Path(text)
    try:
        config = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read the model config {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"model config {path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise UsageError(f'model config {path} must be {{"model": NAME, "params": {{...}}}}')
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise UsageError(f"model config {path}: 'params' must be an object")
    return config["model"], params


def build_model(name, params, args):
    """The unfitted estimator of a feature-set or backbone NAME, with ``params`` set."""
    from ..experiments import make_feature_pipeline, make_feature_set
    from ..nn import get_backbone_spec, resolve_backbone

    estimator, note = None, None
    if name in _FILM_NAMES:
        from ..detection import FilmLesionDetector

        # CBIS-DDSM mixes CC and MLO views; a pectoral search on a CC view would cut tissue
        estimator = FilmLesionDetector(
            view="CC" if args.data.startswith("cbis:") else "MLO",
            random_state=args.seed,
            verbose=max(args.verbose - 1, 0),
        )
        with checking():
            estimator.set_params(**params)
        return estimator, None
    try:
        make_feature_set(name)
    except ValueError:
        pass
    else:
        estimator = make_feature_pipeline(name, random_state=args.seed)
    if estimator is None:
        try:
            get_backbone_spec(name)
        except ValueError as exc:
            raise UsageError(
                f"unknown model {name!r}: not a feature set ('glcm', 'gabor+glcm'...) nor a "
                "backbone (see 'skbreastcad backbones')"
            ) from exc
        from ..models import TwoStageTransferClassifier

        with checking():
            backbone, weights, note = resolve_backbone(name, "imagenet", "random")
        estimator = TwoStageTransferClassifier(
            backbone,
            transfer="none" if weights is None else "imagenet",
            weights=weights,
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            device=args.device,
            random_state=args.seed,
            verbose=args.verbose,
        )
    with checking():
        estimator.set_params(**params)
    return estimator, note


def _training_data(spec, X, y, groups):
    import numpy as np

    labels, counts = np.unique(y, return_counts=True)
    kind = spec.partition(":")[0]
    modality = {"phantoms": "synthetic mammography ROIs", "mias": "mammography ROIs (mini-MIAS)"}
    return {
        "dataset": spec,
        "images": int(len(y)),
        "patients": None if groups is None else int(len(np.unique(groups))),
        "classes": {str(k): int(v) for k, v in zip(labels, counts)},
        "modality": modality.get(kind, "mammography ROIs" if kind == "cbis" else "images"),
        "image_shape": list(X.shape[1:]),
    }


def _phantoms(args):
    # simulated patients of about 4 ROIs each, so that --evaluate groups its folds by patient
    from ..datasets import make_phantoms

    n_patients = max(args.n_samples // 4, args.cv)
    with checking():
        X, y, groups = make_phantoms(
            args.n_samples,
            image_size=args.image_size,
            n_patients=n_patients,
            return_groups=True,
            random_state=args.seed,
        )
    return X, y, groups, f"{len(X)} synthetic phantoms of {n_patients} simulated patients"


def execute(args):
    """Run ``skbreastcad train``; return the exit code."""
    from .run import load_data

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file; a model is a folder")
    if output.is_dir() and any(output.iterdir()) and not args.overwrite:
        raise UsageError(
            f"output folder {output} is not empty: choose another --output, or pass "
            "--overwrite to replace a model saved there"
        )
    check_device(args.device)
    if args.model.endswith(".json"):
        name, params = _read_config(args.model)
    else:
        name, params = args.model, {}
    estimator, note = build_model(name, params, args)
    if note:
        print(f"note: {note}", file=sys.stderr)
    if name in _FILM_NAMES:
        return _train_detector(estimator, args)
    print(f"Loading {args.data}...", flush=True)
    if args.data == "phantoms":
        X, y, groups, text = _phantoms(args)
    else:
        X, y, groups, text = load_data(
            args.data,
            image_size=args.image_size,
            n_samples=args.n_samples,
            seed=args.seed,
            classes=args.classes,
        )
    print(f"  {text}")
    report, threshold = None, None
    if args.evaluate:
        report, threshold = _evaluate(estimator, X, y, groups, args)
    print(f"Fitting {name} on all {len(y)} images...", flush=True)
    with checking():
        estimator.fit(X, y)
    _save(estimator, name, args, X, y, groups, report, threshold)
    return 0


def _evaluate(estimator, X, y, groups, args):
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    from ..evaluation import choose_threshold, evaluate
    from ..experiments import check_experiment_data

    with checking():
        check_experiment_data(X, y, groups, args.cv)
    cv = (
        StratifiedGroupKFold(args.cv, shuffle=True, random_state=args.seed)
        if groups is not None
        else StratifiedKFold(args.cv, shuffle=True, random_state=args.seed)
    )
    units = "patient-grouped" if groups is not None else "image-level (no patient ids)"
    print(f"Evaluating with {args.cv} {units} folds...", flush=True)
    report = evaluate(
        estimator,
        X,
        y,
        groups=groups,
        cv=cv,
        threshold=args.threshold,
        n_boot=args.n_boot,
        random_state=args.seed,
    )
    print(report.format_table())
    threshold = None
    if args.threshold != "default":
        predictions = report.predictions
        threshold = float(
            choose_threshold(predictions["y_true"], predictions["score"], args.threshold)
        )
    return report, threshold


# -- the whole-film detector ------------------------------------------------------------------
def _film_inputs(films, lesions):
    """Films as arrays, their lesions as ``(row, col, radius)`` rows, each film's partner index."""
    import numpy as np

    from ..datasets import read_image

    if "image" in films.columns:
        images = [np.asarray(image) for image in films["image"]]
    else:
        images = []
        for path in films["path"]:
            with checking():
                images.append(read_image(path))
    by_film = dict(tuple(lesions.groupby("film", sort=False)))
    circles = [
        by_film[f][["row", "col", "radius"]].to_numpy(float) if f in by_film else np.empty((0, 3))
        for f in films["film"]
    ]
    partners = None
    if "partner" in films.columns:
        index = {f: k for k, f in enumerate(films["film"])}
        partners = [index.get(p) if isinstance(p, str) else None for p in films["partner"]]
    return images, circles, partners


def _film_training_data(spec, films, lesions):
    kind = spec.partition(":")[0]
    modality = {
        "mias": "whole mammograms (mini-MIAS, 200 um pixels)",
        "cbis": "whole mammograms (CBIS-DDSM, reduced to about 200 um pixels)",
    }
    trained = lesions[lesions["film"].isin(films["film"])]
    column = "abnormality" if "abnormality" in trained.columns else None
    classes = (
        {str(k): int(v) for k, v in trained[column].value_counts().sort_index().items()}
        if column
        else {}
    )
    return {
        "dataset": spec,
        "films": int(len(films)),
        "women": int(films["woman"].nunique()),
        "films_with_lesions": int(films["film"].isin(trained["film"]).sum()),
        "lesions": int(len(trained)),
        "lesion_classes": classes,
        "modality": modality.get(kind, "whole mammograms"),
    }


def _evaluate_detector(estimator, films, lesions, args):
    """FROC by folds of women, pooled out of fold, with a bootstrap over women: card records."""
    from ..detection import evaluate_froc

    women = films["woman"].nunique()
    if women < args.cv:
        raise UsageError(f"{args.data} holds films of {women} women, too few for --cv {args.cv}")
    print(f"Evaluating with {args.cv} folds of women (FROC)...", flush=True)
    with checking():
        res = evaluate_froc(
            films,
            lesions,
            estimator,
            n_splits=args.cv,
            n_bootstraps=args.n_boot,
            random_state=args.seed,
            # one line per fold: the folds are most of the command's time
            verbose=max(args.verbose, 1),
        )
    print(res.table.to_string(), flush=True)
    records, level = [], None
    for cls, froc in res.froc.items():
        level = froc.get("confidence_level", level)
        for rate, row in froc.table.iterrows():
            records.append(
                {
                    "candidate": f"{cls} ({froc.n_lesions} lesions)",
                    "metric": f"sensitivity at {rate:g} FP/film",
                    "estimate": row["sensitivity"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                }
            )
    evaluation = {
        "cv": f"{args.cv} folds of women, out-of-fold candidates pooled into one FROC",
        "n_splits": args.cv,
        "n_boot": args.n_boot,
        "resampled_units": "women",
        "confidence_level": level,
        "hit_rule": "a candidate centre inside the lesion circle (radii below 10 px raised to 10)",
    }
    return records, evaluation


_FILM_MEASURED = [
    "Its sensitivities were measured on the films summarised above only; films from other "
    "scanners, sites, populations or digitisers may give different results.",
    "The confidence intervals cover the sampling of women in that data set, not a change of "
    "population or of acquisition.",
]
_FILM_LIMITATIONS = [
    "It was trained with each film's contralateral film as context when the data pairs them; "
    "'skbreastcad detect' pairs mini-MIAS films (mdbNNN) given together, and any other film is "
    "searched without that context.",
    "It proposes candidate locations with scores; it does not classify them as benign or malignant.",
]


def _train_detector(estimator, args):
    from .froc import _film_data

    print(f"Loading {args.data}...", flush=True)
    kind, folder, films, lesions = _film_data(args.data, "--data")
    summary = _film_training_data(args.data, films, lesions)
    print(
        f"  {summary['films']} films of {summary['women']} women, "
        f"{summary['lesions']} lesions on {summary['films_with_lesions']} films"
    )
    metrics, evaluation = None, None
    if args.evaluate:
        metrics, evaluation = _evaluate_detector(estimator, films, lesions, args)
    images, circles, partners = _film_inputs(films, lesions)
    print(f"Fitting {FILM_DETECTOR} on all {len(images)} films...", flush=True)
    with checking():
        estimator.fit(images, circles, contralateral=partners)
    print(
        f"  {estimator.n_positives_} positive and {estimator.n_negatives_} negative windows, "
        f"{estimator.fit_seconds_:.0f} s"
    )
    from ..persistence import ModelCard, save_model

    card = ModelCard(
        name=f"{FILM_DETECTOR} trained on {args.data}",
        description=(
            "Finds candidate lesions on whole mammograms: breast and pectoral segmentation, "
            "multi-scale windows scored by a window model trained with hard negatives, and "
            "non-maximum suppression over scales (skbreastcad.detection.FilmLesionDetector)."
        ),
        training_data=summary,
        metrics=metrics,
        evaluation=evaluation,
        limitations=(
            _FILM_MEASURED
            if args.evaluate
            else [
                "It was not evaluated when it was saved (train with --evaluate, or run "
                "'skbreastcad froc', to measure it); on other films it may do worse than on "
                "its training films."
            ]
        )
        + _FILM_LIMITATIONS,
        command=_command(args),
        tags=["lesion-detection", "mammography"],
    )
    with checking():
        path = save_model(
            estimator,
            args.output,
            card=card,
            input_convention={"dtype": images[0].dtype},
            overwrite=args.overwrite,
        )
    print(f"Model saved to {path} (card: {Path(path) / 'README.md'})")
    return 0


def _command(args):
    """The command line that trains this model again (every setting spelled out)."""
    words = ["skbreastcad", "train", "--data", args.data, "--model", args.model]
    if args.model in _FILM_NAMES or (
        args.model.endswith(".json") and _read_config(args.model)[0] in _FILM_NAMES
    ):
        # the ROI options do not apply to the film detector
        words += ["--output", args.output]
        if args.evaluate:
            words += ["--evaluate", "--cv", str(args.cv), "--n-boot", str(args.n_boot)]
        return shlex.join([*words, "--seed", str(args.seed)])
    words += ["--output", args.output, "--image-size", str(args.image_size)]
    if args.data.startswith("phantoms"):
        words += ["--n-samples", str(args.n_samples)]
    if args.classes:
        words += ["--classes", *args.classes]
    if args.evaluate:
        words += ["--evaluate", "--threshold", args.threshold, "--cv", str(args.cv)]
        words += ["--n-boot", str(args.n_boot)]
    words += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    words += ["--seed", str(args.seed)]
    return shlex.join(words)


def _save(estimator, name, args, X, y, groups, report, threshold):
    from ..persistence import ModelCard, save_model

    policy = None
    if threshold is not None:
        policy = f"{args.threshold}, on the pooled out-of-fold scores of {args.cv} folds"
    card = ModelCard(
        name=f"{name} trained on {args.data}",
        training_data=_training_data(args.data, X, y, groups),
        metrics=report,
        threshold=threshold,
        threshold_policy=policy,
        command=_command(args),
    )
    with checking():
        path = save_model(
            estimator,
            args.output,
            card=card,
            input_convention={"dtype": X.dtype},
            overwrite=args.overwrite,
        )
    print(f"Model saved to {path} (card: {Path(path) / 'README.md'})")


def add_parser(subparsers):
    """Add ``train`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "train", help="fit a model and save it as a model folder", description=_DESCRIPTION
    )
    p.add_argument("--data", required=True, help="phantoms, mias:DIR, cbis:DIR or folder:DIR")
    p.add_argument(
        "--model",
        required=True,
        help="feature set, backbone, film-detector (whole films), or a JSON config file",
    )
    p.add_argument("--output", default="skbreastcad_model", help="the model folder to write")
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="first cross-validate (patient-grouped when the data has patients) and put the "
        "metrics with their bootstrap intervals into the card",
    )
    p.add_argument(
        "--threshold",
        type=threshold_policy,
        default="youden",
        help="with --evaluate: the threshold policy chosen on out-of-fold scores "
        "(youden, sensitivity=S, specificity=S, default; default: youden)",
    )
    p.add_argument("--cv", type=int_at_least(2), default=5, help="folds of --evaluate (5)")
    p.add_argument(
        "--n-boot", type=int_at_least(10), default=1000, help="bootstrap resamples (1000)"
    )
    p.add_argument(
        "--image-size", type=int_between(8, MAX_INPUT_SIZE), default=64, help="ROI side (64)"
    )
    p.add_argument(
        "--n-samples", type=int_at_least(4), default=250, help="phantoms to generate (250)"
    )
    p.add_argument("--classes", nargs=2, metavar=("NEG", "POS"), help="classes of a folder:DIR")
    p.add_argument("--epochs", type=int_at_least(1), default=5, help="epochs of a backbone (5)")
    p.add_argument("--batch-size", type=int_at_least(1), default=32, help="(32)")
    add_device(p, "torch device of a backbone: auto, cpu, cuda, cuda:1... (auto)")
    add_seed(p)
    add_verbose(p)
    add_overwrite(p)
    return p
