"""The skorch callbacks of each training stage of :class:`TwoStageTransferClassifier`."""

from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring, LRScheduler, ProgressBar
from skorch.utils import noop

__all__ = ["default_callbacks"]


class _BestCheckpoint(Checkpoint):
    """skorch's ``Checkpoint``, failing clearly when no epoch was ever saved.

    That happens when the monitored validation value is NaN in every epoch
    (diverged training); skorch would then try to load a file that does not exist.
    """

    def on_train_end(self, net, **kwargs):
        if self.load_best and not any(row.get(self.event_name) for row in net.history):
            monitor = self.monitor.removesuffix("_best")
            raise RuntimeError(
                f"No epoch of stage {net.stage} reached a finite {monitor}, so there is no "
                "best checkpoint to restore: training diverged. Try a lower learning rate."
            )
        super().on_train_end(net, **kwargs)


def default_callbacks(*, scoring, has_valid, max_epochs, lr_schedule, early_stopping, checkpoint_dir, progress):
    """Scoring, LR schedule, early stopping, checkpointing and progress callbacks.

    Returns
    -------
    callbacks : list of (name, callback)
    monitor : str or None
        History key of the validation metric ("valid_loss" or "valid_score").
    """
    callbacks = []
    monitor = None
    lower_is_better = True
    if has_valid:
        if scoring == "loss":
            monitor = "valid_loss"
        else:
            monitor = "valid_score"
            lower_is_better = False
            callbacks.append(
                ("valid_score", EpochScoring(scoring, lower_is_better=False, on_train=False, name="valid_score"))
            )
    if lr_schedule == "cosine":
        callbacks.append(("lr_schedule", LRScheduler(policy="CosineAnnealingLR", T_max=max_epochs)))
    elif lr_schedule == "plateau":
        callbacks.append(
            (
                "lr_schedule",
                LRScheduler(
                    policy="ReduceLROnPlateau",
                    monitor="valid_loss" if has_valid else "train_loss",
                    factor=0.1,
                    patience=2,
                ),
            )
        )
    if has_valid and early_stopping is not None:
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(monitor=monitor, patience=early_stopping, lower_is_better=lower_is_better, sink=noop),
            )
        )
    if has_valid:
        callbacks.append(
            (
                "checkpoint",
                _BestCheckpoint(
                    monitor=f"{monitor}_best",
                    dirname=checkpoint_dir,
                    f_params="params.pt",
                    f_optimizer=None,
                    f_criterion=None,
                    f_history=None,
                    load_best=True,
                    sink=noop,
                ),
            )
        )
    if progress:
        callbacks.append(("progress", ProgressBar()))
    return callbacks, monitor
