"""A killed or terminated command leaves nothing the next run does not remove (issue 22 item 4).

The kill lands at a named point (``SKBREASTCAD_FAULT_AFTER``), not after some
wall time, so that it hits the same place on a fast and on a slow machine.
"""

import os
import signal
import subprocess
import sys
import tempfile

import pytest

import skbreastcad
from skbreastcad import _cli

ROOT = os.path.dirname(os.path.dirname(skbreastcad.__file__))
POSIX = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and SIGTERM are POSIX")

ABLATION = ["run", "ablation", "--n-samples", "40", "--image-size", "32", "--cv", "2"]
ABLATION += ["--n-boot", "100", "--quiet"]
TRANSFER = ["run", "transfer", "--backbones", "tiny_cnn", "--n-samples", "40"]
TRANSFER += ["--image-size", "32", "--input-size", "32", "--cv", "2", "--n-boot", "100"]
TRANSFER += ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "--quiet"]


def _command(argv, point, signal_name=None, tmpdir=None):
    """Run ``skbreastcad ARGV`` in a fresh interpreter that stops at fault point ``point``."""
    env = {**os.environ, "SKBREASTCAD_FAULT_AFTER": point}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env.pop("SKBREASTCAD_FAULT_SIGNAL", None)
    if signal_name:
        env["SKBREASTCAD_FAULT_SIGNAL"] = signal_name
    if tmpdir:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run(
        [sys.executable, "-m", "skbreastcad", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


@POSIX
def test_a_killed_run_s_partial_folder_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    # killed with the report written, before the folder was renamed into place
    result = _command([*ABLATION, "--output", str(out)], "output:written")
    assert result.returncode == -signal.SIGKILL, result.stderr
    (partial,) = out.iterdir()
    assert partial.name.startswith(".ablation.partial-") and (partial / ".lock").is_file()
    assert (partial / "report.html").is_file()
    assert _cli.main([*ABLATION, "--output", str(out)]) == 0
    assert _names(out) == ["ablation"]
    assert not (out / "ablation" / ".lock").exists()


@POSIX
def test_sigterm_is_one_line_exit_143_and_leaves_no_partial_folder(tmp_path):
    out = tmp_path / "out"
    result = _command([*ABLATION, "--output", str(out)], "output:written", "TERM")
    assert result.returncode == 143, result.stderr
    assert result.stderr.strip().splitlines() == [
        "skbreastcad run: terminated; no partial output was kept"
    ]
    assert _names(out) == []


def test_sigterm_handler_is_restored_after_the_command():
    before = signal.getsignal(signal.SIGTERM)
    assert _cli.main(["layers", "tiny_cnn"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before


@POSIX
@pytest.mark.slow
# one epoch on 40 phantoms may predict one class: the report is not what is tested
@pytest.mark.filterwarnings("ignore::skbreastcad.evaluation.DegenerateResultWarning")
def test_a_command_killed_in_a_fit_leaves_nothing_the_next_run_keeps(tmp_path, monkeypatch):
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    result = _command([*TRANSFER, "--output", str(out)], "stage2:epoch1:batch1", tmpdir=scratch)
    assert result.returncode == -signal.SIGKILL, result.stderr
    (partial,) = out.iterdir()
    assert partial.name.startswith(".transfer.partial-")
    # (torch may leave its own caches there)
    leaked = sorted(p.name.rsplit("-", 1)[0] for p in scratch.glob("skbreastcad-*"))
    assert leaked == ["skbreastcad-histories", "skbreastcad-tmpfit"]
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert _cli.main([*TRANSFER, "--output", str(out)]) == 0
    assert _names(out) == ["transfer"]
    assert list(scratch.glob("*skbreastcad*")) == []


@POSIX
@pytest.mark.slow
def test_sigterm_during_a_fit_stops_it_and_leaves_nothing(tmp_path):
    # skorch swallows a KeyboardInterrupt in its training loop: SIGTERM must still stop it
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    result = _command(
        [*TRANSFER, "--output", str(out)], "stage2:epoch1:batch1", "TERM", tmpdir=scratch
    )
    assert result.returncode == 143, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "skbreastcad run: terminated; no partial output was kept"
    )
    assert _names(out) == []
    assert list(scratch.glob("skbreastcad-*")) == []
