"""The folder of one ``fit``: created locked, found again to resume, removed when its process died.

Each fit works in ``<parent>/skbreastcad-fit-XXXX`` (a kept, resumable folder
under ``checkpoint_dir``) or ``<tmp>/skbreastcad-tmpfit-XXXX`` (a temporary one,
``checkpoint_dir=None``; only these are ever removed by other fits). The fitting process
holds an exclusive lock on ``<folder>/.lock`` for as long as it runs; the
operating system releases it when the process ends, however it ends
(SIGKILL included). A folder whose lock can be taken therefore belongs to no
running fit: a later fit removes it from the temporary folder
(``checkpoint_dir=None``), or continues it (``resume=True``).
``run.json`` records the fit's fingerprint, seeds and status.
"""

import json
import os
import shutil
import socket
import tempfile
import time

__all__ = ["RunDir", "remove_dead_runs"]

PREFIX = "skbreastcad-fit-"
TEMPORARY_PREFIX = "skbreastcad-tmpfit-"
# a folder is made and locked under this hidden name, then renamed: nobody
# scanning for the prefixes above can lock (and remove) it before its creator
_NEW_PREFIX = ".skbreastcad-new-"
_LOCK = ".lock"
_MANIFEST = "run.json"


def _try_lock(path, create=False):
    """An open file descriptor holding an exclusive lock on ``path``, or None if taken.

    Without ``create``, a lock file (or folder) that has just been removed by
    another process is None too, never an error.
    """
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            # flock, not lockf: its locks belong to the open file, so two fits
            # of one process exclude each other too
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class RunDir:
    """One fit's folder and the lock that says its process is alive.

    Use :meth:`create` or :meth:`claim`; call :meth:`release` when the fit
    ends (the lock also ends with the process).
    """

    def __init__(self, path, fd):
        self.path = path
        self._fd = fd

    @classmethod
    def create(cls, parent):
        """A new uniquely named folder under ``parent`` (None: a temporary one), locked."""
        prefix = TEMPORARY_PREFIX if parent is None else PREFIX
        new = tempfile.mkdtemp(prefix=_NEW_PREFIX, dir=parent)
        fd = _try_lock(os.path.join(new, _LOCK), create=True)
        if fd is None:  # pragma: no cover - nobody else knows the hidden name
            raise RuntimeError(f"Could not lock the new fit folder {new}.")
        # flock belongs to the open file, so the lock survives the rename
        path = os.path.join(
            os.path.dirname(new), prefix + os.path.basename(new)[len(_NEW_PREFIX) :]
        )
        os.rename(new, path)
        return cls(path, fd)

    @classmethod
    def claim(cls, path):
        """Lock an existing folder; None if a running process holds it."""
        fd = _try_lock(os.path.join(path, _LOCK))
        if fd is None:
            return None
        if not os.path.isdir(path):  # removed while we locked it
            os.close(fd)
            return None
        return cls(path, fd)

    def read_manifest(self):
        return read_manifest(self.path)

    def write_manifest(self, **fields):
        """Merge ``fields`` into ``run.json`` (written atomically)."""
        manifest = self.read_manifest() or {}
        manifest.update(fields, pid=os.getpid(), host=socket.gethostname(), updated=time.time())
        target = os.path.join(self.path, _MANIFEST)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.path)
        with os.fdopen(fd, "w") as f:
            json.dump(manifest, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self):
        """Delete the folder (while still holding its lock), then release."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()


def read_manifest(path):
    """The ``run.json`` of a fit folder, or None if missing or unreadable."""
    try:
        with open(os.path.join(path, _MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _runs(parent, prefix=PREFIX):
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(parent, n) for n in names if n.startswith(prefix))


def remove_dead_runs(parent=None):
    """Remove the temporary fit folders under ``parent`` whose process has ended.

    Only temporary folders (``checkpoint_dir=None``) with a lock file are
    considered: kept folders may be resumed, even when they lie in the
    temporary folder themselves.

    Returns
    -------
    removed : list of str
    """
    parent = tempfile.gettempdir() if parent is None else parent
    removed = []
    for path in _runs(parent, TEMPORARY_PREFIX):
        run = RunDir.claim(path)
        if run is not None:
            run.remove()
            removed.append(path)
    return removed


def find_resumable(parent, fingerprint):
    """Claim an unfinished fit folder under ``parent`` with this ``fingerprint``.

    Returns
    -------
    run : RunDir or None
        Locked; the most recently updated candidate.
    """
    candidates = []
    for path in _runs(parent):
        manifest = read_manifest(path)
        if (
            manifest
            and manifest.get("fingerprint") == fingerprint
            and manifest.get("status")
            in (
                "running",
                "interrupted",
            )
        ):
            candidates.append((manifest.get("updated", 0), path))
    for _, path in sorted(candidates, reverse=True):
        run = RunDir.claim(path)
        if run is None:
            continue
        manifest = run.read_manifest()
        # another process may have finished it between our look and our lock
        if manifest and manifest.get("status") in ("running", "interrupted"):
            return run
        run.release()
    return None
