"""Every skorch callback of the package: those of each training stage of
:class:`TwoStageTransferClassifier`, and :class:`HistoryRecorder` for learning curves."""

import json
import os
import uuid
from pathlib import Path

from ..nn._weights import load_torch_file, save_torch_file
from ..utils._faults import fault_point
from ..utils._optional import optional_import
from ._history import plain

with optional_import("Training with skorch (TwoStageTransferClassifier, HistoryRecorder)"):
    import torch
    from skorch.callbacks import Callback, EarlyStopping, EpochScoring, LRScheduler, ProgressBar
    from skorch.utils import noop

__all__ = ["HistoryRecorder", "StageCheckpoint", "StopOnNonFinite", "default_callbacks"]

# Version of the resume files: bump when their content changes.
_RESUME_FORMAT = 1
RESUME_FILE = "resume.pt"
BEST_FILE = "params.pt"


class StopOnNonFinite(Callback):
    """Stop a stage at the first non-finite loss, network output or weight.

    A NaN loss otherwise trains on silently: without a validation split, or
    with a scorer that accepts NaN probabilities (accuracy, F1), the stage
    "succeeds" with a network that predicts NaN.
    """

    def on_batch_end(self, net, batch=None, training=None, loss=None, y_pred=None, **kwargs):
        # one device synchronisation per batch, as skorch's own loss.item()
        finite = torch.isfinite(loss).all()
        if y_pred is not None:
            finite = finite & torch.isfinite(y_pred).all()
        if not bool(finite):
            part = "training" if training else "validation"
            raise RuntimeError(
                f"Stage {net.stage} diverged in epoch {len(net.history)}: the {part} loss or "
                f"the network's outputs are not finite (loss {float(loss.detach()):.4g}). Try a lower "
                "learning rate (lr / source_lr), value_range matching the data, or gradient "
                "clipping (skorch.callbacks.GradientNormClipping in callbacks)."
            )

    def on_epoch_end(self, net, **kwargs):
        # the last optimiser step of the epoch is not followed by a loss
        tensors = [t for t in net.module_.state_dict().values() if t.is_floating_point()]
        if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            raise RuntimeError(
                f"Stage {net.stage} diverged in epoch {len(net.history)}: the network's weights "
                "are not finite. Try a lower learning rate (lr / source_lr) or gradient clipping."
            )


class StageCheckpoint(Callback):
    """Best weights and resume state of one stage, written atomically and verified on read.

    Parameters
    ----------
    dirname : str
        Folder of the stage's files.
    monitor : str or None
        History key (``"valid_loss"``, ``"valid_score"``) whose ``*_best``
        flag saves ``params.pt``; at the end of training the best weights are
        loaded back. None keeps the last epoch's weights.
    resumable : bool
        Also write ``resume.pt`` after every epoch: weights, optimizer,
        learning-rate schedule, early-stopping counters, history and random
        number generator states, enough to continue bit for bit.
    """

    def __init__(self, dirname, monitor=None, resumable=False):
        self.dirname = dirname
        self.monitor = monitor
        self.resumable = resumable

    def _path(self, name):
        return os.path.join(self.dirname, name)

    def on_train_begin(self, net, **kwargs):
        os.makedirs(self.dirname, exist_ok=True)
        state = getattr(net, "resume_state_", None)
        if state is not None:
            # after the schedule and early stopping set themselves up (they come first)
            _restore_callbacks(net, state)
            _restore_rng(net, state)

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            point = f"stage{net.stage}:epoch{len(net.history)}"
            fault_point(f"{point}:batch{len(net.history[-1]['batches'])}")

    def on_epoch_end(self, net, **kwargs):
        point = f"stage{net.stage}:epoch{len(net.history)}"
        fault_point(f"{point}:saving")
        if self.monitor is not None and net.history[-1].get(f"{self.monitor}_best"):
            save_torch_file(net.module_.state_dict(), self._path(BEST_FILE))
        fault_point(f"{point}:best")
        if self.resumable:
            save_torch_file(resume_state(net), self._path(RESUME_FILE))
        fault_point(point)

    def on_train_end(self, net, **kwargs):
        if self.monitor is None:
            return
        if not any(row.get(f"{self.monitor}_best") for row in net.history):
            raise RuntimeError(
                f"No epoch of stage {net.stage} reached a finite {self.monitor}, so there is no "
                "best checkpoint to restore: training diverged. Try a lower learning rate."
            )
        net.module_.load_state_dict(load_torch_file(self._path(BEST_FILE)))


class HistoryRecorder(Callback):
    """Write each training stage's history to a folder, for learning curves.

    A skorch callback for :class:`~skbreastcad.models.TwoStageTransferClassifier`
    (``callbacks=[HistoryRecorder(folder, label)]``). The estimators fitted
    inside a cross-validation are thrown away after scoring; this keeps their
    training histories, one JSON file per fit and stage, also from worker
    processes that share the folder.

    Parameters
    ----------
    folder : str or path-like
        Folder the JSON files are written to; created when missing.
    label : str
        The candidate the histories belong to.

    Examples
    --------
    >>> import json
    >>> import tempfile
    >>> from pathlib import Path
    >>> from types import SimpleNamespace
    >>> from skbreastcad.models import HistoryRecorder
    >>> net = SimpleNamespace(stage=2, history=[{"epoch": 1, "train_loss": 0.7, "valid_loss": 0.6}])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     HistoryRecorder(folder, "tiny_cnn / none").on_train_end(net)
    ...     record = json.loads(next(Path(folder).glob("*.json")).read_text())
    >>> record["candidate"], record["stage"], record["history"][0]["train_loss"]
    ('tiny_cnn / none', 2, 0.7)
    """

    def __init__(self, folder, label):
        self.folder = folder
        self.label = label

    def on_train_end(self, net, **kwargs):
        """Write ``net.history`` (epochs, losses) as JSON.

        Parameters
        ----------
        net : skorch.NeuralNet
            The network whose training ended; its ``stage`` attribute (2 when
            missing) tells the training stage.
        **kwargs : dict
            Other arguments skorch passes to callbacks; unused.
        """
        rows = [
            {
                "epoch": h.get("epoch"),
                "train_loss": h.get("train_loss"),
                "valid_loss": h.get("valid_loss"),
            }
            for h in net.history
        ]
        record = {
            "candidate": self.label,
            "stage": int(getattr(net, "stage", 2)),
            # numpy or torch scalars a user's callback put in the history are not JSON
            "history": plain(rows),
        }
        folder = Path(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = folder / f"{uuid.uuid4().hex}.json"
        tmp = name.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, name)


