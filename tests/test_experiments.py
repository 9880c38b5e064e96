import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from skbreastcad._cli import main
from skbreastcad.datasets import make_phantoms
from skbreastcad.evaluation import Report
from skbreastcad.experiments import (
    compare_feature_sets,
    make_feature_pipeline,
    make_feature_set,
)
from skbreastcad.metrics import CAD_METRICS
from skbreastcad.plotting import plot_metric_bars


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(80, image_size=40, random_state=0)


@pytest.fixture(scope="module")
def feature_report(phantoms):
    X, y = phantoms
    return compare_feature_sets(X, y, ("glcm", "gabor+glcm"), cv=3, n_boot=300)


def test_feature_comparison_table(phantoms, feature_report):
    X, y = phantoms
    report = feature_report
    assert isinstance(report, Report)
    table = report.table()
    assert list(table.index) == ["glcm", "gabor+glcm"]
    for metric in CAD_METRICS:
        assert table[metric].between(0, 1).all()
        assert (table[f"{metric}_ci_low"] <= table[metric]).all() and (
            table[metric] <= table[f"{metric}_ci_high"]
        ).all()
    # the search stays accessible, with every fold's scores of the study's metrics
    assert report.search.cv_results_["split2_test_f1"].shape == (2,)
    assert report.search.candidates_ == ["glcm", "gabor+glcm"]
    # fold means are the search's own
    np.testing.assert_allclose(table["f1_mean"], report.search.cv_results_["mean_test_f1"])
    # the fused set has the columns of both parts
    fused = make_feature_set("gabor+glcm").fit(X)
    assert any(n.startswith("gabor__") for n in fused.get_feature_names_out())
    assert any(n.startswith("glcm__") for n in fused.get_feature_names_out())
    assert "glcm" in report.format_table()
    # phantom lesions are visible: texture features must beat chance clearly
    assert table.loc["gabor+glcm", "roc_auc"] > 0.7


def test_format_table_and_plot_take_any_report_and_concatenations(feature_report, tmp_path):
    text = Report.from_results(feature_report).format_table()
    assert "[" in text and "glcm" in text and "roc_auc" in text
    # results of two runs concatenated with keys: a MultiIndex, which used to raise a TypeError
    both = pd.concat({"run a": feature_report.results, "run b": feature_report.results})
    text = Report.from_results(both).format_table()
    assert "run a / glcm" in text and "run b / gabor+glcm" in text
    # wide tables concatenated (MultiIndex rows) work too
    wide = pd.concat({"a": feature_report.table(), "b": feature_report.table()})
    assert "a / glcm" in Report.from_results(wide).format_table()
    with pytest.raises(ValueError, match="pass keys"):
        Report.from_results(pd.concat([feature_report.results, feature_report.results]))
    out = plot_metric_bars(Report.from_results(both).results, path=tmp_path / "cmp.png")
    assert out.stat().st_size > 1000


def test_deprecated_format_table_and_plot_comparison_warn_and_delegate(feature_report, tmp_path):
    from skbreastcad import experiments

    metrics = ("f1", "roc_auc", "no_such_metric")
    with pytest.warns(FutureWarning, match="experiments.format_table is deprecated"):
        text = experiments.format_table(feature_report, metrics)
    # metrics the report lacks are left out, as before
    assert text == feature_report.format_table(["f1", "roc_auc"])
    both = pd.concat({"run a": feature_report.results, "run b": feature_report.results})
    with pytest.warns(FutureWarning, match="Report.format_table"):
        assert experiments.format_table(both) == Report.from_results(both).format_table(
            [*CAD_METRICS, "roc_auc"]
        )
    with pytest.warns(FutureWarning, match="use skbreastcad.plotting.plot_metric_bars"):
        out = experiments.plot_comparison(both, tmp_path / "old.png")
    assert out == tmp_path / "old.png" and out.stat().st_size > 1000


def test_groups_are_respected(phantoms):
    X, y = phantoms
    groups = np.arange(len(y)) // 4
    report = compare_feature_sets(X, y, ("glcm",), groups=groups, cv=GroupKFold(3), n_boot=200)
    assert np.isfinite(report.table()["accuracy"]).all()
    # patients are the bootstrap's units
    assert (
        report.config["n_groups"] == 20 and report.config["resampled_units"] == "patients (groups)"
    )
    assert (report.predictions.groupby("group")["fold"].nunique() == 1).all()


class _RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that keeps the rows it was given in fit and predict."""

    def fit(self, X, y):
        self.fit_rows_, self.fit_y_ = np.array(X), np.array(y)
        self.model_ = LogisticRegression(max_iter=2000).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        self.predict_rows_ = np.array(X)
        return self.model_.predict(X)


def test_oversampling_is_a_training_only_step(phantoms):
    X, y = phantoms
    pipe = make_feature_pipeline("glcm", _RecordingClassifier()).fit(X, y)
    clf = pipe.named_steps["classifier"]
    # fit saw the minority class up-sampled to the majority's count
    assert np.bincount(y).min() < np.bincount(y).max()
    assert np.bincount(clf.fit_y_).tolist() == [np.bincount(y).max()] * 2
    # predict saw exactly the scaled features of the given ROIs, in order: no resampling
    pipe.predict(X[::-1])
    expected = pipe[:-2].transform(X[::-1])
    np.testing.assert_array_equal(clf.predict_rows_, expected)


def test_unknown_feature_set_lists_valid_names():
    with pytest.raises(ValueError, match="valid names are .*gabor"):
        make_feature_set("gabor+lbp")


def test_demo_cli_writes_results(tmp_path, capsys):
    # the demo now runs all four experiments; --experiments features keeps this test to Table 1
    assert (
        main(
            [
                "demo",
                "--n-samples",
                "60",
                "--image-size",
                "40",
                "--cv",
                "3",
                "--features",
                "glcm",
                "gabor+glcm",
                "--output",
                str(tmp_path),
                "--grid",
                "8",
                "--n-boot",
                "300",
                "--experiments",
                "features",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "sensitivity" in out and "specificity" in out
    assert "BCa bootstrap CI over 300 resamples" in out and "DeLong" in out
    for name in (
        "report.html",
        "report.md",
        "results.csv",
        "results.json",
        "predictions.csv",
        "roc.png",
    ):
        assert (tmp_path / "features" / name).stat().st_size > 100
    table = pd.read_csv(tmp_path / "feature_comparison.csv", index_col=0)
    assert list(table.index) == ["glcm", "gabor+glcm"]
    assert (tmp_path / "feature_comparison.png").stat().st_size > 1000
    assert (tmp_path / "rois.png").stat().st_size > 1000


def test_cnn_fusion_is_one_feature_set(phantoms):
    # the study's V+Gabor: CNN layer features fused with a hand-crafted set
    X, y = phantoms
    cnn_params = {"backbone": "tiny_cnn", "weights": None, "device": "cpu", "random_state": 0}
    fused = make_feature_set("cnn+gabor", cnn_params=cnn_params).fit(X)
    names = fused.get_feature_names_out()
    Xt = fused.transform(X)
    assert Xt.shape == (len(X), len(names))
    assert sum(n.startswith("gabor__") for n in names) == 64
    assert sum(n.startswith("cnn__") for n in names) > 0
    report = compare_feature_sets(
        X, y, {"V+Gabor": make_feature_set("cnn+gabor", cnn_params=cnn_params)}, cv=3, n_boot=100
    )
    assert list(report.table().index) == ["V+Gabor"]


def test_report_learning_curves_caption_matches_what_is_drawn(tmp_path):
    from skbreastcad.evaluation import evaluate_predictions
    from skbreastcad.experiments._common import ExperimentReport

    y = np.tile([0, 1], 10)
    score = np.clip(y * 0.5 + 0.25 + np.linspace(-0.2, 0.2, 20), 0, 1)
    predictions = pd.DataFrame(
        {
            "sample": np.arange(20),
            "fold": np.arange(20) % 2,
            "candidate": "net",
            "y_true": y,
            "score": score,
            "y_pred": (score > 0.5).astype(int),
        }
    )
    base = evaluate_predictions(predictions, metrics=["roc_auc"], n_boot=100)
    curves = pd.DataFrame(
        {
            "candidate": "net",
            "stage": 2,
            "fold_fit": 0,
            "epoch": [1, 2, 3],
            "train_loss": [0.9, 0.6, 0.4],
            "valid_loss": np.nan,
        }
    )
    captions = {}
    for name, valid in (("without", np.nan), ("with", [1.0, 0.8, 0.7])):
        report = ExperimentReport.from_report(base, curves=curves.assign(valid_loss=valid))
        html = (report.save(tmp_path / name) / "report.html").read_text()
        captions[name] = html
    assert "dashed: internal validation split" not in captions["without"]
    assert "no validation curve is drawn" in captions["without"]
    assert "dashed: internal validation split" in captions["with"]
