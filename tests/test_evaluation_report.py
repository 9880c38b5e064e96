"""The Report: what it holds, what save() writes, and that report.html renders on its own."""

import base64
import html
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
        "comparisons.png",
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
    # metrics, ROC, confusion, calibration and the comparisons' forest plot
    assert len(sources) == 5
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
    assert match.group(1) == match.group(2) == "5"
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


def _chromium_probe(page, tmp_path, script, *, width=1400):
    """Load ``page`` in headless Chromium at ``width`` px; return what ``script`` wrote."""
    probe = (
        "<script>window.addEventListener('load', () => {"
        f"const out = ({script})();"
        "document.body.insertAdjacentHTML('beforeend', `<p id='probe'>PROBE[${out}]</p>`);"
        "});</script>"
    )
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("</body>", probe + "</body>"))
    profile = tmp_path / f"profile-{width}"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={width},1000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probed.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    shutil.rmtree(profile, ignore_errors=True)
    match = re.search(r"<p id=\"probe\">PROBE\[(.*?)\]</p>", dom)
    assert match, dom[-2000:]
    return match.group(1)


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed at /usr/bin/chromium "
    "(Debian: apt-get install chromium); the headless rendering check needs it",
)
def test_report_tables_fit_a_1400_px_window_without_sideways_scroll(report, tmp_path):
    folder = report.save(tmp_path / "r")
    # every table fits inside its box, and the page itself needs no horizontal scroll bar
    script = (
        "() => [document.documentElement.scrollWidth, window.innerWidth, "
        "[...document.querySelectorAll('table')].filter("
        "t => t.getBoundingClientRect().right > document.body.getBoundingClientRect().right + 1"
        ").length, document.querySelectorAll('table').length].join(',')"
    )
    scroll, inner, overflowing, n_tables = map(
        int, _chromium_probe(folder / "report.html", tmp_path, script).split(",")
    )
    assert inner == 1400 and scroll <= inner
    assert overflowing == 0
    # the results and one comparison table per metric
    assert n_tables == 1 + report.comparisons["metric"].nunique()


def test_comparisons_read_candidate_minus_reference_with_consistent_rounding(report, tmp_path):
    folder = report.save(tmp_path / "r")
    text = (folder / "report.html").read_text()
    md = (folder / "report.md").read_text()
    comparisons = text.split("<h2>Paired comparisons</h2>")[1].split("<h2>Figures</h2>")[0]
    # one compact table per metric, no NaN anywhere, no column McNemar leaves empty
    assert comparisons.count("<table") == report.comparisons["metric"].nunique()
    assert "NaN" not in comparisons and "nan" not in comparisons and "NaN" not in md
    row = report.comparisons.query("test == 'DeLong'").iloc[0]
    # stored as reference minus candidate; shown as candidate minus reference, 3 significant digits
    shown = f"{-row['difference']:+.3g}"
    low, high = f"{-row['ci_high']:+.3g}", f"{-row['ci_low']:+.3g}"
    assert (
        f"<td>{row['candidate']}</td><td>DeLong</td><td>{shown}</td><td>[{low}, {high}]</td>"
        in (comparisons)
    )
    assert f"| {row['candidate']} | DeLong | {shown} | [{low}, {high}] |" in md
    pvalues = re.findall(r"<td>(p [=<] [^<]*)</td>", comparisons)
    assert len(pvalues) == 2 * len(report.comparisons)
    assert all(re.fullmatch(r"p = \d\.\d{3}|p < 0\.001", p) for p in pvalues)
    assert "candidate minus the reference" in comparisons
    assert "reference minus candidate" not in text


def test_wording_says_what_is_resampled_and_config_reads_as_json(report, tmp_path):
    folder = report.save(tmp_path / "r")
    text = (folder / "report.html").read_text()
    md = (folder / "report.md").read_text()
    for page in (text, md):
        assert "resampling patients" in page
        assert "resamples of" not in page and "resample samples" not in page
    config = html.unescape(text.split("<h2>Configuration</h2>")[1].split("</pre>")[0])
    assert "\\n" not in config
    assert '"estimator": "GridSearchCV(cv=StratifiedGroupKFold(' in config
    assert '"n_jobs": null' in config and '"refit": true' in config
    # still JSON: the Markdown's block parses
    block = md.split("## Configuration")[1].split("```json\n")[1].split("\n```")[0]
    assert json.loads(block)["parameters"]["scoring"] == "roc_auc"


