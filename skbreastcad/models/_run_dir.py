"""The folder of one ``fit``: created locked, found again to resume, removed when its process died.

Each fit works in ``<parent>/skbreastcad-fit-XXXX`` (a kept, resumable folder
under ``checkpoint_dir``) or ``<tmp>/skbreastcad-tmpfit-XXXX`` (a temporary one,
``checkpoint_dir=None``; only these are ever removed by other fits). The fitting process
holds an exclusive lock on ``<folder>/.lock`` for as long as it runs; the
operating system releases it when the process ends, however it ends
(SIGKILL included). A folder whose lock can be taken therefore belongs to no
running fit: a later fit removes it from the temporary folder
(``checkpoint_dir=None``), or continues it (``resume=True``).
``run.json`` records the fit's format version, fingerprint, seeds and status.

:class:`FitFolder` is the one owner of this life cycle for ``fit``: a context
manager that claims a folder to resume, creates one, writes its manifest, and
on the way out marks it complete, interrupted or failed and releases it, or
removes it.
"""

import json
import os
import socket
import tempfile
import time
import warnings

from ..utils._tempdirs import LockedDir, locked_mkdtemp, remove_dead_tempdirs

__all__ = [
    "RUN_VERSION",
    "FitFolder",
    "RunDir",
    "check_checkpoint_dir",
    "find_resumable",
    "remove_dead_runs",
]

# Bump when what a fit folder holds, or how a fit continues from it, changes.
# 2: fingerprints are SHA-256 (skbreastcad.utils._hashing), no longer joblib.hash.
RUN_VERSION = 2

PREFIX = "skbreastcad-fit-"
TEMPORARY_PREFIX = "skbreastcad-tmpfit-"
# earlier versions made and locked a folder under this hidden name, then renamed it
_NEW_PREFIX = ".skbreastcad-new-"
_MANIFEST = "run.json"


class RunDir(LockedDir):
    """One fit's folder and the lock that says its process is alive.

    Use :meth:`create` or :meth:`claim`; call :meth:`release` when the fit
    ends (the lock also ends with the process).
    """

    @classmethod
    def create(cls, parent):
        """A new uniquely named folder under ``parent`` (None: a temporary one), locked."""
        prefix = TEMPORARY_PREFIX if parent is None else PREFIX
        # whoever finds its .lock finds it locked: no other fit can take it for a dead one
        folder = locked_mkdtemp(prefix, parent)
        return cls(folder.path, folder._fd)

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


def check_checkpoint_dir(path):
    """Create ``checkpoint_dir`` when missing; refuse one that cannot be a folder.

    Parameters
    ----------
    path : str
        The user's ``checkpoint_dir``.

    Raises
    ------
    ValueError
        If ``path`` is a file, or cannot be created; the message names ``path``.
    """
    if os.path.isdir(path):
        return
    if os.path.lexists(path):
        raise ValueError(
            f"checkpoint_dir={path!r} is a file, not a folder: give a folder (it is created "
            "when missing)."
        )
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"checkpoint_dir={path!r} cannot be created: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename and exc.filename != path else "")
            + "."
        ) from None


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
    # the hidden folders of fits killed while creating them (by earlier versions) too
    return remove_dead_tempdirs(TEMPORARY_PREFIX, parent) + remove_dead_tempdirs(
        _NEW_PREFIX, parent
    )


def _unfinished(manifest):
    return bool(manifest) and manifest.get("status") in ("running", "interrupted")


def find_resumable(parent, fingerprint, version=RUN_VERSION):
    """Claim an unfinished fit folder under ``parent`` with this ``fingerprint``.

    Parameters
    ----------
    parent : str
    fingerprint : str
    version : int, default=RUN_VERSION
        Only folders written in this format are candidates.

    Returns
    -------
    run : RunDir or None
        Locked; the most recently updated candidate.
    """
    candidates = []
    for path in _runs(parent):
        manifest = read_manifest(path)
        if (
            _unfinished(manifest)
            and manifest.get("version") == version
            and manifest.get("fingerprint") == fingerprint
        ):
            candidates.append((manifest.get("updated", 0), path))
    for _, path in sorted(candidates, reverse=True):
        run = RunDir.claim(path)
        if run is None:
            continue
        # another process may have finished it between our look and our lock
        if _unfinished(run.read_manifest()):
            return run
        run.release()
    return None