def _named(net):
    return dict(net.callbacks_)


def resume_state(net):
    """Everything an interrupted stage needs to continue as if never stopped."""
    callbacks = _named(net)
    schedule = callbacks.get("lr_schedule")
    stopping = callbacks.get("early_stopping")
    generator = getattr(net, "generator", None)
    return {
        "format": _RESUME_FORMAT,
        "stage": net.stage,
        "epoch": len(net.history),
        "module": net.module_.state_dict(),
        "optimizer": net.optimizer_.state_dict(),
        "lr_schedule": None if schedule is None else schedule.lr_scheduler_.state_dict(),
        "early_stopping": None
        if stopping is None
        else {
            k: plain(getattr(stopping, k)) for k in ("misses_", "dynamic_threshold_", "best_epoch_")
        },
        "history": plain(list(net.history)),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": None if generator is None else generator.get_state(),
        # CPU kernels split their sums by thread: another count changes the last bits
        "threads": torch.get_num_threads(),
    }


def read_resume_state(dirname, stage):
    """The resume state saved in ``dirname``, or None when there is none.

    Raises
    ------
    ValueError
        If the file is damaged or is not a resume state of ``stage``.
    """
    path = os.path.join(dirname, RESUME_FILE)
    if not os.path.exists(path):
        return None
    state = load_torch_file(path, what="resume file")
    if (
        not isinstance(state, dict)
        or state.get("format") != _RESUME_FORMAT
        or state.get("stage") != stage
    ):
        raise ValueError(
            f"The resume file {path!r} is not a stage-{stage} resume state of this version."
        )
    return state


def apply_resume_state(net, state):
    """Load weights, optimizer and history into an initialised net (the rest at train begin)."""
    with optional_import("TwoStageTransferClassifier"):
        from skorch.history import History

    threads = state.get("threads")
    if threads is not None and threads != torch.get_num_threads():
        import warnings

        warnings.warn(
            f"Stage {net.stage} resumes with {torch.get_num_threads()} torch CPU threads; the "
            f"interrupted fit used {threads}. It continues correctly, but its weights will not "
            "equal an uninterrupted fit's bit for bit (torch.set_num_threads to match).",
            UserWarning,
            stacklevel=2,
        )
    net.module_.load_state_dict(state["module"])
    net.optimizer_.load_state_dict(state["optimizer"])
    net.history = History(state["history"])
    net.resume_state_ = state


def _restore_callbacks(net, state):
    callbacks = _named(net)
    if state["lr_schedule"] is not None and "lr_schedule" in callbacks:
        callbacks["lr_schedule"].lr_scheduler_.load_state_dict(state["lr_schedule"])
    if state["early_stopping"] is not None and "early_stopping" in callbacks:
        for key, value in state["early_stopping"].items():
            setattr(callbacks["early_stopping"], key, value)


def _restore_rng(net, state):
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state["generator"] is not None and getattr(net, "generator", None) is not None:
        net.generator.set_state(state["generator"])


def is_early_stop(exc):
    """Whether a KeyboardInterrupt is skorch's ``EarlyStopping`` ending training, not Ctrl-C.

    skorch stops a training loop by raising KeyboardInterrupt from
    ``EarlyStopping.on_epoch_end`` (also when a user passes their own).
    """
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code is EarlyStopping.on_epoch_end.__code__


def default_callbacks(
    *,
    scoring,
    has_valid,
    max_epochs,
    lr_schedule,
    early_stopping,
    checkpoint_dir,
    progress,
    resumable=False,
):
    """Finiteness guard, scoring, LR schedule, early stopping, checkpointing and progress.

    Returns
    -------
    callbacks : list of (name, callback)
    monitor : str or None
        History key of the validation metric ("valid_loss" or "valid_score").
    """
    callbacks = [("stop_on_non_finite", StopOnNonFinite())]
    monitor = None
    lower_is_better = True
    if has_valid:
        if scoring == "loss":
            monitor = "valid_loss"
        else:
            monitor = "valid_score"
            lower_is_better = False
            callbacks.append(
                (
                    "valid_score",
                    EpochScoring(
                        scoring, lower_is_better=False, on_train=False, name="valid_score"
                    ),
                )
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
                EarlyStopping(
                    monitor=monitor,
                    patience=early_stopping,
                    lower_is_better=lower_is_better,
                    sink=noop,
                ),
            )
        )
    # after the schedule and early stopping: it saves their state once they have stepped
    callbacks.append(
        ("checkpoint", StageCheckpoint(checkpoint_dir, monitor=monitor, resumable=resumable))
    )
    if progress:
        callbacks.append(("progress", ProgressBar()))
    return callbacks, monitor
