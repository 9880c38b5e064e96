"""What every sub-command shares: its errors, notes, interruption, output folder and parser pieces.

Nothing here imports more than the standard library at module level, so that
``skbreastcad --help`` builds its parsers in a fraction of a second.
"""

import argparse
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

# Exit codes of a sub-command: a user mistake, and Ctrl-C (128 + SIGINT, as shells report it)
USAGE_ERROR = 2
INTERRUPTED = 130


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


def run_command(command, execute, args):
    """Run ``execute(args)`` as ``skbreastcad <command>``: the one place errors and Ctrl-C end.

    Returns the exit code: ``execute``'s own, 2 after a :class:`UsageError`
    and 130 after Ctrl-C, each then told in one line on stderr.
    """
    prog = f"skbreastcad {command}"
    try:
        with warnings_as_notes():
            return execute(args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no partial output was kept", file=sys.stderr)
        return INTERRUPTED


# -- parser pieces ---------------------------------------------------------------------------
def int_at_least(low):
    """An argparse ``type`` accepting integers of at least ``low``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {low}")
        return value

    parse.__name__ = f"int >= {low}"
    return parse


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
        "--seed", type=int, default=0, help=f"random seed of {what}, for repeatable runs (0)"
    )


def add_verbose(parser):
    parser.add_argument(
        "--verbose", type=int, default=0, help="0 quiet, 1 or more: the library's progress (0)"
    )


def add_overwrite(parser):
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an output folder that skbreastcad wrote before, marked by its "
        ".skbreastcad-folder.json (refused otherwise); any other folder or file, '.', its "
        "parents and the input data are never replaced",
    )
