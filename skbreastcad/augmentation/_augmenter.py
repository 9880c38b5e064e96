"""Batched, seedable image augmentation on torch tensors."""

import copy
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator

from ..utils._optional import optional_import
from ..utils._sklearn_compat import Interval, validate_parameter_constraints

__all__ = ["ImageAugmenter"]


class ImageAugmenter(BaseEstimator):
    """Random flips, 90-degree rotations, small affine transforms and intensity jitter.

    Works on a whole batch at once, on the device the batch lives on: one
    call draws every random parameter for the batch from a seedable
    generator and applies each transform with a handful of tensor
    operations, so augmenting a GPU batch costs no host round trip.

    It is meant for training data only. :class:`~skbreastcad.models.TwoStageTransferClassifier`
    applies it to training batches inside ``fit`` and never to its internal
    validation split, to ``predict`` inputs or to the test folds of a
    cross-validation. It is a scikit-learn estimator for its parameters
    (``clone``, ``get_params``/``set_params``, nested grid search such as
    ``augment__degrees``), but deliberately not a transformer: a pipeline step
    would also alter the data at prediction time.

    Parameters
    ----------
    hflip : float, default=0.5
        Probability of a left-right flip.
    vflip : float, default=0.5
        Probability of an up-down flip.
    rot90 : bool, default=True
        Rotate by a random multiple of 90 degrees. Non-square images are
        rotated by 0 or 180 degrees only, so the batch keeps its shape.
    affine_p : float, default=0.5
        Probability of a small affine transform (rotation, scaling,
        translation; reflection padding) for each image.
    degrees : float, default=10.0
        Affine rotation angle drawn from ``[-degrees, degrees]``.
    translate : float, default=0.05
        Shift drawn from ``[-translate, translate]`` times the image size, per axis.
    scale : tuple of (float, float), default=(0.9, 1.1)
        Zoom factor range.
    brightness : float, default=0.1
        Additive offset drawn from ``[-brightness, brightness]`` (images in
        [0, 1] units).
    contrast : float, default=0.1
        Contrast factor drawn from ``[1 - contrast, 1 + contrast]``, applied
        around each image's mean.
    noise : float, default=0.0
        Standard deviation of additive Gaussian noise.
    clip : bool, default=True
        Clip the result to [0, 1] (the range the deep estimators feed in).
    random_state : int, numpy.random.Generator, RandomState or None, default=None
        Seeds the internal generator used when a call passes no ``generator``.

    See Also
    --------
    skbreastcad.models.TwoStageTransferClassifier : Uses it through ``augment``.

    Notes
    -----
    Random parameters are drawn on the CPU (a few numbers per image), so the
    same seed gives the same augmentation on CPU and GPU; only the Gaussian
    noise is drawn on the batch's device.

    Parameters are validated on the first call after they are set (and by
    the estimators that take an augmenter, before training starts), not on
    every batch.

    Examples
    --------
    >>> import torch
    >>> from skbreastcad.augmentation import ImageAugmenter
    >>> aug = ImageAugmenter(random_state=0)
    >>> x = torch.rand(8, 1, 32, 32)
    >>> aug(x, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([8, 1, 32, 32])
    """

    _parameter_constraints = {
        "hflip": [Interval(Real, 0, 1, closed="both")],
        "vflip": [Interval(Real, 0, 1, closed="both")],
        "rot90": ["boolean"],
        "affine_p": [Interval(Real, 0, 1, closed="both")],
        "degrees": [Interval(Real, 0, None, closed="left")],
        "translate": [Interval(Real, 0, None, closed="left")],
        "scale": [tuple, list],
        "brightness": [Interval(Real, 0, None, closed="left")],
        "contrast": [Interval(Real, 0, 1, closed="both")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "clip": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
    }

    def __init__(
        self,
        *,
        hflip=0.5,
        vflip=0.5,
        rot90=True,
        affine_p=0.5,
        degrees=10.0,
        translate=0.05,
        scale=(0.9, 1.1),
        brightness=0.1,
        contrast=0.1,
        noise=0.0,
        clip=True,
        random_state=None,
    ):
        self.hflip = hflip
        self.vflip = vflip
        self.rot90 = rot90
        self.affine_p = affine_p
        self.degrees = degrees
        self.translate = translate
        self.scale = scale
        self.brightness = brightness
        self.contrast = contrast
        self.noise = noise
        self.clip = clip
        self.random_state = random_state

    def _validate(self):
        """Check the parameters once per parameter set, not on every batch."""
        params = copy.deepcopy(self.get_params(deep=False))
        if getattr(self, "_validated_params", None) == params:
            return
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name="ImageAugmenter"
        )
        scale = self.scale
        if (
            len(scale) != 2
            or not all(isinstance(v, Real) for v in scale)
            or not 0 < scale[0] <= scale[1]
        ):
            raise ValueError(
                f"ImageAugmenter: scale must be (low, high) with 0 < low <= high; got {scale!r}."
            )
        self._validated_params = params

    def _generator(self, generator):
        with optional_import("ImageAugmenter"):
            import torch

        if generator is not None:
            if isinstance(generator, Integral):
                return torch.Generator().manual_seed(int(generator))
            return generator
        # rebuilt when random_state changes (set_params, nested grid search)
        if (
            getattr(self, "_own_generator", None) is None
            or self._generator_seed_from is not self.random_state
        ):
            self._generator_seed_from = self.random_state
            rs = self.random_state
            if rs is None:
                seed = int(torch.randint(0, 2**62, (1,)))
            elif isinstance(rs, Integral):
                seed = int(rs)
            elif isinstance(rs, np.random.Generator):
                seed = int(rs.integers(0, 2**31 - 1))
            else:
                seed = int(rs.randint(0, 2**31 - 1))
            self._own_generator = torch.Generator().manual_seed(seed)
        return self._own_generator

    def __call__(self, images, generator=None):
        """Augment a batch.

        Parameters
        ----------
        images : torch.Tensor of shape (B, C, H, W) or (B, H, W), or ndarray
            Floating-point images, in [0, 1] when ``clip=True``.
        generator : torch.Generator or int, optional
            CPU generator (or seed) for the random parameters; by default an
            internal generator seeded from ``random_state`` that advances with
            every call.

        Returns
        -------
        augmented : same type and shape as ``images``
        """
        with optional_import("ImageAugmenter"):
            import torch

        self._validate()
        if isinstance(images, np.ndarray):
            return self(torch.from_numpy(images.astype(np.float32, copy=False)), generator).numpy()
        if not torch.is_floating_point(images):
            raise TypeError(f"ImageAugmenter needs floating-point images; got {images.dtype}.")
        squeeze = images.ndim == 3
        x = images.unsqueeze(1) if squeeze else images
        if x.ndim != 4:
            raise ValueError(
                f"ImageAugmenter expects (B, C, H, W) or (B, H, W); got shape {tuple(images.shape)}."
            )
        gen = self._generator(generator)
        n, _, h, w = x.shape
        dev = x.device

        def uniform(low, high):
            return (torch.rand(n, generator=gen) * (high - low) + low).to(dev)

        def coin(p):
            return (torch.rand(n, generator=gen) < p).to(dev).view(n, 1, 1, 1)

        if self.hflip:
            x = torch.where(coin(self.hflip), x.flip(-1), x)
        if self.vflip:
            x = torch.where(coin(self.vflip), x.flip(-2), x)
        if self.rot90:
            ks = (
                torch.randint(0, 4, (n,), generator=gen)
                if h == w
                else 2 * torch.randint(0, 2, (n,), generator=gen)
            )
            out = x.clone()
            for k in (1, 2, 3):
                idx = (ks == k).nonzero().flatten().to(dev)
                if len(idx):
                    out[idx] = torch.rot90(x[idx], k, dims=(-2, -1))
            x = out
        if self.affine_p and (self.degrees or self.translate or tuple(self.scale) != (1, 1)):
            chosen = torch.rand(n, generator=gen) < self.affine_p
            angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(self.degrees)
            lo, hi = self.scale
            zoom = torch.rand(n, generator=gen) * (hi - lo) + lo
            shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 2 * self.translate
            idx = chosen.nonzero().flatten()
            if len(idx):
                cos, sin = torch.cos(angle[idx]), torch.sin(angle[idx])
                z = zoom[idx]
                # a rotation in pixel space, written in grid_sample's normalised
                # coordinates (which stretch each axis to [-1, 1])
                theta = torch.stack(
                    [
                        torch.stack([cos / z, -sin * (h / w) / z, shift[idx, 0]], dim=1),
                        torch.stack([sin * (w / h) / z, cos / z, shift[idx, 1]], dim=1),
                    ],
                    dim=1,
                ).to(device=dev, dtype=x.dtype)
                sub = x[idx.to(dev)]
                with optional_import("ImageAugmenter"):
                    import torch.nn.functional as F

                grid = F.affine_grid(theta, list(sub.shape), align_corners=False)
                warped = F.grid_sample(
                    sub, grid, mode="bilinear", padding_mode="reflection", align_corners=False
                )
                x = x.clone()
                x[idx.to(dev)] = warped
        if self.contrast or self.brightness:
            c = uniform(1 - self.contrast, 1 + self.contrast).view(n, 1, 1, 1).to(x.dtype)
            b = uniform(-self.brightness, self.brightness).view(n, 1, 1, 1).to(x.dtype)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * c + mean + b
        if self.noise:
            seed = int(torch.randint(0, 2**62, (1,), generator=gen))
            dev_gen = torch.Generator(device=dev).manual_seed(seed)
            x = x + self.noise * torch.randn(x.shape, generator=dev_gen, device=dev, dtype=x.dtype)
        if self.clip:
            x = x.clamp(0, 1)
        return x.squeeze(1) if squeeze else x
