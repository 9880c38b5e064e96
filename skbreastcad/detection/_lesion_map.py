"""Lesion probability maps: any fitted ROI classifier slid over a whole film."""

from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils import Bunch

from ..datasets._roi import breast_mask as _breast_mask
from ..datasets._roi import cut_roi
from ..utils._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["lesion_map", "window_shape"]

# The loaders compute breast masks at 1/8 resolution (8 px = 1.6 mm on mini-MIAS).
MASK_FACTOR = 8


def window_shape(estimator):
    """The ROI shape a fitted estimator was trained on, or None if it does not say.

    Looks for ``image_shape_`` (set by every image transformer and deep
    estimator of this package) on the estimator, the first step of a
    pipeline, the transformers of a :class:`~sklearn.pipeline.FeatureUnion`
    and the refitted estimator of a search.

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator, pipeline or search.

    Returns
    -------
    shape : tuple of (int, int) or None
        ``(height, width)`` of the training ROIs.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.features import HaarFeatures
    >>> from skbreastcad.detection import window_shape
    >>> window_shape(HaarFeatures().fit(np.zeros((2, 16, 16))))
    (16, 16)
    """
    seen = set()
    stack = [estimator]
    while stack:
        est = stack.pop(0)
        if id(est) in seen or est is None or isinstance(est, str):
            continue
        seen.add(id(est))
        shape = getattr(est, "image_shape_", None)
        if shape is not None:
            return tuple(int(v) for v in shape)
        if hasattr(est, "steps"):
            stack.append(est.steps[0][1])
        if hasattr(est, "transformer_list"):
            stack += [t for _, t in est.transformer_list]
        if hasattr(est, "best_estimator_"):
            stack.append(est.best_estimator_)
    return None


def _positive_column(estimator, pos_label):
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise ValueError(
            f"{type(estimator).__name__} has no classes_: lesion_map needs a fitted classifier "
            "(or pipeline ending in one) with predict_proba."
        )
    matches = np.flatnonzero(np.asarray(classes) == pos_label)
    if len(matches) != 1:
        raise ValueError(f"pos_label={pos_label!r} is not one of the classes {list(classes)}.")
    return int(matches[0])


def _window_starts(length, side, stride):
    starts = list(range(0, length - side + 1, stride))
    # a last window flush with the far edge, so the whole film is covered
    if starts[-1] != length - side:
        starts.append(length - side)
    return np.asarray(starts)


def _weights(side, weighting):
    if weighting == "uniform":
        return np.ones((side, side))
    # centred Gaussian, sigma = side / 4: a window's score speaks for its centre most,
    # as the training ROIs were centred on their lesions
    r = np.arange(side) - (side - 1) / 2
    g = np.exp(-(r**2) / (2 * (side / 4) ** 2))
    return np.outer(g, g)


