"""Pooled activations of layers of a pretrained CNN, as image features: one layer as a
transformer (:class:`CNNLayerFeatures`), several from one pass (:func:`layer_features`)."""

import difflib
import os

import numpy as np

from ..nn import list_layers
from ..nn._base import BaseDeepEstimator
from ..nn._input import to_unit_tensor
from ..utils._docstrings import substitute_docs
from ..utils._optional import optional_import
from ..utils._sklearn_compat import HasMethods, StrOptions
from ._base import BaseImageTransformer

__all__ = ["CNNLayerFeatures", "layer_features"]


class _StopForward(Exception):
    """Raised by the capture hook: layers after the probed one need not run."""


def _pool(act, pooling):
    with optional_import("CNNLayerFeatures"):
        import torch

    if isinstance(act, (tuple, list)):
        act = act[0]
    if act.ndim == 2:
        return act
    if pooling == "flatten":
        return act.reshape(act.shape[0], -1)
    dims = (2, 3) if act.ndim == 4 else tuple(range(1, act.ndim - 1))
    if act.ndim != 4 and act.ndim != 3:
        return act.reshape(act.shape[0], -1)
    if pooling == "avg":
        return act.float().mean(dim=dims)
    if pooling == "max":
        return act.float().amax(dim=dims)
    return torch.cat([act.float().mean(dim=dims), act.float().amax(dim=dims)], dim=1)


