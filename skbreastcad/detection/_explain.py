"""Explanations of ROI classifiers: Grad-CAM and occlusion sensitivity."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..utils._optional import optional_import
from ..utils._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["grad_cam", "occlusion_sensitivity"]


class _Stop(Exception):
    """Raised once the features the score needs are captured: later layers need not run."""


def _classes_sign(estimator, pos_label):
    classes = list(getattr(estimator, "classes_", []))
    if pos_label not in classes:
        raise ValueError(f"pos_label={pos_label!r} is not one of the classes {classes}.")
    return classes.index(pos_label)


def _linear_head(steps, n_in):
    """Weight vector and offset of a chain of scalers ending in a linear classifier's decision."""
    w_scale = np.ones(n_in)
    shift = np.zeros(n_in)
    from sklearn.preprocessing import StandardScaler

    for name, step in steps:
        if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
            continue  # samplers act in fit only
        if isinstance(step, StandardScaler):
            mean = step.mean_ if getattr(step, "mean_", None) is not None else 0.0
            scale = step.scale_ if getattr(step, "scale_", None) is not None else 1.0
            shift = (shift - mean) / scale
            w_scale = w_scale / scale
            continue
        if hasattr(step, "coef_") and hasattr(step, "classes_"):
            coef = np.atleast_2d(step.coef_)
            if coef.shape[0] != 1:
                raise ValueError(
                    "grad_cam supports binary linear classifiers after CNNLayerFeatures."
                )
            return (
                coef[0] * w_scale,
                float(coef[0] @ shift + np.ravel(step.intercept_)[0]),
                step.classes_,
            )
        raise ValueError(
            f"grad_cam needs the steps after CNNLayerFeatures to be scalers and a linear classifier "
            f"(coef_); step {name!r} is a {type(step).__name__}."
        )
    raise ValueError(
        "The pipeline ends without a linear classifier (coef_): no class score to explain."
    )


def _resolve(estimator, pos_label):
    """(ImageModel, value_range, feature point, score function) of a deep estimator or CNN pipeline.

    The feature point is ``(module, "output" | "input")``: where the score's
    input is captured; ``score(features)`` maps it to the class score.
    """
    with optional_import("grad_cam"):
        import torch

    if hasattr(estimator, "module_"):
        check_is_fitted(estimator)
        column = _classes_sign(estimator, pos_label)
        model = estimator.module_
        return model, estimator.value_range, None, lambda out: out[:, column]
    steps = getattr(estimator, "steps", None)
    if steps is None:
        raise ValueError(
            f"{type(estimator).__name__} is neither a TwoStageTransferClassifier (module_) nor a "
            "pipeline starting with CNNLayerFeatures: no network to explain."
        )
    features = steps[0][1]
    parts = getattr(features, "transformer_list", None) or [(steps[0][0], features)]
    offset, cnn, cnn_cols = 0, None, None
    for _, part in parts:
        n_out = len(part.get_feature_names_out())
        if hasattr(part, "model_") and cnn is None:
            cnn, cnn_cols = part, slice(offset, offset + n_out)
        offset += n_out
    if cnn is None:
        raise ValueError("The pipeline's features hold no CNNLayerFeatures: no network to explain.")
    weights, _, classes = _linear_head(steps[1:], offset)
    if pos_label not in list(classes):
        raise ValueError(f"pos_label={pos_label!r} is not one of the classes {list(classes)}.")
    # a binary linear decision function scores classes_[1]
    sign = 1.0 if list(classes).index(pos_label) == 1 else -1.0
    w = torch.as_tensor(sign * weights[cnn_cols], dtype=torch.float32)
    model = cnn.model_
    if cnn.layer_ is not None:
        point = (model.backbone.get_submodule(cnn.layer_), "output")
    else:
        head = getattr(cnn, "_head", None)
        if head is None:
            head = [n for n, m in model.backbone.named_modules() if isinstance(m, torch.nn.Linear)][
                -1
            ]
        point = (model.backbone.get_submodule(head), "input")
    pooling = cnn.pooling

    def score(act):
        if act.ndim == 4 and pooling != "flatten":
            avg, top = act.mean(dim=(2, 3)), act.amax(dim=(2, 3))
            act = {"avg": avg, "max": top, "avgmax": torch.cat([avg, top], dim=1)}[pooling]
        return act.reshape(len(act), -1) @ w

    return model, cnn.value_range, point, score