@validate_params(
    {
        "estimator": [object],
        "film": ["array-like"],
        "crop_size": [Interval(Integral, 1, None, closed="left")],
        "output_size": [Interval(Integral, 1, None, closed="left"), None],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "mask": ["array-like", None],
        "weighting": [StrOptions({"gaussian", "uniform"})],
        "pos_label": [object],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "min_breast_fraction": [Interval(Real, 0, 1, closed="both")],
    },
    prefer_skip_nested_validation=True,
)
def lesion_map(
    estimator,
    film,
    *,
    crop_size=128,
    output_size=64,
    stride=32,
    mask=None,
    weighting="gaussian",
    pos_label=1,
    batch_size=256,
    n_jobs=None,
    min_breast_fraction=0.0,
):
    """Slide a fitted ROI classifier over a whole film: a lesion probability map.

    Square windows of ``crop_size`` pixels are cut every ``stride`` pixels
    and resampled to ``output_size`` with the loaders' own crop and resize
    (:func:`skbreastcad.datasets.load_mias`' ``roi_size`` and
    ``output_size``), so each window is what the model saw in training.
    Windows whose centre lies outside the breast (the loaders' breast mask)
    are not scored. The positive-class probabilities of the scored windows,
    computed ``batch_size`` windows per ``predict_proba`` call, are
    combined at film resolution as a weighted mean over the windows that
    cover each pixel.

    Parameters
    ----------
    estimator : estimator instance
        A fitted classifier or pipeline with ``predict_proba`` taking
        ``(n, output_size, output_size)`` images: a hand-crafted feature
        pipeline, a :class:`~skbreastcad.features.CNNLayerFeatures` pipeline
        or a :class:`~skbreastcad.models.TwoStageTransferClassifier` (on the
        device it was set to: CPU or GPU).
    film : array-like of shape (height, width)
        The whole mammogram, with the grey levels (dtype) of the training films.
    crop_size : int, default=128
        Window side in film pixels: the ``roi_size`` the training ROIs were cut at.
    output_size : int or None, default=64
        Side the windows are resampled to: the ``output_size`` of the
        training ROIs; None keeps ``crop_size``.
    stride : int, default=32
        Step between windows, in film pixels.
    mask : array-like of bool, shape (height, width), default=None
        The breast; None computes the loaders' mask
        (:func:`skbreastcad.datasets._roi.breast_mask` at 1/8 resolution).
    weighting : {"gaussian", "uniform"}, default="gaussian"
        Weight of a window's score over its pixels: a centred Gaussian
        (sigma = crop_size / 4), so the map peaks where windows centred on
        a lesion score high, or uniform (plain mean of overlapping windows).
    pos_label : int or str, default=1
        The lesion class among ``estimator.classes_``.
    batch_size : int, default=256
        Windows per ``predict_proba`` call (bounds the memory).
    n_jobs : int, default=None
        Threads cutting and resampling windows, overlapped with the
        scoring of the previous batch; None means 1 (joblib's convention:
        -1 uses every core). Worth it when the model runs on a GPU.
    min_breast_fraction : float, default=0.0
        Score only windows with at least this share of breast pixels (and
        their centre in the breast). Windows straddling the film's black
        padding are rare among training ROIs, and a model may score them
        high; e.g. 0.75 leaves them out.

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``probability``: ndarray of float64, shape (height, width), in
          [0, 1]; 0 where no scored window reaches and outside the breast.
        - ``breast``: ndarray of bool, shape (height, width), the mask used.
        - ``centers``: ndarray of int, shape (n_windows, 2), the ``(row, col)``
          centre of each scored window (the loader's convention: the box is
          ``[row - crop_size // 2, row - crop_size // 2 + crop_size)``).
        - ``scores``: ndarray of float64, shape (n_windows,), their probabilities.

    Raises
    ------
    ValueError
        Before any window is scored: a film that is not 2-D or smaller than
        a window, a stride below 1, an estimator fitted on ROIs of another
        shape than ``output_size``, an empty breast mask or a mask of
        another shape than the film.

    See Also
    --------
    find_candidates : Peaks of the map with non-maximum suppression.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skbreastcad.features import HaarFeatures
    >>> from skbreastcad.detection import lesion_map
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (20, 16, 16)).astype(np.uint8)
    >>> model = make_pipeline(HaarFeatures(), LogisticRegression()).fit(X, np.arange(20) % 2)
    >>> film = np.full((96, 96), 120, dtype=np.uint8)
    >>> result = lesion_map(model, film, crop_size=32, output_size=16, stride=16, mask=np.ones((96, 96), bool))
    >>> result.probability.shape, len(result.scores)
    ((96, 96), 25)
    """
    film = np.asarray(film)
    if film.ndim != 2:
        raise ValueError(f"film must be a 2-D grayscale image; got an array of shape {film.shape}.")
    if film.dtype.kind in "fc" and not np.isfinite(film).all():
        raise ValueError(
            f"film holds {int(np.isnan(film).sum())} NaN and {int(np.isinf(film).sum())} infinite "
            "pixel(s): lesion_map needs finite grey levels."
        )
    height, width = film.shape
    if min(height, width) < crop_size:
        raise ValueError(
            f"The film ({height}x{width} px) is smaller than one {crop_size}x{crop_size} window."
        )
    out = crop_size if output_size is None else output_size
    trained = window_shape(estimator)
    if trained is not None and trained != (out, out):
        raise ValueError(
            f"{type(estimator).__name__} was trained on {trained[0]}x{trained[1]} ROIs, but the "
            f"windows would be {out}x{out} (crop_size={crop_size}, output_size={output_size}): map "
            "with the crop and output size of the training ROIs."
        )
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"{type(estimator).__name__} has no predict_proba: lesion_map needs probabilities."
        )
    column = _positive_column(estimator, pos_label)
    if mask is None:
        small = _breast_mask(film, factor=MASK_FACTOR)
        breast = np.zeros(film.shape, dtype=bool)
        up = np.repeat(np.repeat(small, MASK_FACTOR, axis=0), MASK_FACTOR, axis=1)
        breast[: up.shape[0], : up.shape[1]] = up
    else:
        breast = np.asarray(mask, dtype=bool)
        if breast.shape != film.shape:
            raise ValueError(f"mask has shape {breast.shape}, the film {film.shape}.")
    if not breast.any():
        raise ValueError("The breast mask is empty: no window of the film lies in the breast.")

    tops = _window_starts(height, crop_size, stride)
    lefts = _window_starts(width, crop_size, stride)
    half = crop_size // 2
    centers = np.array([(t + half, lf + half) for t in tops for lf in lefts])
    keep = breast[centers[:, 0], centers[:, 1]]
    if min_breast_fraction > 0:
        integral = np.pad(breast.astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        t, lf = centers[:, 0] - half, centers[:, 1] - half
        b, r = t + crop_size, lf + crop_size
        inside = integral[b, r] - integral[t, r] - integral[b, lf] + integral[t, lf]
        keep &= inside >= min_breast_fraction * crop_size**2
    centers = centers[keep]
    if len(centers) == 0:
        raise ValueError(
            f"No {crop_size}-px window at stride {stride} is centred in the breast: use a smaller stride."
        )

    # cut_roi puts a box of side s centred at integer c at top = c - s // 2: the loader's
    # lesion ROI of a lesion at c is exactly this window
    def cut(chunk):
        return np.stack([cut_roi(film, r, c, crop_size, output_size)[0] for r, c in chunk])

    batches = [centers[k : k + batch_size] for k in range(0, len(centers), batch_size)]
    scores = np.empty(len(centers))
    workers = effective_n_jobs(n_jobs)
    if workers == 1:
        for k, chunk in enumerate(batches):
            scores[k * batch_size : k * batch_size + len(chunk)] = estimator.predict_proba(
                cut(chunk)
            )[:, column]
    else:
        from concurrent.futures import ThreadPoolExecutor

        # resampling releases the GIL: threads cut the next batch while the model scores this one
        with ThreadPoolExecutor(workers) as pool:

            def submit(chunk):
                parts = np.array_split(chunk, min(workers, len(chunk)))
                return [pool.submit(cut, part) for part in parts]

            pending = submit(batches[0])
            for k, chunk in enumerate(batches):
                rois = np.concatenate([f.result() for f in pending])
                if k + 1 < len(batches):
                    pending = submit(batches[k + 1])
                scores[k * batch_size : k * batch_size + len(chunk)] = estimator.predict_proba(
                    rois
                )[:, column]

    weights = _weights(crop_size, weighting)
    num = np.zeros(film.shape)
    den = np.zeros(film.shape)
    for (r, c), s in zip(centers, scores, strict=True):
        box = (slice(r - half, r - half + crop_size), slice(c - half, c - half + crop_size))
        num[box] += s * weights
        den[box] += weights
    probability = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    probability[~breast] = 0.0
    return Bunch(probability=probability, breast=breast, centers=centers, scores=scores)
