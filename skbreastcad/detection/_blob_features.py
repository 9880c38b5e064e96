"""Blob and local-contrast features of a window, computable densely over a whole film."""

import numpy as np
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["BlobWindowFeatures"]

_SIGMAS = (1.0, 2.0, 4.0, 8.0)
_HESSIAN_SIGMAS = (2.0, 4.0)


def _kernels(half):
    x = np.arange(-half, half + 1, dtype=np.float64)
    g, d1, d2 = {}, {}, {}
    for s in _SIGMAS:
        k = np.exp(-(x**2) / (2 * s * s))
        # normalised over the window, so a window's mean is exact despite the truncation
        g[s] = k / k.sum()
        d1[s] = -x / (s * s) * g[s]
        d2[s] = (x**2 / s**4 - 1 / (s * s)) * g[s]
    return g, d1, d2


def _names():
    names = [f"mean_s{s:g}" for s in _SIGMAS]
    names += [f"std_s{s:g}" for s in _SIGMAS[1:]]
    names += ["dog_1_4", "dog_2_8", "dog_4_8"]
    for s in _HESSIAN_SIGMAS:
        names += [f"blob_s{s:g}", f"eig_low_s{s:g}", f"eig_high_s{s:g}", f"grad_s{s:g}"]
    return names


def _combine(sep):
    """Features from separable filter responses ``sep(kernel_rows, kernel_cols, squared)``."""
    out = []
    means = {s: sep("g", s, "g", s, False) for s in _SIGMAS}
    out += [means[s] for s in _SIGMAS]
    for s in _SIGMAS[1:]:
        out.append(np.sqrt(np.maximum(sep("g", s, "g", s, True) - means[s] ** 2, 0.0)))
    out += [means[1.0] - means[4.0], means[2.0] - means[8.0], means[4.0] - means[8.0]]
    for s in _HESSIAN_SIGMAS:
        hrr = sep("d2", s, "g", s, False)
        hcc = sep("g", s, "d2", s, False)
        hrc = sep("d1", s, "d1", s, False)
        trace, det_root = hrr + hcc, np.sqrt((hrr - hcc) ** 2 + 4 * hrc**2)
        low, high = (trace - det_root) / 2, (trace + det_root) / 2
        gr, gc = sep("d1", s, "g", s, False), sep("g", s, "d1", s, False)
        # scale-normalised (s^2 for second, s for first derivatives), bright blobs positive
        out += [-trace * s * s, -high * s * s, -low * s * s, np.hypot(gr, gc) * s]
    return out


class BlobWindowFeatures(TransformerMixin, BaseEstimator):
    """Blob-likeness, local contrast and local spread of square windows, centred on the window.

    Every feature is a function of Gaussian-weighted sums over the window
    (truncated to it and renormalised), so the same numbers can be computed
    for every pixel of an image at once by separable filtering
    (:meth:`dense_transform`): a detector scores a dense map of a whole film
    for the price of a few filters, and the map equals the windowed one.

    - ``mean_s*``: weighted means at sigma 1, 2, 4, 8 px;
    - ``std_s*``: weighted standard deviations at sigma 2, 4, 8 px;
    - ``dog_*``: differences of the means (centre against surround);
    - at sigma 2 and 4 px, scale-normalised Hessian features: ``blob``
      (minus the Laplacian: bright blobs are positive), the two
      eigenvalues, and the gradient magnitude.

    Parameters
    ----------
    half_width : int, default=16
        Windows are ``2 * half_width + 1`` pixels square, centred on their middle pixel.

    Attributes
    ----------
    image_shape_ : tuple of (int, int)
        The window shape.
    n_features_in_ : int
        Pixels per window.

    See Also
    --------
    FilmLesionDetector : Uses it as its default window model's features.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.detection import BlobWindowFeatures
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(size=(40, 40))
    >>> features = BlobWindowFeatures(half_width=8).fit(np.zeros((1, 17, 17)))
    >>> dense = features.dense_transform(image)
    >>> window = image[10:27, 12:29][None]
    >>> bool(np.allclose(features.transform(window)[0], dense[18, 20]))
    True
    """

    def __init__(self, half_width=16):
        self.half_width = half_width

    def _side(self):
        if not isinstance(self.half_width, (int, np.integer)) or self.half_width < 8:
            raise ValueError(f"half_width must be an integer >= 8; got {self.half_width!r}.")
        return 2 * int(self.half_width) + 1

    def fit(self, X, y=None):
        """Check the window shape.

        Parameters
        ----------
        X : array-like of shape (n_windows, side, side)
            Windows with ``side = 2 * half_width + 1``.
        y : None
            Ignored.

        Returns
        -------
        self : BlobWindowFeatures
            Fitted.
        """
        side = self._side()
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1:] != (side, side):
            raise ValueError(
                f"X must hold {side}x{side} windows (half_width={self.half_width}); got shape {X.shape}."
            )
        self.image_shape_ = (side, side)
        self.n_features_in_ = side * side
        return self

    def get_feature_names_out(self, input_features=None):
        """Get the names of the features.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str
            One name per feature.
        """
        return np.asarray(_names(), dtype=object)

    def transform(self, X):
        """Compute the features of each window at its centre.

        Parameters
        ----------
        X : array-like of shape (n_windows, side, side)
            Windows.

        Returns
        -------
        features : ndarray of shape (n_windows, n_features)
            See the class description.
        """
        side = self._side()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1:] != (side, side):
            raise ValueError(f"X must hold {side}x{side} windows; got shape {X.shape}.")
        kernels = dict(zip(("g", "d1", "d2"), _kernels(self.half_width), strict=True))
        sq = X * X

        def sep(kr, sr, kc, sc, squared):
            data = sq if squared else X
            return np.einsum("nij,i,j->n", data, kernels[kr][sr], kernels[kc][sc])

        return np.column_stack(_combine(sep))

    def dense_transform(self, image):
        """Compute the features of the window centred on every pixel of an image (zero-padded).

        Parameters
        ----------
        image : array-like of shape (height, width)
            The image windows would be cut from, zero-padded.

        Returns
        -------
        features : ndarray of shape (height, width, n_features)
            ``features[r, c]`` equals :meth:`transform` of the window centred on ``(r, c)``.
        """
        self._side()
        image = np.asarray(image, dtype=np.float64)
        if image.ndim != 2:
            raise ValueError(f"image must be 2-D; got shape {image.shape}.")
        kernels = dict(zip(("g", "d1", "d2"), _kernels(self.half_width), strict=True))
        sq = image * image
        cache = {}

        def sep(kr, sr, kc, sc, squared):
            key = (kr, sr, squared)
            if key not in cache:
                cache[key] = ndi.correlate1d(
                    sq if squared else image, kernels[kr][sr], axis=0, mode="constant"
                )
            return ndi.correlate1d(cache[key], kernels[kc][sc], axis=1, mode="constant")

        return np.stack(_combine(sep), axis=-1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