def _default_layer(model, x, point):
    """Name of the last module (in order of completion) with a spatial 4-D output, run once.

    With a feature ``point``, only modules that complete before the score's
    features are captured count.
    """
    with optional_import("grad_cam"):
        import torch

    done, calls = [], {}
    handles = []
    for name, module in model.backbone.named_modules():
        if not name or isinstance(module, (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d)):
            continue

        def hook(module, args, output, name=name):
            calls[name] = calls.get(name, 0) + 1
            if (
                isinstance(output, torch.Tensor)
                and output.ndim == 4
                and output.shape[-1] * output.shape[-2] > 1
            ):
                done.append(name)

        handles.append(module.register_forward_hook(hook))
    if point is not None:
        module, where = point

        def stop(*args):
            raise _Stop

        if where == "input":
            handles.append(module.register_forward_pre_hook(stop))
        else:
            handles.append(module.register_forward_hook(stop))
    try:
        with torch.no_grad():
            try:
                model(x[:1])
            except _Stop:
                pass
    finally:
        for h in handles:
            h.remove()
    for name in reversed(done):
        if calls[name] == 1:
            return name
    raise ValueError("The network has no layer with a spatial output to compute Grad-CAM on.")


@validate_params(
    {
        "estimator": [object],
        "images": ["array-like"],
        "target_layer": [str, None],
        "pos_label": [object],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def grad_cam(estimator, images, *, target_layer=None, pos_label=1, batch_size=32):
    """Grad-CAM maps of a fitted network for the lesion class, at ROI resolution.

    The activations ``A`` of ``target_layer`` are weighted by the spatial
    mean of the gradient of the class score with respect to them, summed
    over channels and rectified; each map is scaled to [0, 1] at the
    layer's resolution, resized bilinearly to the ROI and scaled again (the
    conventions of the ``grad-cam`` package, so the two agree).

    The class score is the network's logit for
    :class:`~skbreastcad.models.TwoStageTransferClassifier`; for a pipeline
    of :class:`~skbreastcad.features.CNNLayerFeatures` (alone or in a
    FeatureUnion) followed by scalers and a linear classifier it is the
    classifier's decision function, differentiated through the pooling of
    the probed layer (hand-crafted features in a union add a constant).

    Parameters
    ----------
    estimator : estimator instance
        A fitted ``TwoStageTransferClassifier`` (``module_``) or such a pipeline.
    images : array-like of shape (n_images, height, width)
        ROIs as the estimator takes them.
    target_layer : str, default=None
        Module name in the backbone (see
        :func:`skbreastcad.models.list_layers`); None takes the last module
        with a spatial output run once per pass, no later than the layer the
        features come from.
    pos_label : int or str, default=1
        The class explained.
    batch_size : int, default=32
        ROIs per forward and backward pass.

    Returns
    -------
    cams : ndarray of float32, shape (n_images, height, width)
        Values in [0, 1].

    References
    ----------
    .. [1] R. R. Selvaraju et al., "Grad-CAM: Visual explanations from deep
       networks via gradient-based localization", ICCV 2017. arXiv:1610.02391.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skbreastcad.features import CNNLayerFeatures
    >>> from skbreastcad.detection import grad_cam
    >>> X = np.random.default_rng(0).integers(0, 256, (8, 16, 16), dtype=np.uint8)
    >>> cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0, device="cpu")
    >>> model = make_pipeline(cnn, LogisticRegression()).fit(X, np.arange(8) % 2)
    >>> cams = grad_cam(model, X[:2])
    >>> cams.shape, float(cams.max()) <= 1
    ((2, 16, 16), True)
    """
    with optional_import("grad_cam"):
        import torch
        import torch.nn.functional as F

    model, value_range, point, score = _resolve(estimator, pos_label)
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (n_images, height, width); got shape {images.shape}.")
    unit = _unit_tensor(images[:1], value_range)
    layer_name = target_layer if target_layer is not None else _default_layer(model, unit, point)
    try:
        layer = model.backbone.get_submodule(layer_name)
    except AttributeError:
        raise ValueError(f"target_layer={layer_name!r} is not a module of the backbone.") from None
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(images), batch_size):
            x = _unit_tensor(images[start : start + batch_size], value_range).requires_grad_(True)
            store = {}

            def keep(module, args, output, store=store):
                store["A"] = output
                output.retain_grad()

            handles = [layer.register_forward_hook(keep)]
            if point is not None:
                module, where = point

                def capture(module, args, output=None, where=where, store=store):
                    store["features"] = args[0] if where == "input" else output
                    raise _Stop

                if where == "input":
                    handles.append(module.register_forward_pre_hook(lambda m, a: capture(m, a)))
                else:
                    handles.append(module.register_forward_hook(capture))
            try:
                with torch.enable_grad():
                    try:
                        logits = model(x)
                    except _Stop:
                        logits = None
                    if "A" not in store:
                        raise ValueError(
                            f"target_layer={layer_name!r} does not run before the features the score "
                            "uses: pick an earlier layer."
                        )
                    target = score(logits if point is None else store["features"])
                    model.zero_grad(set_to_none=True)
                    target.sum().backward()
            finally:
                for h in handles:
                    h.remove()
            act, grad = store["A"].detach(), store["A"].grad.detach()
            cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1, keepdim=True))
            cam = _scale(cam)
            cam = F.interpolate(cam, size=images.shape[1:], mode="bilinear", align_corners=False)
            out.append(_scale(torch.relu(cam))[:, 0].numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.float32)


