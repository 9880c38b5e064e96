"""What every sub-command shares: its errors, notes, interruption, output folder and parser pieces.

Nothing here imports more than the standard library at module level, so that
``skbreastcad --help`` builds its parsers in a fraction of a second.
"""

import argparse
import importlib.util
import os
import re
import signal
import socket
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

# Exit codes of a sub-command: a user mistake, Ctrl-C and SIGTERM (128 + the signal, as
# shells report them)
USAGE_ERROR = 2
INTERRUPTED = 130
TERMINATED = 128 + signal.SIGTERM


class UsageError(Exception):
    """A user mistake found before any long work: one line on stderr, exit code 2."""


def first_line(exc):
    """The first line of an exception's message, or its repr when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


@contextmanager
def checking():
    """Turn the library's input errors into one-line usage errors."""
    try:
        yield
    except (ValueError, FileNotFoundError, NotADirectoryError, ImportError, KeyError) as exc:
        raise UsageError(first_line(exc)) from exc


def check_output(final, overwrite, protect=(), *, kind="run"):
    """Refuse an output the command may not write (one line, exit 2), before any work.

    See :func:`skbreastcad.utils.write_folder`: only a folder of this ``kind``
    that skbreastcad wrote is replaced, and only with ``--overwrite``; a
    folder of the user's, a file, the working directory, its parents and the
    input data (``protect``) are refused.
    """
    # imported here: skbreastcad.utils pulls in numpy, and --help stays fast
    from ..utils._output_folder import UnsafeOutputError, check_output_folder

    try:
        check_output_folder(final, kind=kind, overwrite=overwrite, protect=protect)
    except UnsafeOutputError as exc:
        raise UsageError(str(exc)) from exc


@contextmanager
def output_folder(final, overwrite, protect=(), *, kind="run"):
    """Write a run into a hidden partial folder, renamed to ``final`` when complete.

    Through :func:`skbreastcad.utils.write_folder`, after :func:`check_output`;
    an interrupted or failed run leaves nothing behind, and the folders and
    files get the modes the user's umask gives.
    """
    from ..utils._output_folder import write_folder

    check_output(final, overwrite, protect, kind=kind)
    entered = False
    try:
        with write_folder(final, kind=kind, overwrite=overwrite, protect=protect) as out:
            entered = True
            yield out
    except OSError as exc:
        if entered:  # the run's own error, not the output's
            raise
        raise UsageError(f"cannot write the output folder {final}: {exc.strerror or exc}") from exc


def data_paths(*specs):
    """The folders or files ``--data``-style specs read (``mias:DIR``...), for the output checks."""
    paths = []
    for spec in specs:
        kind, _, path = (spec or "").partition(":")
        if kind in ("mias", "cbis", "folder") and path:
            paths.append(path)
    return paths