@substitute_docs()
class CNNLayerFeatures(BaseDeepEstimator, BaseImageTransformer):
    """Pooled activations of a named layer of a CNN backbone.

    The study probes VGG16 layer by layer ("layers 8 to 17") and a few layers
    per block of InceptionV3 and ResNet50; this transformer turns any such
    layer into a feature vector per image, ready for a scikit-learn
    classifier or a :class:`~sklearn.pipeline.FeatureUnion` with hand-crafted
    texture features. Grayscale images become 3 channels, are resized to the
    backbone's input size and normalised with the weight set's mean and std.
    Layers after the probed one are not computed.

    Parameters
    ----------
    backbone : str, default="vgg16"
        A backbone name: see :func:`skbreastcad.nn.list_backbones`, any
        torchvision classification model, or ``"timm:<name>"``.
    layer : str or None, default=None
        A name from :func:`skbreastcad.nn.list_layers`. None takes the
        input of the final classification layer (the network's embedding:
        fc7 for VGG16, the pooled 2048 features for ResNet50). The study's
        VGG16 layer numbers are mapped to names by
        :data:`skbreastcad.nn.VGG16_STUDY_LAYERS`, e.g. its layer 14 is
        ``VGG16_STUDY_LAYERS[14] == "features.23"`` (block4_pool). A module
        that runs several times per forward pass (the ``relu`` of a ResNet
        block) is refused.
    pooling : {"avg", "max", "avgmax", "flatten"}, default="avg"
        How a spatial activation map ``(C, h, w)`` becomes a vector: global
        average (C values), global max (C), both (2C) or the flattened map
        (C*h*w). Vector outputs (fully connected layers) are returned as they are.
    weights : {"imagenet"}, str, path-like or None, default="imagenet"
        ``"imagenet"`` loads the weight set through the torch hub cache (see
        :func:`skbreastcad.nn.build_backbone`), a path loads a local
        checkpoint, None keeps a random initialisation (seeded by
        ``random_state``).
    input_size : int, (int, int), "native" or None, default=None
        Size the images are resized to; None uses the backbone's pretraining
        size (224, or 299 for InceptionV3); "native" keeps the images' size.
    value_range : "dtype" or (float, float), default="dtype"
        Grey levels mapped to [0, 1] before normalisation: ``"dtype"`` maps an
        integer dtype's whole range to [0, 1] (uint8 divided by 255, uint16 by
        65535, int16's -32768..32767 shifted and scaled, ...) and takes float
        images as already in [0, 1]; ``(low, high)`` maps that range
        linearly. Images that map beyond +-1e6 are an error (float32
        activations would overflow to NaN).
    batch_size : int, default=32
        Images per forward pass. Every pass has exactly this many images (the
        last one padded with blank images), so an image's features are
        bitwise identical whatever other images share the call -- the same
        in every cross-validation fold. A call with fewer images still costs
        one full batch.
    {device}
    {amp}
    {channels_last}
    accelerator : None, "auto" or accelerate.Accelerator, default=None
        Share ``transform`` among the processes of a ``torchrun`` /
        ``accelerate launch`` (install the ``distributed`` extra): each
        process runs every ``world_size``-th batch and every process gets all
        the features, in order, equal to a single process's. Every process
        must then call ``transform`` with the same images. ``"auto"`` shares
        when the process was launched as one of several and runs alone
        otherwise; an ``Accelerator`` shares among its processes; None runs
        alone.
    random_state : int, RandomState instance or None, default=None
        Seeds the random initialisation when ``weights=None``.
    image_shape : tuple of (int, int) or None, default=None
        Shape of flattened input rows; see :func:`skbreastcad.utils.validate_images`.
    verbose : int, default=0
        Show a progress bar over batches when positive.

    Attributes
    ----------
    model_ : torch.nn.Module
        The backbone behind its preprocessing, on the CPU.
    layer_ : str or None
        The probed layer.
    input_size_ : tuple of (int, int) or None
        The size images are resized to.
    activation_shape_ : tuple of int
        Shape of the layer's activation for one image, before pooling.
    n_features_out_ : int
        Length of the feature vector.
    n_features_in_ : int
        Number of pixels of the images seen in ``fit``.
    image_shape_ : tuple of (int, int)
        Shape of the images seen in ``fit``.

    See Also
    --------
    skbreastcad.nn.list_layers : The valid layer names.
    skbreastcad.models.TwoStageTransferClassifier : Fine-tuning instead of probing.

    Notes
    -----
    ``fit`` learns nothing from the data; it validates the settings, loads
    the weights and finds the output size. ROI masks are not used.

    An image set on disk (:class:`~skbreastcad.datasets.ImagePaths`) is read
    batch by batch, in its reading workers, never as one array: its features
    equal those of the same images in memory. Its grey-level range, checked
    against ``value_range``, is found by reading each file once.

    References
    ----------
    .. [1] K. Simonyan and A. Zisserman, "Very deep convolutional networks
       for large-scale image recognition", ICLR 2015. arXiv:1409.1556.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.features import CNNLayerFeatures
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 16, 16), dtype=np.uint8)
    >>> cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0)
    >>> cnn.fit_transform(X).shape
    (4, 16)
    >>> cnn.get_feature_names_out()[:2].tolist()
    ['tiny_cnn_relu2_avg0', 'tiny_cnn_relu2_avg1']
    """

    _parameter_constraints = {
        **BaseDeepEstimator._parameter_constraints,
        "layer": [str, None],
        "pooling": [StrOptions({"avg", "max", "avgmax", "flatten"})],
        "accelerator": [None, StrOptions({"auto"}), HasMethods(["prepare", "backward"])],
    }
    _supports_mask = False
    _reads_image_sets = True
    _torch_attributes = ("model_",)

    def __init__(
        self,
        backbone="vgg16",
        *,
        layer=None,
        pooling="avg",
        weights="imagenet",
        input_size=None,
        value_range="dtype",
        batch_size=32,
        device="auto",
        amp="auto",
        channels_last="auto",
        accelerator=None,
        random_state=None,
        image_shape=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.layer = layer
        self.pooling = pooling
        self.weights = weights
        self.input_size = input_size
        self.value_range = value_range
        self.batch_size = batch_size
        self.device = device
        self.amp = amp
        self.channels_last = channels_last
        self.accelerator = accelerator
        self.random_state = random_state
        self.image_shape = image_shape
        self.verbose = verbose

    def _inference_group(self, device):
        from ..nn._parallel import inference_group

        return inference_group(self.accelerator, device)

    # -- fit -------------------------------------------------------------------
    def _check_images(self, images):
        self._check_deep_settings(images.shape[1:])
        self._record_input_scaling(images)
        if self.layer is not None:
            layers = list_layers(self.backbone)
            if self.layer not in layers:
                close = difflib.get_close_matches(self.layer, layers, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(
                    f"Unknown layer {self.layer!r} for backbone {self.backbone!r}.{hint} "
                    f"Valid layers: {', '.join(layers)}."
                )

    def _fit(self, images, y, mask):
        with optional_import("CNNLayerFeatures"):
            import torch

        self.model_ = self._build_model(self.backbone, self.weights, self._model_seed()).eval()
        self.layer_ = self.layer
        if self.layer_ is not None:
            # an image set on disk reads its first image alone
            first = (
                next(iter(images.iter_batches([[0]])))
                if hasattr(images, "iter_batches")
                else images[:1]
            )
            self._check_single_call(first)
        shapes = []
        probe = self._forward_layer(
            self.model_, images[:1], torch.device("cpu"), amp=False, shapes=shapes, pad=False
        )
        self.activation_shape_ = shapes[0]
        self.n_features_out_ = probe.shape[1]

    def _check_single_call(self, image):
        """Refuse a module that runs several times per pass (one activation is ambiguous)."""
        with optional_import("CNNLayerFeatures"):
            import torch

        calls = []
        target = self.model_.backbone.get_submodule(self.layer_)
        handle = target.register_forward_hook(lambda *args: calls.append(None))
        try:
            with torch.inference_mode():
                self.model_(to_unit_tensor(image, self.value_range))
        finally:
            handle.remove()
        if len(calls) > 1:
            parent = self.layer_.rpartition(".")[0]
            hint = f" (e.g. its parent {parent!r})" if parent else ""
            raise ValueError(
                f"Layer {self.layer_!r} of backbone {self.backbone!r} runs {len(calls)} times in "
                "one forward pass (a module its parent reuses, like the ReLU of a ResNet "
                f"block), so it has no single activation; probe another layer{hint}."
            )

    def _torch_model(self):
        return self.model_

    # -- transform ---------------------------------------------------------------
    def _forward_layer(self, model, images, device, amp, shapes=None, pad=True):
        captured = []
        if self.layer_ is None:
            head = model.backbone.get_submodule(self._head)

            def hook(module, args):
                captured.append(args[0])
                raise _StopForward

            handle = head.register_forward_pre_hook(hook)
        else:
            target = model.backbone.get_submodule(self.layer_)

            def hook(module, args, output):
                captured.append(output)
                raise _StopForward

            handle = target.register_forward_hook(hook)

        def forward(model, x):
            captured.clear()
            try:
                model(x)
            except _StopForward:
                pass
            if not captured:
                raise RuntimeError(f"Layer {self.layer_!r} was not run by the forward pass.")
            if shapes is not None:
                act = captured[0][0] if isinstance(captured[0], (tuple, list)) else captured[0]
                shapes.append(tuple(act.shape[1:]))
            return _pool(captured[0], self.pooling)

        try:
            return self._batched_inference(
                model,
                images,
                device,
                amp,
                forward,
                pad=pad,
                desc="CNNLayerFeatures",
                # transform's batches, not fit's one-image probe of the output shape
                shard=shapes is None,
            )
        finally:
            handle.remove()

    def _transform(self, images, mask):
        model, device, amp = self._inference_setup()
        return self._forward_layer(model, images, device, amp)

    def _feature_names(self):
        label = self.layer_ if self.layer_ is not None else "embedding"
        prefix = f"{self.backbone}_{label}".replace(":", "_")
        n = self.n_features_out_
        if len(self.activation_shape_) == 1 or self.pooling == "flatten":
            return [f"{prefix}_{i}" for i in range(n)]
        if self.pooling == "avgmax":
            half = n // 2
            return [f"{prefix}_avg{i}" for i in range(half)] + [
                f"{prefix}_max{i}" for i in range(half)
            ]
        return [f"{prefix}_{self.pooling}{i}" for i in range(n)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


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
                model(to_unit_tensor(X[:1], value_range, dev))
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


@substitute_docs()
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
    >>> from skbreastcad.features import layer_features
    >>> X = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    >>> feats = layer_features(X, "tiny_cnn", ["relu1", "relu2"], weights=None, random_state=0)
    >>> {name: f.shape for name, f in feats.items()}
    {'relu1': (3, 8), 'relu2': (3, 16)}
    """
    from sklearn.utils.validation import check_memory

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
