"""Fault injection: kill the process at a named point, to test what survives a SIGKILL.

Set ``SKBREASTCAD_FAULT_AFTER`` to one or more point names (comma-separated),
e.g. ``stage2:epoch3`` or ``stage1:epoch1:batch2``, and the process kills
itself with SIGKILL (no clean-up handler, no ``finally``, as the OOM killer or a
batch scheduler would) the first time it passes one of them. The points a
fit passes, in order, for each stage ``s`` and epoch ``e``:

- ``stage{s}:epoch{e}:batch{b}``: after training batch ``b`` (1-based);
- ``stage{s}:epoch{e}:saving``: the epoch is over, its checkpoints not written yet;
- ``stage{s}:epoch{e}:best``: its best-weights file written (when it is the best),
  its resume file not yet;
- ``stage{s}:epoch{e}``: both written;
- ``stage1:trained``: stage 1's training ended, its result not saved yet;
- ``stage1:saved``: stage 1's result saved, stage 2 not started.

and, for every output folder (:func:`~skbreastcad.utils.write_folder`),
``output:written``: the folder's content written into its partial folder, not
yet renamed into place.

``SKBREASTCAD_FAULT_SIGNAL`` names another signal to send instead (``TERM``,
``INT``): what a batch scheduler's stop or a Ctrl-C would do at that point.

Tests read the point names from here, never from wall time, so that a kill
lands at the same place on a fast and on a slow machine.

In a data-parallel fit every process (rank) passes the same points; set
``SKBREASTCAD_FAULT_RANK`` to a rank (the ``RANK`` variable ``torchrun`` and
``accelerate launch`` set) to kill that process only.
"""

import os
import signal

__all__ = ["FAULT_RANK_VARIABLE", "FAULT_VARIABLE", "SIGNAL_VARIABLE", "fault_point"]

FAULT_VARIABLE = "SKBREASTCAD_FAULT_AFTER"
FAULT_RANK_VARIABLE = "SKBREASTCAD_FAULT_RANK"
SIGNAL_VARIABLE = "SKBREASTCAD_FAULT_SIGNAL"


def fault_point(name):
    """Kill this process with SIGKILL if ``SKBREASTCAD_FAULT_AFTER`` names ``name``.

    With ``SKBREASTCAD_FAULT_SIGNAL`` set (``TERM``, ``INT``...), that signal
    is sent instead, and its Python handler runs before this returns.

    Parameters
    ----------
    name : str
        The point reached, e.g. ``"stage2:epoch3"``.
    """
    wanted = os.environ.get(FAULT_VARIABLE)
    if not wanted or name not in (w.strip() for w in wanted.split(",")):
        return
    rank = os.environ.get(FAULT_RANK_VARIABLE)
    if rank and rank.strip() != os.environ.get("RANK", "0"):
        return
    chosen = os.environ.get(SIGNAL_VARIABLE, "").strip().upper()
    if chosen:
        # its Python handler runs at the next bytecode, here
        signal.raise_signal(getattr(signal, f"SIG{chosen.removeprefix('SIG')}"))
        return
    if os.name == "nt":  # pragma: no cover - no SIGKILL on Windows
        os._exit(137)
    os.kill(os.getpid(), signal.SIGKILL)
