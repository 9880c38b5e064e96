"""``skbreastcad predict MODEL IMAGE...``: class probabilities and labels of images, as a CSV."""

from pathlib import Path

from ._shared import UsageError, checking, first_line, write_csv

_DESCRIPTION = """Apply a saved model (a folder written by 'skbreastcad train' or save_model) to
images and write one row per image: the file, the probability of each class and the label. With a
decision threshold in the model's card the label is the positive class when its probability reaches
the threshold, else the most probable class. The images must have the model's input shape (its
card's Input section). A pickle or joblib file is refused, since loading it runs code from it;
--trust-pickle loads one anyway, for files from a trusted source."""


def load_model_arg(path, trust_pickle, *, accept=("predict_proba",)):
    """Load MODEL for a command: a model folder, or a pickle only with ``--trust-pickle``.

    ``accept`` lists the methods of which the model needs one. Returns
    ``(model, config)``; ``config`` is the folder's manifest (None for a pickle).
    """
    from ..persistence import ModelFolderError, load_model
    from ..persistence._folder import read_config

    path = Path(path)
    if not path.exists():
        raise UsageError(f"model not found: {path}")
    try:
        model = load_model(path, trust_pickle=trust_pickle)
        config = read_config(path) if path.is_dir() and (path / "config.json").is_file() else None
    except ModelFolderError as exc:
        message = first_line(exc).replace("trust_pickle=True", "--trust-pickle")
        raise UsageError(message) from exc
    except ValueError as exc:  # an untrusted type included: its message names it
        raise UsageError(f"cannot load {path}: {first_line(exc)}") from exc
    if not any(hasattr(model, method) for method in accept):
        hint = (
            ": it finds lesions on whole films, use 'skbreastcad detect'"
            if hasattr(model, "predict_candidates")
            else ""
        )
        raise UsageError(
            f"{path} holds a {type(model).__name__}, which has no {' or '.join(accept)}{hint}"
        )
    return model, config


def execute(args):
    """Run ``skbreastcad predict``; return the exit code."""
    import numpy as np
    import pandas as pd

    from ..datasets import read_image

    paths = [Path(f) for f in args.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"image(s) not found: {', '.join(missing)}")
    if Path(args.output).is_dir():
        raise UsageError(f"--output {args.output} is a folder; give a CSV file name")
    model, config = load_model_arg(args.model, args.trust_pickle)
    shape = None if config is None else config["input"].get("image_shape")
    images = []
    for path in paths:
        with checking():
            image = read_image(path)
        if shape is not None and list(image.shape) != list(shape):
            raise UsageError(
                f"{path} is {image.shape[0]}x{image.shape[1]} pixels; the model takes "
                f"{shape[0]}x{shape[1]} images"
            )
        images.append(image)
    try:
        X = np.stack(images)
    except ValueError as exc:
        raise UsageError(f"the images differ in shape: {first_line(exc)}") from exc
    with checking():
        proba = np.asarray(model.predict_proba(X))
    classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    frame = pd.DataFrame({"image": [str(p) for p in paths]})
    for k, label in enumerate(classes):
        frame[f"proba_{label}"] = proba[:, k]
    threshold = None if config is None or config.get("threshold") is None else config["threshold"]
    if threshold is not None and len(classes) == 2:
        positive = proba[:, 1] >= threshold["value"]
        frame["label"] = np.where(positive, classes[1], classes[0])
    else:
        frame["label"] = np.asarray(classes)[np.argmax(proba, axis=1)]
    write_csv(frame, args.output, index=False)
    rule = (
        f"threshold {threshold['value']:.4g} on the probability of class {classes[1]}"
        if threshold is not None and len(classes) == 2
        else "most probable class"
    )
    print(f"{len(paths)} image(s) -> {args.output} (labels: {rule})")
    return 0


def add_parser(subparsers):
    """Add ``predict`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "predict",
        help="probabilities and labels of images from a saved model",
        description=_DESCRIPTION,
    )
    p.add_argument("model", metavar="MODEL", help="a model folder (skbreastcad train, save_model)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="images (PGM, PNG, TIFF, DICOM...)")
    p.add_argument("--output", default="skbreastcad_predictions.csv", help="the CSV to write")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load a pickle/joblib MODEL (it runs code from the file: trusted sources only)",
    )
    return p
