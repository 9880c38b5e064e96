"""The folder of one ``fit``: created locked, found again to resume, removed when its process died.

Each fit works in ``<parent>/skbreastcad-fit-XXXX``. The fitting process
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
_LOCK = ".lock"
_MANIFEST = "run.json"


def _try_lock(path):
    """An open file descriptor holding an exclusive lock on ``path``, or None if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
        """A new uniquely named folder under ``parent`` (None: the temporary folder), locked."""
        path = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
        fd = _try_lock(os.path.join(path, _LOCK))
        if fd is None:  # pragma: no cover - nobody else knows the new name yet
            raise RuntimeError(f"Could not lock the new fit folder {path}.")
        return cls(path, fd)

    @classmethod
    def claim(cls, path):
        """Lock an existing folder; None if a running process holds it."""
        lock = os.path.join(path, _LOCK)
        if not os.path.exists(lock):
            return None
        fd = _try_lock(lock)
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


def _runs(parent):
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(parent, n) for n in names if n.startswith(PREFIX))


def remove_dead_runs(parent=None):
    """Remove the fit folders under ``parent`` (the temporary folder) whose process has ended.

    Only folders with a lock file are considered: one without it was not
    made by this version, or is being created this very moment.

    Returns
    -------
    removed : list of str
    """
    parent = tempfile.gettempdir() if parent is None else parent
    removed = []
    for path in _runs(parent):
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
