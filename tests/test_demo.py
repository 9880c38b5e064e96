"""``skbreastcad demo``: its fine-tuned rows learn something, and its log reads cleanly."""

import json
import os
import re
import subprocess
import sys

import pytest

import skbreastcad

# a fine-tuned row, in the backbones table ("<net> fine-tuned") and the transfer one ("<net> / <t>")
FINE_TUNED = re.compile(r" fine-tuned$| / (none|imagenet|two_stage)$")


def _demo_to_file(tmp_path, *args):
    """Run the demo as a user piping it into a log: stdout and stderr into one file, no tty."""
    root = os.path.dirname(os.path.dirname(skbreastcad.__file__))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    log = tmp_path / "demo.log"
    out = tmp_path / "out"
    with open(log, "w") as f:
        done = subprocess.run(
            [sys.executable, "-m", "skbreastcad", "demo", "--output", str(out), *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=900,
        )
    text = log.read_text()
    assert done.returncode == 0, text
    return text, out


def _check_clean_log(text):
    """Every table, heading and note starts its own line; no progress-bar redraw is left."""
    assert "\r" not in text
    lines = text.splitlines()
    for i, line in enumerate(lines):
        # a heading, a note or a table header appears only at the start of a line
        for start in ("== ", "note: ", "candidate ", "pooled out-of-fold"):
            assert start not in line or line.startswith(start), f"line {i}: {line!r}"
        if line.startswith("candidate "):
            assert set(lines[i + 1]) == {"-"}, lines[i + 1]
    assert "experiments:" not in text  # the bar's own text


def test_the_demo_s_log_reads_cleanly_when_piped_to_a_file(tmp_path):
    # the transfer experiment: notes (no ImageNet weights for tiny_cnn) between tables
    text, out = _demo_to_file(
        tmp_path,
        "--experiments",
        "transfer",
        "--n-samples",
        "40",
        "--image-size",
        "32",
        "--cv",
        "2",
        "--n-boot",
        "100",
        "--epochs",
        "1",
    )
    _check_clean_log(text)
    assert text.count("\n== ") == 1 and "note: tiny_cnn" in text
    assert (out / "transfer" / "report.html").is_file()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo with its own settings, as ``skbreastcad demo`` runs it."""
    return _demo_to_file(tmp_path_factory.mktemp("demo"))


@pytest.mark.slow
def test_no_fine_tuned_row_of_the_demo_is_degenerate(demo_run):
    text, out = demo_run
    rows = 0
    for experiment in ("backbones", "transfer"):
        report = json.loads((out / experiment / "results.json").read_text())
        assert report["config"]["one_class_candidates"] == {}
        assert "one_class_predictions" not in report["config"]["flags"]
        scores = {}
        for r in report["results"]:
            if FINE_TUNED.search(r["candidate"]):
                scores.setdefault(r["candidate"], {})[r["metric"]] = r["estimate"]
        assert scores, f"no fine-tuned row in {experiment}"
        for candidate, s in scores.items():
            # above chance with a margin, and both classes predicted
            assert s["roc_auc"] > 0.65, (candidate, s)
            assert s["sensitivity"] > 0 and s["specificity"] > 0, (candidate, s)
            rows += 1
    assert rows == 3  # tiny_cnn fine-tuned; tiny_cnn / none and / two_stage


@pytest.mark.slow
def test_the_demo_s_transfer_title_names_only_the_rows_it_shows(demo_run):
    text, out = demo_run
    report = json.loads((out / "transfer" / "results.json").read_text())
    transfers = {r["candidate"].rsplit(" / ", 1)[1] for r in report["results"]}
    names = {"none": "none", "imagenet": "ImageNet", "two_stage": "two-stage"}
    listed = report["title"].split(": ", 1)[1].split(" (")[0].split(", ")
    assert listed == [names[t] for t in ("none", "imagenet", "two_stage") if t in transfers]
    assert f"== {report['title']}" in text


@pytest.mark.slow
def test_the_whole_demo_s_log_reads_cleanly(demo_run):
    text, _ = demo_run
    _check_clean_log(text)
    assert text.count("\n== ") == 4