def test_markdown_escapes_what_it_embeds(tmp_path):
    from skbreastcad.evaluation import evaluate_predictions
    from skbreastcad.evaluation._render import md_escape

    hostile = "a|b *bold* <script>alert(1)</script> `tick` _x_ [link](http://e.x)"
    y = np.tile([0, 1], 20)
    rng = np.random.default_rng(0)
    frames = []
    # the hostile name is the worse candidate: a row of the comparison tables
    for name, noise in ((hostile, 0.35), ("plain", 0.1)):
        score = np.clip(0.5 * y + 0.25 + rng.normal(scale=noise, size=40), 0, 1)
        frames.append(
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
    report = evaluate_predictions(
        pd.concat(frames), metrics=["roc_auc", "f1"], n_boot=100, title="Run *1* <b>"
    )
    report.config["note"] = "``` closes a fence"
    md = (report.save(tmp_path / "r") / "report.md").read_text()
    # code blocks show their text literally; everywhere else nothing may act as HTML
    prose = re.sub(r"^(`{3,})[a-z]*\n.*?^\1$", "", md, flags=re.M | re.S)
    assert "<script>" not in prose and "<b>" not in prose and "alert(1)" in prose
    assert md.startswith("# Run \\*1\\* &lt;b&gt;\n")
    escaped = md_escape(hostile)
    assert escaped == (
        "a\\|b \\*bold\\* &lt;script&gt;alert(1)&lt;/script&gt; \\`tick\\` \\_x\\_ "
        "\\[link\\](http://e.x)"
    )
    rows = [line for line in md.splitlines() if line.startswith("| ") and "DeLong" in line]
    assert rows and all(escaped in line for line in rows)
    # every table row has as many unescaped cell borders as the header
    for line in rows:
        assert len(re.findall(r"(?<!\\)\|", line)) == 7
    # a fenced block is never closed early by a value holding backticks
    fences = re.findall(r"^(`{3,})", md, flags=re.M)
    assert "````json" in md and len(fences) % 2 == 0


@pytest.fixture(scope="module")
def one_class_report():
    """Two candidates; the better ranker answers "no tumour" for every sample at 0.5."""
    from skbreastcad.evaluation import DegenerateResultWarning, evaluate_predictions

    rng = np.random.default_rng(0)
    y = np.tile([0, 0, 0, 1], 20)
    # a perfect ranking squeezed below the threshold, and a fair ranking around it
    always_no = 0.1 + 0.3 * y + rng.uniform(0, 0.05, len(y))
    fair = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.25, len(y)), 0, 1)
    predictions = pd.concat(
        [
            pd.DataFrame(
                {
                    "sample": np.arange(len(y)),
                    "fold": np.arange(len(y)) % 4,
                    "candidate": name,
                    "y_true": y,
                    "score": score,
                    "y_pred": (score >= 0.5).astype(int),
                }
            )
            for name, score in [("always no", always_no), ("fair", fair)]
        ]
    )
    with pytest.warns(DegenerateResultWarning, match="'always no' \\(always 0\\)"):
        return evaluate_predictions(predictions, n_boot=200, random_state=0)


def test_a_one_class_candidate_is_never_the_reference(one_class_report):
    r = one_class_report
    auc = r.table(["roc_auc"])["roc_auc"]
    assert auc["always no"] == 1.0 and auc["fair"] < 1.0  # the best by ROC AUC...
    assert r.reference == "fair"  # ...is not the yardstick: it never says "tumour"
    assert set(r.comparisons["candidate"]) == {"always no"}
    assert r.config["one_class_candidates"] == {"always no": 0}


def test_a_one_class_candidate_is_flagged_in_every_table(one_class_report, tmp_path):
    r = one_class_report
    text = r.format_table(["roc_auc", "sensitivity"])
    lines = text.splitlines()
    assert lines[2].startswith("always no [always 0]") and lines[3].startswith("fair ")
    assert "[always" not in lines[3]
    assert lines[-1].startswith("[always k]: predicts one class for every sample")
    # a table of the report's results alone keeps the mark
    assert "always no [always 0]" in Report.from_results(r).format_table()
    folder = r.save(tmp_path / "report")
    md = (folder / "report.md").read_text()
    assert "always no [always 0]" in md  # the results table
    assert re.search(r"\| always no \\\[always 0\\\] \| ", md)  # the comparison tables
    page = (folder / "report.html").read_text()
    assert re.search(r"always no <span class='flag'[^>]*>\[always 0\]</span></th>", page)
    assert page.count("<span class='flag'") == 1
    assert "always no [always 0]" in page  # the comparison tables
    assert json.loads((folder / "results.json").read_text())["config"]["one_class_candidates"] == {
        "always no": 0
    }
