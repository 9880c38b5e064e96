"""Data-parallel training of :class:`TwoStageTransferClassifier` through Hugging Face Accelerate.

A fit started by ``torchrun`` / ``accelerate launch`` runs once per process
(*rank*); with ``accelerator="auto"`` (or an ``accelerate.Accelerator``) the
ranks train one model together. The layer is skorch's ``AccelerateMixin``
(which wraps the network in ``DistributedDataParallel``) plus what keeps the
single-process semantics of a stage:

- *Global batches.* Every rank holds the images (on its device) and draws the
  same shuffled batch of ``batch_size`` images from the shared seed; it
  augments the whole batch with the shared generator and trains on its own
  contiguous slice. The loss of each slice is divided by the (class-weighted)
  size of the *global* batch, so the averaged gradients are those of the
  global batch's loss, class weights included; BatchNorm layers in training
  mode normalise with the global batch's statistics (:class:`_SyncBatchNorm`).
  A data-parallel fit thus follows the single-process fit over the same
  batches, to floating-point rounding.
- *Random states per rank.* The shuffling and augmentation generator is
  shared; torch's global generator (dropout, stochastic depth) is seeded per
  rank: rank 0 with the stage's seed, rank ``r`` with
  ``SeedSequence([seed, r])``, so a run is reproducible for a given number of
  processes, and one process equals the plain fit.
- *One writer.* Only the main process (rank 0) owns the fit folder and
  writes checkpoints, resume states and the stage-1 cache; the others follow
  its decisions (resume or not, stage 1 cached or not) by broadcast. The
  resume state holds every rank's random state, so a fit killed on any rank
  resumes on all of them.
"""

import os

import numpy as np

from ..nn._parallel import launched_world_size
from ..utils._faults import fault_point
from ..utils._optional import optional_import
from ._callbacks import (
    HistoryRecorder,
    StageCheckpoint,
    _restore_callbacks,
    apply_resume_state,
    resume_state,
)
from ._data import BatchIterator

with optional_import("Data-parallel training (TwoStageTransferClassifier(accelerator=...))"):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from skorch.callbacks import ProgressBar
    from skorch.dataset import unpack_data
    from skorch.hf import AccelerateMixin
    from skorch.utils import noop
    from torch import nn

from ._net import _TransferNet

__all__ = ["DataParallel", "ShardedBatchIterator", "data_parallel"]


def data_parallel(accelerator, device):
    """The :class:`DataParallel` context of a fit, or None for the plain single-process path.

    Parameters
    ----------
    accelerator : None, "auto" or accelerate.Accelerator
        None: the plain path. ``"auto"``: an ``Accelerator`` when the process
        was started by a launcher of more than one process (``torchrun``,
        ``accelerate launch``), else the plain path. An ``Accelerator``: used
        as given (also with one process).
    device : torch.device
        The estimator's resolved device: ``"auto"`` trains on the CPUs
        (gloo) when it is the CPU, on the launch's GPUs otherwise.

    Returns
    -------
    parallel : DataParallel or None

    Raises
    ------
    ValueError
        If the launch has several processes but the accelerator sees one:
        every process would train alone and write its own fit folder.
    """
    if accelerator is None:
        return None
    launched = launched_world_size()
    if isinstance(accelerator, str):
        if launched <= 1:
            return None
        with optional_import("TwoStageTransferClassifier(accelerator='auto')"):
            from accelerate import Accelerator
        # without cpu=True Accelerate takes a CPU-only launch for a single process
        accelerator = Accelerator(cpu=device.type == "cpu")
    parallel = DataParallel(accelerator)
    if parallel.world_size != launched:
        raise ValueError(
            f"accelerator={accelerator!r} trains with {parallel.world_size} process(es), but "
            f"this process was launched as one of {launched}: each would train alone. Create "
            "the Accelerator inside the launched script (Accelerator(cpu=True) on CPUs only), "
            "or use accelerator='auto'."
        )
    return parallel


