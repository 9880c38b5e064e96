"""Layer probing (the study's Table 2): every probed layer from one forward pass, cached."""

import os
import time

import numpy as np

from ..evaluation import DEFAULT_METRICS
from ..utils._docstrings import substitute_docs
from ..utils._optional import optional_import
from ._common import EXPERIMENT_PARAMETERS

__all__ = ["layer_features", "probe_layers"]

# The study's VGG16 layers 8 to 17 (Keras numbering, see skbreastcad.nn.VGG16_STUDY_LAYERS)
STUDY_VGG16_PROBE = tuple(range(8, 18))


class _StopForward(Exception):
    """Raised once every probed layer has run: later layers need not."""


def _layer_features(
    X,
    backbone,
    layers,
    weights,
    pooling,
    input_size,
    value_range,
    batch_size,
    random_state,
    device,
    verbose,
):
    with optional_import("layer_features"):
        import torch

    from ..features import CNNLayerFeatures
    from ..features._cnn import _pool

    est = CNNLayerFeatures(
        backbone,
        layer=None,
        pooling=pooling,
        weights=weights,
        input_size=input_size,
        value_range=value_range,
        batch_size=batch_size,
        device=device,
        random_state=random_state,
        verbose=verbose,
    ).fit(X[:1])
    model, dev, amp = est._inference_setup()
    modules = {name: model.backbone.get_submodule(name) for name in layers}
    captured = {}
    calls = dict.fromkeys(layers, 0)

    def make_hook(name):
        def hook(module, args, output):
            calls[name] += 1
            captured[name] = output
            if len(captured) == len(layers):
                raise _StopForward

        return hook

    handles = [m.register_forward_hook(make_hook(n)) for n, m in modules.items()]
    widths = {}

    def forward(net, x):
        captured.clear()
        try:
            net(x)
        except _StopForward:
            pass
        missing = [n for n in layers if n not in captured]
        if missing:
            raise RuntimeError(
                f"Layers {missing} were not run by the forward pass of {backbone!r}."
            )
        parts = []
        for name in layers:
            pooled = _pool(captured[name], pooling)
            widths[name] = pooled.shape[1]
            parts.append(pooled.float())
        return torch.cat(parts, dim=1)

    try:
        # a module that runs several times per pass (a ResNet block's shared ReLU) has no single
        # activation: refuse it, as CNNLayerFeatures does, from one image
        with torch.inference_mode():
            try:
                model(_unit(X[:1], value_range, dev))
            except _StopForward:
                pass
        repeated = [n for n, c in calls.items() if c > 1]
        if repeated:
            raise ValueError(
                f"Layers {repeated} of backbone {backbone!r} run several times in one forward pass "
                "(a module its parent reuses), so they have no single activation; probe their parents."
            )
        out = est._batched_inference(model, X, dev, amp, forward, desc="layer features")
    finally:
        for h in handles:
            h.remove()
    result, start = {}, 0
    for name in layers:
        result[name] = out[:, start : start + widths[name]]
        start += widths[name]
    return result


def _unit(images, value_range, device):
    from ..nn._input import to_unit_tensor

    return to_unit_tensor(images, value_range, device)


