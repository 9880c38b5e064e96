"""The one writer of output folders: reports, command-line runs, detection outputs, models.

A folder is written into a hidden temporary sibling and renamed into place when
complete, so nobody ever sees a half-written folder and a failed write leaves
nothing behind. A marker file records who wrote the folder and in which format;
only a folder holding a marker of the same kind is ever replaced. Everything
else (a folder of the user's, a regular file, the working directory or one of
its parents, the input data) is refused with an error naming it.

The hidden ``.<name>.partial-*`` folder is locked by its process as the fit's
temporary folders are (:mod:`skbreastcad.utils._tempdirs`): a process killed
while writing (SIGKILL, the OOM killer) leaves it behind, and the next write
into the same parent folder removes it. The partial folders of live runs are
never touched.
"""

import json
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

from ._faults import fault_point
from ._tempdirs import LOCK_NAME, locked_mkdtemp, remove_dead_folders

__all__ = [
    "MARKER",
    "UnsafeOutputError",
    "check_output_folder",
    "folder_kind",
    "new_file",
    "remove_dead_partials",
    "set_umask_mode",
    "write_folder",
]

#: the file that marks a folder as written by skbreastcad, and in which format
MARKER = ".skbreastcad-folder.json"
_WRITER = "skbreastcad"
# the hidden sibling a folder is written into: ``.<name>.partial-<random>``
_PARTIAL = re.compile(r"^\..+\.partial-[^.]+$")
# this process's partial folders still being written, by absolute path
_LIVE = set()
_LIVE_LOCK = threading.Lock()


class UnsafeOutputError(ValueError):
    """Writing here would delete or replace something that is not ours to replace.

    A ``ValueError``, so code that turns bad input into a message (the
    command line) reports it as one.

    See Also
    --------
    write_folder : The writer that raises it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     (Path(parent) / "mine").mkdir()
    ...     _ = (Path(parent) / "mine" / "notes.txt").write_text("keep")
    ...     try:
    ...         check_output_folder(Path(parent) / "mine", kind="report", overwrite=True)
    ...     except UnsafeOutputError as error:
    ...         print("refused:", "not written by skbreastcad" in str(error))
    refused: True
    """


def folder_kind(path):
    """The kind recorded by the marker of a folder skbreastcad wrote, or None.

    Parameters
    ----------
    path : str or path-like
        A folder.

    Returns
    -------
    kind : str or None
        ``"report"``, ``"run"``... as given to :func:`write_folder`; None for a
        folder without a readable marker (or no folder at all).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     with write_folder(Path(parent) / "out", kind="example") as tmp:
    ...         _ = (tmp / "a.txt").write_text("a")
    ...     folder_kind(Path(parent) / "out"), folder_kind(parent)
    ('example', None)
    """
    try:
        marker = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("writer") != _WRITER:
        return None
    kind = marker.get("kind")
    return kind if isinstance(kind, str) else None


def _final(path):
    final = Path(path)
    if not final.name or final.name in (".", ".."):
        # "out/.." and friends name a folder by its parent: resolve it to know what it is
        final = final.resolve()
    return final


def check_output_folder(path, *, kind, overwrite=False, protect=(), owned=None):
    """Raise unless :func:`write_folder` may write ``path``: the same checks, before any work.

    Call it before a long computation whose result goes to ``path``, so a bad
    output is refused at once rather than after the work.

    Parameters
    ----------
    path : str or path-like
        The folder to write.
    kind : str
        As for :func:`write_folder`.
    overwrite : bool, default=False
        As for :func:`write_folder`.
    protect : sequence of str or path-like, default=()
        As for :func:`write_folder`.
    owned : callable or None, default=None
        As for :func:`write_folder`.

    Returns
    -------
    exists : bool
        Whether ``path`` exists (an empty folder, or one of ours to replace).

    Raises
    ------
    UnsafeOutputError
        As :func:`write_folder` does.

    Examples
    --------
    >>> check_output_folder(".", kind="run", overwrite=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    skbreastcad.utils._output_folder.UnsafeOutputError: The output folder ... is the working directory or one of its parents: ...
    """
    final = _final(path)
    if final.is_symlink():
        raise UnsafeOutputError(
            f"The output {final} is a symbolic link: choose a new folder (skbreastcad never "
            "replaces a link or what it points to)."
        )
    resolved = final.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UnsafeOutputError(
            f"The output folder {final} is the working directory or one of its parents: "
            "choose a new folder for the output."
        )
    for data in protect:
        data = Path(data).resolve()
        if resolved == data or data in resolved.parents or resolved in data.parents:
            raise UnsafeOutputError(
                f"The output folder {final} is, holds or lies inside the input data {data}: "
                "choose a folder apart from the data."
            )
    if not final.exists():
        return False
    if not final.is_dir():
        raise UnsafeOutputError(
            f"The output {final} is an existing file, not a folder: skbreastcad never replaces "
            "a file; choose a new folder."
        )
    found = folder_kind(final)
    if found is None and owned is not None and owned(final):
        found = kind  # a folder of this kind written before it carried the marker
    if found is None:
        if not any(final.iterdir()):
            return True  # an empty folder holds nothing to lose
        raise UnsafeOutputError(
            f"The folder {final} exists and was not written by skbreastcad (it holds no "
            f"{MARKER} marker): skbreastcad never deletes it, even with overwrite; choose a "
            "new folder, or move it away yourself."
        )
    if found != kind:
        raise UnsafeOutputError(
            f"The folder {final} holds a skbreastcad {found}, not a {kind}: choose a new folder."
        )
    if not overwrite:
        raise UnsafeOutputError(
            f"The folder {final} already holds a {kind}: choose a new folder, or overwrite "
            "(--overwrite on the command line) to delete and replace it."
        )
    return True


