"""Properties of the statistics, and a regression test for every wrong number of issue 21.

The first half states invariants that must hold for any input hypothesis draws
(the estimate inside its percentile interval, Holm's adjusted p-values, the
symmetry of DeLong's and McNemar's tests); the search is bounded and
derandomised, so CI runs the same examples every time. The second half is one
test per case of the issue's "Silent wrong numbers" and "Poor errors": each
failed on the code before the fix (a wrong number returned, or an error deep
inside another library).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from skbreastcad.detection import froc, lesion_map
from skbreastcad.evaluation import (
    DegenerateResultWarning,
    bootstrap_metrics,
    bootstrap_pvalue,
    choose_threshold,
    confidence_interval,
    cross_val_predictions,
    delong_test,
    evaluate,
    evaluate_predictions,
    holm_correction,
    mcnemar_test,
    paired_bootstrap_test,
)
from skbreastcad.plotting import plot_overlay

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAST = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _one_line_error(excinfo, *names):
    """The error is one line and names every given argument."""
    message = str(excinfo.value)
    assert "\n" not in message, message
    for name in names:
        assert name in message, message


@st.composite
def labelled_scores(draw, min_per_class=1, max_n=40):
    """``(y, scores, y_pred, groups)``: both classes, scores with ties, optional patients."""
    n = draw(st.integers(2 * min_per_class, max_n))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:min_per_class], y[min_per_class : 2 * min_per_class] = 0, 1
    signal = draw(st.floats(0, 3))
    noise = draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))
    # rounding makes ties, which every rank statistic must handle
    scores = np.round(y * signal + np.array(noise), draw(st.integers(0, 3)))
    y_pred = (scores > np.median(scores)).astype(int)
    per_patient = draw(st.integers(1, 4))
    groups = None if per_patient == 1 else np.arange(n) // per_patient
    return y, scores, y_pred, groups


# ------------------------------------------------------------------ invariants
@FAST
@given(data=labelled_scores(), n_boot=st.integers(100, 300), seed=st.integers(0, 2**16))
def test_the_estimate_lies_inside_its_percentile_interval_from_100_resamples(data, n_boot, seed):
    y, scores, y_pred, groups = data
    if groups is not None and len(np.unique(groups)) < 2:
        groups = None
    with warnings.catch_warnings():
        # this property is about the interval, not about the warnings on tiny data
        warnings.simplefilter("ignore", DegenerateResultWarning)
        res = bootstrap_metrics(
            y,
            scores=scores,
            y_pred=y_pred,
            groups=groups,
            n_boot=n_boot,
            method="percentile",
            random_state=seed,
        )
    for m in res.metrics:
        assert res.ci_low[m][0] - 1e-12 <= res.estimate[m][0] <= res.ci_high[m][0] + 1e-12, m
    assert "ci_excludes_estimate" not in res.flags and "few_resamples" not in res.flags


def _holm_by_definition(p):
    """Holm (1979): the i-th smallest of k p-values times (k - i + 1), capped at 1, made monotone."""
    k = len(p)
    order = sorted(range(k), key=lambda i: p[i])
    out = [0.0] * k
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p[i]))
        out[i] = running
    return out


@FAST
@given(st.lists(st.floats(0, 1) | st.sampled_from([0.0, 0.05, 1.0]), max_size=25))
def test_holm_adjusted_pvalues_are_monotone_in_the_unit_interval_and_at_least_the_raw_ones(p):
    adjusted = holm_correction(p)
    p = np.asarray(p, dtype=float)
    assert adjusted.shape == p.shape
    assert ((0 <= adjusted) & (adjusted <= 1)).all()
    assert (adjusted >= p - 1e-15).all()
    # monotone: a smaller raw p-value never gets a larger adjusted one
    order = np.argsort(p, kind="stable")
    assert (np.diff(adjusted[order]) >= -1e-15).all()
    np.testing.assert_allclose(adjusted, _holm_by_definition(p.tolist()), rtol=1e-12, atol=0)


@FAST
@given(
    st.lists(st.floats(0, 1), max_size=10),
    st.floats(allow_nan=False).filter(lambda v: not 0 <= v <= 1),
    st.integers(0, 10),
)
def test_holm_refuses_any_pvalue_outside_the_unit_interval(p, bad, where):
    p.insert(min(where, len(p)), bad)
    with pytest.raises(ValueError, match=r"pvalues must lie in \[0, 1\]") as excinfo:
        holm_correction(p)
    _one_line_error(excinfo, "pvalues")


@FAST
@given(data=labelled_scores(min_per_class=2), other=st.lists(st.floats(-5, 5), min_size=40))
def test_delong_is_symmetric_in_its_candidates(data, other):
    y, a, _, _ = data
    b = np.round(np.asarray(other[: len(y)]), 2)
    ab, ba = delong_test(y, a, b), delong_test(y, b, a)
    assert ab.difference == -ba.difference
    assert ab.pvalue == pytest.approx(ba.pvalue, rel=1e-12, abs=1e-15)
    assert ab.se == pytest.approx(ba.se, rel=1e-12, abs=1e-15)
    assert (ab.auc_a, ab.auc_b) == (ba.auc_b, ba.auc_a)
    assert ab.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert 0 <= ab.pvalue <= 1


binary = st.lists(st.integers(0, 1), min_size=1, max_size=40)


@FAST
@given(y=binary, a=binary, b=binary, exact=st.booleans())
def test_mcnemar_is_symmetric_and_counts_the_discordant_pairs(y, a, b, exact):
    n = min(len(y), len(a), len(b))
    y, a, b = np.array(y[:n]), np.array(a[:n]), np.array(b[:n])
    ab, ba = mcnemar_test(y, a, b, exact=exact), mcnemar_test(y, b, a, exact=exact)
    assert (ab["b"], ab["c"]) == (ba["c"], ba["b"])
    assert ab["b"] + ab["c"] == np.sum((a == y) != (b == y))
    assert ab["pvalue"] == pytest.approx(ba["pvalue"]) and 0 <= ab["pvalue"] <= 1


@FAST
@given(
    y=binary,
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=False) | st.integers(-3, 3), min_size=40
    ),
    which=st.sampled_from(["y_pred_a", "y_pred_b"]),
)
def test_mcnemar_needs_binary_predictions(y, values, which):
    y = np.array(y)
    pred = np.array(values[: len(y)], dtype=float)
    if np.isin(pred, (0, 1)).all():
        pred[0] = 0.5  # make it non-binary
    args = {"y_pred_a": y.copy(), "y_pred_b": y.copy(), which: pred}
    with pytest.raises(ValueError, match=which) as excinfo:
        mcnemar_test(y, args["y_pred_a"], args["y_pred_b"])
    _one_line_error(excinfo, which)


@FAST
@given(st.lists(st.floats(-1, 1), min_size=1, max_size=200))
def test_bootstrap_pvalue_lies_in_the_unit_interval_and_ignores_the_sign(d):
    p = bootstrap_pvalue(d)
    assert 0 < p <= 1
    assert p == bootstrap_pvalue(-np.asarray(d))


@FAST
@given(
    st.lists(st.floats(-1, 1), min_size=1, max_size=50),
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.integers(0, 50),
    st.sampled_from(["percentile", "bca"]),
)
def test_an_interval_of_a_distribution_holding_nan_is_an_error(values, bad, where, method):
    values.insert(min(where, len(values)), bad)
    with pytest.raises(ValueError, match="distribution holds") as excinfo:
        confidence_interval(np.array(values), 0.0, method=method, jackknife=np.zeros(3))
    _one_line_error(excinfo, "distribution")


# ------------------------------------------------ issue 21: silent wrong numbers
@pytest.fixture(scope="module")
def tabular():
    X, y = make_classification(80, random_state=0)
    return X, y


def test_evaluate_refuses_a_regressor(tabular):
    # was: a report in which every prediction is 0
    with pytest.raises(ValueError, match="must be a classifier") as excinfo:
        evaluate(LinearRegression(), *tabular, cv=3, n_boot=100)
    _one_line_error(excinfo, "estimator", "LinearRegression")


def test_mcnemar_refuses_continuous_scores_as_labels():
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 50)
    scores = y + rng.normal(scale=0.3, size=100)  # was: p = 1e-7 from float == int
    with pytest.raises(ValueError, match="continuous scores") as excinfo:
        mcnemar_test(y, scores, y)
    _one_line_error(excinfo, "y_pred_a")


@pytest.mark.parametrize(
    "y, a, b, name",
    [
        ([0, 2, 0, 2], [0, 2, 0, 0], [0, 0, 0, 2], "y_true"),
        ([0, 1, 0, 1], [0, 1, 0, 1], [0, 2, 0, 2], "y_pred_b"),
        ([0, 1, 0, 1], [0, np.nan, 0, 1], [0, 1, 0, 1], "y_pred_a"),
        ([], [], [], "y_true"),  # was: p = 1.0
    ],
)
def test_mcnemar_refuses_labels_that_are_not_0_1(y, a, b, name):
    with pytest.raises(ValueError, match=name) as excinfo:
        mcnemar_test(y, a, b)
    _one_line_error(excinfo, name)


def test_holm_refuses_pvalues_outside_the_unit_interval():
    # was: [1.0, -0.4]
    with pytest.raises(ValueError, match=r"pvalues must lie in \[0, 1\]; got 1.5"):
        holm_correction([1.5, -0.2])


def test_holm_nan_is_either_refused_or_documented_as_no_test():
    # was: the NaN silently left the family, with no way to refuse it
    with pytest.raises(ValueError, match="pvalues holds 1 NaN") as excinfo:
        holm_correction([0.01, np.nan, 0.03], nan_policy="raise")
    _one_line_error(excinfo, "pvalues")
    omitted = holm_correction([0.01, np.nan, 0.03], nan_policy="omit")
    np.testing.assert_allclose(omitted, [0.02, np.nan, 0.03])
    assert "do not count in the family" in " ".join(holm_correction.__doc__.split())


@pytest.mark.parametrize(
    "differences, match", [([], "non-empty"), ([0.1, np.nan, -0.2], "holds 1 NaN")]
)
def test_bootstrap_pvalue_refuses_empty_or_nan_differences(differences, match):
    # was: 1.0 for [], and a p-value computed as if the NaN were not there
    with pytest.raises(ValueError, match=match) as excinfo:
        bootstrap_pvalue(differences)
    _one_line_error(excinfo, "differences")


def test_a_report_of_one_resample_is_flagged_and_warned_about(tabular):
    # was: CI [0.725, 0.725] around an estimate 0.775, with no word
    with pytest.warns(DegenerateResultWarning, match="fewer than 100") as record:
        report = evaluate(
            LogisticRegression(), *tabular, cv=3, n_boot=1, metrics=["roc_auc", "accuracy"]
        )
    r = report.results
    outside = (r["estimate"] < r["ci_low"]) | (r["estimate"] > r["ci_high"])
    assert outside.any()
    flags = report.config["flags"]
    assert {"few_resamples", "ci_excludes_estimate"} <= set(flags)
    assert any("excludes its own estimate" in str(w.message) for w in record)


def test_a_single_patient_gives_a_flagged_interval_and_a_warning():
    y, s = [0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3]
    with pytest.warns(DegenerateResultWarning, match="one patient"):
        res = bootstrap_metrics(
            y, scores=s, groups=["anna"] * 4, metrics=["roc_auc"], n_boot=200, random_state=0
        )
    assert res.n_groups == 1 and "one_group" in res.flags
    assert res.ci_low["roc_auc"][0] == res.ci_high["roc_auc"][0]  # zero width, now flagged


@pytest.mark.parametrize("missing", [np.nan, None])
def test_missing_patient_ids_are_an_error_not_one_pooled_patient(missing):
    # was: every missing id pooled into one patient
    groups = np.array([1, missing, missing, 2, 3, 3], dtype=float if missing is np.nan else object)
    y, s = [0, 1, 0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3, 0.2, 0.8]
    with pytest.raises(ValueError, match="groups holds 2 missing") as excinfo:
        bootstrap_metrics(y, scores=s, groups=groups, metrics=["roc_auc"], n_boot=100)
    _one_line_error(excinfo, "groups")
    with pytest.raises(ValueError, match="groups holds 2 missing"):
        paired_bootstrap_test(y, scores=[s, s], groups=groups, n_boot=100)


def test_two_candidates_scores_against_one_candidates_labels_is_an_error():
    # was: the second candidate silently dropped
    y = [0, 1, 0, 1]
    with pytest.raises(ValueError, match="scores has 2 candidate.*y_pred 1") as excinfo:
        bootstrap_metrics(
            y,
            scores=[[0.1, 0.9, 0.2, 0.8], [0.5, 0.5, 0.4, 0.6]],
            y_pred=[0, 1, 0, 1],
            metrics=["roc_auc", "accuracy"],
            n_boot=100,
        )
    _one_line_error(excinfo, "scores", "y_pred")


def test_confidence_interval_of_a_distribution_with_nan_is_an_error():
    # was: (nan, nan), with no word
    with pytest.raises(ValueError, match="distribution holds 1 NaN") as excinfo:
        confidence_interval(np.array([0.7, np.nan, 0.8]), 0.75, method="percentile")
    _one_line_error(excinfo, "distribution")


_FILM_A = {"film": ["a"], "row": [50], "col": [50], "radius": [5], "score": [0.9]}


def test_froc_refuses_a_negative_lesion_radius():
    # was: the lesion counted as found (sensitivity 1.0): only the radius squared was used
    candidates = {
        "film": ["a", "b"],
        "row": [51, 10],
        "col": [50, 10],
        "radius": [5, 5],
        "score": [0.9, 0.5],
    }
    lesions = {"film": ["a"], "row": [50], "col": [50], "radius": [-3]}
    with pytest.raises(ValueError, match="negative radius") as excinfo:
        froc(candidates, lesions, ["a", "b"], n_bootstraps=0)
    _one_line_error(excinfo, "lesions")


@pytest.mark.parametrize(
    "y, scores, name",
    [
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4], "scores"),  # was: threshold 0.3
        ([0, 1, 0, 1], [0.1, 0.3, 0.4], "scores"),  # was: an IndexError
        ([0, 2, 0, 2], [0.1, 0.2, 0.3, 0.4], "y_true"),  # was: "needs both classes"
    ],
)
def test_choose_threshold_checks_labels_and_scores(y, scores, name):
    with pytest.raises(ValueError, match=name) as excinfo:
        choose_threshold(y, scores, "specificity=0.5")
    _one_line_error(excinfo, name)


# -------------------------------------------------------- issue 21: poor errors
@pytest.mark.parametrize(
    "take, match",
    [(lambda X, y: (X, np.zeros_like(y)), "one class"), (lambda X, y: (X[:0], y[:0]), "empty")],
)
def test_evaluate_of_one_class_or_no_sample_is_a_one_line_error(tabular, take, match):
    X, y = take(*tabular)
    with pytest.raises(ValueError, match=match) as excinfo:
        evaluate(LogisticRegression(), X, y, cv=3, n_boot=100)
    _one_line_error(excinfo)


@pytest.mark.parametrize("y", [np.zeros(10, int), np.zeros(0, int)])
def test_cross_val_predictions_of_one_class_or_no_sample_is_a_one_line_error(y):
    # was: an IndexError on classes[1]
    with pytest.raises(ValueError, match="exactly two classes") as excinfo:
        cross_val_predictions(LogisticRegression(), np.zeros((len(y), 2)), y, cv=2)
    _one_line_error(excinfo, "y")


def test_delong_with_one_positive_is_an_error_not_p_equal_one():
    # was: a NaN variance read as "no difference", p = 1.0
    with pytest.raises(ValueError, match="at least two positives") as excinfo:
        delong_test([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9], [0.3, 0.2, 0.1, 0.5])
    _one_line_error(excinfo, "y_true")


@pytest.fixture(scope="module")
def small_report():
    y = np.tile([0, 1], 20)
    score = y + np.linspace(-0.6, 0.6, 40)
    predictions = pd.DataFrame(
        {
            "sample": np.arange(40),
            "fold": np.arange(40) % 2,
            "candidate": "model",
            "y_true": y,
            "score": score,
            "y_pred": (score > 0.5).astype(int),
        }
    )
    return evaluate_predictions(predictions, metrics=["roc_auc", "f1"], n_boot=100)


@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({"metrics": ["foo"]}, ["metrics", "'foo'", "roc_auc"]),
        ({"digits": -1}, ["digits", "-1"]),
        ({"digits": 0}, ["digits"]),
    ],
)
def test_format_table_options_are_one_line_errors(small_report, kwargs, names):
    # was: a KeyError 12 frames down, and a format error
    with pytest.raises(ValueError) as excinfo:
        small_report.format_table(**kwargs)
    _one_line_error(excinfo, *names)


def test_froc_without_any_candidate_has_sensitivity_zero():
    # was: ValueError on an empty argmax
    empty = {"film": [], "row": [], "col": [], "radius": [], "score": []}
    lesions = {"film": ["a"], "row": [50], "col": [50], "radius": [8]}
    result = froc(empty, lesions, ["a", "b"], n_bootstraps=20)
    assert (result.table["sensitivity"] == 0).all()
    assert len(result.fp_scores) == 0 and len(result.curve) == 0


def test_froc_without_false_positives_finds_the_lesion():
    lesions = {"film": ["a"], "row": [52], "col": [50], "radius": [8]}
    result = froc(_FILM_A, lesions, ["a", "b"], n_bootstraps=0)
    assert (result.table["sensitivity"] == 1).all()


def test_lesion_map_of_a_film_holding_nan_names_the_film():
    film = np.full((64, 64), 100.0)
    film[3, 4] = np.nan
    with pytest.raises(ValueError, match="film holds 1 NaN") as excinfo:
        lesion_map(LogisticRegression(), film, crop_size=32, output_size=16)
    _one_line_error(excinfo, "film")


def test_overlay_into_a_missing_folder_creates_it_and_a_file_in_the_way_is_named(tmp_path):
    # was: FileNotFoundError naming the hidden temporary file ".overlay-XXXX.png"
    missing = tmp_path / "no such folder"
    out = plot_overlay(np.zeros((8, 8)), np.ones((8, 8)), path=missing / "overlay.png")
    assert out == missing / "overlay.png" and out.stat().st_size > 0
    blocker = tmp_path / "a file"
    blocker.write_text("user data")
    with pytest.raises(OSError) as excinfo:
        plot_overlay(np.zeros((8, 8)), np.ones((8, 8)), path=blocker / "overlay.png")
    assert "a file" in str(excinfo.value) and ".overlay-" not in str(excinfo.value)
    assert blocker.read_text() == "user data"


# -------------------------------------------- degenerate results: flags, warnings
def test_redrawn_resamples_are_flagged_without_a_warning():
    y = np.r_[np.zeros(9, int), 1]
    s = np.linspace(0, 1, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = bootstrap_metrics(y, scores=s, metrics=["roc_auc"], n_boot=200, random_state=0)
    assert res.n_redrawn > 0 and "redrawn" in res.flags
    assert str(res.n_redrawn) in res.flags["redrawn"]


def test_a_model_predicting_one_class_is_flagged_and_warned_about(tabular):
    with pytest.warns(DegenerateResultWarning, match="predict one class") as record:
        report = evaluate(
            DummyClassifier(strategy="most_frequent"),
            *tabular,
            cv=3,
            n_boot=100,
            metrics=["roc_auc", "accuracy"],
        )
    assert "one_class_predictions" in report.config["flags"]
    assert all(issubclass(w.category, DegenerateResultWarning) for w in record)


def test_a_sound_report_has_no_flags(small_report):
    assert small_report.config["flags"] == {}
