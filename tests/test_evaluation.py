"""Correctness of the evaluation layer against references we did not write.

scikit-learn's metric functions, scipy.stats.bootstrap, published values (Hanley &
McNeil 1982; Agresti's McNemar example; Holm 1979's procedure), an explicit
double-loop implementation of DeLong's structural components, and simulations with a
known truth (coverage, uniform p-values under the null).
"""

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    RandomizedSearchCV,
    ShuffleSplit,
    StratifiedKFold,
    cross_val_predict,
    cross_validate,
)
from sklearn.svm import LinearSVC

from skbreastcad.evaluation import (
    DEFAULT_METRICS,
    apply_threshold_policy,
    bootstrap_counts,
    bootstrap_metrics,
    choose_threshold,
    cross_val_predictions,
    delong_covariance,
    delong_test,
    evaluate,
    evaluate_predictions,
    holm_correction,
    mcnemar_test,
    paired_bootstrap_test,
    weighted_metrics,
)
from skbreastcad.metrics import specificity_score


def _reference_metrics(y, s, p):
    fpr, tpr, _ = roc_curve(y, s)
    spec_at = [1 - f for f, t in zip(fpr, tpr) if t >= 0.9 - 1e-12]
    return {
        "accuracy": accuracy_score(y, p),
        "precision": precision_score(y, p, zero_division=0),
        "sensitivity": recall_score(y, p, zero_division=0),
        "specificity": specificity_score(y, p),
        "f1": f1_score(y, p, zero_division=0),
        "roc_auc": roc_auc_score(y, s),
        "average_precision": average_precision_score(y, s),
        "sensitivity@specificity=0.9": tpr[fpr <= 0.1 + 1e-12].max(),
        "specificity@sensitivity=0.9": max(spec_at),
    }


@pytest.fixture
def scored(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    n = 240
    y = rng.integers(0, 2, n)
    # rounded scores: many ties, which AUC and AP must count exactly as scikit-learn does
    s = np.round(y + rng.normal(size=n), 1)
    p = (s > 0.4).astype(int)
    return y, s, p


def test_weighted_metrics_equal_sklearn_on_repeated_samples(scored, global_random_seed):
    y, s, p = scored
    rng = np.random.default_rng(global_random_seed + 1)
    W = rng.integers(0, 3, (6, len(y)))
    out = weighted_metrics(W, y, scores=s[None], y_pred=p[None], metrics=DEFAULT_METRICS)
    for b in range(len(W)):
        idx = np.repeat(np.arange(len(y)), W[b])
        for name, value in _reference_metrics(y[idx], s[idx], p[idx]).items():
            assert out[name][b, 0] == pytest.approx(value, abs=1e-12), name


def test_a_patient_drawn_twice_counts_twice():
    # 3 patients; the resample draws patient 0 twice and patient 2 once
    groups = np.array([10, 10, 11, 12, 12, 12])
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.2, 0.4, 0.5, 0.1, 0.3])
    counts = np.array([[2, 0, 1]])
    codes = np.unique(groups, return_inverse=True)[1]
    W = counts[:, codes]
    auc = weighted_metrics(W, y, scores=s[None], metrics=["roc_auc"])["roc_auc"][0, 0]
    drawn = np.concatenate([np.flatnonzero(groups == g) for g in (10, 10, 12)])
    assert auc == pytest.approx(roc_auc_score(y[drawn], s[drawn]))
    # the np.isin shortcut merges the two copies of patient 10 and gets another value
    merged = np.isin(groups, [10, 10, 12])
    assert auc != pytest.approx(roc_auc_score(y[merged], s[merged]))


def test_bootstrap_counts_draw_whole_groups_with_replacement():
    counts, n_redrawn = bootstrap_counts(np.arange(7), 7, 500, random_state=0)
    assert counts.shape == (500, 7) and (counts.sum(axis=1) == 7).all() and n_redrawn == 0
    # the same draws as numpy's generator (and so as scipy.stats.bootstrap)
    idx = np.random.default_rng(0).integers(0, 7, (500, 7))
    np.testing.assert_array_equal(counts, np.stack([np.bincount(r, minlength=7) for r in idx]))


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_sample_level_intervals_equal_scipy_bootstrap_on_same_resamples(method):
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(60), np.ones(40)].astype(int)
    s = y + rng.normal(size=100)
    p = (s > 0.5).astype(int)
    ours = bootstrap_metrics(
        y,
        scores=s,
        y_pred=p,
        metrics=["roc_auc", "f1"],
        n_boot=400,
        method=method.lower(),
        random_state=7,
    )
    assert ours.n_redrawn == 0  # otherwise the resamples would differ from scipy's
    for name, fn, data in (("roc_auc", roc_auc_score, (y, s)), ("f1", f1_score, (y, p))):
        ref = stats.bootstrap(
            data,
            fn,
            paired=True,
            vectorized=False,
            n_resamples=400,
            method=method,
            rng=np.random.default_rng(7),
        )
        np.testing.assert_allclose(
            ours.distribution[name][:, 0], ref.bootstrap_distribution, rtol=0, atol=1e-12
        )
        assert ours.ci_low[name][0] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
        assert ours.ci_high[name][0] == pytest.approx(ref.confidence_interval.high, abs=1e-12)