@contextmanager
def write_folder(path, *, kind, version=1, overwrite=False, protect=(), owned=None):
    """Write a folder atomically: yield a temporary folder, renamed to ``path`` when complete.

    The one writer of skbreastcad's output folders. The folder gets a marker
    file (:data:`MARKER`) recording ``kind`` and ``version``; an existing folder
    is replaced only when it holds such a marker of the same ``kind`` and
    ``overwrite`` is set. An error inside the block (an interrupt included)
    removes the temporary folder: nothing is left beside ``path``, and an
    existing folder stays as it was. The folders and files get the modes the
    user's umask gives.

    The temporary folder, ``.<name>.partial-*`` beside ``path``, is locked by
    this process while the block runs: when the process is killed (SIGKILL,
    the OOM killer), the next write into the same parent folder removes it
    (:func:`remove_dead_partials`); the partial folders of live processes are
    left alone. A ``write_folder`` of such a partial folder itself, from
    inside its block, writes straight into it.

    Parameters
    ----------
    path : str or path-like
        The folder to write; its parent folders are created.
    kind : str
        What the folder holds (``"report"``, ``"run"``, ``"detection"``,
        ``"model"``...): only a folder of this kind is ever replaced.
    version : int, default=1
        Format version of ``kind``, recorded in the marker for readers.
    overwrite : bool, default=False
        Delete and replace an existing folder of this ``kind`` that
        skbreastcad wrote. Anything else is refused even so.
    protect : sequence of str or path-like, default=()
        Paths that must survive (the input data): ``path`` may be none of
        them, hold one, nor lie inside one.
    owned : callable or None, default=None
        ``owned(path) -> bool`` recognises a folder of this ``kind`` by its
        own format (a model folder's ``config.json``) when it has no marker.

    Yields
    ------
    folder : pathlib.Path
        The temporary folder to write into; it becomes ``path`` at the end of
        the block.

    Raises
    ------
    UnsafeOutputError
        A ``ValueError`` naming the path when ``path`` is a regular file, a
        link, the working directory or one of its parents, is or holds or lies
        inside a ``protect`` path, is a non-empty folder skbreastcad did not
        write (or wrote as another kind), or is a folder of this kind without
        ``overwrite``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> parent = Path(tempfile.mkdtemp())
    >>> with write_folder(parent / "run", kind="example") as tmp:
    ...     _ = (tmp / "result.txt").write_text("0.81")
    >>> sorted(p.name for p in (parent / "run").iterdir())
    ['.skbreastcad-folder.json', 'result.txt']
    >>> with write_folder(parent / "run", kind="example") as tmp:  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ...
    skbreastcad.utils._output_folder.UnsafeOutputError: The folder ... already holds a example: ...
    >>> _ = (parent / "notes.txt").write_text("mine")
    >>> with write_folder(parent / "notes.txt", kind="example", overwrite=True) as tmp:  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ...
    skbreastcad.utils._output_folder.UnsafeOutputError: The output ... is an existing file, ...
    """
    final = _final(path)
    if _is_live(final):
        # a folder written straight into a partial folder of this process (a run saving its
        # report as the run folder): the outer writer already makes it atomic
        yield final
        _write_marker(final, kind, version)
        return
    exists = check_output_folder(
        final, kind=kind, overwrite=overwrite, protect=protect, owned=owned
    )
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(final.parent)
    prefix = f".{final.name}.partial-"
    partial = locked_mkdtemp(prefix, final.parent)
    tmp = Path(partial.path)
    # mkdtemp makes 0700: the umask gives the mode, as for any other folder the user makes
    os.chmod(tmp, 0o777 & ~_umask())
    with _LIVE_LOCK:
        _LIVE.add(os.path.abspath(tmp))
    try:
        yield tmp
        fault_point("output:written")
        _write_marker(tmp, kind, version)
        if exists:
            # checked again: the folder may have changed while the block ran
            check_output_folder(final, kind=kind, overwrite=overwrite, protect=protect, owned=owned)
            # the replaced folder waits inside a locked partial folder of its own: a kill
            # before it is deleted leaves a dead partial folder, removed by the next write
            trash = locked_mkdtemp(prefix, final.parent)
            old = Path(trash.path) / final.name
            os.rename(final, old)
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(old, final)
                trash.remove()
                raise
            trash.remove()
        else:
            # on POSIX, rename replaces an empty folder but fails on a non-empty one: a
            # folder that appeared meanwhile is never lost
            os.rename(tmp, final)
        # the lock file goes once the folder is in place: a kill in between leaves an empty
        # .lock in a complete folder, rather than a complete folder nobody would remove
        os.unlink(final / LOCK_NAME)
        partial.release()
    except BaseException:
        partial.remove()
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(os.path.abspath(tmp))


