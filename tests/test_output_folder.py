"""The one safe writer of output folders: it replaces only its own folders and leaves nothing behind."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skbreastcad.evaluation import evaluate_predictions
from skbreastcad.utils import UnsafeOutputError, write_folder
from skbreastcad.utils._output_folder import MARKER, folder_kind, remove_dead_partials


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)
    rows = []
    for name, noise in (("a", 0.5), ("b", 0.9)):
        score = np.clip(y * 0.5 + 0.25 + rng.normal(scale=noise * 0.3, size=40), 0, 1)
        rows.append(
            pd.DataFrame(
                {
                    "sample": np.arange(40),
                    "fold": np.arange(40) % 2,
                    "candidate": name,
                    "y_true": y,
                    "score": score,
                    "y_pred": (score > 0.5).astype(int),
                }
            )
        )
    return evaluate_predictions(pd.concat(rows), metrics=["roc_auc", "f1"], n_boot=100)


def _everything(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_save_refuses_a_folder_of_the_users_and_keeps_its_files(report, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(UnsafeOutputError, match=f"{folder}.*not written by skbreastcad"):
            report.save(folder, overwrite=overwrite)
    assert (folder / "precious.txt").read_text() == "keep me"
    assert _everything(tmp_path) == ["mine", "mine/precious.txt"]


def test_save_never_moves_or_deletes_a_regular_file(report, tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("the user's file")
    with pytest.raises(UnsafeOutputError, match=f"{path} is an existing file"):
        report.save(path)
    assert path.read_text() == "the user's file"
    assert _everything(tmp_path) == ["results.txt"]


@pytest.mark.parametrize("target", [".", "..", "sub/..", "sub/../.."])
def test_save_refuses_the_working_directory_and_its_parents(report, tmp_path, monkeypatch, target):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    with pytest.raises(UnsafeOutputError, match="working directory or one of its parents"):
        report.save(target)
    assert _everything(tmp_path) == ["work", "work/notes.txt", "work/sub"]


def test_save_replaces_only_its_own_report_and_overwrite_false_refuses_it(report, tmp_path):
    folder = report.save(tmp_path / "report")
    assert folder_kind(folder) == "report"
    (folder / "stale.txt").write_text("old")
    with pytest.raises(UnsafeOutputError, match="already holds a report"):
        report.save(folder, overwrite=False)
    assert (folder / "stale.txt").exists()
    report.save(folder)
    assert not (folder / "stale.txt").exists() and (folder / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_save_refuses_the_input_data_and_folders_around_it(report, tmp_path):
    data = tmp_path / "mias"
    data.mkdir()
    (data / "Info.txt").write_text("films")
    for target in (data, data / "out", tmp_path):
        with pytest.raises(UnsafeOutputError, match="input data"):
            report.save(target, protect=[data])
    assert _everything(tmp_path) == ["mias", "mias/Info.txt"]


def test_folders_and_files_get_the_umask_modes(report, tmp_path):
    old = os.umask(0o022)
    try:
        folder = report.save(tmp_path / "report")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_a_failed_write_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    with pytest.raises(RuntimeError, match="broken"):
        with write_folder(tmp_path / "run", kind="run") as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("broken")
    assert list(tmp_path.iterdir()) == []
    with write_folder(tmp_path / "run", kind="run") as tmp:
        (tmp / "result.txt").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with write_folder(tmp_path / "run", kind="run", overwrite=True) as tmp:
            raise KeyboardInterrupt
    assert _everything(tmp_path) == ["run", f"run/{MARKER}", "run/result.txt"]


def test_a_folder_of_another_kind_or_a_link_is_refused(tmp_path):
    with write_folder(tmp_path / "model", kind="model"):
        pass
    with pytest.raises(UnsafeOutputError, match="holds a skbreastcad model, not a report"):
        with write_folder(tmp_path / "model", kind="report", overwrite=True):
            pass
    (tmp_path / "link").symlink_to(tmp_path / "model")
    with pytest.raises(UnsafeOutputError, match="symbolic link"):
        with write_folder(tmp_path / "link", kind="model", overwrite=True):
            pass
    assert folder_kind(tmp_path / "model") == "model"


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "out").mkdir()
    with write_folder(tmp_path / "out", kind="run") as tmp:
        (tmp / "a.txt").write_text("a")
    assert _everything(tmp_path) == ["out", f"out/{MARKER}", "out/a.txt"]


def test_a_folder_written_inside_another_writer_takes_the_outer_kind(report, tmp_path):
    # ``skbreastcad run`` saves its report straight into the run folder
    with write_folder(tmp_path / "run", kind="run") as tmp:
        report.save(tmp)
    assert folder_kind(tmp_path / "run") == "run"
    assert (tmp_path / "run" / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_model_folders_get_the_umask_modes_and_the_marker(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from skbreastcad.persistence import save_model

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    old = os.umask(0o022)
    try:
        folder = Path(save_model(model, tmp_path / "model"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755  # was 0700 through tempfile.mkdtemp
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
    assert folder_kind(folder) == "model"
    save_model(model, folder, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def _writer_in_another_process(parent):
    """A process inside ``write_folder(parent / 'run')``, paused there: its partial folder is live."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from skbreastcad.utils import write_folder\n"
        f"with write_folder(Path({str(parent)!r}) / 'run', kind='run') as tmp:\n"
        "    (tmp / 'half.txt').write_text('half')\n"
        "    print(tmp, flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, Path(proc.stdout.readline().strip())


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_live_partial_folder_is_kept_and_a_dead_one_removed_by_the_next_write(tmp_path):
    proc, partial = _writer_in_another_process(tmp_path)
    try:
        assert partial.parent == tmp_path and partial.name.startswith(".run.partial-")
        # a write beside it, and one of the very same folder, while its writer lives
        with write_folder(tmp_path / "other", kind="run") as tmp:
            (tmp / "a.txt").write_text("a")
        with write_folder(tmp_path / "run", kind="run") as tmp:
            (tmp / "b.txt").write_text("b")
        assert (partial / "half.txt").read_text() == "half"
    finally:
        proc.kill()  # SIGKILL: no clean-up handler runs
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()
    assert partial.is_dir()  # left behind by the killed process
    with write_folder(tmp_path / "other", kind="run", overwrite=True) as tmp:
        (tmp / "a.txt").write_text("again")
    assert _everything(tmp_path) == [
        "other",
        f"other/{MARKER}",
        "other/a.txt",
        "run",
        f"run/{MARKER}",
        "run/b.txt",
    ]


def test_a_partial_folder_without_a_lock_file_is_never_removed(tmp_path):
    # written by an earlier version, or caught between its lock file's removal and its rename
    (tmp_path / ".run.partial-old").mkdir()
    (tmp_path / ".run.partial-old" / "result.txt").write_text("1")
    assert remove_dead_partials(tmp_path) == []
    with write_folder(tmp_path / "run", kind="run"):
        pass
    assert (tmp_path / ".run.partial-old" / "result.txt").is_file()


def test_a_finished_folder_holds_no_lock_file(report, tmp_path):
    with write_folder(tmp_path / "run", kind="run") as tmp:
        assert (tmp / ".lock").is_file()  # while the block runs, the lock says it is live
        report.save(tmp)  # a report saved straight into the run folder is written in place
    assert not (tmp_path / "run" / ".lock").exists()
    assert folder_kind(tmp_path / "run") == "run" and (tmp_path / "run" / "report.html").is_file()
    with write_folder(tmp_path / "run", kind="run", overwrite=True) as tmp:
        (tmp / "a.txt").write_text("a")
    assert _everything(tmp_path) == ["run", f"run/{MARKER}", "run/a.txt"]