def _clustered_scores(rng, n_patients=40, per_patient=8, d=1.0):
    """ROIs of 40 women: 40% have 4 lesion ROIs, and every woman 4 or 8 normal ones.

    All ROIs of a woman share a texture offset, and her lesions share their
    conspicuity, so ROIs of one woman are not independent (as in MIAS).
    """
    groups = np.repeat(np.arange(n_patients), per_patient)
    cancer = rng.random(n_patients) < 0.4
    y = (cancer[groups] & (np.arange(len(groups)) % per_patient < 4)).astype(int)
    s = d * y + rng.normal(size=n_patients)[groups] + rng.normal(size=n_patients)[groups] * y
    s = s + rng.normal(size=len(groups))
    # a random lesion ROI ~ N(d, 3) against a random normal ROI ~ N(0, 2) of another woman
    auc = stats.norm.cdf(d / np.sqrt(5))
    return y, s, groups, auc


def test_patient_bootstrap_interval_covers_the_population_auc():
    rng = np.random.default_rng(7)
    covered = {"patients": 0, "rois": 0}
    n_rep = 200
    for _ in range(n_rep):
        y, s, groups, auc = _clustered_scores(rng)
        seed = rng.integers(1 << 31)
        for unit, g in (("patients", groups), ("rois", None)):
            res = bootstrap_metrics(
                y, scores=s, groups=g, metrics=["roc_auc"], n_boot=400, random_state=seed
            )
            covered[unit] += res.ci_low["roc_auc"][0] <= auc <= res.ci_high["roc_auc"][0]
    assert covered["patients"] / n_rep >= 0.90, covered
    # resampling ROIs as if independent gives intervals that are too narrow
    assert covered["rois"] / n_rep < 0.85, covered


def test_one_class_resamples_are_redrawn_and_counted():
    y = np.array([0, 0, 0, 0, 0, 1, 1, 0])
    s = np.array([0.1, 0.3, 0.2, 0.4, 0.5, 0.9, 0.6, 0.7])
    groups = np.array([0, 0, 1, 1, 2, 3, 3, 4])  # the positives sit in one patient
    res = bootstrap_metrics(
        y, scores=s, groups=groups, metrics=["roc_auc"], n_boot=300, random_state=0
    )
    assert res.n_redrawn > 0
    assert np.isfinite(res.distribution["roc_auc"]).all()
    with pytest.raises(ValueError, match="one class only"):
        bootstrap_metrics(np.zeros(5, int), scores=np.arange(5.0), metrics=["roc_auc"], n_boot=10)


# ---------------------------------------------------------------- thresholds
def test_threshold_policies_match_brute_force(scored):
    y, s, _ = scored
    candidates = np.r_[np.unique(s), np.inf]
    sens = np.array([np.mean(s[y == 1] >= t) for t in candidates])
    spec = np.array([np.mean(s[y == 0] < t) for t in candidates])
    t = choose_threshold(y, s, "specificity=0.8")
    assert t == candidates[spec >= 0.8].min()
    t = choose_threshold(y, s, "sensitivity=0.8")
    assert t == candidates[sens >= 0.8].max()
    t = choose_threshold(y, s, "youden")
    assert sens[candidates == t] + spec[candidates == t] == pytest.approx((sens + spec).max())
    assert choose_threshold(y, s, 0.5) == 0.5