def _other_versions(parent, version):
    """Unfinished fit folders under ``parent`` written in another format."""
    return [
        path
        for path in _runs(parent)
        if _unfinished(manifest := read_manifest(path)) and manifest.get("version") != version
    ]


class FitFolder:
    """The folder of one ``fit``, from claim or creation to release or removal.

    Use as ``with FitFolder(checkpoint_dir, ...) as folder:``. Entering
    claims an unfinished folder of the same fingerprint when ``resume`` is
    set (:attr:`resumed_seeds` then holds its seeds). :meth:`start` creates
    the folder (unless one was claimed) and records the fit as running; the
    work between entering and :meth:`start` (planning the stages) leaves a
    claimed folder as it was if it fails. Leaving the block:

    - without an error: a kept folder is marked complete and released
      (:attr:`kept_path`), a temporary one removed;
    - with an error after :meth:`start`: a temporary folder is removed; a kept
      one is marked ``interrupted`` (``KeyboardInterrupt``: resumable) or
      ``failed`` (it would fail again) and released.

    Parameters
    ----------
    checkpoint_dir : str, path-like or None
        Parent of the kept folders; None works in a temporary folder.
    fingerprint : str or None, default=None
        What the fit depends on (data and settings); None cannot be resumed.
    resume : bool, default=False
        Look for an unfinished folder of this fingerprint to continue.
    version : int, default=RUN_VERSION
        Format of the folder; folders of other versions are never resumed.
    """

    def __init__(self, checkpoint_dir, *, fingerprint=None, resume=False, version=RUN_VERSION):
        self.parent = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        self.fingerprint = fingerprint
        self.resume = resume
        self.version = version
        self._run = None
        self._started = False
        self._complete = False

    @property
    def kept(self):
        """Whether the folder outlives the fit (``checkpoint_dir`` is set)."""
        return self.parent is not None

    @property
    def path(self):
        """The folder (None before :meth:`start` unless one was resumed)."""
        return None if self._run is None else self._run.path

    @property
    def kept_path(self):
        """The kept folder of a completed fit, else None."""
        return self.path if self.kept and self._complete else None

    @property
    def resumed_seeds(self):
        """The seeds of the resumed fit, or None when none was claimed."""
        if self._run is None:
            return None
        return list(self._run.read_manifest()["seeds"])

    def __enter__(self):
        if self.kept:
            check_checkpoint_dir(self.parent)
        if self.kept and self.resume and self.fingerprint is not None:
            self._run = find_resumable(self.parent, self.fingerprint, self.version)
            if self._run is None:
                stale = _other_versions(self.parent, self.version)
                if stale:
                    warnings.warn(
                        f"checkpoint_dir holds {len(stale)} unfinished fit folder(s) written in "
                        f"another format than this version's (format {self.version}), e.g. "
                        f"{stale[0]}: they cannot be resumed, so this fit starts afresh. Remove "
                        "them once they are no longer needed.",
                        UserWarning,
                        stacklevel=3,
                    )
        return self

    def start(self, seeds):
        """Create the folder unless one was resumed, and record the fit as running.

        Parameters
        ----------
        seeds : list of int
            The fit's seeds, read back by a resumed fit.

        Returns
        -------
        path : str
        """
        if not self.kept:
            remove_dead_runs()
        if self._run is None:
            self._run = RunDir.create(self.parent)
        self._started = True
        self._run.write_manifest(
            version=self.version,
            fingerprint=self.fingerprint,
            seeds=[int(s) for s in seeds],
            status="running",
        )
        return self._run.path

    def __exit__(self, exc_type, exc, tb):
        run = self._run
        if run is None:
            return False
        if not self._started:
            run.release()  # claimed, never started: left as it was found
        elif not self.kept:
            run.remove()
        else:
            if exc_type is None:
                status = "complete"
            elif issubclass(exc_type, KeyboardInterrupt):
                status = "interrupted"  # an interrupted or killed fit can be resumed
            else:
                status = "failed"  # a failed one would fail again
            try:
                run.write_manifest(status=status)
            finally:
                run.release()
            self._complete = exc_type is None
        return False