def _is_live(folder):
    with _LIVE_LOCK:
        return os.path.abspath(folder) in _LIVE


def _write_marker(folder, kind, version):
    from .. import __version__

    marker = {"writer": _WRITER, "kind": kind, "version": version, "skbreastcad": __version__}
    # replaces the marker of a folder written inside this one as the same folder (a run
    # whose report was saved straight into it): the outermost writer names the kind
    name = f"{MARKER}.{os.getpid()}-{threading.get_ident()}"
    with new_file(folder / name, "w") as handle:
        json.dump(marker, handle, indent=2)
    os.replace(folder / name, folder / MARKER)


def remove_dead_partials(parent):
    """Remove the partial folders under ``parent`` left by writes whose process has ended.

    A partial folder (``.<name>.partial-*``, see :func:`write_folder`) is
    removed only when it holds a lock file that no live process holds: the
    partial folders of live runs, and those without a lock file (written by
    earlier versions, or in the instant before their rename), are left
    alone. :func:`write_folder` calls it before each write.

    Parameters
    ----------
    parent : str or path-like
        The folder to clean.

    Returns
    -------
    removed : list of str
        The folders removed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     (Path(parent) / ".run.partial-unlocked").mkdir()
    ...     remove_dead_partials(parent), sorted(p.name for p in Path(parent).iterdir())
    ([], ['.run.partial-unlocked'])
    """
    return remove_dead_folders(parent, _PARTIAL.match)


def new_file(path, mode="wb"):
    """Open a new file for writing with the mode the umask gives (``0o666 & ~umask``).

    :func:`tempfile.mkstemp` creates files readable by their owner only, a mode
    a temporary file keeps when it is renamed into place; this is the
    alternative for files that others should read.

    Parameters
    ----------
    path : str or path-like
        The file to create; it must not exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text.

    Returns
    -------
    file : file object
        Open for writing.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     with new_file(Path(parent) / "a.txt", "w") as handle:
    ...         _ = handle.write("hello")
    ...     (Path(parent) / "a.txt").read_text()
    'hello'
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return os.fdopen(fd, mode)


def _umask():
    try:
        with open("/proc/self/status") as status:  # Linux: read without changing it
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # elsewhere the only way to read it is to set it; set straight back
    old = os.umask(0o022)
    os.umask(old)
    return old


def set_umask_mode(path):
    """Give a file the mode the umask gives (``0o666 & ~umask``), for files a library made 0600.

    Parameters
    ----------
    path : str or path-like
        A file written by code that does not honour the umask (``safetensors``,
        :func:`tempfile.mkstemp`).

    Examples
    --------
    >>> import stat
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     fd, name = tempfile.mkstemp(dir=parent)
    ...     os.close(fd)
    ...     set_umask_mode(name)
    ...     stat.S_IMODE(os.stat(name).st_mode) == 0o666 & ~_umask()
    True
    """
    os.chmod(path, 0o666 & ~_umask())
