"""A lesion detector trained on whole films: multi-scale positives, hard negatives, dense maps."""

import time
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..datasets._roi import crop_square
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context
from ._blob_features import BlobWindowFeatures
from ._candidates import suppress
from ._film_records import _MATCH, _base, _dense_step, _lesion_distance, _record, _to_film

__all__ = ["FilmLesionDetector"]


def _default_model(random_state):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("features", BlobWindowFeatures()),
            (
                "classifier",
                HistGradientBoostingClassifier(
                    max_iter=200,
                    learning_rate=0.08,
                    max_leaf_nodes=31,
                    l2_regularization=1.0,
                    random_state=random_state,
                ),
            ),
        ]
    )


class FilmLesionDetector(BaseEstimator):
    """Detect lesions on whole mammograms with any window (ROI) classifier trained on films.

    Training (:meth:`fit`) takes whole films and their lesion circles:

    1. every film is preprocessed by :func:`preprocess_film` (breast,
       margin, pectoral muscle, side, intensities) and reduced by each
       factor of ``scales`` (block means): a window of fixed size then
       covers small lesions at the finest scale and large ones at the
       coarsest; the scale radius is ``4 * factor`` film pixels;
    2. **positives**: for each lesion, at each scale whose radius is within
       a factor 2.5 of the lesion's (at least the nearest), up to
       ``positives_per_lesion`` windows centred anywhere within half the
       lesion radius of its centre (jitter);
    3. **negatives**: ``negatives_per_film`` windows per scale drawn at
       random from the searched breast, clear of every lesion;
    4. ``hard_negative_rounds`` rounds of **hard-negative mining**: the
       model scores every searched window of the training films; per film,
       the ``pool_size * hard_negatives_per_film`` highest-scoring windows
       clear of lesions form a pool, ``hard_negatives_per_film`` of them
       are drawn at random (MONAI's ``HardNegativeSampler``), added to the
       negatives, and the model is refitted. Only the films passed to
       :meth:`fit` are ever mined.

    When the window model is a pipeline whose first step has a
    ``dense_transform`` (such as :class:`BlobWindowFeatures`), windows are
    never cut: its features are computed for every pixel by filtering, the
    rest of the pipeline is fitted on them, and (``context=True``) context
    columns are appended: the share and local density of calcification-sized
    bright specks (found at full resolution), distance to the skin line
    and to the pectoral muscle, position in the breast, the scale, and the
    difference against the woman's other film (``contralateral``; NaN
    without it). Any other
    classifier on ``(n, side, side)`` windows (a texture pipeline, CNN
    features with a linear model, a fine-tuned network) is fitted on cut
    windows and scores a grid of ``stride`` scaled pixels, with a
    left-right flip average when ``flip_tta``.

    Parameters
    ----------
    roi_model : estimator, default=None
        Unfitted window classifier with ``predict_proba``; None: a
        :class:`BlobWindowFeatures` and
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` pipeline.
    scales : tuple of int, default=(4, 8, 16)
        Reduction factors of the film.
    half_width : int, default=16
        Windows are ``2 * half_width + 1`` scaled pixels square (cut
        windows only; a dense first step has its own).
    pixel_size_mm : float, default=0.2
        Pixel edge of the films.
    view : {"MLO", "CC"}, default="MLO"
        Passed to :func:`preprocess_film`.
    segmentation : bool, default=True
        False searches the loaders' breast mask instead of the
        preprocessing's (the ablation without segmentation).
    context : bool, default=True
        Append the context columns (dense models only).
    positives_per_lesion : int, default=40
        Positive windows per lesion and matched scale, at most.
    negatives_per_film : int, default=60
        Random negatives per film and scale.
    hard_negative_rounds : int, default=2
        Rounds of mining and refitting; 0 trains on random negatives only.
    hard_negatives_per_film : int, default=30
        Hard negatives drawn per film and round.
    pool_size : int, default=4
        Size of the hard-negative pool in multiples of ``hard_negatives_per_film``.
    mining_stride : int, default=2
        Hard negatives are mined on a grid of this step (scaled pixels):
        neighbouring windows are near duplicates, and scoring every window
        of every training film in every round is the cost of training.
    stride : int, default=2
        Grid step (scaled pixels) of cut windows; dense models score every pixel.
    flip_tta : bool, default=True
        Average cut windows with their mirror image.
    max_candidates : int, default=100
        Peaks kept per scale, and candidates per film after non-maximum
        suppression. Extra candidates score below the first ones, so they
        raise the recall ceiling and only add false positives at high rates
        (on mini-MIAS, 30 and 100 give the same FROC up to 4 FP per film).
    nms_factor : float, default=1.0
        Two candidates closer than this times one of their radii (see
        ``nms_radius``) are one: the lower is dropped.
    nms_radius : {"tiered", "larger", "smaller"}, default="tiered"
        Which of two candidates' radii sets the suppression distance.
        Candidates of one scale share a radius, so this only matters across
        scales. ``"larger"``: a coarse candidate suppresses every finer peak
        inside its circle. ``"smaller"``: a fine-scale peak inside a coarse
        candidate's circle but away from its centre (a small lesion beside
        a large bright region) survives, at the cost of more candidates
        ranked among the others. ``"tiered"``: the candidates of
        ``"larger"`` come first; the peaks it suppressed that ``"smaller"``
        would keep follow them (``tier`` 2), with their scores multiplied by
        the film's lowest first-tier score, so none scores above a
        first-tier candidate of the film (a second stage re-scores all of
        them from their own scores). They raise the recall ceiling (the
        share of lesions with any candidate) and add candidates below the
        others: on mini-MIAS, where a film's lowest first-tier score lies far
        below the pooled threshold of 4 FP per film, the FROC up to 4 FP
        per film is that of ``"larger"`` and the ceiling that of
        ``"smaller"``; on other data a film with few first-tier candidates
        can bring second-tier ones above a pooled threshold.
    cnn_backbone : str or None, default=None
        Name of a frozen EfficientNet backbone (``"efficientnet_lite0"``,
        offline ImageNet weights) run once, fully convolutionally, on each
        film (chest wall left) halved (0.4 mm per pixel on mini-MIAS); its
        block-2 and block-4 maps (strides 16 and 32 film pixels) are
        interpolated at every searched
        pixel and reduced by a PCA fitted on the training films
        (``cnn_components``), then appended to the window features (dense
        models only). None: no CNN columns.
    cnn_components : int, default=32
        Dimensions the PCA keeps of the CNN columns.
    cnn_flip_tta : bool, default=False
        Flip test-time augmentation of the CNN columns: the network also runs
        on the mirrored film and each pixel's columns are the mean of the
        two passes, read at the pixel and at its mirror image (the columns
        then mirror exactly with the film). Twice the CNN pass's cost. The
        blob features are mirror-invariant, so ``flip_tta`` has nothing to
        average for them.
    second_stage : bool, default=False
        Rescore the candidates with a second classifier (false-positive
        reduction) on their scores at every scale, rank, scale, window
        features and context, fitted on out-of-fold candidates of the
        training films (three folds by woman, each with a window model of
        one hard-negative round). Costs about three more window-model fits.
    memory : str or joblib.Memory, default=None
        Caches each film's preprocessing and features (worth it for
        cross-validation, where every film is used by several folds).
    random_state : int, RandomState instance or None, default=0
        Seeds the sampling of windows and the default model.
    verbose : int, default=0
        Print the progress of the hard-negative rounds.

    Attributes
    ----------
    model_ : estimator
        The fitted window model (for dense models: the pipeline without its first step).
    window_model_ : estimator or None
        The whole fitted window model: it scores cut windows like any ROI
        classifier. None for a dense model with ``context=True``: its context
        columns do not come from the window.
    n_positives_, n_negatives_ : int
        Training windows after the last round.
    hard_negative_films_ : list of set of int
        For each round, the indices (into the ``X`` of :meth:`fit`) of the
        films its hard negatives came from.
    cnn_pca_ : sklearn.decomposition.PCA or None
        The projection of the CNN columns (``cnn_backbone``), fitted on
        pixels of the training films.
    second_stage_model_ : estimator or None
        The fitted false-positive reducer (``second_stage=True``).
    fit_seconds_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.detection import FilmLesionDetector
    >>> from skbreastcad.datasets import make_phantoms
    >>> rng = np.random.default_rng(0)
    >>> rows, cols = np.ogrid[:256, :256]
    >>> films, lesions = [], []
    >>> for k in range(6):
    ...     film = np.where((rows - 128) ** 2 + cols**2 < 230**2, 90.0, 0.0)
    ...     film += rng.normal(0, 4, film.shape) * (film > 0)
    ...     r, c = 80 + 20 * k, 100
    ...     film += 60 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 8.0**2))
    ...     films.append(film.clip(0, 255).astype(np.uint8))
    ...     lesions.append(np.array([[r, c, 16.0]]))
    >>> detector = FilmLesionDetector(scales=(2, 4), pixel_size_mm=0.4, hard_negative_rounds=1,
    ...                               negatives_per_film=20, view="CC").fit(films[:4], lesions[:4])
    >>> found = detector.predict_candidates(films[4:])
    >>> list(found[0].columns[:5])
    ['row', 'col', 'radius', 'score', 'scale']
    """

    _parameter_constraints = {
        "roi_model": "no_validation",
        "scales": ["array-like"],
        "half_width": [Interval(Integral, 4, None, closed="left")],
        "pixel_size_mm": [Interval(Real, 0, None, closed="neither")],
        "view": [StrOptions({"MLO", "CC"})],
        "segmentation": ["boolean"],
        "context": ["boolean"],
        "positives_per_lesion": [Interval(Integral, 1, None, closed="left")],
        "negatives_per_film": [Interval(Integral, 1, None, closed="left")],
        "hard_negative_rounds": [Interval(Integral, 0, None, closed="left")],
        "hard_negatives_per_film": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Real, 1, None, closed="left")],
        "mining_stride": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "flip_tta": ["boolean"],
        "max_candidates": [Interval(Integral, 1, None, closed="left")],
        "nms_factor": [Interval(Real, 0, None, closed="left")],
        "nms_radius": [StrOptions({"tiered", "larger", "smaller"})],
        "cnn_backbone": [str, None],
        "cnn_components": [Interval(Integral, 1, None, closed="left")],
        "cnn_flip_tta": ["boolean"],
        "second_stage": ["boolean"],
        "memory": "no_validation",
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        roi_model=None,
        *,
        scales=(4, 8, 16),
        half_width=16,
        pixel_size_mm=0.2,
        view="MLO",
        segmentation=True,
        context=True,
        positives_per_lesion=40,
        negatives_per_film=60,
        hard_negative_rounds=2,
        hard_negatives_per_film=30,
        pool_size=4,
        mining_stride=2,
        stride=2,
        flip_tta=True,
        max_candidates=100,
        nms_factor=1.0,
        nms_radius="tiered",
        cnn_backbone=None,
        cnn_components=32,
        cnn_flip_tta=False,
        second_stage=False,
        memory=None,
        random_state=0,
        verbose=0,
    ):
        self.roi_model = roi_model
        self.scales = scales
        self.half_width = half_width
        self.pixel_size_mm = pixel_size_mm
        self.view = view
        self.segmentation = segmentation
        self.context = context
        self.positives_per_lesion = positives_per_lesion
        self.negatives_per_film = negatives_per_film
        self.hard_negative_rounds = hard_negative_rounds
        self.hard_negatives_per_film = hard_negatives_per_film
        self.pool_size = pool_size
        self.mining_stride = mining_stride
        self.stride = stride
        self.flip_tta = flip_tta
        self.max_candidates = max_candidates
        self.nms_factor = nms_factor
        self.nms_radius = nms_radius
        self.cnn_backbone = cnn_backbone
        self.cnn_components = cnn_components
        self.cnn_flip_tta = cnn_flip_tta
        self.second_stage = second_stage
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    # -- films -> records ---------------------------------------------------------------------
    def _scales(self):
        scales = tuple(int(f) for f in np.atleast_1d(self.scales))
        if not scales or min(scales) < 1:
            raise ValueError(f"scales must be positive integers; got {self.scales!r}.")
        return scales

    def _records(self, X, contralateral, *, fit_cnn=False):
        from sklearn.utils.validation import check_memory

        films = [np.asarray(x) for x in X]
        for k, film in enumerate(films):
            if film.ndim != 2:
                raise ValueError(f"X[{k}] must be a 2-D film; got shape {film.shape}.")
        if contralateral is None:
            contralateral = [None] * len(films)
        if len(contralateral) != len(films):
            raise ValueError(
                f"contralateral has {len(contralateral)} entries for {len(films)} films."
            )
        memory = check_memory(self.memory)
        base = memory.cache(_base)
        record = memory.cache(_record)
        scales = self._scales()
        bases = [
            base(film, self.pixel_size_mm, self.view, self.segmentation, scales) for film in films
        ]
        out = []
        for k, b in enumerate(bases):
            other = contralateral[k]
            if other is not None and not isinstance(other, (int, np.integer)):
                other_base = base(
                    np.asarray(other), self.pixel_size_mm, self.view, self.segmentation, scales
                )
            elif other is not None and int(other) >= 0:
                other_base = bases[int(other)]
            else:
                other_base = None
            out.append(
                record(
                    b,
                    other_base if self.context else None,
                    scales,
                    self.dense_step_,
                    self.context,
                    self.stride,
                )
            )
        if self.cnn_backbone is not None:
            self._add_cnn_columns(films, out, memory, fit_cnn)
        return out

    def _add_cnn_columns(self, films, records, memory, fit):
        """Append the PCA-reduced dense CNN columns to every scale's features."""
        from ._cnn_maps import _sample_maps, film_cnn_maps

        if self.dense_step_ is None or not self.context:
            raise ValueError(
                "cnn_backbone needs a dense window model (the default) with context=True."
            )
        maps = film_cnn_maps(films, records, memory, self.cnn_backbone, self.cnn_flip_tta)
        if fit:
            from sklearn.decomposition import PCA

            # a fixed share of every training film's searched pixels: the projection sees
            # only training films, like every other fitted part
            rng = np.random.RandomState(0)
            sample = []
            for m, rec in zip(maps, records, strict=True):
                for entry in rec["scales"]:
                    n = len(entry["rows"])
                    sel = rng.choice(n, min(n, 200), replace=False)
                    sample.append(_sample_maps(*m, self._subset(entry, sel) | {"f": entry["f"]}))
            sample = np.concatenate(sample)
            n_components = min(self.cnn_components, *sample.shape)
            self.cnn_pca_ = PCA(n_components=n_components, random_state=0).fit(sample)
        for m, rec in zip(maps, records, strict=True):
            for entry in rec["scales"]:
                columns = self.cnn_pca_.transform(_sample_maps(*m, entry)).astype(np.float32)
                entry["features"] = np.column_stack([entry["features"], columns])

    # -- model inputs and scores --------------------------------------------------------------
    def _inputs(self, entry, sel):
        if self.dense_step_ is not None:
            return entry["features"][sel]
        side = 2 * self.half_width + 1
        rows, cols = entry["rows"][sel], entry["cols"][sel]
        windows = np.empty((len(rows), side, side), np.float32)
        for j, (r, c) in enumerate(zip(rows, cols, strict=True)):
            windows[j] = crop_square(entry["image"], r, c, side)[0]
        return windows

    def _proba(self, model, inputs):
        column = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
        p = model.predict_proba(inputs)[:, column]
        if self.dense_step_ is None and self.flip_tta:
            p = (p + model.predict_proba(inputs[:, :, ::-1])[:, column]) / 2
        return p

    def _score_entry(self, model, entry, batch=50000):
        n = len(entry["rows"])
        out = np.empty(n)
        for k in range(0, n, batch):
            sel = np.arange(k, min(n, k + batch))
            out[sel] = self._proba(model, self._inputs(entry, sel))
        return out

    # -- training -----------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, *, contralateral=None):
        """Fit the window model on whole films, with multi-scale positives and hard negatives.

        Parameters
        ----------
        X : list of array-like of shape (height, width)
            Films (any sizes).
        y : list of array-like of shape (n_lesions, 3)
            Each film's lesions as ``(row, col, radius)`` in film pixels
            (an empty array for a normal film).
        contralateral : list, default=None
            For each film, the index into ``X`` of the woman's other film,
            that film itself (an array), or None: the asymmetry columns.

        Returns
        -------
        self : FilmLesionDetector
            Fitted.
        """
        start = time.perf_counter()
        rng = check_random_state(self.random_state)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} films but y {len(y)} lesion arrays.")
        if len(X) == 0:
            raise ValueError("X holds no film.")
        lesions = [self._check_lesions(les, k) for k, les in enumerate(y)]
        if sum(len(les) for les in lesions) == 0:
            raise ValueError("y holds no lesion: a detector needs positive films to learn from.")
        model = (
            _default_model(self.random_state) if self.roi_model is None else clone(self.roi_model)
        )
        self.dense_step_ = _dense_step(model)
        self.cnn_pca_ = None
        records = self._records(X, contralateral, fit_cnn=True)
        fitted, target, self.hard_negative_films_ = self._fit_stage1(
            model, records, lesions, rng, self.hard_negative_rounds
        )
        self.second_stage_model_ = None
        if self.second_stage:
            self.second_stage_model_ = self._fit_second_stage(
                model, records, lesions, rng, contralateral
            )
        self.model_ = fitted
        if self.dense_step_ is not None:
            from sklearn.pipeline import Pipeline

            dense = clone(self.dense_step_).fit(
                np.zeros(
                    (1, 2 * self.dense_step_.half_width + 1, 2 * self.dense_step_.half_width + 1)
                )
            )
            self.window_model_ = (
                Pipeline([("features", dense), ("model", fitted)]) if not self.context else None
            )
        else:
            self.window_model_ = fitted
        y_all = np.concatenate(target)
        self.n_positives_ = int((y_all == 1).sum())
        self.n_negatives_ = int((y_all == 0).sum())
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit_stage1(self, model, records, lesions, rng, rounds):
        """The window model: positives, random negatives, then ``rounds`` of hard negatives."""
        scales = self._scales()
        inputs, target = [], []

        def add(entry, sel, label):
            if len(sel):
                inputs.append(self._inputs(entry, sel))
                target.append(np.full(len(sel), label))

        # each film's searched pixels that are lesion-free at each scale, for negatives
        free = []
        for rec, les in zip(records, lesions, strict=True):
            per_scale = []
            for entry in rec["scales"]:
                d = _lesion_distance(entry, rec, les)
                clear = (d > les[None, :, 2] + 2 * entry["f"]).all(axis=1) if len(les) else None
                per_scale.append(
                    np.arange(len(entry["rows"])) if clear is None else np.flatnonzero(clear)
                )
                if len(les):
                    near = d <= np.maximum(0.5 * les[None, :, 2], 0.75 * entry["f"])
                    for j, (_, _, r) in enumerate(les):
                        ratios = np.abs(np.log([r / (4.0 * g) for g in scales]))
                        match = ratios <= np.log(_MATCH)
                        match[np.argmin(ratios)] = True
                        if not match[scales.index(entry["f"])]:
                            continue
                        hits = np.flatnonzero(near[:, j])
                        if len(hits) > self.positives_per_lesion:
                            hits = rng.choice(hits, self.positives_per_lesion, replace=False)
                        add(entry, hits, 1)
                pool = per_scale[-1]
                if len(pool):
                    n = min(self.negatives_per_film, len(pool))
                    add(entry, rng.choice(pool, n, replace=False), 0)
            free.append(per_scale)
        if not any((t == 1).any() for t in target):
            raise ValueError(
                "No positive window: every lesion lies outside the searched breast at every scale."
            )
        fitted = self._fit_model(model, inputs, target)
        mined_films = []
        for round_ in range(rounds):
            mined = set()
            for k, (rec, per_scale) in enumerate(zip(records, free, strict=True)):
                scores, where = [], []
                for s, entry in enumerate(rec["scales"]):
                    sel = per_scale[s]
                    if self.mining_stride > 1:
                        on_grid = (entry["rows"][sel] % self.mining_stride == 0) & (
                            entry["cols"][sel] % self.mining_stride == 0
                        )
                        sel = sel[on_grid]
                    if len(sel):
                        scores.append(
                            self._score_entry(fitted, {**entry, **self._subset(entry, sel)})
                        )
                        where.append(np.column_stack([np.full(len(sel), s), sel]))
                if not scores:
                    continue
                scores, where = np.concatenate(scores), np.concatenate(where)
                n_pool = min(len(scores), int(self.pool_size * self.hard_negatives_per_film))
                pool = np.argpartition(-scores, n_pool - 1)[:n_pool]
                drawn = rng.choice(pool, min(self.hard_negatives_per_film, n_pool), replace=False)
                for s in np.unique(where[drawn, 0]):
                    add(rec["scales"][s], where[drawn][where[drawn, 0] == s, 1], 0)
                mined.add(k)
            mined_films.append(mined)
            fitted = self._fit_model(model, inputs, target)
            if self.verbose:
                print(
                    f"hard-negative round {round_ + 1}: {sum(map(len, target))} windows", flush=True
                )
        return fitted, target, mined_films

    def _fit_second_stage(self, model, records, lesions, rng, contralateral):
        """A classifier of candidates, fitted on out-of-fold candidates of the training films.

        The training films are split in three by woman (a film and its
        ``contralateral`` film together); each third's candidates come from a
        window model fitted on the other two thirds (one hard-negative
        round), so their scores look like those of unseen films.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier

        n = len(records)
        pair = np.arange(n)
        if contralateral is not None:
            for k, other in enumerate(contralateral):
                if isinstance(other, (int, np.integer)) and 0 <= other < n:
                    pair[k] = min(k, int(other))
        keys = np.unique(pair)
        fold_of_key = dict(zip(keys, rng.permutation(len(keys)) % 3, strict=True))
        folds = np.array([fold_of_key[p] for p in pair])
        features, labels = [], []
        for fold in range(3):
            train = np.flatnonzero(folds != fold)
            test = np.flatnonzero(folds == fold)
            if len(test) == 0 or not any(len(lesions[k]) for k in train):
                continue
            inner, _, _ = self._fit_stage1(
                model,
                [records[k] for k in train],
                [lesions[k] for k in train],
                rng,
                min(1, self.hard_negative_rounds),
            )
            for k in test:
                scores = [self._score_entry(inner, entry) for entry in records[k]["scales"]]
                frame, feats = self._candidates(records[k], scores)
                les = lesions[k]
                if len(les) and len(frame):
                    d = np.hypot(
                        frame["row"].to_numpy()[:, None] - les[None, :, 0],
                        frame["col"].to_numpy()[:, None] - les[None, :, 1],
                    )
                    hit = (d <= np.maximum(les[None, :, 2], 10.0)).any(axis=1)
                else:
                    hit = np.zeros(len(frame), bool)
                features.append(feats)
                labels.append(hit)
        if not features:
            return None
        features, labels = np.concatenate(features), np.concatenate(labels)
        if labels.all() or not labels.any():
            return None
        return HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            random_state=self.random_state,
        ).fit(features, labels.astype(int))

    @staticmethod
    def _subset(entry, sel):
        out = {"rows": entry["rows"][sel], "cols": entry["cols"][sel]}
        if "features" in entry:
            out["features"] = entry["features"][sel]
        return out

    def _fit_model(self, model, inputs, target):
        X = np.concatenate(inputs)
        y = np.concatenate(target)
        if X.ndim == 2:
            # no training film had its pair: an all-missing column cannot be binned
            X[:, np.isnan(X).all(axis=0)] = 0.0
        if self.dense_step_ is not None:
            from sklearn.pipeline import Pipeline

            rest = model.steps[1:]
            est = rest[0][1] if len(rest) == 1 else Pipeline(rest)
            return clone(est).fit(X, y)
        return clone(model).fit(X, y)

    @staticmethod
    def _check_lesions(les, k):
        les = np.asarray(les, dtype=float).reshape(-1, 3) if np.size(les) else np.empty((0, 3))
        if not np.isfinite(les).all() or (les[:, 2] <= 0).any():
            raise ValueError(f"y[{k}] must hold finite (row, col, radius) rows with radius > 0.")
        return les

    # -- maps and candidates ------------------------------------------------------------------
    def decision_maps(self, X, *, contralateral=None):
        """Lesion probability maps of films, one per scale, in the film's orientation.

        Parameters
        ----------
        X : list of array-like of shape (height, width)
            Films.
        contralateral : list, default=None
            As in :meth:`fit`.

        Returns
        -------
        maps : list of list of ndarray
            ``maps[i][s]``: film ``i`` at scale ``scales[s]``, shape
            ``(height // f, width // f)``, NaN where not searched (cut
            windows: off the ``stride`` grid).
        """
        check_is_fitted(self, "model_")
        out = []
        for rec in self._records(X, contralateral):
            scores = [self._score_entry(self.model_, entry) for entry in rec["scales"]]
            out.append(_maps(rec, scores))
        return out

    def predict_candidates(self, X, *, contralateral=None, return_maps=False):
        """Candidate lesions of films: per-scale peaks, one non-maximum suppression over scales.

        Parameters
        ----------
        X : list of array-like of shape (height, width)
            Films.
        contralateral : list, default=None
            As in :meth:`fit`.
        return_maps : bool, default=False
            Also return the films' :meth:`decision_maps`, from the same
            pass (each film is preprocessed and scored once, not twice).

        Returns
        -------
        candidates : list of pandas.DataFrame
            Per film, by decreasing score: ``row``, ``col`` (film pixels,
            the film's own orientation), ``radius`` (the scale's radius,
            film pixels), ``score``, ``scale`` (the factor), ``tier`` (see
            ``nms_radius``), and with the second stage ``stage1_score``
            (``score`` is then the second stage's probability).
        maps : list of list of ndarray
            Only with ``return_maps=True``: as :meth:`decision_maps` returns.
        """
        check_is_fitted(self, "model_")
        results, all_maps = [], []
        for rec in self._records(X, contralateral):
            scores = [self._score_entry(self.model_, entry) for entry in rec["scales"]]
            if return_maps:
                all_maps.append(_maps(rec, scores))
            frame, feats = self._candidates(rec, scores)
            if self.second_stage_model_ is not None and len(frame):
                frame["stage1_score"] = frame["score"]
                frame["score"] = self.second_stage_model_.predict_proba(feats)[:, 1]
                frame = frame.sort_values("score", ascending=False, kind="stable")
                frame = frame.reset_index(drop=True)
            results.append(frame)
        return (results, all_maps) if return_maps else results

    def _candidates(self, rec, per_scale):
        """One film's candidates and their second-stage features, from its scores per scale."""
        import pandas as pd

        grids = []
        for entry, p in zip(rec["scales"], per_scale, strict=True):
            grid = np.full(entry["image"].shape, -np.inf)
            grid[entry["rows"], entry["cols"]] = p
            grids.append(grid)
        rows, cols, radii, scores, factors, where = [], [], [], [], [], []
        for s, (entry, grid, p) in enumerate(zip(rec["scales"], grids, per_scale, strict=True)):
            size = 3 if self.dense_step_ is not None else 2 * self.stride + 1
            peak = (grid == ndi.maximum_filter(grid, size=size, mode="nearest"))[
                entry["rows"], entry["cols"]
            ]
            sel = np.flatnonzero(peak)
            sel = sel[np.argsort(-p[sel], kind="stable")[: self.max_candidates]]
            r, c = _to_film(entry, rec, sel)
            rows.append(r)
            cols.append(c)
            radii.append(np.full(len(sel), 4.0 * entry["f"]))
            scores.append(p[sel])
            factors.append(np.full(len(sel), entry["f"]))
            where.append(np.column_stack([np.full(len(sel), s), sel]))
        rows, cols, radii, scores, factors, where = map(
            np.concatenate, (rows, cols, radii, scores, factors, where)
        )
        order = np.argsort(-scores, kind="stable")
        kept = suppress(
            rows,
            cols,
            radii,
            order,
            [],
            self.nms_factor,
            self.max_candidates,
            np.minimum if self.nms_radius == "smaller" else np.maximum,
        )
        n_first = len(kept)
        if self.nms_radius == "tiered" and n_first < self.max_candidates:
            rest = order[~np.isin(order, kept)]
            kept = suppress(
                rows, cols, radii, rest, kept, self.nms_factor, self.max_candidates, np.minimum
            )
        kept = np.asarray(kept, dtype=int)
        shown = scores[kept].copy()
        tier = np.ones(len(kept), dtype=int)
        if len(kept) > n_first:
            tier[n_first:] = 2
            shown[n_first:] *= shown[:n_first].min()
        frame = pd.DataFrame(
            {
                "row": np.rint(rows[kept]).astype(int),
                "col": np.rint(cols[kept]).astype(int),
                "radius": radii[kept],
                "score": shown,
                "scale": factors[kept].astype(int),
                "tier": tier,
            }
        )
        # second-stage features: the score at every scale at the candidate's place, its rank
        # and scale, and (dense models) the window's features and context
        width = rec["shape"][1]
        across = []
        for entry, grid in zip(rec["scales"], grids, strict=True):
            f = entry["f"]
            canon_c = width - 1 - cols[kept] if rec["flipped"] else cols[kept]
            gr = np.clip((rows[kept] // f).astype(int), 0, grid.shape[0] - 1)
            gc = np.clip((canon_c // f).astype(int), 0, grid.shape[1] - 1)
            value = grid[gr, gc]
            across.append(np.where(np.isfinite(value), value, -1.0))
        parts = [
            np.column_stack(across) if across else np.empty((len(kept), 0)),
            np.column_stack([scores[kept], np.log2(factors[kept]), np.arange(len(kept))]),
        ]
        if self.dense_step_ is not None:
            dim = rec["scales"][0]["features"].shape[1]
            window = np.empty((len(kept), dim), np.float32)
            for j, (s, sel) in enumerate(where[kept]):
                window[j] = rec["scales"][s]["features"][sel]
            parts.append(window)
        return frame, np.column_stack(parts).astype(np.float64)


def _maps(rec, scores):
    """A film's per-scale maps in its own orientation, NaN where not searched."""
    maps = []
    for entry, p in zip(rec["scales"], scores, strict=True):
        m = np.full(entry["image"].shape, np.nan)
        m[entry["rows"], entry["cols"]] = p
        maps.append(m[:, ::-1] if rec["flipped"] else m)
    return maps