def _scale(cam):
    flat = cam.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    cam = cam - low
    high = cam.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
    return cam / (high + 1e-7)


def _unit_tensor(images, value_range):
    """Grey levels -> float32 (n, 1, H, W) in [0, 1], as the estimators' predict does."""
    with optional_import("grad_cam"):
        import torch

    if value_range == "dtype":
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(images.dtype, 1.0)
        low = 0.0
    else:
        low, high = value_range
        scale = float(high) - float(low)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    return ((x - low) / scale).unsqueeze(1)


@validate_params(
    {
        "estimator": [object],
        "images": ["array-like"],
        "patch_size": [Interval(Integral, 1, None, closed="left"), None],
        "stride": [Interval(Integral, 1, None, closed="left"), None],
        "fill": [Real, StrOptions({"mean"})],
        "pos_label": [object],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def occlusion_sensitivity(
    estimator, images, *, patch_size=None, stride=None, fill="mean", pos_label=1, batch_size=256
):
    """Occlusion sensitivity: how much the lesion probability drops when a patch is hidden.

    A square patch of ``fill`` slides over each ROI; every occluded copy is
    scored with ``predict_proba`` and the drop of the ``pos_label``
    probability from the intact ROI's is averaged over the patches covering
    each pixel. Works for any fitted classifier or pipeline.

    Parameters
    ----------
    estimator : estimator instance
        A fitted classifier or pipeline with ``predict_proba``.
    images : array-like of shape (n_images, height, width)
        ROIs as the estimator takes them.
    patch_size : int, default=None
        Side of the occluding patch; None: a quarter of the ROI side.
    stride : int, default=None
        Step between patches; None: half the patch.
    fill : float or "mean", default="mean"
        Grey level of the patch; ``"mean"``: the ROI's mean.
    pos_label : int or str, default=1
        The class whose probability drop is mapped.
    batch_size : int, default=256
        Occluded copies per ``predict_proba`` call.

    Returns
    -------
    maps : ndarray of float64, shape (n_images, height, width)
        Positive where hiding the pixel lowers the lesion probability.

    References
    ----------
    .. [1] M. D. Zeiler and R. Fergus, "Visualizing and understanding
       convolutional networks", ECCV 2014. arXiv:1311.2901.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skbreastcad.detection import occlusion_sensitivity
    >>> X = np.random.default_rng(0).normal(size=(40, 4, 4))
    >>> y = (X[:, 0, 0] > 0).astype(int)
    >>> clf = LogisticRegression().fit(X.reshape(40, -1), y)
    >>> class Flat:  # a classifier taking flattened ROIs
    ...     classes_ = clf.classes_
    ...     def predict_proba(self, images):
    ...         return clf.predict_proba(images.reshape(len(images), -1))
    >>> roi = np.ones((1, 4, 4))
    >>> m = occlusion_sensitivity(Flat(), roi, patch_size=1, stride=1, fill=0.0)
    >>> bool(m[0, 0, 0] == m[0].max())
    True
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (n_images, height, width); got shape {images.shape}.")
    n, height, width = images.shape
    patch = patch_size if patch_size is not None else max(1, min(height, width) // 4)
    if patch > min(height, width):
        raise ValueError(f"patch_size={patch} exceeds the {height}x{width} ROIs.")
    step = stride if stride is not None else max(1, patch // 2)
    column = _classes_sign(estimator, pos_label)
    tops = list(range(0, height - patch + 1, step))
    lefts = list(range(0, width - patch + 1, step))
    if tops[-1] != height - patch:
        tops.append(height - patch)
    if lefts[-1] != width - patch:
        lefts.append(width - patch)
    boxes = [(t, lf) for t in tops for lf in lefts]
    base = estimator.predict_proba(images)[:, column]
    maps = np.zeros((n, height, width))
    counts = np.zeros((height, width))
    for t, lf in boxes:
        counts[t : t + patch, lf : lf + patch] += 1
    for i in range(n):
        value = images[i].mean() if fill == "mean" else fill
        drops = np.empty(len(boxes))
        for start in range(0, len(boxes), batch_size):
            chunk = boxes[start : start + batch_size]
            batch = np.repeat(images[i : i + 1], len(chunk), axis=0)
            for k, (t, lf) in enumerate(chunk):
                batch[k, t : t + patch, lf : lf + patch] = value
            drops[start : start + len(chunk)] = base[i] - estimator.predict_proba(batch)[:, column]
        for (t, lf), d in zip(boxes, drops, strict=True):
            maps[i, t : t + patch, lf : lf + patch] += d
    return maps / counts
