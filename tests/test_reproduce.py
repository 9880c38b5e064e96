"""``skbreastcad reproduce``: the study's protocol end to end, killed and resumed, and its errors.

The runs use the embedded phantoms and tiny settings (quick mode, 2 folds, GLCM
as the only hand-crafted set, TinyCNN); a kill lands on a named fault point
(``SKBREASTCAD_FAULT_AFTER``), never on wall time.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import skbreastcad
from skbreastcad import _cli
from skbreastcad.experiments import (
    StudyData,
    check_reproduction,
    study_settings,
)
from skbreastcad.experiments._study_claims import TIMINGS_HEADING
from skbreastcad.experiments._study_settings import QUICK_BANNER
from skbreastcad.utils._faults import FAULT_VARIABLE

TINY = [
    "--data",
    "phantoms",
    "--source",
    "phantoms",
    "--quick",
    "--backbone",
    "tiny_cnn",
    "--features",
    "glcm",
    "--offline-backbones",
    "tiny_cnn",
    "--cv",
    "2",
    "--n-boot",
    "50",
    "--n-samples",
    "40",
    "--image-size",
    "40",
    "--no-ablation",
]
# the kill lands after this unit is written: the first transfer unit, mid-run
KILL_AFTER = "reproduce:finetune/phantoms/tiny_cnn/none/fold0"


def _cli_run(*argv, env=None):
    """``skbreastcad reproduce`` in a fresh interpreter on this checkout."""
    root = os.path.dirname(os.path.dirname(skbreastcad.__file__))
    full_env = {**os.environ}
    full_env.pop(FAULT_VARIABLE, None)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, full_env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "skbreastcad", "reproduce", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=600)


def _units(folder):
    return {
        str(p.relative_to(folder / "units")): p.stat().st_mtime_ns
        for p in (folder / "units").rglob("*")
        if p.is_file()
    }


def _without_timings(text):
    return text.split(TIMINGS_HEADING)[0]


def _phase_results(folder):
    return {
        p.parent.name: p.read_text()
        for p in sorted(folder.glob("*/results.csv"))
        if p.parent.name != "units"
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "whole"
    proc = _cli_run(*TINY, "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


@pytest.mark.slow
def test_the_command_runs_the_whole_protocol_and_reports_every_claim(uninterrupted):
    out, proc = uninterrupted
    report = (out / "REPRODUCTION.md").read_text()
    # a smoke test says so before anything else
    assert report.splitlines()[0] == QUICK_BANNER
    claims = json.loads((out / "claims.json").read_text())
    assert claims["mode"] == "quick"
    names = [c["claim"] for c in claims["claims"]]
    assert names[:3] == [
        "CNN features beat hand-crafted ones",
        "a fine-tuned CNN beats hand-crafted features",
        "fusion helps the hand-crafted features (glcm)",
    ]
    assert "deeper layers are better (tiny_cnn)" in names
    assert "two-stage beats one-stage (phantoms_source -> phantoms)" in names
    assert "two-stage beats one-stage (phantoms -> phantoms_source)" in names
    by_name = {c["claim"]: c for c in claims["claims"]}
    tested = by_name["fusion helps the hand-crafted features (glcm)"]
    # estimate, patient-bootstrap CI, paired tests, verdict
    assert tested["ci_low"] <= tested["difference"] <= tested["ci_high"]
    assert 0 <= tested["p_bootstrap"] <= 1 and 0 <= tested["p_delong"] <= 1
    assert tested["verdict"] in {
        "holds",
        "same direction, not significant",
        "reversed, not significant",
        "reversed (significant)",
        "no difference",
    }
    # no offline VGG16/ResNet50/InceptionV3 weights here: said, with what ran instead
    backbones = by_name["vgg16 > resnet50 > inception_v3"]
    assert backbones["verdict"] == "not tested offline"
    assert "Table 3 ran on tiny_cnn" in backbones["note"]
    # TinyCNN has no ImageNet weights: the transfer claim is not tested, and says why
    assert by_name["transfer beats none (phantoms)"]["verdict"] == "not tested"
    assert "## What ran instead" in report and "random initialisation" in report
    for phase in ("features", "layers", "backbones", "transfer_phantoms"):
        assert (out / phase / "report.md").is_file(), phase
    assert (out / "layers" / "layer_curve.png").is_file()
    # the transfer table's title names the rows that ran: no ImageNet row for TinyCNN
    title = (out / "transfer_phantoms" / "report.md").read_text().splitlines()[0]
    assert title == (
        "# Transfer learning on phantoms: none, two-stage (phantoms\\_source -&gt; phantoms) "
        "(the study's Fig. 6)"
    )
    assert (out / "transfer_phantoms" / "learning_curves.png").is_file()
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings) >= {"features", "layers", "backbones", "transfer_phantoms"}
    assert all(t["done"] == t["units"] and t["seconds"] >= 0 for t in timings.values())
    assert TIMINGS_HEADING in report
    assert "Report: " in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_killed_run_resumes_without_recomputing_and_gives_the_same_report(
    uninterrupted, tmp_path
):
    whole, _ = uninterrupted
    out = tmp_path / "killed"
    proc = _cli_run(*TINY, "--output", str(out), env={FAULT_VARIABLE: KILL_AFTER})
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    before = _units(out)
    assert "finetune/phantoms/tiny_cnn/none/fold0.json" in before
    # the kill came mid-run: some units are still to do
    assert len(before) < len(_units(whole))

    proc = _cli_run(*TINY, "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resuming" in proc.stdout
    after = _units(out)
    assert set(after) == set(_units(whole))
    # finished units were read back, not recomputed: their files were not rewritten
    assert {name: after[name] for name in before} == before
    # and the rest was computed by the resumed run only
    assert all(after[name] > max(before.values()) for name in set(after) - set(before))

    assert (out / "claims.json").read_text() == (whole / "claims.json").read_text()
    assert _without_timings((out / "REPRODUCTION.md").read_text()) == _without_timings(
        (whole / "REPRODUCTION.md").read_text()
    )
    assert _phase_results(out) == _phase_results(whole)

    # a finished run asked again computes nothing
    proc = _cli_run(*TINY, "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _units(out) == after


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_fine_tune_killed_mid_way_continues_from_its_checkpoint(uninterrupted, tmp_path):
    whole, _ = uninterrupted
    out = tmp_path / "mid_fit"
    # the first fine-tune reached, killed after its second epoch's checkpoint
    proc = _cli_run(*TINY, "--output", str(out), env={FAULT_VARIABLE: "stage2:epoch2"})
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    unit = "finetune/phantoms/tiny_cnn/none/fold0.json"
    assert unit not in _units(out)
    checkpoints = out / "checkpoints" / "finetune-phantoms-tiny_cnn-none-fold0"
    assert list(checkpoints.rglob("resume.pt")), "the killed fit left no checkpoint to resume"

    proc = _cli_run(*TINY, "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert unit in _units(out)
    # the unit's result is kept; its checkpoints are not
    assert not checkpoints.exists()
    assert (out / "claims.json").read_text() == (whole / "claims.json").read_text()
    assert _phase_results(out) == _phase_results(whole)


@pytest.mark.slow
def test_only_computes_the_matching_units_and_leaves_the_rest_pending(tmp_path):
    out = tmp_path / "some"
    proc = _cli_run(*TINY, "--output", str(out), "--only", "fit/phantoms/layers/*")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    done = set(_units(out))
    # the layer probe's fits and the extraction they read, nothing else
    assert done == {
        "extract/phantoms/layers-tiny_cnn-64px.npz",
        *(
            f"fit/phantoms/layers/{layer}/fold{k}.json"
            for layer in ("relu1", "relu2", "pool")
            for k in (0, 1)
        ),
    }
    report = (out / "REPRODUCTION.md").read_text()
    assert "**Incomplete:" in report
    claims = {c["claim"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    assert claims["deeper layers are better (tiny_cnn)"]["verdict"] != "pending"
    assert claims["CNN features beat hand-crafted ones"]["verdict"] == "pending"
    assert "units pending" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "bogus:dir"], "unknown data spec 'bogus:dir'"),
        (["--data", "mias:/no/such/folder"], "does not exist"),
        (["--data", "phantoms", "--cv", "1"], "below the minimum 2"),
        (["--data", "phantoms", "--n-samples", "12", "--cv", "5"], "fewer than the 5 folds"),
        (["--data", "phantoms", "--backbone", "nonet"], "nonet"),
        (["--data", "phantoms", "--layers", "conv9"], "has no layers ['conv9']"),
        (["--data", "phantoms", "--quick", "--full"], "not allowed with argument"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = ["reproduce", *args, "--output", str(out)]
    if "--layers" in args:
        argv += ["--backbone", "tiny_cnn"]
    try:
        code = _cli.main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    lines = err.splitlines()
    # ours are one line; argparse's come after its usage line
    assert len(lines) == 1 or lines[0].startswith("usage:"), err
    assert lines[-1].startswith("skbreastcad reproduce: error:")
    assert not out.exists()


def test_an_output_that_is_not_a_reproduction_is_refused_in_one_line(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert _cli.main(["reproduce", "--data", "phantoms", "--output", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not written by skbreastcad" in err
    assert (mine / "notes.txt").read_text() == "keep"


def test_a_reproduction_of_other_settings_is_not_resumed(tmp_path):
    from skbreastcad.datasets import make_phantoms
    from skbreastcad.experiments._reproduce import _manifest, _open_folder

    X, y = make_phantoms(30, image_size=24, random_state=0)[:2]
    target = StudyData(X, y, name="phantoms")
    quick = study_settings("quick")
    _open_folder(tmp_path / "run", _manifest(target, None, quick), ())
    assert check_reproduction(tmp_path / "run", target, None, quick) is True
    with pytest.raises(ValueError, match=r"other settings \['cv'\]"):
        check_reproduction(tmp_path / "run", target, None, study_settings("quick", cv=4))
    other = StudyData(X[::-1], y[::-1], name="phantoms")
    with pytest.raises(ValueError, match="other target"):
        check_reproduction(tmp_path / "run", other, None, quick)


def test_settings_and_data_are_checked():
    with pytest.raises(ValueError, match="Unknown settings"):
        study_settings("quick", epochs=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        study_settings("slow")
    full = study_settings("full")
    assert full["cv"] == 5 and full["cnn_input_size"] is None
    # the classifier's own defaults at 128 px, nothing frozen
    assert full["finetune"] == {"input_size": 128}
    with pytest.raises(ValueError, match="name may hold"):
        StudyData(np.zeros((4, 8, 8)), np.array([0, 1, 0, 1]), name="a/b")


def test_the_command_is_registered():
    assert "reproduce" in _cli.COMMANDS
    help_text = _cli.build_parser().format_help()
    assert "reproduce" in help_text