def write_csv(frame, path, **kwargs):
    """Write a DataFrame through a temporary file, so a reader never sees half a table."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, **kwargs)
    os.replace(tmp, path)


def note(text):
    """Print a ``note:`` on stderr, above any progress bar; further lines are indented under it."""
    first, *rest = str(text).strip().splitlines() or [""]
    body = "\n".join([f"note: {first}", *(f"  {line.strip()}" for line in rest)])
    # what stdout still buffers goes first: into one log file, a note never splits its line
    sys.stdout.flush()
    if "tqdm" in sys.modules:
        from tqdm.auto import tqdm

        tqdm.write(body, file=sys.stderr)
    else:
        print(body, file=sys.stderr, flush=True)


@contextmanager
def warnings_as_notes():
    """Show the library's warnings as the command's ``note:`` lines, whole.

    Python's own format quotes the source line the warning points at, which
    for a command is ``sys.exit(main())``. The filters are left as they are:
    ``-W error`` still turns a warning into an error.
    """
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *args, **kwargs: note(message)
        yield


class _Terminated:
    """A SIGTERM handler that stops the command as Ctrl-C does, and remembers it did."""

    def __init__(self):
        self.received = False

    def __call__(self, signum, frame):
        self.received = True
        # the same path as Ctrl-C: every writer removes its partial folder on the way out
        raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt():
    handler = _Terminated()
    if threading.current_thread() is not threading.main_thread():
        yield handler  # only the main thread may set a signal handler
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield handler
    finally:
        # None: a handler set outside Python, which cannot be put back; the default is
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def run_command(command, execute, args):
    """Run ``execute(args)`` as ``skbreastcad <command>``: the one place errors and signals end.

    Returns the exit code: ``execute``'s own, 2 after a :class:`UsageError`,
    130 after Ctrl-C and 143 after SIGTERM (a batch scheduler's stop, ``kill``),
    each then told in one line on stderr. An interrupted or terminated run
    leaves no partial output.
    """
    prog = f"skbreastcad {command}"
    with _sigterm_as_interrupt() as terminated:
        try:
            with warnings_as_notes():
                return execute(args)
        except UsageError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return USAGE_ERROR
        except KeyboardInterrupt:
            if terminated.received:
                print(f"{prog}: terminated; no partial output was kept", file=sys.stderr)
                return TERMINATED
            print(f"{prog}: interrupted; no partial output was kept", file=sys.stderr)
            return INTERRUPTED


# -- parser pieces ---------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line on stderr and exit code 2.

    argparse prints the whole usage first; a command's other mistakes are one
    line, and so are these (``--help`` shows the usage).
    """

    def error(self, message):
        text = " ".join(str(message).split())
        self.exit(USAGE_ERROR, f"{self.prog}: error: {text} (see '{self.prog} --help')\n")


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def int_at_least(low):
    """An argparse ``type`` accepting integers of at least ``low``."""

    def parse(text):
        value = _integer(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {low}")
        return value

    parse.__name__ = f"int >= {low}"
    return parse


def int_between(low, high):
    """An argparse ``type`` accepting integers from ``low`` to ``high``."""

    def parse(text):
        value = int_at_least(low)(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"{value} is above the maximum {high}")
        return value

    parse.__name__ = f"int in [{low}, {high}]"
    return parse


#: the largest network input side, as skbreastcad.nn refuses larger ones (checked by a test)
MAX_INPUT_SIZE = 8192
#: NumPy seeds run to 2**32 - 1, and ``run`` seeds its --source data with seed + 1
MAX_SEED = 2**32 - 2


def n_jobs(text):
    """An argparse ``type`` for joblib's ``n_jobs``: a non-zero integer (-1: every core)."""
    value = _integer(text)
    if value == 0:
        raise argparse.ArgumentTypeError(
            "0 jobs would run nothing: give N >= 1, or -1 for every core (-2 all but one...)"
        )
    return value


_DEVICE = re.compile(r"^(auto|cpu|(cuda|mps)(:\d+)?)$")


def device(text):
    """An argparse ``type`` accepting a torch device string: auto, cpu, cuda, cuda:N or mps."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device: use auto, cpu, cuda, cuda:N or mps"
        )
    return text


def check_device(name):
    """Refuse a GPU device this machine lacks (one line, exit 2), before any work.

    Without torch (the ``deep`` extra missing) only the form is checked, by
    the parser: a command that needs torch says what to install.
    """
    kind, _, index = name.partition(":")
    if kind not in ("cuda", "mps") or importlib.util.find_spec("torch") is None:
        return
    import torch

    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    else:
        count = int(torch.backends.mps.is_available())
    if count == 0:
        raise UsageError(f"--device {name}: this machine has no {kind.upper()} device (use cpu)")
    if index and int(index) >= count:
        raise UsageError(
            f"--device {name}: this machine has {count} {kind.upper()} device(s), numbered from 0"
        )


_DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
DASK_PORT = 8786  # a Dask scheduler's default port
DASK_TIMEOUT = 10.0  # seconds to wait for a scheduler to answer


def _dask_host(text):
    """``(scheme, host, port)`` of a scheduler address; ValueError if it is not one."""
    scheme, sep, rest = text.rpartition("://")
    scheme = scheme if sep else "tcp"
    if scheme not in _DASK_SCHEMES:
        raise ValueError(f"unknown protocol {scheme!r}: use {', '.join(_DASK_SCHEMES)}")
    parts = urlsplit(f"//{rest}")
    if not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError("not HOST:PORT")
    return scheme, parts.hostname, parts.port or DASK_PORT  # .port raises on a bad port


def dask_address(text):
    """An argparse ``type`` for ``--dask``: ``local:N`` (N >= 1 workers) or a scheduler address."""
    if text.startswith("local:"):
        try:
            int_at_least(1)(text[len("local:") :])
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{text!r}: local:N needs N >= 1 workers") from None
        return text
    try:
        _dask_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Dask scheduler address such as tcp://HOST:8786 or local:N ({exc})"
        ) from None
    return text


def check_dask(address, timeout=None):
    """Refuse a ``--dask`` cluster that cannot run, before any data is read.

    dask.distributed must be installed; a scheduler address must answer a
    connection within ``timeout`` seconds (:data:`DASK_TIMEOUT`).
    """
    if not address:
        return
    if importlib.util.find_spec("distributed") is None:
        raise UsageError("--dask needs dask.distributed: pip install 'skbreastcad[dask]'")
    if address.startswith("local:"):
        return
    scheme, host, port = _dask_host(address)
    if scheme in ("ucx", "inproc"):
        return  # not reachable by a TCP connection: the client itself will tell
    timeout = DASK_TIMEOUT if timeout is None else timeout
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except TimeoutError:
        raise UsageError(
            f"--dask {address}: no Dask scheduler answered at {host}:{port} within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--dask {address}: no Dask scheduler answers at {host}:{port} ({exc.strerror or exc})"
        ) from None


def threshold_policy(text):
    """An argparse ``type`` for a threshold policy: youden, default, sensitivity=S, specificity=S."""
    if text in ("youden", "default"):
        return text
    kind, sep, level = text.partition("=")
    if sep and kind in ("sensitivity", "specificity"):
        try:
            value = float(level)
        except ValueError:
            value = float("nan")
        if 0 < value < 1:
            return text
        raise argparse.ArgumentTypeError(f"the {kind} of {text!r} must lie in (0, 1)")
    raise argparse.ArgumentTypeError(
        f"unknown threshold policy {text!r}: use youden, sensitivity=S, specificity=S "
        "(0 < S < 1) or default"
    )


def fraction(text):
    """An argparse ``type`` accepting a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1]")
    return value


def add_seed(parser, what="the folds, the sampling and the bootstrap"):
    parser.add_argument(
        "--seed",
        type=int_between(0, MAX_SEED),
        default=0,
        help=f"random seed of {what}, for repeatable runs (0)",
    )


def add_verbose(parser):
    parser.add_argument(
        "--verbose",
        type=int_at_least(0),
        default=0,
        help="0 quiet, 1 or more: the library's progress (0)",
    )


def add_device(parser, help="torch device: auto, cpu, cuda, cuda:1... (auto)"):
    parser.add_argument("--device", type=device, default="auto", help=help)


def add_overwrite(parser):
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an output folder that skbreastcad wrote before, marked by its "
        ".skbreastcad-folder.json (refused otherwise); any other folder or file, '.', its "
        "parents and the input data are never replaced",
    )