def test_threshold_never_depends_on_the_fold_it_is_scored_on():
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "sample": np.arange(n),
            "group": np.arange(n),
            "fold": np.arange(n) % 3,
            "candidate": "model",
            "y_true": rng.integers(0, 2, n),
        }
    )
    frame["score"] = frame["y_true"] + rng.normal(size=n)
    frame["y_pred"] = (frame["score"] > 0.5).astype(int)
    for policy in ("specificity=0.9", "youden", "sensitivity=0.85"):
        before, thresholds_before = apply_threshold_policy(frame, policy)
        changed = frame.copy()
        in_fold = changed["fold"] == 1
        changed.loc[in_fold, "score"] = rng.normal(
            loc=5, size=in_fold.sum()
        )  # only fold 1's scores
        changed.loc[in_fold, "y_true"] = 1 - changed.loc[in_fold, "y_true"]  # and its labels
        after, thresholds_after = apply_threshold_policy(changed, policy)
        t0 = thresholds_before.set_index("fold")["threshold"]
        t1 = thresholds_after.set_index("fold")["threshold"]
        assert t1[1] == t0[1], policy  # fold 1's threshold: chosen on folds 0 and 2 only
        assert t1[0] != t0[0] or t1[2] != t0[2], policy  # the others did see fold 1
        # fold 1 is labelled with its threshold
        np.testing.assert_array_equal(
            after.loc[in_fold, "y_pred"], (after.loc[in_fold, "score"] >= t1[1])
        )


# ---------------------------------------------------------------- out-of-fold predictions
@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=150) > 0.4).astype(int)
    return X, y, np.arange(150) // 3


def test_out_of_fold_predictions_equal_gridsearch_and_cross_val_predict(tabular):
    X, y, _ = tabular
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    grid = {"C": [0.01, 1.0], "fit_intercept": [True, False]}
    scoring = {"auc": "roc_auc", "acc": "accuracy"}
    search = GridSearchCV(LogisticRegression(), grid, cv=cv, scoring=scoring, refit="auc")
    res = cross_val_predictions(search, X, y)
    search.fit(X, y)
    for key in ("mean_test_auc", "std_test_acc", "rank_test_auc", "split2_test_acc"):
        np.testing.assert_allclose(res.cv_results_[key], search.cv_results_[key])
    assert res.cv_results_["params"] == search.cv_results_["params"]
    assert res.best_params_ == search.best_params_ and res.best_index_ == search.best_index_
    np.testing.assert_allclose(res.best_estimator_.coef_, search.best_estimator_.coef_)
    assert len(res.predictions) == len(y) * 4  # samples x candidates, nothing more
    for label, params in zip(res.candidates_, search.cv_results_["params"]):
        ref = cross_val_predict(LogisticRegression(**params), X, y, cv=cv, method="predict_proba")[
            :, 1
        ]
        mine = res.predictions[res.predictions["candidate"] == label].sort_values("sample")
        np.testing.assert_allclose(mine["score"], ref)
        np.testing.assert_array_equal(mine["sample"], np.arange(len(y)))


def test_randomized_search_and_decision_function(tabular):
    X, y, _ = tabular
    search = RandomizedSearchCV(
        LinearSVC(), {"C": stats.loguniform(1e-3, 1e2)}, n_iter=3, cv=3, random_state=0
    )
    res = cross_val_predictions(search, X, y)
    search.fit(X, y)
    assert res.cv_results_["params"] == search.cv_results_["params"]
    np.testing.assert_allclose(
        res.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"]
    )
    ref = cross_val_predict(
        LinearSVC(**search.cv_results_["params"][0]), X, y, cv=3, method="decision_function"
    )
    mine = res.predictions[res.predictions["candidate"] == res.candidates_[0]]
    np.testing.assert_allclose(mine["score"], ref)


class _RecordingKFold(GroupKFold):
    seen = []

    def split(self, X, y=None, groups=None):
        type(self).seen.append(None if groups is None else np.asarray(groups).copy())
        return super().split(X, y, groups)


def test_groups_reach_the_splitter_and_folds_never_split_a_patient(tabular):
    X, y, groups = tabular
    _RecordingKFold.seen = []
    res = cross_val_predictions(LogisticRegression(), X, y, groups=groups, cv=_RecordingKFold(3))
    np.testing.assert_array_equal(_RecordingKFold.seen[0], groups)
    per_group = res.predictions.groupby("group")["fold"].nunique()
    assert (per_group == 1).all()
    # an integer cv with groups is group-aware too
    res = cross_val_predictions(LogisticRegression(), X, y, groups=groups, cv=4)
    assert (res.predictions.groupby("group")["fold"].nunique() == 1).all()
    with (
        pytest.raises(ValueError, match="ignores groups"),
        pytest.warns(UserWarning, match="ignored"),
    ):
        cross_val_predictions(
            LogisticRegression(), X, y, groups=groups, cv=KFold(3, shuffle=True, random_state=0)
        )
    with pytest.raises(ValueError, match="exactly one test fold"):
        cross_val_predictions(LogisticRegression(), X, y, cv=ShuffleSplit(3, random_state=0))


