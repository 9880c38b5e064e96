"""Layer probing (the study's Table 2): every probed layer from one forward pass, cached."""

import time

import numpy as np

from ..evaluation import DEFAULT_METRICS
from ..utils._docstrings import substitute_docs
from ._common import EXPERIMENT_PARAMETERS

__all__ = ["probe_layers"]

# The study's VGG16 layers 8 to 17 (Keras numbering, see skbreastcad.nn.VGG16_STUDY_LAYERS)
STUDY_VGG16_PROBE = tuple(range(8, 18))


def _layer_label(backbone, layer):
    from ..nn import VGG16_STUDY_LAYERS

    if backbone == "vgg16":
        number = {v: k for k, v in VGG16_STUDY_LAYERS.items()}.get(layer)
        if number is not None:
            return f"layer {number} ({layer})"
    return layer


@substitute_docs(**EXPERIMENT_PARAMETERS)
def probe_layers(
    X,
    y,
    backbone="vgg16",
    layers=None,
    *,
    groups=None,
    weights="imagenet",
    fallback="efficientnet_lite0",
    pooling="avg",
    input_size=None,
    classifier=None,
    param_grid=None,
    cv=5,
    oversample=True,
    memory=None,
    device="auto",
    batch_size=32,
    threshold="default",
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    ci_method="bca",
    random_state=0,
    n_jobs=None,
    verbose=0,
):
    """Cross-validate a classifier on each layer's features: the study's Table 2, with CIs.

    One forward pass per image yields every probed layer
    (:func:`skbreastcad.features.layer_features`, cached in ``memory``); each
    layer is then a candidate of one grid, fitted fold by fold on the same
    patient-grouped folds. The network is frozen and ``fit`` learns nothing
    from it, so computing the features of all images once leaks nothing; scaling, over-sampling and the classifier are fitted on
    training folds only.

    Parameters
    ----------
    {X}
    {y}
    backbone : str, default="vgg16"
        See :func:`skbreastcad.nn.list_backbones`.
    layers : sequence of str or int, default=None
        Layer names (:func:`skbreastcad.nn.list_layers`); for VGG16, ints are the
        study's numbers (:data:`skbreastcad.nn.VGG16_STUDY_LAYERS`). None probes
        VGG16's layers 8 to 17, and is required otherwise.
    groups : array-like of shape (n_samples,), default=None
        Patient ids: folds never split a patient; CIs resample patients.
    weights : {"imagenet"}, str, path-like or None, default="imagenet"
        As for :func:`skbreastcad.features.layer_features`.
    fallback : str, "random" or None, default="efficientnet_lite0"
        When ImageNet weights are not available offline: ``"random"`` probes
        the same layers with random weights (the report's notes say so); a
        backbone name or None raises, naming the missing file (layer names
        differ between backbones, so the probe cannot switch backbone).
    pooling : {"avg", "max", "avgmax", "flatten"}, default="avg"
        As for :func:`skbreastcad.features.layer_features`.
    input_size : int, (int, int), "native" or None, default=None
        As for :func:`skbreastcad.features.layer_features`.
    classifier : estimator, default=None
        Logistic regression by default.
    param_grid : dict or None, default=None
        Hyper-parameters of ``classifier`` to search (e.g. ``{"C": [0.1, 1]}``):
        the search runs inside every outer training fold (nested evaluation),
        on inner stratified folds.
    {cv}
    oversample : bool, default=True
        Balance the classes of each training fold by random up-sampling of
        the minority class's features.
    memory : str, path-like, joblib.Memory or None, default=None
        Feature cache (see :func:`skbreastcad.features.layer_features`).
    device : str or torch.device, default="auto"
        Torch device of the forward passes; "auto" picks CUDA when it is
        available.
    batch_size : int, default=32
        Images per forward pass.
    {threshold}
    {metrics}
    {n_boot}
    {ci_method}
    random_state : int, RandomState instance or None, default=0
        Seeds the folds, the over-sampler, the bootstrap and random weights.
    n_jobs : int or None, default=None
        Parallel fits (layers x folds), with joblib's meaning.
    verbose : int, default=0
        Verbosity of the feature extraction, the search and the evaluation.

    Returns
    -------
    report : ExperimentReport
        One candidate per layer; ``report.timings["features_s"]`` is the
        feature extraction time.

    Examples
    --------
    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(40, image_size=32, random_state=0)[:2]
    >>> report = probe_layers(X, y, "tiny_cnn", ["relu1", "relu2"], weights=None, cv=2,
    ...                       n_boot=100, ci_method="percentile")
    >>> report.candidates
    ['relu1', 'relu2']
    """
    from sklearn.compose import ColumnTransformer

    from ..features import layer_features
    from ..nn import VGG16_STUDY_LAYERS, resolve_backbone
    from ._common import check_experiment_data, run_candidates

    X, y, groups = check_experiment_data(X, y, groups, cv)
    if layers is None:
        if backbone != "vgg16":
            raise ValueError(
                f"Name the layers to probe for backbone {backbone!r} "
                "(see `skbreastcad layers BACKBONE`)."
            )
        layers = STUDY_VGG16_PROBE
    layers = [
        VGG16_STUDY_LAYERS[v] if backbone == "vgg16" and isinstance(v, int) else v for v in layers
    ]
    ran, ran_weights, note = resolve_backbone(backbone, weights, fallback)
    notes = [note] if note else []
    if ran != backbone:
        raise FileNotFoundError(
            f"{note} Layer names differ between backbones: probe {ran!r} explicitly "
            f"(its layers: `skbreastcad layers {ran}`)."
        )
    start = time.perf_counter()
    feats = layer_features(
        X,
        ran,
        layers,
        weights=ran_weights,
        pooling=pooling,
        input_size=input_size,
        batch_size=batch_size,
        device=device,
        random_state=random_state,
        memory=memory,
        verbose=verbose,
    )
    features_s = time.perf_counter() - start
    F = np.hstack([feats[name] for name in layers])
    candidates, offset = {}, 0
    for name in layers:
        width = feats[name].shape[1]
        candidates[_layer_label(ran, name)] = ColumnTransformer(
            [("layer", "passthrough", slice(offset, offset + width))]
        )
        offset += width
    report = run_candidates(
        F,
        y,
        candidates,
        groups=groups,
        classifier=_nested(classifier, param_grid, random_state),
        cv=cv,
        oversample=oversample,
        threshold=threshold,
        metrics=metrics,
        n_boot=n_boot,
        ci_method=ci_method,
        random_state=random_state,
        n_jobs=n_jobs,
        verbose=verbose,
        config={
            "experiment": "probe_layers",
            "backbone": ran,
            "weights": repr(ran_weights),
            "layers": list(layers),
            "pooling": pooling,
            "input_size": repr(input_size),
            "param_grid": repr(param_grid),
            "feature_widths": {n: int(feats[n].shape[1]) for n in layers},
        },
        title=f"Layer probe of {ran} (the study's Table 2)",
        notes=notes,
        check_images=False,
    )
    report.timings["features_s"] = features_s
    return report


def _nested(classifier, param_grid, random_state):
    """The classifier, or a search over its hyper-parameters run inside each training fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    classifier = classifier if classifier is not None else LogisticRegression(max_iter=2000)
    if not param_grid:
        return classifier
    inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=random_state)
    return GridSearchCV(classifier, param_grid, scoring="roc_auc", cv=inner)
