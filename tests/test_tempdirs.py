"""Folders of killed runs are removed by the next run; live runs' folders are not;
checkpoint and cache folders are created or refused naming the user's path."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from skbreastcad.models import SourceData, TwoStageTransferClassifier
from skbreastcad.utils._tempdirs import (
    LockedDir,
    locked_mkdtemp,
    locked_tempdir,
    remove_dead_tempdirs,
)

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
POSIX = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")


def _data(n=24, size=12, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.integers(0, 120, (n, size, size)) + 60 * y[:, None, None]
    return X.astype(np.uint8), y


def _clf(**params):
    base = dict(
        backbone="tiny_cnn",
        transfer="none",
        weights=None,
        max_epochs=1,
        batch_size=8,
        random_state=0,
        device="cpu",
    )
    return TwoStageTransferClassifier(**{**base, **params})


def _run_killed(code, env=None):
    """Run ``code`` in a Python subprocess that must end killed by SIGKILL."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([ROOT, TESTS])}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


@POSIX
def test_dead_folders_are_removed_live_and_unlocked_ones_kept(tmp_path):
    _run_killed(
        "import os, signal, sys\n"
        "from skbreastcad.utils._tempdirs import locked_mkdtemp\n"
        f"locked_mkdtemp('run-', {str(tmp_path)!r})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    (dead,) = tmp_path.glob("run-*")
    alive = locked_mkdtemp("run-", tmp_path)
    # a folder made by an earlier version, without a lock file: its owner is unknown
    legacy = tmp_path / "run-legacy"
    legacy.mkdir()
    other = locked_mkdtemp("other-", tmp_path)
    other.release()
    assert remove_dead_tempdirs("run-", tmp_path) == [str(dead)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["run-legacy", os.path.basename(alive.path), os.path.basename(other.path)]
    )
    # the lock also excludes a second owner in this very process
    assert LockedDir.claim(alive.path) is None
    alive.release()
    assert remove_dead_tempdirs("run-", tmp_path) == [alive.path]
    assert legacy.is_dir()


def test_published_folder_has_no_lock_and_is_never_removed(tmp_path):
    partial = locked_mkdtemp(".out.partial-", tmp_path)
    Path(partial.path, "report.csv").write_text("x\n")
    final = partial.publish(tmp_path / "out")
    assert final == str(tmp_path / "out") and not partial.locked
    assert sorted(os.listdir(final)) == ["report.csv"]
    assert remove_dead_tempdirs(".out.partial-", tmp_path) == []
    assert remove_dead_tempdirs("out", tmp_path) == [] and Path(final).is_dir()


def test_locked_tempdir_removes_its_folder_however_the_block_ends(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with locked_tempdir("job-", tmp_path) as folder:
            assert os.path.isfile(os.path.join(folder, ".lock"))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@POSIX
@pytest.mark.slow
# one epoch on 24 phantoms may predict one class: the report is not what is tested
@pytest.mark.filterwarnings("ignore::skbreastcad.evaluation.DegenerateResultWarning")
def test_killed_experiment_leaves_nothing_the_next_run_does_not_remove(tmp_path, monkeypatch):
    # compare_transfer killed inside a fit leaves its histories folder and the fit's folder
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    _run_killed(
        "from skbreastcad.datasets import make_phantoms\n"
        "from skbreastcad.experiments import compare_transfer\n"
        "X, y = make_phantoms(24, image_size=16, random_state=0)\n"
        "compare_transfer(X, y, ['tiny_cnn'], ['none'], fallback='random', cv=2, n_boot=10,\n"
        "    deep_params={'max_epochs': 2, 'batch_size': 8}, device='cpu')\n",
        env={"TMPDIR": str(scratch), "SKBREASTCAD_FAULT_AFTER": "stage2:epoch1:batch1"},
    )
    # (torch may leave its own caches there)
    leaked = sorted(p.name.rsplit("-", 1)[0] for p in scratch.glob("skbreastcad-*"))
    assert leaked == ["skbreastcad-histories", "skbreastcad-tmpfit"]
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    from skbreastcad.experiments import compare_transfer

    X, y = _data()
    compare_transfer(
        X,
        y,
        ["tiny_cnn"],
        ["none"],
        fallback="random",
        cv=2,
        n_boot=100,
        deep_params={"max_epochs": 1, "batch_size": 8},
        device="cpu",
    )
    assert list(scratch.glob("*skbreastcad*")) == []


# -- checkpoint_dir and memory ----------------------------------------------------
def test_missing_checkpoint_dir_is_created(tmp_path):
    X, y = _data()
    ckpt = tmp_path / "not" / "yet"
    clf = _clf(checkpoint_dir=str(ckpt)).fit(X, y)
    assert os.path.dirname(clf.checkpoint_dir_) == str(ckpt)
    assert os.path.isfile(os.path.join(clf.checkpoint_dir_, "run.json"))


@pytest.mark.parametrize("under", [False, True])
def test_checkpoint_dir_that_is_a_file_is_a_one_line_error_naming_it(tmp_path, under):
    X, y = _data()
    (tmp_path / "file").write_text("")
    path = str(tmp_path / "file" / "sub") if under else str(tmp_path / "file")
    with pytest.raises(ValueError, match="checkpoint_dir=") as info:
        _clf(checkpoint_dir=path).fit(X, y)
    message = str(info.value)
    assert repr(path) in message and "\n" not in message and ".skbreastcad-new" not in message


@pytest.mark.parametrize("under", [False, True])
def test_memory_that_is_a_file_is_a_clear_error_naming_it(tmp_path, under):
    # (a joblib.Memory on a file fails when it is made, before the classifier sees it)
    X, y = _data()
    (tmp_path / "file").write_text("")
    path = str(tmp_path / "file" / "cache") if under else str(tmp_path / "file")
    clf = _clf(transfer="two_stage", source_data=SourceData(*_data(seed=1)), memory=path)
    with pytest.raises(ValueError, match="memory=") as info:
        clf.fit(X, y)
    assert repr(path) in str(info.value)
    # nothing was trained: the error comes before stage 1
    assert not hasattr(clf, "module_")


def test_removal_deletes_the_lock_file_last(tmp_path, monkeypatch):
    # a process killed midway through a removal leaves a folder that still says it is dead
    import shutil

    from skbreastcad.utils import _tempdirs

    folder = locked_mkdtemp("job-", tmp_path)
    for name in ("a", "b", "z"):
        Path(folder.path, name).mkdir()
        Path(folder.path, name, "data.bin").write_bytes(b"x")
    Path(folder.path, "file.txt").write_text("x")
    seen = []
    real = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        seen.append(os.path.isfile(os.path.join(folder.path, ".lock")))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_tempdirs.shutil, "rmtree", rmtree)
    folder.remove()
    assert seen == [True, True, True, True] and not os.path.exists(folder.path)
