"""Folders owned by a live process: created locked, removed by a later run once that process died.

A process that creates a folder with :func:`locked_mkdtemp` holds an
exclusive lock on the folder's ``.lock`` file for as long as it uses it; the
operating system releases the lock when the process ends, however it ends
(SIGKILL and the OOM killer included). A folder whose lock can be taken
therefore belongs to no live process, and :func:`remove_dead_tempdirs` (run
by the next run that uses the same prefix) deletes it. Folders of live runs,
and folders without a lock file (made by earlier versions, or caught in the
instant between their creation and their lock), are never touched.

The lock file is created under a private name, locked, then renamed to
``.lock``: whoever finds a ``.lock`` finds it locked by its creator.
"""

import contextlib
import os
import shutil
import tempfile
from contextlib import contextmanager

__all__ = ["LockedDir", "locked_mkdtemp", "locked_tempdir", "remove_dead_tempdirs", "try_lock"]

LOCK_NAME = ".lock"


def try_lock(path, create=False):
    """An open file descriptor holding an exclusive lock on ``path``, or None if taken.

    Parameters
    ----------
    path : str
        The lock file.
    create : bool, default=False
        Create the file when missing. Without it, a missing file (or one just
        removed by another process) is None, never an error.

    Returns
    -------
    fd : int or None
    """
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            # flock, not lockf: its locks belong to the open file, so two
            # owners in one process exclude each other too, and a lock
            # survives the renaming of its file or folder
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class LockedDir:
    """A folder and the lock that says its owner is alive.

    Made by :func:`locked_mkdtemp` (or :meth:`claim`); call :meth:`remove`,
    :meth:`publish` or :meth:`release` when done (the lock also ends with the
    process).

    Parameters
    ----------
    path : str
        The folder.
    fd : int
        An open descriptor of its locked ``.lock`` file.
    """

    def __init__(self, path, fd):
        self.path = path
        self._fd = fd

    @classmethod
    def claim(cls, path):
        """Lock an existing folder; None if a live process holds it, or it has no lock file.

        Parameters
        ----------
        path : str

        Returns
        -------
        folder : LockedDir or None
        """
        fd = try_lock(os.path.join(path, LOCK_NAME))
        if fd is None:
            return None
        if not os.path.isdir(path):  # removed or renamed while we locked it
            os.close(fd)
            return None
        return cls(path, fd)

    @property
    def locked(self):
        """Whether this process still holds the folder's lock."""
        return self._fd is not None

    def release(self):
        """Let go of the lock: a later :func:`remove_dead_tempdirs` may remove the folder."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self):
        """Delete the folder (while still holding its lock), then release.

        The lock file goes last: a process killed midway leaves a folder that
        still says its owner is dead, and the next run finishes the job.
        """
        try:
            names = os.listdir(self.path)
        except OSError:
            names = []
        for name in names:
            if name == LOCK_NAME:
                continue
            path = os.path.join(self.path, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                # as rmtree(ignore_errors=True): a clean-up, often on the way out of an
                # error, must not replace that error with its own
                with contextlib.suppress(OSError):
                    os.unlink(path)
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def publish(self, target):
        """Rename the folder to ``target`` without its lock file, then release.

        For a run written into a hidden partial folder and renamed into
        place once complete: the finished folder holds no ``.lock``, and no
        other run can remove it in between (the lock file goes first, the
        lock last).

        Parameters
        ----------
        target : str or path-like
            The new name; as :func:`os.replace`, an empty folder there is replaced.

        Returns
        -------
        target : str
        """
        target = os.fspath(target)
        os.unlink(os.path.join(self.path, LOCK_NAME))
        os.replace(self.path, target)
        self.path = target
        self.release()
        return target


def locked_mkdtemp(prefix, dir=None):
    """Create a uniquely named folder, as :func:`tempfile.mkdtemp`, locked by this process.

    Parameters
    ----------
    prefix : str
        Start of the folder's name; :func:`remove_dead_tempdirs` finds the
        dead ones by it.
    dir : str, path-like or None, default=None
        Parent folder; None is the temporary folder (``$TMPDIR``).

    Returns
    -------
    folder : LockedDir
    """
    path = tempfile.mkdtemp(prefix=prefix, dir=dir)
    fd, private = tempfile.mkstemp(prefix=".lock-new-", dir=path)
    os.close(fd)
    fd = try_lock(private)
    if fd is None:  # pragma: no cover - nobody else knows the private name
        raise RuntimeError(f"Could not lock the new folder {path}.")
    os.replace(private, os.path.join(path, LOCK_NAME))
    return LockedDir(path, fd)


def remove_dead_tempdirs(prefix, dir=None):
    """Remove the folders named ``prefix*`` under ``dir`` whose owner process has ended.

    Only folders with a lock file nobody holds are removed: those of live
    processes, and those without a lock file, are left alone.

    Parameters
    ----------
    prefix : str
        As given to :func:`locked_mkdtemp`.
    dir : str, path-like or None, default=None
        Parent folder; None is the temporary folder (``$TMPDIR``).

    Returns
    -------
    removed : list of str
        The folders removed.
    """
    parent = tempfile.gettempdir() if dir is None else os.fspath(dir)
    return remove_dead_folders(parent, lambda name: name.startswith(prefix))


def remove_dead_folders(parent, matches):
    """Remove the folders of ``parent`` whose name ``matches`` and whose owner has ended.

    The one walk behind :func:`remove_dead_tempdirs` and the output folders'
    partial folders: links and files are skipped, and a folder is removed only
    when its lock file can be claimed (its process has ended).

    Parameters
    ----------
    parent : str or path-like
        The folder to look in; a missing one has nothing to remove.
    matches : callable
        ``matches(name) -> bool`` for each entry's name.

    Returns
    -------
    removed : list of str
        The folders removed.
    """
    parent = os.fspath(parent)
    try:
        names = sorted(os.listdir(parent))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for name in names:
        path = os.path.join(parent, name)
        if not matches(name) or os.path.islink(path) or not os.path.isdir(path):
            continue
        folder = LockedDir.claim(path)
        if folder is not None:
            folder.remove()
            removed.append(path)
    return removed


@contextmanager
def locked_tempdir(prefix, dir=None):
    """A folder for the duration of a ``with`` block, removed at its end however it ends.

    The dead folders of earlier runs with the same ``prefix`` are removed
    first; the folder itself is left behind only when the process is killed,
    and then removed by the next run.

    Parameters
    ----------
    prefix : str
    dir : str, path-like or None, default=None
        Parent folder; None is the temporary folder (``$TMPDIR``).

    Yields
    ------
    path : str
        The folder.
    """
    remove_dead_tempdirs(prefix, dir)
    folder = locked_mkdtemp(prefix, dir)
    try:
        yield folder.path
    finally:
        folder.remove()