def test_parallel_run_equals_sequential(tabular):
    X, y, groups = tabular
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=GroupKFold(3))
    one = cross_val_predictions(search, X, y, groups=groups, n_jobs=1)
    # threads: the same joblib code path as processes or Dask, without their start-up time on CI
    with parallel_config(backend="threading"):
        two = cross_val_predictions(search, X, y, groups=groups, n_jobs=2)
    pd.testing.assert_frame_equal(one.predictions, two.predictions)


# ---------------------------------------------------------------- paired comparison
def _delong_by_double_loops(y, a, b):
    """DeLong et al. (1988), Eqs. (2)-(5), computed literally with explicit loops."""
    X = [(a[i], b[i]) for i in range(len(y)) if y[i] == 1]
    Y = [(a[j], b[j]) for j in range(len(y)) if y[j] == 0]
    m, n = len(X), len(Y)

    def psi(x, v):
        return 1.0 if x > v else 0.5 if x == v else 0.0

    V10 = np.zeros((m, 2))
    V01 = np.zeros((n, 2))
    for r in range(2):
        for i in range(m):
            V10[i, r] = sum(psi(X[i][r], Y[j][r]) for j in range(n)) / n
        for j in range(n):
            V01[j, r] = sum(psi(X[i][r], Y[j][r]) for i in range(m)) / m
    theta = V10.mean(axis=0)
    S10 = np.zeros((2, 2))
    S01 = np.zeros((2, 2))
    for r in range(2):
        for s in range(2):
            S10[r, s] = sum((V10[i, r] - theta[r]) * (V10[i, s] - theta[s]) for i in range(m)) / (
                m - 1
            )
            S01[r, s] = sum((V01[j, r] - theta[r]) * (V01[j, s] - theta[s]) for j in range(n)) / (
                n - 1
            )
    S = S10 / m + S01 / n
    z = (theta[0] - theta[1]) / np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    return theta, S, z


def test_fast_delong_equals_the_papers_formulas_computed_by_loops(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    y = rng.integers(0, 2, 70)
    a = np.round(y + rng.normal(size=70), 1)  # ties on purpose
    b = np.round(0.5 * y + rng.normal(size=70), 1)
    theta, S, z = _delong_by_double_loops(y, a, b)
    aucs, cov = delong_covariance(y, np.vstack([a, b]))
    np.testing.assert_allclose(aucs, theta, atol=1e-12)
    np.testing.assert_allclose(cov, S, atol=1e-12)
    res = delong_test(y, a, b)
    assert res.statistic == pytest.approx(z)
    assert res.pvalue == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert res.auc_a == pytest.approx(roc_auc_score(y, a))


def test_delong_auc_on_hanley_mcneil_ct_ratings():
    # Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT ratings (1-5) of 58 normal
    # and 51 abnormal cases; the Wilcoxon area reported there is 0.893.
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58), np.ones(51)].astype(int)
    ratings = np.r_[normal, abnormal].astype(float)
    aucs, cov = delong_covariance(y, ratings[None])
    assert aucs[0] == pytest.approx(0.893, abs=5e-4)
    # the Hanley-McNeil standard error reported there is 0.032; DeLong's nonparametric
    # estimate of the same quantity agrees to the precision given
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.032, abs=2e-3)


def test_delong_pvalues_are_uniform_under_the_null():
    rng = np.random.default_rng(11)
    pvalues = []
    for _ in range(400):
        y = (rng.random(120) < 0.4).astype(int)
        shared = rng.normal(size=120)  # correlated candidates of equal true AUC
        a = y + shared + rng.normal(size=120)
        b = y + shared + rng.normal(size=120)
        pvalues.append(delong_test(y, a, b).pvalue)
    pvalues = np.array(pvalues)
    assert stats.kstest(pvalues, "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(pvalues < 0.05) <= 0.09


def test_mcnemar_on_agrestis_presidential_approval_example():
    # Agresti, Categorical Data Analysis (2002), Table 10.1: approval of the president in two
    # surveys of the same 1600 people: 794 approve/approve, 150 approve/disapprove,
    # 86 disapprove/approve, 570 disapprove/disapprove; McNemar's z^2 = 17.36.
    truth = np.ones(1600, int)
    first = np.r_[np.ones(794 + 150), np.zeros(86 + 570)].astype(int)
    second = np.r_[np.ones(794), np.zeros(150), np.ones(86), np.zeros(570)].astype(int)
    res = mcnemar_test(truth, first, second, exact=False, correction=False)
    assert (res["b"], res["c"]) == (150, 86)
    assert res["statistic"] == pytest.approx(17.36, abs=0.005)
    assert res["pvalue"] < 1e-4
    exact = mcnemar_test(truth, first, second)
    assert exact["pvalue"] == pytest.approx(stats.binomtest(86, 236).pvalue)


def test_holm_step_down():
    # Holm (1979): the i-th smallest of k p-values is multiplied by k - i + 1, then made monotone
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(holm_correction(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm_correction(p)[4])
    assert (holm_correction([0.5, 0.9]) <= 1).all()


def test_paired_bootstrap_of_a_difference(tabular):
    X, y, groups = tabular
    rng = np.random.default_rng(0)
    good = y + rng.normal(size=len(y))
    bad = y + rng.normal(scale=4, size=len(y))
    res = paired_bootstrap_test(
        y, scores=np.vstack([good, bad]), groups=groups, n_boot=500, random_state=0
    )
    assert res["difference"] == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, bad))
    assert res["ci_low"] > 0 and res["pvalue"] < 0.05
    same = paired_bootstrap_test(y, scores=np.vstack([good, good]), n_boot=200, random_state=0)
    assert same["difference"] == 0 and same["pvalue"] == 1.0


