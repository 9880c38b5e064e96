"""The skorch wiring of :class:`TwoStageTransferClassifier`: one training stage as a skorch net."""

from functools import partial

from ..nn._input import to_unit_tensor
from ..utils._optional import optional_import
from ._callbacks import apply_resume_state, default_callbacks, is_early_stop, read_resume_state

with optional_import("TwoStageTransferClassifier"):
    import torch
    from skorch import NeuralNetClassifier

__all__ = ["train_stage", "with_new_head"]


class _Interrupted(BaseException):
    """Carries a user's KeyboardInterrupt past skorch, which swallows KeyboardInterrupt."""


class _TransferNet(NeuralNetClassifier):
    """skorch classifier with bfloat16 autocast (``amp_device``), a ``stage`` tag and a
    training loop that Ctrl-C really stops."""

    amp_device = None
    stage = None
    generator = None

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            # skorch's partial_fit treats every KeyboardInterrupt as "stop
            # training" and returns normally: fine for EarlyStopping's, not for Ctrl-C
            if is_early_stop(exc):
                raise
            raise _Interrupted() from exc

    def infer(self, x, **fit_params):
        if self.amp_device is None:
            return super().infer(x, **fit_params)
        with torch.autocast(device_type=self.amp_device.type, dtype=torch.bfloat16):
            out = super().infer(x, **fit_params)
        # the loss and the scores are computed in float32
        return out.float()


_MULTICLASS_SCORERS = {
    "roc_auc": "roc_auc_ovr",
    "f1": "f1_macro",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "jaccard": "jaccard_macro",
}


def _multiclass_scoring(scoring, n_classes):
    """Binary-only scorer names become their macro / one-vs-rest versions for >2 classes."""
    if n_classes > 2:
        return _MULTICLASS_SCORERS.get(scoring, scoring)
    return scoring


def train_stage(
    settings, model, images, y, plan, *, device, augmenter, workdir, resumable=False, parallel=None
):
    """Train ``model`` on ``images[plan["train"]]`` with skorch; restore the best epoch.

    Parameters
    ----------
    settings : StageSettings
        What the training loop follows (stage, learning rate, epochs,
        optimizer, schedule, early stopping, scoring, callbacks, batch size,
        autocast, memory format, ``value_range``, verbosity).
    model : ImageModel
    images : ndarray or ImagePaths of shape (n_samples, height, width)
        An :class:`~skbreastcad.datasets.ImagePaths` is read batch by batch.
    y : ndarray of int, shape (n_samples,)
        Encoded labels.
    plan : dict
        ``train`` and ``valid`` indices, ``class_weight`` and ``seed``.
    device : torch.device
    augmenter : callable or None
    workdir : str
        Folder of the checkpoints.
    resumable : bool, default=False
        Save a resume state after every epoch, and continue from the one
        found in ``workdir`` (if any) rather than from epoch 1.
    parallel : DataParallel or None, default=None
        This rank's part of a data-parallel fit (see
        :mod:`skbreastcad.models._distributed`); None trains in this process alone.

    Returns
    -------
    model : ImageModel
        The trained network, on the CPU in eval mode.
    history : skorch.history.History
    best : int
        1-based epoch whose weights were kept.
    """
    with optional_import("TwoStageTransferClassifier"):
        from skorch.helper import predefined_split
        from torch import nn

    from ._data import BatchIterator, LazyDataset, TensorDataset
    from ._lazy_input import is_lazy

    amp, channels_last = settings.amp, settings.channels_last
    stage, max_epochs = settings.stage, settings.max_epochs
    seed = plan["seed"]
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed if parallel is None else parallel.rank_seed(seed))
        model = model.to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.channels_last = channels_last
        y_dev = torch.as_tensor(y, dtype=torch.long, device=device)
        if is_lazy(images):
            make_ds = partial(LazyDataset, images, y_dev, value_range=settings.value_range)
        else:
            X_dev = to_unit_tensor(images, settings.value_range, device)
            make_ds = partial(TensorDataset, X_dev, y_dev)
        train_ds = make_ds(plan["train"])
        valid_ds = None if plan["valid"] is None else make_ds(plan["valid"])
        generator = torch.Generator().manual_seed(seed)
        optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[
            settings.optimizer
        ]
        opt_kwargs = {"optimizer__weight_decay": settings.weight_decay}
        if settings.optimizer == "sgd":
            opt_kwargs["optimizer__momentum"] = 0.9
        criterion_kwargs = {}
        if plan["class_weight"] is not None:
            criterion_kwargs["criterion__weight"] = torch.as_tensor(
                plan["class_weight"], dtype=torch.float32, device=device
            )
        callbacks, monitor = default_callbacks(
            scoring=_multiclass_scoring(settings.scoring, int(y.max()) + 1),
            has_valid=valid_ds is not None,
            max_epochs=max_epochs,
            lr_schedule=settings.lr_schedule,
            early_stopping=settings.early_stopping,
            checkpoint_dir=workdir,
            progress=settings.verbose > 0,
            resumable=resumable,
        )
        for i, cb in enumerate(settings.callbacks):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        net_kwargs = dict(
            module=model,
            criterion=nn.CrossEntropyLoss,
            optimizer=optimizer,
            lr=settings.lr,
            max_epochs=max_epochs,
            batch_size=settings.batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__augment=augmenter,
            iterator_train__generator=generator,
            iterator_valid=BatchIterator,
            train_split=None if valid_ds is None else predefined_split(valid_ds),
            callbacks=callbacks,
            classes=list(range(int(y.max()) + 1)),
            device=str(device),
            verbose=int(settings.verbose > 1),
            **opt_kwargs,
            **criterion_kwargs,
        )
        net = _TransferNet(**net_kwargs) if parallel is None else parallel.make_net(net_kwargs)
        net.stage = stage
        net.amp_device = device if amp else None
        net.generator = generator
        net.initialize()
        epochs = max_epochs
        read, apply = (
            (_resume_state, apply_resume_state)
            if parallel is None
            else (parallel.read_resume_state, parallel.apply_resume_state)
        )
        state = read(workdir, stage) if resumable else None
        if state is not None:
            apply(net, state)
            epochs = max_epochs - state["epoch"]
        try:
            # epochs is 0 when the process stopped between the last epoch and
            # the end of the stage: the callbacks still restore the best weights
            net.partial_fit(train_ds, y=None, epochs=epochs)
        except _Interrupted as exc:
            raise exc.__cause__ from None
    history = net.history
    if monitor is None:
        best = len(history)
    else:
        flags = [row.get(f"{monitor}_best", False) for row in history]
        best = max(i + 1 for i, flag in enumerate(flags) if flag) if any(flags) else len(history)
    model = net.module_ if parallel is None else parallel.finish(net.module_)
    model = model.to("cpu").to(memory_format=torch.contiguous_format)
    model.channels_last = False
    model.eval()
    return model, history, best


def _resume_state(workdir, stage):
    """The saved state to continue from; a damaged one is discarded with a warning."""
    import warnings

    try:
        return read_resume_state(workdir, stage)
    except ValueError as exc:
        warnings.warn(f"{exc} Stage {stage} starts again from epoch 1.", UserWarning, stacklevel=3)
        return None


def with_new_head(model, head, n_classes, seed):
    """``model`` with a fresh classification layer ``head`` of ``n_classes`` outputs.

    The layer is initialised from ``seed``; the global torch random state is
    left as it was.
    """
    with optional_import("TwoStageTransferClassifier"):
        from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        old = model.backbone.get_submodule(head)
        model.backbone.set_submodule(head, nn.Linear(old.in_features, n_classes))
    return model
