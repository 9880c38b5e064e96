"""Two-stage transfer learning (the study's "second migration") as a scikit-learn classifier."""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length

from ..nn._base import BaseDeepEstimator
from ..nn._weights import check_weights
from ..utils._optional import optional_import
from ..utils._sklearn_compat import (
    HasMethods,
    Hidden,
    Interval,
    StrOptions,
    _check_y,
    _fit_context,
)
from ._augment import check_augment_range, make_augmenter
from ._lazy_input import is_lazy, validate_input
from ._planning import check_scoring, plan_stage
from ._predict import NetworkClassifierMixin
from ._run_dir import FitFolder
from ._settings import (
    DEPRECATED_SOURCE_PARAMS,
    fit_fingerprint,
    resolve_source_params,
    stage_settings,
)
from ._source_data import SourceData, check_source_data_type, validate_source_data
from ._stage1 import check_memory_location, fit_stage1

__all__ = ["TwoStageTransferClassifier"]

# the default of a deprecated parameter: "not set"
_DEPRECATED = Hidden(StrOptions({"deprecated"}))


class TwoStageTransferClassifier(
    NetworkClassifierMixin, BaseDeepEstimator, ClassifierMixin, BaseEstimator
):
    """Fine-tune a CNN from ImageNet, optionally through a source data set first.

    Three kinds of transfer, chosen by ``transfer`` so that the study's Fig. 6
    comparison is one parameter grid:

    - ``"none"``: train the backbone from a random initialisation;
    - ``"imagenet"``: fine-tune the pretrained ``weights`` on ``X, y``;
    - ``"two_stage"``: *stage 1* fine-tunes the pretrained weights on the
      source data set ``source_data``; *stage 2* starts from stage 1's best
      checkpoint (by the validation ``scoring``), with a fresh classification
      layer, and fine-tunes it on ``X, y``.

    Each stage is a skorch training loop: images live as tensors on the
    device, training batches are drawn, augmented (``augment``) and
    balanced (``balance``) there; an internal validation split drives
    early stopping, the learning-rate schedule and checkpointing. The
    checkpoint with the best validation ``scoring`` is restored at the end
    of each stage. Augmentation and balancing touch the training part of
    ``fit``'s data only: never the internal validation split, never the data
    passed to ``predict``.

    Parameters
    ----------
    backbone : str, default="vgg16"
        A backbone name (see :func:`skbreastcad.nn.list_backbones`); any
        torchvision classification model or ``"timm:<name>"`` works too.
    transfer : {"none", "imagenet", "two_stage"}, default="imagenet"
        Where the weights that stage 2 fine-tunes come from (see above).
    weights : {"imagenet"}, str, path-like or None, default="imagenet"
        The pretrained weights used by ``transfer="imagenet"`` and by stage 1
        of ``transfer="two_stage"``: ``"imagenet"`` through the torch hub
        cache, or a local checkpoint file (see
        :func:`skbreastcad.nn.build_backbone`). None (random
        initialisation) is allowed for two-stage transfer only, where it
        pretrains on the source data alone. Ignored for ``"none"``.
    source_data : SourceData or None, default=None
        The stage-1 data set, ``SourceData(X_source, y_source)``: images in the
        project's input convention (``(n, H, W)``, or flattened with
        ``image_shape``) and their labels, which need not be the target's
        classes. It is constructor data rather than a ``fit`` argument so that
        cross-validation never slices it and one stage-1 result serves every
        fold and grid point (see Notes); a :class:`SourceData` is shared, not
        copied, by ``clone`` (every candidate and fold of a search). A plain
        ``(X, y)`` tuple is an error. Required by ``"two_stage"``, ignored
        otherwise.
    source_params : dict or None, default=None
        Stage 1's own values of the parameters both stages have: ``"lr"``
        (default 3e-4), ``"max_epochs"`` (default 8) and ``"freeze_depth"``
        (default 0), e.g. ``{"lr": 1e-3, "max_epochs": 20}``; a missing key
        takes its default. A grid searches them as whole dicts
        (``{"source_params": [{"lr": 1e-3}, {"lr": 1e-4}]}``).
    freeze_depth : int, default=0
        Stage 2 freezes the first ``freeze_depth`` weight layers
        (convolutions and linear layers, in order) together with the
        normalisation layers among them, whose BatchNorm statistics stay
        fixed (eval mode). Negative values count from the end: ``-2`` trains
        only the last two weight layers, which is the study's "weights
        transferred to all layers before the L2 layer". The new
        classification layer is always trained.
    input_size : int, (int, int), "native" or None, default=None
        Size images are resized to on the device; None uses the backbone's
        pretraining size (224, 299 for InceptionV3), "native" keeps the
        images' own size.
    value_range : "dtype" or (float, float), default="dtype"
        How grey levels map to [0, 1] (see
        :class:`~skbreastcad.features.CNNLayerFeatures`).
    max_epochs : int, default=8
        Epochs of stage 2 (fewer with early stopping). The defaults of this
        and the following training parameters were chosen on real
        mammograms (see Notes).
    batch_size : int, default=32
        Images per training step and per prediction pass. Prediction passes
        always hold exactly ``batch_size`` images (the last one padded), so an
        image's probabilities do not depend on the other images of the call.
    lr : float, default=3e-4
        Learning rate of stage 2.
    optimizer : {"adamw", "adam", "sgd"}, default="adamw"
        SGD uses momentum 0.9.
    weight_decay : float, default=1e-4
        L2 penalty (decoupled for ``"adamw"``).
    lr_schedule : {"constant", "cosine", "plateau"}, default="constant"
        No schedule; or cosine annealing over ``max_epochs``; or divide the
        rate by 10 when the validation loss has not improved for 2 epochs.
    early_stopping : int or None, default=5
        With a validation split (``validation_fraction``), stop after this
        many epochs without a better validation ``scoring``; None trains all
        epochs. Unused without a validation split.
    validation_fraction : float or None, default=None
        Share of each stage's training data held out (stratified by class,
        and by ``groups`` when given to ``fit``) to pick the best epoch. None
        trains on everything for ``max_epochs`` and keeps the last epoch,
        which gave better models on a few hundred ROIs than giving up a
        fifth of them to pick an epoch (see Notes).
    scoring : str, default="loss"
        Validation metric that picks the best checkpoint and drives early
        stopping: ``"loss"`` (cross-entropy, lower is better) or the name of
        a scikit-learn scorer (``"roc_auc"``, ``"f1"``, ``"balanced_accuracy"``...).
        On a stage with more than two classes (e.g. a multi-class source
        set), binary-only scorers are replaced by their multi-class versions:
        ``"roc_auc"`` -> ``"roc_auc_ovr"``, ``"f1"``/``"precision"``/
        ``"recall"``/``"jaccard"`` -> their ``"_macro"`` versions.
    augment : {"default", "flips"}, callable or None, default="default"
        Training-batch augmentation on the device: an
        :class:`~skbreastcad.augmentation.ImageAugmenter` (``"default"`` uses
        its defaults: flips, 90-degree turns, small rotations, shifts and
        zooms, brightness and contrast; ``"flips"`` only the flips and
        turns), any ``f(images, generator) -> images`` on tensors
        ``(B, 1, H, W)`` in [0, 1], or None for no augmentation. The named
        augmentations clip to [0, 1] when ``value_range`` maps the training
        data into [0, 1], and do not clip otherwise; an augmenter of your own
        that clips needs such data (an error otherwise).
    balance : {"class_weight", "oversample"} or None, default="class_weight"
        Imbalance handling inside ``fit``: a class-weighted loss (each class
        weighted ``n_samples / (n_classes * n_class)``), random over-sampling
        of the minority classes of the training split, or none.
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks for both stages; the training net passed to
        them has a ``stage`` attribute (1 or 2).
    checkpoint_dir : str, path-like or None, default=None
        Parent folder of the checkpoints. Every ``fit`` writes into a fresh
        unique sub-folder (safe under ``GridSearchCV(n_jobs>1)``), kept and
        recorded in ``checkpoint_dir_``, with the state to resume it after
        every epoch (see ``resume``). None uses a temporary folder removed at
        the end of ``fit``; the folders of killed processes are removed by a
        later ``fit``. A folder that does not exist is created; a file is an
        error naming it.
    resume : bool, default=False
        Continue an unfinished fit found in ``checkpoint_dir`` rather than
        start afresh: one of the same data and settings whose process was
        killed or interrupted. It goes on from its last completed epoch with
        the saved weights, optimizer and learning-rate schedule state,
        early-stopping counters, history and random generator states, so on
        the CPU it ends with the same weights as an uninterrupted fit (see
        Notes). Without such a folder the fit starts afresh. Needs
        ``checkpoint_dir``.
    memory : str, path-like, joblib.Memory or None, default=None
        Caches stage 1's result, as scikit-learn's ``Pipeline(memory=...)``
        does its transformers: a folder (or a :class:`joblib.Memory`) shared by
        processes, e.g. the workers of ``GridSearchCV(n_jobs=4)``. None
        caches nothing: every fit trains stage 1. A file (or a path under
        one) is an error naming it, before any training. Entries are
        safetensors weights with a JSON record and their SHA-256, under
        ``skbreastcad-stage1/``: nothing in the cache is ever unpickled.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available.
    amp : bool or "auto", default="auto"
        Whether to run in bfloat16 autocast; "auto" enables it on GPU only.
    channels_last : bool or "auto", default="auto"
        Channels-last memory format; "auto" enables it on GPU and CPU
        (faster convolutions on both; the same arithmetic, rounded
        differently).
    accelerator : None, "auto" or accelerate.Accelerator, default=None
        Data-parallel training through Hugging Face Accelerate, for a script
        started once per device by ``torchrun`` or ``accelerate launch``
        (install the ``distributed`` extra). None trains in this process
        alone. ``"auto"`` trains with an ``accelerate.Accelerator()`` when the
        process was started by such a launcher with more than one process, and
        alone otherwise; an ``Accelerator`` instance is used as given (its
        device replaces ``device``). Both stages then train together: each
        process trains on its slice of every batch of ``batch_size`` images
        and the gradients are averaged, so the model follows the
        single-process fit over the same batches (see Notes). Only the main
        process writes checkpoints and the stage-1 cache.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, validation splits, shuffling, over-sampling and
        augmentation. On CPU, a fixed seed gives identical models.
    image_shape : tuple of (int, int) or None, default=None
        Shape of flattened input rows (also used for ``source_data``).
    verbose : int, default=0
        1 shows a progress bar, 2 also skorch's epoch table.
    source_lr : float, default="deprecated"
        Deprecated since 0.1, removed in 0.2: use ``source_params={"lr": ...}``.
    source_max_epochs : int, default="deprecated"
        Deprecated since 0.1, removed in 0.2: use ``source_params={"max_epochs": ...}``.
    source_freeze_depth : int, default="deprecated"
        Deprecated since 0.1, removed in 0.2: use
        ``source_params={"freeze_depth": ...}``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    module_ : torch.nn.Module
        The fine-tuned network behind its preprocessing, on the CPU.
    history_ : skorch.history.History
        Stage-2 training history (losses, validation scores, checkpoints).
    best_epoch_ : int
        Stage-2 epoch (1-based) whose weights were kept.
    stage1_history_ : skorch.history.History or None
        Stage-1 history (two-stage transfer only).
    stage1_best_epoch_ : int or None
    stage1_from_cache_ : bool
        Whether stage 1 was read from ``memory`` rather than trained.
    frozen_layers_ : list of str
        Backbone layers frozen in stage 2.
    checkpoint_dir_ : str or None
        This fit's checkpoint folder when ``checkpoint_dir`` is set.
    input_size_ : tuple of (int, int) or None
    n_features_in_ : int
    image_shape_ : tuple of (int, int)

    See Also
    --------
    skbreastcad.features.CNNLayerFeatures : Frozen features of one layer.
    skbreastcad.augmentation.ImageAugmenter : The default augmentation.

    Notes
    -----
    The user guide (``docs/two_stage_transfer.md``) has the details and figures.

    *Defaults* are chosen for a few hundred ROIs: a fixed ``max_epochs``
    keeping the last epoch (no validation split), AdamW, a class-weighted
    loss, a constant rate and the default augmentation. On patient-grouped
    cross-validation of mini-MIAS they matched a plain PyTorch loop, whereas
    a 20% validation split with early stopping lost about 0.05 ROC AUC. With
    thousands of images, a validation split may pay for itself.

    *Stage-1 cache.* Stage 1 depends only on the source data and the
    stage-1 settings (backbone, weights, ``source_params``, ``batch_size``,
    ``optimizer``, ``weight_decay``, ``lr_schedule``, ``early_stopping``,
    ``validation_fraction``, ``scoring``, ``augment``, ``balance``,
    ``callbacks``, ``input_size``, ``value_range``, bf16 autocast and
    ``random_state``), never on the target fold. ``memory`` caches it under
    a hash of all of these, so a grid over stage-2 settings, or the folds of
    a cross-validation, train stage 1 once (with ``random_state=None`` the
    first result is reused). Unpicklable ``augment`` or ``callbacks``
    (lambdas) switch the cache off with a warning; a damaged entry is
    discarded with a warning; an unfinished stage is never cached.

    *Data-parallel training* (``accelerator``). Every process holds the
    images and draws the same shuffled, augmented batches of ``batch_size``
    images (the *global* batch; each process trains on its slice of it, so
    ``batch_size`` must be at least the number of processes); the loss is
    normalised by the global batch's (class-weighted) size and BatchNorm
    layers use the global batch's statistics, so the fit equals the
    single-process fit up to floating-point rounding. Torch's global random
    generator (dropout) is seeded per process: with the stage's seed on the
    main process, with one derived from it and the process rank elsewhere, so
    a run is reproducible for a given number of processes. A fit killed on
    any process resumes (``resume=True``) with the same number of processes.
    ``docs/scaling.md`` has the launch commands.

    *Faults.* A non-finite loss, network output or weight stops the stage
    with a ``RuntimeError`` naming the stage and epoch. ``KeyboardInterrupt``
    (Ctrl-C) stops ``fit`` and propagates (skorch alone would swallow it).

    *Resuming.* With ``checkpoint_dir`` set, each stage writes ``resume.pt``
    after every epoch (and stage 1 its result), atomically and verified by
    checksums when read back. ``resume=True`` finds an unlocked, unfinished
    fit folder whose fingerprint (a SHA-256 of the data, ``groups``,
    ``source_data`` and every parameter except ``checkpoint_dir``,
    ``resume``, ``memory`` and ``verbose``) matches, and continues it with
    its own seeds from its last completed epoch. User ``callbacks`` see the
    restored history, but their own state is not saved. A kill at any point
    of either stage resumes bit for bit on the CPU when the resumed process
    uses the same torch build and number of CPU threads
    (``torch.get_num_threads()``): torch's CPU kernels split their sums by
    thread, so another count (a warning says so) changes the last bits of the
    weights, and the difference grows with the epochs trained after the
    resume. Folders written by
    an earlier version in another format are never resumed: the fit starts
    afresh, with a warning naming them.

    References
    ----------
    .. [1] The study: "second migration" -- ImageNet -> medical source data ->
       target MRI, with up-sampling and augmentation in the second transfer.
    .. [2] J. Yosinski et al., "How transferable are features in deep neural
       networks?", NeurIPS 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.models import SourceData, TwoStageTransferClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8)
    >>> y = np.array([0, 1] * 10)
    >>> source = SourceData(rng.integers(0, 256, (20, 16, 16), dtype=np.uint8), y)
    >>> clf = TwoStageTransferClassifier("tiny_cnn", transfer="two_stage",
    ...     weights=None, source_data=source, source_params={"max_epochs": 2},
    ...     max_epochs=2, validation_fraction=None, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **BaseDeepEstimator._parameter_constraints,
        "transfer": [StrOptions({"none", "imagenet", "two_stage"})],
        "source_data": [SourceData, None],
        "source_params": [dict, None],
        "freeze_depth": [Integral],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"cosine", "plateau", "constant"})],
        "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "scoring": [str],
        "augment": [None, StrOptions({"flips", "default"}), HasMethods(["__call__"])],
        "balance": [StrOptions({"oversample", "class_weight"}), None],
        "callbacks": [list, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "resume": ["boolean"],
        "accelerator": [None, StrOptions({"auto"}), HasMethods(["prepare", "backward"])],
        # deprecated in 0.1, removed in 0.2: source_params
        "source_freeze_depth": [Integral, _DEPRECATED],
        "source_max_epochs": [Interval(Integral, 1, None, closed="left"), _DEPRECATED],
        "source_lr": [Interval(Real, 0, None, closed="neither"), _DEPRECATED],
    }
    _torch_attributes = ("module_",)

    def __init__(
        self,
        backbone="vgg16",
        *,
        transfer="imagenet",
        weights="imagenet",
        source_data=None,
        source_params=None,
        freeze_depth=0,
        input_size=None,
        value_range="dtype",
        max_epochs=8,
        batch_size=32,
        lr=3e-4,
        optimizer="adamw",
        weight_decay=1e-4,
        lr_schedule="constant",
        early_stopping=5,
        validation_fraction=None,
        scoring="loss",
        augment="default",
        balance="class_weight",
        callbacks=None,
        checkpoint_dir=None,
        resume=False,
        memory=None,
        device="auto",
        amp="auto",
        channels_last="auto",
        accelerator=None,
        random_state=None,
        image_shape=None,
        verbose=0,
        source_lr="deprecated",
        source_max_epochs="deprecated",
        source_freeze_depth="deprecated",
    ):
        self.backbone = backbone
        self.transfer = transfer
        self.weights = weights
        self.source_data = source_data
        self.source_params = source_params
        self.freeze_depth = freeze_depth
        self.input_size = input_size
        self.value_range = value_range
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.scoring = scoring
        self.augment = augment
        self.balance = balance
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.memory = memory
        self.device = device
        self.amp = amp
        self.channels_last = channels_last
        self.accelerator = accelerator
        self.random_state = random_state
        self.image_shape = image_shape
        self.verbose = verbose
        self.source_lr = source_lr
        self.source_max_epochs = source_max_epochs
        self.source_freeze_depth = source_freeze_depth

    # -- validation ----------------------------------------------------------------
    def _validate_params(self):
        # before scikit-learn's check, whose message would print the arrays of the tuple
        check_source_data_type(self.source_data, type(self).__name__)
        super()._validate_params()

    def _check_weights_setting(self, spec):
        if self.transfer == "imagenet" and self.weights is None:
            raise ValueError("transfer='imagenet' needs pretrained weights; got weights=None.")
        if self.transfer != "none":
            check_weights(spec, self.weights)

    def _source_params(self):
        """Stage 1's ``lr``, ``max_epochs`` and ``freeze_depth`` (the deprecated names warn)."""
        deprecated = {name: getattr(self, name) for name in DEPRECATED_SOURCE_PARAMS}
        return resolve_source_params(self.source_params, deprecated, caller=type(self).__name__)

    def _validate_target(self, X, y, groups):
        """Images, encoded labels and groups of ``fit``; sets ``classes_``."""
        images = validate_input(self, X, reset=True, image_shape=self.image_shape)
        y = _check_y(y, estimator=self)
        check_consistent_length(images, y)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "This classifier needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: {self.classes_[0]!r}."
            )
        if groups is not None:
            groups = np.asarray(groups)
            check_consistent_length(images, groups)
        return images, encoder.transform(y), groups

    # -- fit -------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Fine-tune the backbone (after stage 1 on ``source_data`` for two-stage transfer).

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Grayscale training images; flattened rows need ``image_shape``.
        y : array-like of shape (n_samples,)
            Class labels.
        groups : array-like of shape (n_samples,), default=None
            Patient ids. When given, the internal validation split keeps each
            patient's images on one side. (``GridSearchCV(...).fit(X, y,
            groups=g)`` uses ``groups`` for its own folds only; route them here
            with metadata routing and ``set_fit_request(groups=True)``.)
            Without them, the split treats every image as its own patient.

        Returns
        -------
        self : TwoStageTransferClassifier
            The fitted classifier.
        """
        # Everything that can fail is checked before any training starts.
        images, y_enc, groups = self._validate_target(X, y, groups)
        spec, device = self._check_deep_settings(images.shape[1:])
        parallel = self._data_parallel(device)
        if parallel is not None:
            device = parallel.device
        self._record_input_scaling(images)
        check_scoring(self.scoring)
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                "resume=True continues a fit saved in checkpoint_dir; set checkpoint_dir."
            )
        check_memory_location(self.memory)
        source_params = self._source_params()
        settings1, settings2 = self._stage_settings(spec, device, source_params)
        seeds = self._draw_seeds()
        if parallel is not None:
            # with random_state=None each process draws its own: the main one's are used
            seeds = parallel.broadcast(seeds)
        source = None
        if settings1 is not None:
            source = validate_source_data(self.source_data, images.shape[1:], estimator=self)
        fingerprint = self._fingerprint(source_params, images, y_enc, groups, source)
        if parallel is not None:
            fingerprint = parallel.fingerprint(fingerprint)
        folder = FitFolder(self.checkpoint_dir, fingerprint=fingerprint, resume=self.resume)
        if parallel is not None:
            folder = parallel.fit_folder(folder)

        with folder as run:
            # a resumed fit keeps its own seeds: the same splits, the same initialisation
            seed1, seed2 = run.resumed_seeds or seeds
            if source is not None:
                plan1, augmenter1 = self._plan(settings1, *source[:2], None, seed1, "source_data")
            plan2, augmenter2 = self._plan(settings2, images, y_enc, groups, seed2, "X")
            workdir = run.start([seed1, seed2])

            from ._net import train_stage

            stage1 = None
            if source is not None:
                stage1 = (fit_stage1 if parallel is None else parallel.fit_stage1)(
                    settings1,
                    *source,
                    plan1,
                    build_model=self._build_model,
                    device=device,
                    augmenter=augmenter1,
                    workdir=workdir,
                    resumable=run.kept,
                    memory=self.memory,
                )
            model = self._stage2_model(settings2, stage1, seed2)
            frozen = model.freeze(settings2.freeze_depth)
            model, history, best = train_stage(
                settings2,
                model,
                images,
                y_enc,
                plan2,
                device=device,
                augmenter=augmenter2,
                workdir=os.path.join(workdir, "stage2"),
                resumable=run.kept,
                parallel=parallel,
            )
        self._set_fitted(model, history, best, frozen, stage1, run.kept_path)
        return self

    def _stage_settings(self, spec, device, source_params):
        """The settings of stage 1 (None without two-stage transfer) and of stage 2."""
        params = self.get_params(deep=False)
        args = (spec.name, self.input_size_, device)
        stage2 = stage_settings(params, 2, *args)
        if self.transfer != "two_stage":
            return None, stage2
        return stage_settings(params, 1, *args, source_params), stage2

    def _data_parallel(self, device):
        """The data-parallel context of this fit (None: this process alone)."""
        if self.accelerator is None:
            return None
        from ._distributed import data_parallel

        parallel = data_parallel(self.accelerator, device)
        if parallel is not None and self.batch_size < parallel.world_size:
            raise ValueError(
                f"batch_size={self.batch_size} is smaller than the {parallel.world_size} "
                "processes of this data-parallel fit: each process trains on a slice of every "
                "batch. Set batch_size to at least the number of processes."
            )
        return parallel

    def _draw_seeds(self):
        rng = check_random_state(self.random_state)
        return [int(s) for s in rng.randint(0, 2**31 - 1, size=2)]

    def _fingerprint(self, source_params, images, y, groups, source):
        """What a kept fit folder is found by again for ``resume``."""
        if self.checkpoint_dir is None:
            return None
        Xs, ys = (None, None) if source is None else source[:2]
        params = self.get_params(deep=False)
        # how many processes train is part of the data-parallel fingerprint, not how
        params.pop("accelerator")
        if is_lazy(images):
            # the files' paths, sizes and modification times: hashing their pixels
            # would read the whole set once more before training
            images = np.array(images.fingerprint_key(), dtype=object)
        if is_lazy(Xs):
            Xs = np.array(Xs.fingerprint_key(), dtype=object)
        return fit_fingerprint(params, source_params, (images, y, groups, Xs, ys))

    def _plan(self, settings, images, y, groups, seed, name):
        """A stage's plan and augmenter, fixed before any training.

        One augmenter per stage: a named augmentation clips or not by the
        stage's own data.
        """
        augmenter = make_augmenter(settings.augment)
        check_augment_range(augmenter, images, settings, name)
        return plan_stage(settings, y, groups, seed, int(y.max()) + 1, name), augmenter

    def _stage2_model(self, settings, stage1, seed):
        """Stage 2's starting network: stage 1's with a fresh head, or built from its weights."""
        if stage1 is None:
            return self._build_model(
                settings.backbone, settings.weights, seed, num_classes=len(self.classes_)
            )
        from ._net import with_new_head

        model = self._build_model(settings.backbone, None, seed, num_classes=stage1.n_classes)
        model.load_state_dict(stage1.state_dict)
        return with_new_head(model, self._head, len(self.classes_), seed)

    def _set_fitted(self, model, history, best, frozen, stage1, checkpoint_dir):
        with optional_import("TwoStageTransferClassifier"):
            from skorch.history import History

        self.module_ = model
        self.history_ = history
        self.best_epoch_ = best
        self.frozen_layers_ = frozen
        self.stage1_history_ = None if stage1 is None else History(stage1.history)
        self.stage1_best_epoch_ = None if stage1 is None else stage1.best_epoch
        self.stage1_from_cache_ = stage1 is not None and stage1.from_cache
        self.checkpoint_dir_ = checkpoint_dir

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags
