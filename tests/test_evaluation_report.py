"""The Report: what it holds, what save() writes, and that report.html renders on its own."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

import skbreastcad
from skbreastcad.evaluation import Report, evaluate

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    n = 240
    groups = np.arange(n) // 4
    y = (rng.random(n) < 0.3).astype(int)
    X = np.c_[y + rng.normal(size=n) + rng.normal(size=n // 4)[groups], rng.normal(size=(n, 2))]
    search = GridSearchCV(
        LogisticRegression(),
        {"C": [0.001, 0.1, 10.0]},
        scoring="roc_auc",
        cv=StratifiedGroupKFold(4, shuffle=True, random_state=0),
    )
    return evaluate(
        search, X, y, groups=groups, threshold="specificity=0.8", n_boot=300, random_state=1
    )


def test_report_holds_results_predictions_config_and_timings(report):
    assert isinstance(report, Report)
    assert report.candidates == ["C=0.001", "C=0.1", "C=10.0"]
    r = report.results
    assert list(r.columns[:5]) == ["candidate", "metric", "estimate", "ci_low", "ci_high"]
    assert (r["ci_low"] <= r["estimate"] + 1e-12).all() and (
        r["estimate"] <= r["ci_high"] + 1e-12
    ).all()
    assert all(len(v) == 4 for v in r["per_fold"])
    assert len(report.predictions) == 240 * 3
    assert set(report.thresholds.columns) == {"candidate", "fold", "threshold"}
    c = report.config
    assert (
        c["resampled_units"] == "patients (groups)" and c["n_groups"] == 60 and c["n_boot"] == 300
    )
    assert (
        c["random_state"] == 1
        and c["versions"]["scikit-learn"]
        and len(c["data_fingerprint"]) == 64
    )
    assert c["threshold"] == "specificity=0.8"
    assert report.timings["cross_validation_s"] > 0 and report.timings["bootstrap_s"] > 0
    # every other candidate against the best, with Holm's correction within each metric and test
    comp = report.comparisons
    assert set(comp["candidate"]) == set(report.candidates) - {report.reference}
    assert {"paired bootstrap", "DeLong", "McNemar"} <= set(comp["test"])
    assert (comp["pvalue_holm"] >= comp["pvalue"] - 1e-12).all()


def test_fixed_specificity_policy_holds_roughly_on_held_out_folds(report):
    spec = report.results.query("metric == 'specificity'")["estimate"]
    # chosen on other folds, so not exactly 0.8 on the pooled predictions, but near it
    assert spec.between(0.65, 0.95).all()


def test_save_writes_every_file(report, tmp_path):
    folder = report.save(tmp_path / "out" / "report")
    names = {p.name for p in folder.iterdir()}
    assert {
        "report.md",
        "report.html",
        "results.csv",
        "results.json",
        "predictions.csv",
        "comparisons.csv",
        "metrics.png",
        "roc.png",
        "confusion.png",
        "calibration.png",
    } <= names
    results = pd.read_csv(folder / "results.csv")
    pd.testing.assert_series_equal(
        results["estimate"], report.results["estimate"], check_names=False
    )
    data = json.loads((folder / "results.json").read_text())
    assert data["config"]["n_boot"] == 300 and data["reference"] == report.reference
    assert len(pd.read_csv(folder / "predictions.csv")) == len(report.predictions)
    for png in ("metrics.png", "roc.png", "confusion.png", "calibration.png"):
        with Image.open(folder / png) as image:
            assert image.format == "PNG" and min(image.size) > 200
    md = (folder / "report.md").read_text()
    assert "![" in md and "roc.png" in md and "C=0.1" in md
    # nothing is left beside the folder
    assert [p.name for p in folder.parent.iterdir()] == ["report"]
    # saving again replaces the folder
    (folder / "stale.txt").write_text("old")
    report.save(folder)
    assert not (folder / "stale.txt").exists()


def test_html_is_self_contained(report, tmp_path):
    folder = report.save(tmp_path / "r")
    text = (folder / "report.html").read_text()
    sources = re.findall(r"<img[^>]*src='([^']*)'", text)
    assert len(sources) == 4
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # no link to anything outside the file
    assert not re.search(r"""(src|href)=['"](?!data:)""", text)


def test_interrupted_save_leaves_no_folder(report, tmp_path, monkeypatch):
    from skbreastcad import plotting

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plotting, "plot_confusion_matrices", broken)
    with pytest.raises(KeyboardInterrupt):
        report.save(tmp_path / "report")
    assert list(tmp_path.iterdir()) == []
    # an existing complete report survives an interrupted overwrite
    monkeypatch.undo()
    report.save(tmp_path / "report")
    monkeypatch.setattr(plotting, "plot_confusion_matrices", broken)
    with pytest.raises(KeyboardInterrupt):
        report.save(tmp_path / "report")
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert (tmp_path / "report" / "report.html").exists()


def test_plotting_never_touches_pyplot_state():
    source = Path(skbreastcad.__file__).parent
    assert len(list((source / "plotting").glob("*.py"))) > 1
    for path in [
        *(source / "plotting").glob("*.py"),
        *(source / "evaluation").glob("*.py"),
        *(source / "experiments").glob("*.py"),
    ]:
        text = path.read_text()
        assert "matplotlib.use(" not in text and "import matplotlib.pyplot" not in text, path
        assert "from matplotlib import pyplot" not in text, path


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed at /usr/bin/chromium "
    "(Debian: apt-get install chromium); the headless rendering check needs it",
)
def test_report_renders_in_headless_chromium_with_every_image_loaded(report, tmp_path):
    folder = report.save(tmp_path / "r")
    html = (folder / "report.html").read_text()
    # a copy with a probe that writes, once the page has loaded, how many images decoded
    probe = (
        "<script>window.addEventListener('load', () => {"
        "const imgs = [...document.images];"
        "const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
        "document.body.insertAdjacentHTML('beforeend', `<p id='probe'>images ${ok}/${imgs.length}</p>`);"
        "});</script>"
    )
    probed = folder / "probed.html"
    probed.write_text(html.replace("</body>", probe + "</body>"))
    # a fresh profile per run: Chromium refuses to share one between processes
    profile = tmp_path / "profile"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probed.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    match = re.search(r"images (\d+)/(\d+)", dom)
    assert match, dom[-2000:]
    assert match.group(1) == match.group(2) == "4"
    shutil.rmtree(profile, ignore_errors=True)


def test_roc_band_equals_resampled_roc_curves_by_brute_force():
    from sklearn.metrics import roc_curve

    from skbreastcad.evaluation import bootstrap_counts
    from skbreastcad.evaluation._curves import _roc_band

    rng = np.random.default_rng(0)
    groups = np.arange(90) // 3
    y = (rng.random(90) < 0.4).astype(float)
    s = np.round(y + rng.normal(size=90), 1)
    grid = np.linspace(0, 1, 21)
    low, high = _roc_band(y, s, groups, 30, 40, 5, grid)
    counts, _ = bootstrap_counts(groups, 30, 40, y=y, random_state=5)
    curves = []
    for row in counts:
        idx = np.concatenate([np.tile(np.flatnonzero(groups == g), k) for g, k in enumerate(row)])
        fpr, tpr, _ = roc_curve(y[idx], s[idx], drop_intermediate=False)
        # sensitivity of the best threshold whose false positive rate stays within each grid point
        curves.append([tpr[fpr <= f + 1e-12].max() for f in grid])
    ref = np.quantile(np.array(curves), [0.025, 0.975], axis=0)
    np.testing.assert_allclose(low, ref[0], atol=1e-12)
    np.testing.assert_allclose(high, ref[1], atol=1e-12)


def test_format_table_is_the_one_formatter_and_names_a_missing_metric(report):
    text = report.format_table(["roc_auc", "sensitivity"], digits=2)
    lines = text.splitlines()
    assert lines[0].split() == ["candidate", "roc_auc", "sensitivity"]
    row = report.results.set_index(["candidate", "metric"]).loc[("C=0.1", "roc_auc")]
    assert f"{row['estimate']:.2f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]" in lines[3]
    with pytest.raises(ValueError, match=r"No results for the metrics \['kappa'\]"):
        report.format_table(["roc_auc", "kappa"])


def test_from_results_gives_a_report_of_several_runs(report):
    both = pd.concat({"run a": report.results, "run b": report.results})
    combined = Report.from_results(both, title="Two runs")
    assert combined.title == "Two runs" and combined.metrics == report.metrics
    assert combined.candidates == [f"run {k} / {c}" for k in "ab" for c in report.candidates]
    text = combined.format_table()
    for line in report.format_table().splitlines()[2:]:
        # the same cells, under the run's label
        candidate, cells = line.split(maxsplit=1)
        assert sum(cells in t and f"/ {candidate}" in t for t in text.splitlines()) == 2
    wide = Report.from_results(report.table())
    np.testing.assert_allclose(
        wide.results["estimate"].to_numpy(),
        report.results.set_index(["candidate", "metric"])
        .loc[list(zip(wide.results["candidate"], wide.results["metric"]))]["estimate"]
        .to_numpy(),
    )
    with pytest.raises(TypeError, match="Report or a pandas DataFrame"):
        Report.from_results([1, 2])


def test_deprecated_format_results_warns_and_delegates(report):
    from skbreastcad.evaluation._report import format_results

    with pytest.warns(FutureWarning, match="use skbreastcad.evaluation.Report.format_table"):
        text = format_results(report.results, ["f1"], digits=4)
    assert text == report.format_table(["f1"], digits=4)


def test_data_fingerprint_is_the_shared_hash_and_unchanged():
    from skbreastcad.evaluation import data_fingerprint
    from skbreastcad.utils import _hashing

    assert data_fingerprint is _hashing.data_fingerprint
    data = (np.arange(6).reshape(2, 3), [0, 1], None, np.array(["a", "b"], dtype=object))
    # the digest of the code before it moved: old reports' fingerprints still compare equal
    expected = "0ec838a14806ed3ff11cd2e3f9b1ffe338585fc5aede6e977606fe42be9959f8"
    assert data_fingerprint(*data) == expected
    # as before, any input of evaluate() gets a fingerprint, even one without a stable repr
    assert len(data_fingerprint(np.array([object()]))) == 64