class DataParallel:
    """What one rank of a data-parallel fit knows and does besides training.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
    """

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.rank = int(accelerator.process_index)
        self.world_size = int(accelerator.num_processes)
        self.is_main = bool(accelerator.is_main_process)
        self.device = torch.device(accelerator.device)

    # -- agreement between ranks ---------------------------------------------------
    def broadcast(self, obj):
        """The main process's ``obj`` on every rank (picklable objects)."""
        if self.world_size == 1:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj):
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_reduce(self, tensor):
        """The sum of ``tensor`` over the ranks (a new tensor)."""
        if self.world_size == 1:
            return tensor
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    def sync_module(self, module):
        """Copy the main process's weights and buffers into ``module`` on every rank."""
        if self.world_size == 1:
            return
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)

    def rank_seed(self, seed):
        """Torch's global seed on this rank: ``seed`` on rank 0, derived from it elsewhere."""
        if self.rank == 0:
            return seed
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0] >> 1)

    def fingerprint(self, fingerprint):
        """A fit's fingerprint for this number of processes (their random states differ)."""
        if fingerprint is None or self.world_size == 1:
            return fingerprint
        from ..utils._hashing import settings_fingerprint

        return settings_fingerprint((fingerprint, "data-parallel", self.world_size))

    # -- the fit folder and stage 1 ---------------------------------------------------
    def fit_folder(self, folder):
        """``folder`` (a :class:`~skbreastcad.models._run_dir.FitFolder`) shared by the ranks."""
        return _SharedFitFolder(folder, self)

    def fit_stage1(self, settings, X_source, y_source, n_classes, plan, **kwargs):
        """Stage 1 on every rank: the main process decides (resumed, cached or trained).

        The main process runs :func:`~skbreastcad.models._stage1.fit_stage1`
        (its resume file and ``memory`` cache); when that trains, it first tells
        the other ranks, which train with it; at the end it sends them the result.
        """
        from ._net import train_stage
        from ._stage1 import fit_stage1

        tag = None if self.world_size == 1 else ("data-parallel", self.world_size)
        if self.is_main:

            def train_together(*args, **train_kwargs):
                self.broadcast("train")
                return train_stage(*args, parallel=self, **train_kwargs)

            result = fit_stage1(
                settings,
                X_source,
                y_source,
                n_classes,
                plan,
                train_stage=train_together,
                cache_tag=tag,
                **kwargs,
            )
            return self.broadcast(("done", result))[1]
        while True:
            message = self.broadcast(None)
            if message != "train":
                return message[1]
            # the same network and call as fit_stage1's own training
            model = kwargs["build_model"](
                settings.backbone, settings.weights, plan["seed"], num_classes=n_classes
            )
            model.freeze(settings.freeze_depth)
            train_stage(
                settings,
                model,
                X_source,
                y_source,
                plan,
                device=kwargs["device"],
                augmenter=kwargs["augmenter"],
                workdir=os.path.join(kwargs["workdir"], "stage1"),
                # what the main process does, collectives included; it alone writes
                resumable=kwargs["resumable"],
                parallel=self,
            )

    # -- one training stage -----------------------------------------------------------
    def make_net(self, net_kwargs):
        """The accelerated skorch net of a stage, from the plain net's arguments."""
        kwargs = dict(net_kwargs)
        kwargs["module"] = _sync_batchnorm(kwargs["module"], self.world_size)
        kwargs["iterator_train"] = ShardedBatchIterator
        kwargs["iterator_train__rank"] = self.rank
        kwargs["iterator_train__world_size"] = self.world_size
        kwargs["callbacks"] = self._callbacks(kwargs["callbacks"])
        kwargs["device"] = None  # placed by the accelerator
        # skorch prints to any sink but print regardless of verbose: one printer, when asked
        kwargs["callbacks__print_log__sink"] = self.accelerator.print if kwargs["verbose"] else noop
        net = _AcceleratedTransferNet(accelerator=self.accelerator, **kwargs)
        net.parallel = self
        return net

    def _callbacks(self, callbacks):
        out = []
        for name, cb in callbacks:
            if isinstance(cb, StageCheckpoint):
                cb = _SharedStageCheckpoint(cb.dirname, cb.monitor, cb.resumable, parallel=self)
            elif not self.is_main and isinstance(cb, (ProgressBar, HistoryRecorder)):
                continue  # one progress bar, one history file
            out.append((name, cb))
        return out

    def read_resume_state(self, workdir, stage):
        """The main process's resume state (or None) on every rank."""
        from ._net import _resume_state

        return self.broadcast(_resume_state(workdir, stage) if self.is_main else None)

    def apply_resume_state(self, net, state):
        """:func:`~skbreastcad.models._callbacks.apply_resume_state` on the unwrapped network."""
        wrapped = net.module_
        net.module_ = self.accelerator.unwrap_model(wrapped)
        try:
            apply_resume_state(net, state)
        finally:
            net.module_ = wrapped

    def finish(self, model):
        """The trained network as a plain single-process module."""
        return _plain_batchnorm(model)


class _SharedFitFolder:
    """A :class:`FitFolder` the main process owns and the other ranks follow.

    The main process claims or creates the folder and writes its manifest;
    the others receive its resumed seeds and path. A lost peer (a rank killed,
    the collective broken) leaves a kept folder resumable, as Ctrl-C does.
    """

    def __init__(self, folder, parallel):
        self.folder = folder
        self.parallel = parallel
        self._path = None
        self._complete = False

    @property
    def kept(self):
        return self.folder.kept

    @property
    def kept_path(self):
        if self.parallel.is_main:
            return self.folder.kept_path
        return self._path if self.kept and self._complete else None

    def __enter__(self):
        seeds = None
        if self.parallel.is_main:
            self.folder.__enter__()
            seeds = self.folder.resumed_seeds
        self.resumed_seeds = self.parallel.broadcast(seeds)
        return self

    def start(self, seeds):
        path = self.folder.start(seeds) if self.parallel.is_main else None
        self._path = self.parallel.broadcast(path)
        return self._path

    def __exit__(self, exc_type, exc, tb):
        self._complete = exc_type is None
        if not self.parallel.is_main:
            return False
        if exc_type is not None and _lost_peer(exc):
            exc_type = KeyboardInterrupt  # resumable, not "failed"
        return self.folder.__exit__(exc_type, exc, tb)


def _lost_peer(exc):
    """Whether ``exc`` is a broken collective (another rank died), not a fault of this fit."""
    errors = tuple(
        getattr(dist, name) for name in ("DistError", "DistNetworkError") if hasattr(dist, name)
    )
    if isinstance(exc, errors):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        word in text for word in ("connection closed by peer", "connection reset", "gloo")
    )


class ShardedBatchIterator(BatchIterator):
    """This rank's contiguous slice of every global batch of a :class:`BatchIterator`.

    Every rank draws the same global batches (same generator seed) and
    augments them whole, so the union of the slices is the single-process
    batch; a global batch of ``b`` images gives rank ``r`` the rows
    ``[b * r // world_size, b * (r + 1) // world_size)``.

    Parameters
    ----------
    dataset, batch_size, shuffle, augment, generator
        As :class:`BatchIterator`.
    rank : int, default=0
    world_size : int, default=1
    """

    def __init__(
        self, dataset, batch_size, shuffle=False, augment=None, generator=None, rank=0, world_size=1
    ):
        super().__init__(dataset, batch_size, shuffle, augment, generator)
        self.rank = rank
        self.world_size = world_size

    def __iter__(self):
        for xb, yb in super().__iter__():
            n = len(yb)
            start, stop = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
            yield xb[start:stop], yb[start:stop]


class _AcceleratedTransferNet(AccelerateMixin, _TransferNet):
    """The stage's net under Accelerate: global-batch loss, unsharded validation."""

    parallel = None

    def _initialize_accelerator(self):
        # the loss has no parameters (its class weights are a buffer, already on the
        # device): Accelerate would wrap it in DistributedDataParallel, which refuses that
        criteria, self._criteria = self._criteria, []
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = criteria

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        with self.accelerator.autocast():
            y_pred = self.infer(Xi, **fit_params)
            criterion = self.accelerator.unwrap_model(self.criterion_)
            weight = getattr(criterion, "weight", None)
            y_pred32 = y_pred.float()
            loss_sum = F.cross_entropy(y_pred32, yi, weight=weight, reduction="sum")
            local = weight[yi].sum() if weight is not None else y_pred32.new_tensor(len(yi))
            totals = self.parallel.all_reduce(
                torch.stack([loss_sum.detach(), local.detach(), y_pred32.new_tensor(len(yi))])
            )
            # DistributedDataParallel averages the ranks' gradients: each rank's
            # share of the global batch's (weighted) mean loss, times the ranks
            loss = loss_sum * (self.parallel.world_size / totals[1])
            self.accelerator.backward(loss)
        self._global_batch_size = int(totals[2])
        return {"loss": totals[0] / totals[1], "y_pred": y_pred}

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            # the epoch's loss averages the batches by their (global) sizes
            self.history.record_batch("train_batch_size", self._global_batch_size)
        return super().on_batch_end(net, batch=batch, training=training, **kwargs)

    def evaluation_step(self, batch, training=False):
        # every rank evaluates the whole (unsharded) validation set: nothing to gather
        return _TransferNet.evaluation_step(self, batch, training=training)


