"""The processes of a ``torchrun`` / ``accelerate launch``: who this one is, and in-order gathers.

Used by the deep estimators' ``accelerator`` parameter: data-parallel training
(:mod:`skbreastcad.models._distributed`) and inference sharded over the
processes (:class:`~skbreastcad.features.CNNLayerFeatures`).
"""

import os

from ..utils._optional import optional_import

__all__ = ["InferenceGroup", "inference_group", "launched_world_size"]

_WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def launched_world_size():
    """The number of processes of the launch this process belongs to (1 when not launched).

    Returns
    -------
    world_size : int
    """
    for name in _WORLD_SIZE_VARIABLES:
        value = os.environ.get(name)
        if value:
            return int(value)
    return 1


class InferenceGroup:
    """This process's share of a batched inference, and the gather of everyone's results.

    Parameters
    ----------
    rank : int
    world_size : int
    """

    def __init__(self, rank, world_size):
        self.rank = rank
        self.world_size = world_size

    def mine(self, index):
        """Whether batch ``index`` is this process's (batches are dealt round-robin)."""
        return index % self.world_size == self.rank

    def gather(self, outputs):
        """Every process's ``outputs`` (its batches' results, in order) in batch order."""
        import torch.distributed as dist

        parts = [None] * self.world_size
        dist.all_gather_object(parts, outputs)
        ordered = []
        for i in range(sum(len(p) for p in parts)):
            ordered.append(parts[i % self.world_size][i // self.world_size])
        return ordered


def inference_group(accelerator, device):
    """The :class:`InferenceGroup` of an estimator's ``accelerator``, or None to run alone.

    Parameters
    ----------
    accelerator : None, "auto" or accelerate.Accelerator
        None runs alone. ``"auto"`` shares the work when this process was
        launched as one of several (``torchrun``, ``accelerate launch``),
        initialising the process group through Accelerate if no one has. An
        ``Accelerator`` shares it among its processes.
    device : torch.device
        The estimator's device: a CPU launch connects with gloo.

    Returns
    -------
    group : InferenceGroup or None
        None with one process.
    """
    if accelerator is None:
        return None
    if isinstance(accelerator, str):
        if launched_world_size() <= 1:
            return None
        with optional_import("accelerator='auto'"):
            from accelerate import PartialState
        # without cpu=True Accelerate takes a CPU-only launch for a single process
        state = PartialState(cpu=device.type == "cpu")
        rank, world = state.process_index, state.num_processes
    else:
        rank, world = accelerator.process_index, accelerator.num_processes
    return None if int(world) <= 1 else InferenceGroup(int(rank), int(world))