# ---------------------------------------------------------------- bad input
class _MustNotFit(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise AssertionError("fit ran before the input was checked")


@pytest.mark.parametrize(
    "kwargs, y, match",
    [
        ({"groups": np.arange(10)}, None, "groups must have shape"),
        ({}, np.arange(40) % 3, "two classes"),
        ({"n_boot": 0}, None, "n_boot must be an integer >= 1"),
        ({"threshold": "specificity=1.2"}, None, r"must lie in \(0, 1\)"),
        ({"threshold": "specificity=0"}, None, r"must lie in \(0, 1\)"),
        ({"metrics": ["sensitivity@specificity=1.5"]}, None, r"must lie in \(0, 1\)"),
        ({"metrics": ["auc"]}, None, "Unknown metric 'auc'"),
        ({"threshold": "median"}, None, "Unknown threshold policy"),
    ],
)
def test_bad_input_fails_before_any_fit(kwargs, y, match):
    X = np.zeros((40, 2))
    y = np.arange(40) % 2 if y is None else y
    with pytest.raises(ValueError, match=match):
        evaluate(_MustNotFit(), X, y, cv=2, **kwargs)


def test_a_candidate_without_predictions_is_named():
    frame = pd.DataFrame(
        {
            "sample": [0, 1, 2, 3] * 2,
            "group": [0, 1, 2, 3] * 2,
            "fold": [0, 0, 1, 1] * 2,
            "candidate": ["a"] * 4 + ["b"] * 4,
            "y_true": [0, 1, 0, 1] * 2,
            "score": [0.1, 0.8, 0.3, 0.6, 0.2, 0.7, np.nan, 0.9],
            "y_pred": [0, 1, 0, 1] * 2,
        }
    )
    with pytest.raises(ValueError, match="'b' has missing"):
        evaluate_predictions(frame, n_boot=10)
    with pytest.raises(ValueError, match="'b' has no predictions for 1 of the 4 samples"):
        evaluate_predictions(frame.drop(index=6), n_boot=10)
    frame.loc[6, "score"] = 0.4
    frame["candidate"] = pd.Categorical(frame["candidate"], categories=["a", "b", "c"])
    with pytest.raises(ValueError, match="'c' has no predictions"):
        evaluate_predictions(frame, n_boot=10)


def test_binary_metric_on_non_binary_labels_is_refused():
    with pytest.raises(ValueError, match="binary 0/1"):
        bootstrap_metrics([0, 1, 2, 1], scores=[0.1, 0.2, 0.3, 0.4], metrics=["roc_auc"], n_boot=5)
    with pytest.raises(ValueError, match="binary 0/1"):
        delong_test([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])


def test_a_pipeline_transforms_each_test_fold_once(tabular):
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = tabular
    calls = []

    def count(Z):
        calls.append(len(Z))
        return Z

    pipe = make_pipeline(
        FunctionTransformer(count), RandomOverSampler(random_state=0), LogisticRegression()
    )
    scoring = {"auc": "roc_auc", "acc": "accuracy", "ap": "average_precision"}
    res = cross_val_predictions(pipe, X, y, cv=3, scoring=scoring)
    test_sizes = [n for n in calls if n < 100]  # training folds hold 100 samples, test folds 50
    assert test_sizes == [50, 50, 50]
    ref = cross_val_predict(pipe, X, y, cv=3, method="predict_proba")[:, 1]
    np.testing.assert_allclose(res.predictions.sort_values("sample")["score"], ref)
    ref_auc = cross_validate(pipe, X, y, cv=3, scoring="roc_auc")["test_score"]
    np.testing.assert_allclose(
        [res.cv_results_[f"split{k}_test_auc"][0] for k in range(3)], ref_auc
    )
