"""Two-stage transfer learning (the study's "second migration") as a scikit-learn classifier."""

import os
import pickle
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from ..nn._base import BaseDeepEstimator
from ..nn._device import use_amp
from ..nn._input import check_unit_range, unit_scaling
from ..nn._weights import check_weights
from ..sampling import balanced_class_weight, random_oversample_indices
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions, _check_y, _fit_context
from ..utils._validation import validate_images
from ._run_dir import RunDir, find_resumable, remove_dead_runs
from ._source_data import SourceData, validate_source_data
from ._stage1 import (
    callbacks_key,
    check_stage1_result,
    run_stage1,
    settings_of,
    stage1_settings,
    weights_key,
)

# Bump when what a fit folder holds, or how a fit continues from it, changes.
_RUN_VERSION = 1

__all__ = ["TwoStageTransferClassifier"]


class TwoStageTransferClassifier(BaseDeepEstimator, ClassifierMixin, BaseEstimator):
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
    source_data : SourceData, tuple (X_source, y_source) or None, default=None
        The stage-1 data set, as images in the project's input convention
        (``(n, H, W)``, or flattened with ``image_shape``) and their labels,
        which need not be the target's classes. It is constructor data rather
        than a ``fit`` argument so that cross-validation never slices it and
        one stage-1 result serves every fold and grid point (see Notes). Wrap
        it in a :class:`SourceData`: ``clone`` (every candidate and fold of a
        search) then shares it, whereas a plain tuple is deep-copied by every
        clone. Required by ``"two_stage"``, ignored otherwise.
    freeze_depth : int, default=0
        Stage 2 freezes the first ``freeze_depth`` weight layers
        (convolutions and linear layers, in order) together with the
        normalisation layers among them, whose BatchNorm statistics stay
        fixed (eval mode). Negative values count from the end: ``-2`` trains
        only the last two weight layers, which is the study's "weights
        transferred to all layers before the L2 layer". The new
        classification layer is always trained.
    source_freeze_depth : int, default=0
        ``freeze_depth`` of stage 1.
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
    source_max_epochs : int, default=8
        Epochs of stage 1.
    batch_size : int, default=32
        Images per training step and per prediction pass. Prediction passes
        always hold exactly ``batch_size`` images (the last one padded), so an
        image's probabilities do not depend on the other images of the call.
    lr : float, default=3e-4
        Learning rate of stage 2.
    source_lr : float, default=3e-4
        Learning rate of stage 1.
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
        later ``fit``.
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
        caches nothing: every fit trains stage 1.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available.
    amp : bool or "auto", default="auto"
        Whether to run in bfloat16 autocast; "auto" enables it on GPU only.
    channels_last : bool or "auto", default="auto"
        Channels-last memory format; "auto" enables it on GPU only.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, validation splits, shuffling, over-sampling and
        augmentation. On CPU, a fixed seed gives identical models.
    image_shape : tuple of (int, int) or None, default=None
        Shape of flattened input rows (also used for ``source_data``).
    verbose : int, default=0
        1 shows a progress bar, 2 also skorch's epoch table.

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
    *Defaults.* They are chosen for a few hundred ROIs: every training image
    is trained on for a fixed ``max_epochs`` and the last epoch kept (no
    validation split), with AdamW, a class-weighted loss, a constant rate
    and the default augmentation. On patient-grouped cross-validation of the
    mini-MIAS subset they matched a plain PyTorch loop, whereas on held-out
    women a 20% validation split with early stopping had lost about 0.05
    ROC AUC; the augmentation and the schedule were chosen on inner splits of
    the training women.
    The figures are in the user guide (``docs/two_stage_transfer.md``).
    With thousands of images, a validation split (``validation_fraction``)
    that picks the best epoch and stops early may pay for itself.

    *Stage-1 cache.* Stage 1 depends only on the source data and the
    stage-1 settings (backbone, weights, ``source_*`` parameters,
    ``batch_size``, ``optimizer``, ``weight_decay``, ``lr_schedule``,
    ``early_stopping``, ``validation_fraction``, ``scoring``, ``augment``,
    ``balance``, ``callbacks``, ``input_size``, ``value_range``, whether bf16
    autocast is on and ``random_state``), never on the target fold. With
    ``memory`` set, its result is cached under a hash of all of these, so a
    grid search over stage-2 settings, or the folds of a cross-validation,
    train stage 1 once. With ``random_state=None`` the first stage-1 result
    is reused. ``augment`` or ``callbacks`` that cannot be pickled (lambdas,
    local functions) switch the cache off, with a warning. A damaged cache
    entry is discarded with a warning and stage 1 trained again; a stage
    that did not finish (interrupted, diverged) is never cached.

    *Faults.* A non-finite loss, network output or weight stops the stage
    at once with a ``RuntimeError`` naming the stage and epoch, whatever the
    ``scoring``. ``KeyboardInterrupt`` (Ctrl-C) stops ``fit`` and propagates
    (skorch alone would swallow it and return a half-trained model).

    *Resuming.* With ``checkpoint_dir`` set, each stage writes
    ``resume.pt`` after every epoch, and stage 1 its result when it ends,
    atomically (temporary file, then rename) and verified by checksums
    when read back. A fit folder is locked by its process; ``resume=True``
    finds an unlocked, unfinished folder whose fingerprint (a hash of the
    data, ``groups``, ``source_data`` and every parameter except
    ``checkpoint_dir``, ``resume``, ``memory`` and ``verbose``) matches, and
    continues it with its own seeds. The epoch that was running when the
    process stopped is trained again from its start. User ``callbacks`` see
    the restored history, but their own state is not saved.

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
    ...     weights=None, source_data=source, max_epochs=2, source_max_epochs=2,
    ...     validation_fraction=None, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **BaseDeepEstimator._parameter_constraints,
        "transfer": [StrOptions({"none", "imagenet", "two_stage"})],
        "source_data": [SourceData, tuple, list, None],
        "freeze_depth": [Integral],
        "source_freeze_depth": [Integral],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "source_max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "source_lr": [Interval(Real, 0, None, closed="neither")],
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
    }
    _torch_attributes = ("module_",)

    def __init__(
        self,
        backbone="vgg16",
        *,
        transfer="imagenet",
        weights="imagenet",
        source_data=None,
        freeze_depth=0,
        source_freeze_depth=0,
        input_size=None,
        value_range="dtype",
        max_epochs=8,
        source_max_epochs=8,
        batch_size=32,
        lr=3e-4,
        source_lr=3e-4,
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
        random_state=None,
        image_shape=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.transfer = transfer
        self.weights = weights
        self.source_data = source_data
        self.freeze_depth = freeze_depth
        self.source_freeze_depth = source_freeze_depth
        self.input_size = input_size
        self.value_range = value_range
        self.max_epochs = max_epochs
        self.source_max_epochs = source_max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.source_lr = source_lr
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
        self.random_state = random_state
        self.image_shape = image_shape
        self.verbose = verbose

    # -- validation ----------------------------------------------------------------
    def _check_weights_setting(self, spec):
        if self.transfer == "imagenet" and self.weights is None:
            raise ValueError("transfer='imagenet' needs pretrained weights; got weights=None.")
        if self.transfer != "none":
            check_weights(spec, self.weights)

    def _augmenter(self):
        from ..augmentation import ImageAugmenter

        if self.augment is None:
            return None
        if self.augment == "flips":
            augmenter = ImageAugmenter(affine_p=0.0, brightness=0.0, contrast=0.0)
        elif self.augment == "default":
            augmenter = ImageAugmenter()
        else:
            augmenter = self.augment
        if isinstance(augmenter, ImageAugmenter):
            # bad settings fail here, not in the first training batch
            augmenter._validate()
        return augmenter

    def _check_augment_range(self, augmenter, images, name):
        """An augmenter that clips to [0, 1] must not cut the data it trains on:
        the images given to ``predict`` are not clipped. A named augmentation
        (``"default"``, ``"flips"``) stops clipping instead; an augmenter
        given by the user is an error."""
        from ..augmentation import ImageAugmenter

        if not isinstance(augmenter, ImageAugmenter) or not augmenter.clip:
            return
        offset, scale = unit_scaling(images.dtype, self.value_range)
        low, high = ((float(v) - offset) * scale for v in (images.min(), images.max()))
        if low < -1e-6 or high > 1 + 1e-6:
            if isinstance(self.augment, str):
                augmenter.set_params(clip=False)
                return
            raise ValueError(
                f"augment clips training images to [0, 1], but {name} maps to "
                f"[{low:.4g}, {high:.4g}] with value_range={self.value_range!r}: training and "
                "prediction would see different images. Set value_range=(low, high) to the "
                "data's grey-level range, or use ImageAugmenter(clip=False)."
            )

    def _split(self, y, groups, seed, name="X"):
        """Train/validation indices of one stage (validation None without a split)."""
        n = len(y)
        if self.validation_fraction is None:
            return np.arange(n), None
        try:
            if groups is not None:
                n_splits = max(2, int(round(1 / self.validation_fraction)))
                splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
                train, valid = next(splitter.split(np.zeros(n), y, groups))
            else:
                splitter = StratifiedShuffleSplit(
                    n_splits=1, test_size=self.validation_fraction, random_state=seed
                )
                train, valid = next(splitter.split(np.zeros(n), y))
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} cannot split {n} samples "
                f"into stratified training and validation parts ({exc}). Use more data or "
                "validation_fraction=None."
            ) from None
        if len(np.unique(y[train])) < 2:
            raise ValueError(
                "The training split holds a single class; use more data or validation_fraction=None."
            )
        if self.scoring != "loss" and len(np.unique(y[valid])) < 2:
            # a scorer cannot rank epochs on one class (roc_auc is NaN in every epoch)
            raise ValueError(
                f"The validation split holds a single class, on which scoring={self.scoring!r} "
                "cannot pick the best epoch; use more patient groups, a larger "
                "validation_fraction, scoring='loss' or validation_fraction=None."
            )
        missing = np.setdiff1d(np.unique(y), y[valid])
        if self.scoring != "loss" and missing.size:
            # multi-class scorers (roc_auc_ovr, log loss) fail mid-training on it
            raise ValueError(
                f"The validation split of {name} holds no sample of {missing.size} of its "
                f"{len(np.unique(y))} classes, on which scoring={self.scoring!r} cannot score "
                "every class; use a larger validation_fraction, more samples of the rare "
                "classes, scoring='loss' or validation_fraction=None."
            )
        return train, valid

    def _plan(self, y, groups, seed, n_classes, name="X"):
        """Indices and class weights of one stage, fixed before any training."""
        train, valid = self._split(y, groups, seed, name)
        class_weight = None
        if self.balance == "oversample":
            train = train[random_oversample_indices(y[train], random_state=seed)]
        elif self.balance == "class_weight":
            # a class missing from the training split gets weight 0
            class_weight = np.zeros(n_classes)
            for label, weight in balanced_class_weight(y[train]).items():
                class_weight[label] = weight
        return {"train": train, "valid": valid, "class_weight": class_weight, "seed": seed}

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
        images = validate_images(self, X, reset=True, image_shape=self.image_shape)
        y = _check_y(y, estimator=self)
        check_consistent_length(images, y)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        y_enc = encoder.transform(y)
        if len(self.classes_) < 2:
            raise ValueError(
                "This classifier needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: {self.classes_[0]!r}."
            )
        if groups is not None:
            groups = np.asarray(groups)
            check_consistent_length(images, groups)

        # Everything that can fail is checked before any training starts.
        spec, device = self._check_deep_settings(images.shape[1:])
        self._record_input_scaling(images)
        self._check_scoring()
        # one per stage: a named augmentation clips or not by that stage's own data
        augmenter, augmenter1 = self._augmenter(), self._augmenter()
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                "resume=True continues a fit saved in checkpoint_dir; set checkpoint_dir."
            )
        rng = check_random_state(self.random_state)
        seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=2)]
        Xs = ys = None
        if self.transfer == "two_stage":
            Xs, ys, n_source_classes = validate_source_data(
                self.source_data,
                image_shape=self.image_shape,
                target_shape=images.shape[1:],
                estimator=self,
            )
            check_unit_range(Xs, self.value_range, name="source_data")
        run = None
        fingerprint = None
        if self.checkpoint_dir is not None:
            fingerprint = self._fingerprint(images, y_enc, groups, Xs, ys)
            if self.resume and fingerprint is not None:
                run = find_resumable(os.fspath(self.checkpoint_dir), fingerprint)
        try:
            if run is not None:
                # the interrupted fit's own seeds: same splits, same initialisation
                seeds = list(run.read_manifest()["seeds"])
            seed1, seed2 = seeds
            plan2 = self._plan(y_enc, groups, seed2, len(self.classes_))
            if self.transfer == "two_stage":
                plan1 = self._plan(ys, None, seed1, n_source_classes, name="source_data")
                self._check_augment_range(augmenter1, Xs, "source_data")
            self._check_augment_range(augmenter, images, "X")
        except BaseException:
            if run is not None:
                run.release()
            raise

        import torch
        from torch import nn

        from ._net import train_stage

        resumable = self.checkpoint_dir is not None
        if not resumable:
            remove_dead_runs()
        if run is None:
            run = RunDir.create(self.checkpoint_dir)
        run.write_manifest(
            version=_RUN_VERSION, fingerprint=fingerprint, seeds=[seed1, seed2], status="running"
        )
        workdir = run.path
        try:
            self.stage1_history_ = None
            self.stage1_best_epoch_ = None
            self.stage1_from_cache_ = False
            if self.transfer == "two_stage":
                stage1 = self._stage1(
                    spec, Xs, ys, n_source_classes, plan1, device, augmenter1, workdir, resumable
                )
                model = self._build_model(spec.name, None, seed2, num_classes=n_source_classes)
                model.load_state_dict(stage1["state_dict"])
                # a fresh classification layer for the target classes
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed2)
                    head = model.backbone.get_submodule(self._head)
                    model.backbone.set_submodule(
                        self._head, nn.Linear(head.in_features, len(self.classes_))
                    )
            else:
                weights = None if self.transfer == "none" else self.weights
                model = self._build_model(spec.name, weights, seed2, num_classes=len(self.classes_))
            self.frozen_layers_ = model.freeze(self.freeze_depth)
            model, history, best = train_stage(
                self,
                model,
                images,
                y_enc,
                plan2,
                stage=2,
                lr=self.lr,
                max_epochs=self.max_epochs,
                device=device,
                augmenter=augmenter,
                workdir=os.path.join(workdir, "stage2"),
                resumable=resumable,
            )
        except BaseException as exc:
            if not resumable:
                run.remove()
            else:
                # an interrupted or killed fit can be resumed; a failed one would fail again
                interrupted = isinstance(exc, KeyboardInterrupt)
                run.write_manifest(status="interrupted" if interrupted else "failed")
                run.release()
            raise
        if not resumable:
            run.remove()
            self.checkpoint_dir_ = None
        else:
            run.write_manifest(status="complete")
            run.release()
            self.checkpoint_dir_ = workdir
        self.module_ = model
        self.history_ = history
        self.best_epoch_ = best
        self._device_cache = None
        return self

    def _check_scoring(self):
        if self.scoring == "loss":
            return
        from sklearn.metrics import get_scorer_names

        if self.scoring not in get_scorer_names():
            raise ValueError(
                f"scoring={self.scoring!r} is neither 'loss' nor a scikit-learn scorer name "
                "(see sklearn.metrics.get_scorer_names())."
            )

    def _fingerprint(self, images, y, groups, X_source, y_source):
        """Hash of everything a fit's result depends on, to find it again for ``resume``."""
        import joblib

        params = self.get_params(deep=False)
        for key in ("checkpoint_dir", "resume", "memory", "verbose", "source_data"):
            params.pop(key)
        params["weights"] = weights_key(self.weights)
        params["augment"] = settings_of(self.augment)
        params["callbacks"] = callbacks_key(self.callbacks)
        if not isinstance(self.random_state, Integral):
            # an interrupted fit's seeds are read back from its folder
            params["random_state"] = None
        try:
            return joblib.hash(
                (_RUN_VERSION, sorted(params.items()), images, y, groups, X_source, y_source)
            )
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            if self.resume:
                warnings.warn(
                    f"resume=True cannot find this fit again: its settings cannot be hashed "
                    f"({exc}). Use module-level functions in augment and callbacks.",
                    UserWarning,
                    stacklevel=3,
                )
            return None

    def _stage1(self, spec, Xs, ys, n_classes, plan, device, augmenter, workdir, resumable):
        from skorch.history import History

        from ..nn._weights import load_torch_file, save_torch_file
        from ._net import train_stage

        def train():
            model = self._build_model(spec.name, self.weights, plan["seed"], num_classes=n_classes)
            model.freeze(self.source_freeze_depth)
            return train_stage(
                self,
                model,
                Xs,
                ys,
                plan,
                stage=1,
                lr=self.source_lr,
                max_epochs=self.source_max_epochs,
                device=device,
                augmenter=augmenter,
                workdir=os.path.join(workdir, "stage1"),
                resumable=resumable,
            )

        saved = os.path.join(workdir, "stage1", "result.pt")
        result = None
        if resumable and os.path.exists(saved):
            # a resumed fit whose stage 1 had finished
            try:
                result = check_stage1_result(load_torch_file(saved, what="stage-1 result"))
            except ValueError as exc:
                warnings.warn(f"{exc} Stage 1 is trained again.", UserWarning, stacklevel=3)
        if result is None:
            settings = stage1_settings(self, spec, plan["seed"], use_amp(self.amp, device))
            result, self.stage1_from_cache_ = run_stage1(self.memory, settings, Xs, ys, train)
            if resumable:
                os.makedirs(os.path.dirname(saved), exist_ok=True)
                save_torch_file(result, saved)
        self.stage1_history_ = History(result["history"])
        self.stage1_best_epoch_ = result["best_epoch"]
        return result

    # -- predict ----------------------------------------------------------------------
    def _torch_model(self):
        return self.module_

    def _torch_architecture(self, name):
        # stage 2's network ends in a classification layer for the target classes
        return super()._torch_architecture(name, num_classes=len(self.classes_))

    def predict_proba(self, X):
        """Class probabilities of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax probabilities, columns in the order of ``classes_``.
        """
        import torch

        check_is_fitted(self)
        images = validate_images(self, X, reset=False, image_shape=self.image_shape)
        model, device, amp = self._inference_setup()
        return self._batched_inference(
            model,
            images,
            device,
            amp,
            lambda model, x: model(x),
            post=lambda logits: torch.softmax(logits, dim=1),
        )

    def predict(self, X):
        """Predicted class of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each image.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags
