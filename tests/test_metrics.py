import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import cross_validate

from skbreastcad.metrics import CAD_METRICS, cad_report, cad_scoring


def test_cad_report_matches_confusion_matrix_definitions(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    y_true = rng.integers(0, 2, 200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, 1 - y_true)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred).ravel()
    report = cad_report(y_true, y_pred)
    assert tuple(report) == CAD_METRICS
    # The study's Eqs. (1)-(5).
    assert report["accuracy"] == pytest.approx((tp + tn) / (tp + tn + fp + fn))
    assert report["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert report["specificity"] == pytest.approx(tn / (tn + fp))
    assert report["precision"] == pytest.approx(tp / (tp + fp))
    assert report["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_pos_label_string_classes():
    report = cad_report(
        ["normal", "tumour", "tumour"], ["tumour", "tumour", "normal"], pos_label="tumour"
    )
    assert report["sensitivity"] == pytest.approx(0.5)
    assert report["specificity"] == pytest.approx(0.0)


def test_cad_scoring_in_cross_validate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    scores = cross_validate(LogisticRegression(), X, y, cv=3, scoring=cad_scoring(roc_auc=True))
    for name in (*CAD_METRICS, "roc_auc"):
        assert 0.7 < scores[f"test_{name}"].mean() <= 1.0


def test_the_metric_names_have_one_home():
    import sys

    from skbreastcad.evaluation import DEFAULT_METRICS, THRESHOLD_METRICS

    assert THRESHOLD_METRICS is CAD_METRICS
    assert DEFAULT_METRICS[: len(CAD_METRICS)] == CAD_METRICS
    import skbreastcad.metrics

    assert "specificity_score" in dir(skbreastcad.metrics)
    assert (
        skbreastcad.metrics.specificity_score is sys.modules["imblearn.metrics"].specificity_score
    )