class _SharedStageCheckpoint(StageCheckpoint):
    """:class:`StageCheckpoint` written by the main process, with every rank's random state."""

    def __init__(self, dirname, monitor=None, resumable=False, *, parallel):
        super().__init__(dirname, monitor, resumable)
        self.parallel = parallel

    def on_train_begin(self, net, **kwargs):
        if self.parallel.is_main:
            os.makedirs(self.dirname, exist_ok=True)
        state = getattr(net, "resume_state_", None)
        if state is not None:
            _restore_callbacks(net, state)
            _restore_rank_rng(net, state, self.parallel)

    def on_epoch_end(self, net, **kwargs):
        from ..nn._weights import save_torch_file
        from ._callbacks import BEST_FILE, RESUME_FILE

        point = f"stage{net.stage}:epoch{len(net.history)}"
        fault_point(f"{point}:saving")
        module = self.parallel.accelerator.unwrap_model(net.module_)
        main = self.parallel.is_main
        if self.monitor is not None and net.history[-1].get(f"{self.monitor}_best") and main:
            save_torch_file(module.state_dict(), self._path(BEST_FILE))
        fault_point(f"{point}:best")
        if self.resumable:
            rngs = self.parallel.gather(_rank_rng(net))
            if main:
                state = resume_state(net)
                state["module"] = module.state_dict()
                state["ranks"] = rngs
                save_torch_file(state, self._path(RESUME_FILE))
        fault_point(point)

    def on_train_end(self, net, **kwargs):
        from ..nn._weights import load_torch_file
        from ._callbacks import BEST_FILE

        if self.monitor is None:
            return
        if not any(row.get(f"{self.monitor}_best") for row in net.history):
            raise RuntimeError(
                f"No epoch of stage {net.stage} reached a finite {self.monitor}, so there is no "
                "best checkpoint to restore: training diverged. Try a lower learning rate."
            )
        module = self.parallel.accelerator.unwrap_model(net.module_)
        if self.parallel.is_main:
            module.load_state_dict(load_torch_file(self._path(BEST_FILE)))
        self.parallel.sync_module(module)


def _rank_rng(net):
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore_rank_rng(net, state, parallel):
    ranks = state.get("ranks")
    own = ranks[parallel.rank] if ranks and len(ranks) == parallel.world_size else None
    if own is None and parallel.rank == 0:
        # a single-process fit's state: its generator is rank 0's
        own = {"torch_rng": state["torch_rng"], "cuda_rng": state["cuda_rng"]}
    if own is None:
        # no generator of this rank was saved: one derived afresh (continues, not bit for bit)
        torch.manual_seed(parallel.rank_seed(int(state["epoch"])))
    else:
        torch.set_rng_state(own["torch_rng"])
        if own["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(own["cuda_rng"])
    if state["generator"] is not None and getattr(net, "generator", None) is not None:
        net.generator.set_state(state["generator"])


# -- BatchNorm over the global batch ----------------------------------------------------------
class _SyncBatchNorm:
    """Mixed into a BatchNorm layer's class while it trains data-parallel.

    Training-mode statistics are those of the global batch (the ranks' sums,
    all-reduced, differentiably), as ``torch.nn.SyncBatchNorm`` computes them;
    unlike it, this works on the CPU (gloo) too. The layer's parameters and
    buffers stay the same objects: :func:`_plain_batchnorm` puts the original
    class back.
    """

    def forward(self, x):
        if not self.training or not (dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        count = all_reduce(x.new_tensor([x.numel() / x.shape[1]]))
        mean = all_reduce(x.sum(dims)) / count
        shape = [1, -1] + [1] * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / count
        if self.track_running_stats and self.running_mean is not None:
            factor = 0.0 if self.momentum is None else self.momentum
            if self.num_batches_tracked is not None:
                self.num_batches_tracked.add_(1)
                if self.momentum is None:
                    factor = 1.0 / float(self.num_batches_tracked)
            n = float(count)
            with torch.no_grad():
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                unbiased = var.detach() * (n / max(n - 1.0, 1.0))
                self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


class _AllReduceSum(torch.autograd.Function):
    """The sum over the ranks, whose gradient is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


_SYNC_CLASSES = {}


def _sync_batchnorm(model, world_size):
    """``model`` with its BatchNorm layers normalising over the global batch (in place)."""
    if world_size == 1:
        return model
    for module in model.modules():
        cls = type(module)
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
            module, _SyncBatchNorm
        ):
            if cls not in _SYNC_CLASSES:
                _SYNC_CLASSES[cls] = type(f"_Sync{cls.__name__}", (_SyncBatchNorm, cls), {})
            module.__class__ = _SYNC_CLASSES[cls]
    return model


def _plain_batchnorm(model):
    """Undo :func:`_sync_batchnorm` (in place)."""
    for module in model.modules():
        if isinstance(module, _SyncBatchNorm):
            module.__class__ = type(module).__mro__[2]
    return model