@substitute_docs(**EXPERIMENT_PARAMETERS)
def layer_features(
    X,
    backbone,
    layers,
    *,
    weights="imagenet",
    pooling="avg",
    input_size=None,
    value_range="dtype",
    batch_size=32,
    device="auto",
    random_state=None,
    memory=None,
    verbose=0,
):
    """Pooled activations of several layers of a backbone, from one forward pass per batch.

    Hooks on every requested layer capture their outputs during the same pass;
    the pass stops after the last of them has run. Each layer's features equal
    those of :class:`~skbreastcad.features.CNNLayerFeatures` with that ``layer``
    and the same settings, for about the cost of the deepest layer alone.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width)
        Images.
    backbone : str
        See :func:`skbreastcad.nn.list_backbones`.
    layers : sequence of str
        Names from :func:`skbreastcad.nn.list_layers`.
    weights : {"imagenet"}, str, path-like or None, default="imagenet"
        ``"imagenet"`` loads the weight set through the torch hub cache, a path
        loads a local checkpoint, None keeps a random initialisation (seeded
        by ``random_state``); as for :class:`~skbreastcad.features.CNNLayerFeatures`.
    pooling : {"avg", "max", "avgmax", "flatten"}, default="avg"
        How a spatial activation map becomes a vector; as for
        :class:`~skbreastcad.features.CNNLayerFeatures`.
    input_size : int, (int, int), "native" or None, default=None
        Size the images are resized to; None uses the backbone's pretraining
        size, "native" keeps the images' size.
    value_range : "dtype" or (float, float), default="dtype"
        Grey levels mapped to [0, 1] before normalisation; as for
        :class:`~skbreastcad.features.CNNLayerFeatures`.
    batch_size : int, default=32
        Images per forward pass.
    {device}
    random_state : int, RandomState instance or None, default=None
        Seeds the random initialisation when ``weights=None``.
    memory : str, path-like, joblib.Memory or None, default=None
        Caches the result keyed on the images, the backbone, its settings and the
        layers, as scikit-learn's ``Pipeline(memory=...)`` does (a folder shared by
        processes). ``device`` and ``verbose`` are not part of the key.
    verbose : int, default=0
        Show a progress bar over batches when positive.

    Returns
    -------
    features : dict of str to ndarray of shape (n_samples, n_features)
        One entry per layer, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    >>> feats = layer_features(X, "tiny_cnn", ["relu1", "relu2"], weights=None, random_state=0)
    >>> {name: f.shape for name, f in feats.items()}
    {'relu1': (3, 8), 'relu2': (3, 16)}
    """
    import difflib

    from sklearn.utils.validation import check_memory

    from ..nn import list_layers

    X = np.asarray(X)
    if X.ndim != 3 or len(X) == 0:
        raise ValueError(
            f"X must be a non-empty batch of images (n, height, width); got shape {X.shape}."
        )
    layers = tuple(layers)
    if not layers:
        raise ValueError("layers is empty: name at least one layer.")
    valid = list_layers(backbone)
    for name in layers:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Unknown layer {name!r} for backbone {backbone!r}.{hint}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers names a layer twice: {list(layers)}.")
    if isinstance(memory, os.PathLike):
        memory = os.fspath(memory)
    cached = check_memory(memory).cache(_layer_features, ignore=["device", "verbose"])
    return cached(
        X,
        backbone,
        layers,
        weights,
        pooling,
        input_size,
        value_range,
        batch_size,
        random_state,
        device,
        verbose,
    )


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

    One forward pass per image yields every probed layer (:func:`layer_features`,
    cached in ``memory``); each layer is then a candidate of one grid, fitted
    fold by fold on the same patient-grouped folds. The network is frozen and
    ``fit`` learns nothing from it, so computing the features of all images once
    leaks nothing; scaling, over-sampling and the classifier are fitted on
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
        As for :func:`layer_features`.
    fallback : str, "random" or None, default="efficientnet_lite0"
        When ImageNet weights are not available offline: ``"random"`` probes
        the same layers with random weights (the report's notes say so); a
        backbone name or None raises, naming the missing file (layer names
        differ between backbones, so the probe cannot switch backbone).
    pooling : {"avg", "max", "avgmax", "flatten"}, default="avg"
        As for :func:`layer_features`.
    input_size : int, (int, int), "native" or None, default=None
        As for :func:`layer_features`.
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
        Feature cache (see :func:`layer_features`).
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
    ...                       n_boot=50, ci_method="percentile")
    >>> report.candidates
    ['relu1', 'relu2']
    """
    from sklearn.compose import ColumnTransformer

    from ..nn import VGG16_STUDY_LAYERS
    from ._common import check_experiment_data, resolve_backbone, run_candidates

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
