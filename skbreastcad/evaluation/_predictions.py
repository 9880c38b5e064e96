"""Out-of-fold predictions of every candidate of a search, in the same pass as the search.

``GridSearchCV`` fits every candidate on every fold and keeps only the scores; the
predictions behind them are gone, and getting them back takes a second
``cross_val_predict`` run per candidate. :func:`cross_val_predictions` runs the
candidate x fold loop itself (``clone``, ``check_cv``, joblib ``Parallel``, so any
joblib backend, Dask included, runs it) and returns from every fit both the scorers'
values, as ``cv_results_``, and the test fold's scores, as a tidy frame.
"""

import time
from numbers import Integral

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    ParameterSampler,
    RandomizedSearchCV,
    StratifiedGroupKFold,
    check_cv,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import indexable

from ..utils._sklearn_compat import BaseSearchCV, _safe_indexing

__all__ = ["CrossValPredictions", "cross_val_predictions", "positive_scores"]

PREDICTION_COLUMNS = ("sample", "group", "fold", "candidate", "y_true", "score", "y_pred")


class _CachedResponses:
    """An estimator stand-in that answers ``predict*`` on the test fold from one transform.

    Scorers, the score column and the label column all ask the fitted estimator
    for outputs on the same test fold (``predict``, ``predict_proba``,
    ``decision_function``); for a texture pipeline each ask would recompute every
    feature. For a pipeline the test fold goes through the transforms once and
    the final step answers all asks; any other estimator's answers are cached.
    """

    def __init__(self, estimator, X):
        self._estimator = estimator
        self._X = X
        self._cache = {}
        self._Xt = None

    def _final_input(self):
        from sklearn.pipeline import Pipeline

        if not isinstance(self._estimator, Pipeline):
            return self._estimator, self._X
        if self._Xt is None:
            Xt = self._X
            # what Pipeline.predict does: passthrough steps and (imblearn) samplers are skipped
            for _, step in self._estimator.steps[:-1]:
                if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
                    continue
                Xt = step.transform(Xt)
            self._Xt = Xt
        return self._estimator.steps[-1][1], self._Xt

    def _respond(self, method, X):
        if X is not self._X:
            return getattr(self._estimator, method)(X)
        if method not in self._cache:
            final, Xt = self._final_input()
            self._cache[method] = getattr(final, method)(Xt)
        return self._cache[method]

    @available_if(lambda self: hasattr(self._estimator, "predict"))
    def predict(self, X):
        return self._respond("predict", X)

    @available_if(lambda self: hasattr(self._estimator, "predict_proba"))
    def predict_proba(self, X):
        return self._respond("predict_proba", X)

    @available_if(lambda self: hasattr(self._estimator, "decision_function"))
    def decision_function(self, X):
        return self._respond("decision_function", X)

    def __getattr__(self, name):
        # classes_, tags, score, ...: whatever scorers look up on the estimator
        if name in ("_estimator", "_X", "_cache", "_Xt"):
            raise AttributeError(name)
        return getattr(self._estimator, name)


def positive_scores(estimator, X, pos_label):
    """Score the positive class: its probability, else the decision value, else the label.

    Parameters
    ----------
    estimator : fitted classifier
        Asked for ``predict_proba``, else ``decision_function``, else ``predict``.
    X : array-like of shape (n_samples, ...)
        Samples the estimator accepts.
    pos_label : int or str
        The positive class, one of ``estimator.classes_``.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Higher means more likely positive.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array(["benign", "benign", "tumour", "tumour"])
    >>> clf = LogisticRegression().fit(X, y)
    >>> scores = positive_scores(clf, X, "tumour")
    >>> bool(np.all(np.diff(scores) > 0))
    True
    """
    classes = getattr(estimator, "classes_", None)
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X))
        return proba[:, list(classes).index(pos_label)].astype(float)
    if hasattr(estimator, "decision_function"):
        decision = np.asarray(estimator.decision_function(X), dtype=float).ravel()
        return -decision if classes is not None and classes[0] == pos_label else decision
    return (np.asarray(estimator.predict(X)) == pos_label).astype(float)


def _fit_params_for(fit_params, indices, n_samples):
    out = {}
    for key, value in fit_params.items():
        if hasattr(value, "__len__") and not isinstance(value, str) and len(value) == n_samples:
            out[key] = _safe_indexing(value, indices)
        else:
            out[key] = value
    return out


def _fit_and_predict(
    estimator, params, X, y, train, test, fit_params, scorer, pos_label, verbose, tag
):
    estimator = clone(estimator).set_params(**clone(params, safe=False))
    start = time.perf_counter()
    estimator.fit(_safe_indexing(X, train), y[train], **_fit_params_for(fit_params, train, len(y)))
    fit_time = time.perf_counter() - start
    X_test = _safe_indexing(X, test)
    responses = _CachedResponses(estimator, X_test)
    start = time.perf_counter()
    scores = positive_scores(responses, X_test, pos_label)
    y_pred = (np.asarray(responses.predict(X_test)) == pos_label).astype(int)
    test_scores = scorer(responses, X_test, y[test])
    score_time = time.perf_counter() - start
    if not isinstance(test_scores, dict):
        test_scores = {"score": test_scores}
    if verbose > 1:
        print(f"[cross_val_predictions] {tag}: fit {fit_time:.1f} s, score {score_time:.1f} s")
    return {
        "test": test,
        "score": scores,
        "y_pred": y_pred,
        "fit_time": fit_time,
        "score_time": score_time,
        "test_scores": {k: float(v) for k, v in test_scores.items()},
    }


def _short(value):
    if hasattr(value, "get_params"):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def candidate_labels(candidates):
    """Readable, unique labels for parameter dicts (``C=0.1, kernel='rbf'``)."""
    if len(candidates) == 1 and not candidates[0]:
        return ["estimator"]
    labels = [
        ", ".join(f"{k.rsplit('__', 1)[-1]}={_short(v)}" for k, v in p.items()) for p in candidates
    ]
    seen = {}
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[i] = f"{label} #{seen[label]}"
    return labels


class CrossValPredictions:
    """Result of :func:`cross_val_predictions`: a search's results and its predictions.

    Parameters
    ----------
    **attributes : dict
        The attributes below, set by :func:`cross_val_predictions`.

    Attributes
    ----------
    predictions : pandas.DataFrame
        One row per sample and candidate: ``sample`` (position in ``X``),
        ``group``, ``fold``, ``candidate``, ``y_true`` (1 = positive), ``score``
        (probability of the positive class, else decision value, else label) and
        ``y_pred`` (the estimator's ``predict``, as 0/1).
    candidates_ : list of str
        Candidate labels, in the order of ``cv_results_["params"]``.
    cv_results_ : dict of str to ndarray
        As :attr:`sklearn.model_selection.GridSearchCV.cv_results_`.
    best_index_, best_params_, best_score_ : int, dict, float
        Set when ``refit`` names a metric (or is True with one metric).
    best_estimator_ : estimator
        The best candidate refitted on all data, when ``refit`` asks for it.
    refit_time_ : float
    n_splits_ : int
    pos_label : int or str
    elapsed_s : float
        Wall time of the candidate x fold loop.

    See Also
    --------
    cross_val_predictions : Build this result.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = make_classification(60, random_state=0)
    >>> res = cross_val_predictions(GaussianNB(), X, y, cv=3)
    >>> res
    CrossValPredictions(1 candidates x 3 folds, 60 predictions)
    >>> res.predictions.columns.tolist()
    ['sample', 'group', 'fold', 'candidate', 'y_true', 'score', 'y_pred']
    """

    def __init__(self, **attributes):
        self.__dict__.update(attributes)

    def __repr__(self):
        return (
            f"CrossValPredictions({len(self.candidates_)} candidates x {self.n_splits_} folds, "
            f"{len(self.predictions)} predictions)"
        )


def _read_search(estimator):
    """Estimator, candidates, cv, scoring and refit of a plain estimator or a search."""
    if isinstance(estimator, GridSearchCV):
        candidates = list(ParameterGrid(estimator.param_grid))
    elif isinstance(estimator, RandomizedSearchCV):
        candidates = list(
            ParameterSampler(
                estimator.param_distributions, estimator.n_iter, random_state=estimator.random_state
            )
        )
    elif isinstance(estimator, BaseSearchCV):
        raise TypeError(
            f"{type(estimator).__name__} is not supported: pass a GridSearchCV, a RandomizedSearchCV "
            "or a plain estimator."
        )
    else:
        return estimator, [{}], None, None, False, None
    return (
        estimator.estimator,
        candidates,
        estimator.cv,
        estimator.scoring,
        estimator.refit,
        estimator.n_jobs,
    )


def cross_val_predictions(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=None,
    scoring=None,
    refit=None,
    candidate_names=None,
    pos_label=None,
    n_jobs=None,
    verbose=0,
    fit_params=None,
):
    """Cross-validate every candidate of a search and keep its out-of-fold predictions.

    Parameters
    ----------
    estimator : estimator, GridSearchCV or RandomizedSearchCV
        A plain classifier is one candidate. From a (not yet fitted) search are
        read its estimator, candidates, ``cv``, ``scoring``, ``refit`` and
        ``n_jobs``; arguments given here override them.
    X : array-like of shape (n_samples, ...)
        Images ``(n, H, W)``, rows, or anything the estimator accepts.
    y : array-like of shape (n_samples,)
        Binary labels.
    groups : array-like of shape (n_samples,), default=None
        Patient ids, passed to the splitter. With an integer ``cv`` they select
        :class:`~sklearn.model_selection.StratifiedGroupKFold`.
    cv : int, splitter or iterable, default=None
        Every sample must be in exactly one test fold. ``None``: the search's,
        else 5 folds.
    scoring : str, callable, list or dict, default=None
        As in ``GridSearchCV``; ``None``: the search's, else the estimator's ``score``.
    refit : bool, str or callable, default=None
        As in ``GridSearchCV``; ``None``: the search's, else False.
    candidate_names : sequence of str, default=None
        Labels of the candidates; default labels are built from their parameters.
    pos_label : int or str, default=None
        The positive class; ``None`` takes the greater of the two labels.
    n_jobs : int, default=None
        Parallel fits (joblib; ``parallel_config(backend="dask")`` runs them on Dask).
    verbose : int, default=0
        Timing of every fit when above 1; passed to joblib's ``Parallel``.
    fit_params : dict, default=None
        Passed to every ``fit``; per-sample arrays are sliced to the training fold.

    Returns
    -------
    result : CrossValPredictions
        ``cv_results_`` like a ``GridSearchCV`` and ``predictions``, a tidy frame of
        ``n_samples * n_candidates`` rows.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> X, y = make_classification(100, random_state=0)
    >>> clf = LogisticRegression(solver="liblinear")
    >>> search = GridSearchCV(clf, {"C": [0.01, 1.0]}, cv=3, scoring="roc_auc")
    >>> res = cross_val_predictions(search, X, y)
    >>> res.predictions.shape, res.candidates_
    ((200, 7), ['C=0.01', 'C=1.0'])
    >>> res.best_params_ == search.fit(X, y).best_params_
    True
    """
    base, candidates, search_cv, search_scoring, search_refit, search_n_jobs = _read_search(
        estimator
    )
    cv = search_cv if cv is None else cv
    scoring = search_scoring if scoring is None else scoring
    refit = search_refit if refit is None else refit
    n_jobs = search_n_jobs if n_jobs is None else n_jobs
    fit_params = dict(fit_params or {})

    X, y, groups = indexable(X, y, groups)
    y = np.asarray(y)
    target_type = type_of_target(y)
    # type_of_target calls one class (or none) "binary" too
    if target_type != "binary" or len(np.unique(y)) != 2:
        raise ValueError(
            f"y must hold exactly two classes for binary evaluation; got target type {target_type!r} "
            f"with classes {np.unique(y)[:10].tolist()}."
        )
    classes = np.unique(y)
    if pos_label is None:
        pos_label = classes[1]
    elif pos_label not in classes:
        raise ValueError(f"pos_label={pos_label!r} is not one of the classes {classes.tolist()}.")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (len(y),):
            raise ValueError(
                f"groups must have shape ({len(y)},), one per sample; got {groups.shape}."
            )
    if candidate_names is not None:
        candidate_names = [str(c) for c in candidate_names]
        if len(candidate_names) != len(candidates) or len(set(candidate_names)) != len(
            candidate_names
        ):
            raise ValueError(
                f"candidate_names must be {len(candidates)} unique names; got {candidate_names!r}."
            )
    labels = candidate_names or candidate_labels(candidates)

    if cv is None:
        cv = 5
    if isinstance(cv, Integral) and groups is not None:
        cv = StratifiedGroupKFold(n_splits=int(cv))
    cv = check_cv(cv, y, classifier=is_classifier(base))
    splits = list(cv.split(X, y, groups))
    test_counts = np.zeros(len(y), dtype=int)
    fold_of = np.empty(len(y), dtype=int)
    for k, (train, test) in enumerate(splits):
        test_counts[test] += 1
        fold_of[test] = k
        if groups is not None and np.intersect1d(groups[train], groups[test]).size:
            raise ValueError(
                f"Fold {k} has the same group in its training and test sets: the splitter "
                f"{type(cv).__name__} ignores groups. Use a group-aware splitter such as "
                "StratifiedGroupKFold, or pass groups=None to resample samples."
            )
    if not (test_counts == 1).all():
        raise ValueError(
            "cv must put every sample in exactly one test fold for out-of-fold predictions; "
            f"{int((test_counts == 0).sum())} samples are in none and {int((test_counts > 1).sum())} "
            "in several."
        )
    scorer = check_scoring(base, scoring)

    start = time.perf_counter()
    tasks = [
        delayed(_fit_and_predict)(
            base,
            params,
            X,
            y,
            train,
            test,
            fit_params,
            scorer,
            pos_label,
            verbose,
            f"{label} fold {k}",
        )
        for label, params in zip(labels, candidates)
        for k, (train, test) in enumerate(splits)
    ]
    outputs = Parallel(n_jobs=n_jobs, verbose=verbose)(tasks)
    elapsed = time.perf_counter() - start

    import pandas as pd

    n_splits = len(splits)
    frames = []
    for c, label in enumerate(labels):
        for k in range(n_splits):
            out = outputs[c * n_splits + k]
            test = out["test"]
            frames.append(
                pd.DataFrame(
                    {
                        "sample": test,
                        "group": groups[test] if groups is not None else test,
                        "fold": k,
                        "candidate": label,
                        "y_true": (y[test] == pos_label).astype(int),
                        "score": out["score"],
                        "y_pred": out["y_pred"],
                    }
                )
            )
    predictions = pd.concat(frames, ignore_index=True)
    predictions["candidate"] = pd.Categorical(predictions["candidate"], categories=labels)
    predictions = predictions.sort_values(["candidate", "sample"], kind="stable").reset_index(
        drop=True
    )

    cv_results = _cv_results(outputs, candidates, n_splits)
    result = CrossValPredictions(
        predictions=predictions,
        candidates_=labels,
        cv_results_=cv_results,
        n_splits_=n_splits,
        pos_label=pos_label,
        elapsed_s=elapsed,
        cv=cv,
        estimator=base,
    )
    _refit(result, base, candidates, refit, X, y, fit_params)
    return result


def _cv_results(outputs, candidates, n_splits):
    from scipy.stats import rankdata

    n_candidates = len(candidates)
    results = {}
    for key in ("fit_time", "score_time"):
        values = np.array([o[key] for o in outputs]).reshape(n_candidates, n_splits)
        results[f"mean_{key}"] = values.mean(axis=1)
        results[f"std_{key}"] = values.std(axis=1)
    param_names = sorted({k for p in candidates for k in p})
    for name in param_names:
        column = np.ma.masked_all(n_candidates, dtype=object)
        for i, p in enumerate(candidates):
            if name in p:
                column[i] = p[name]
        results[f"param_{name}"] = column
    results["params"] = candidates
    for name in outputs[0]["test_scores"]:
        values = np.array([o["test_scores"][name] for o in outputs]).reshape(n_candidates, n_splits)
        for k in range(n_splits):
            results[f"split{k}_test_{name}"] = values[:, k]
        mean = values.mean(axis=1)
        results[f"mean_test_{name}"] = mean
        results[f"std_test_{name}"] = values.std(axis=1)
        ranked = np.where(np.isnan(mean), -np.inf, mean)
        results[f"rank_test_{name}"] = rankdata(-ranked, method="min").astype(np.int32)
    return results


def _refit(result, base, candidates, refit, X, y, fit_params):
    results = result.cv_results_
    metric_names = [k[len("mean_test_") :] for k in results if k.startswith("mean_test_")]
    if refit is False or refit is None:
        return
    if callable(refit):
        best = int(refit(results))
        key = None
    else:
        if refit is True:
            if metric_names != ["score"]:
                raise ValueError(
                    f"refit=True is ambiguous with several metrics {metric_names}; name one of them."
                )
            key = "score"
        else:
            key = refit
            if key not in metric_names:
                raise ValueError(f"refit={refit!r} is not one of the scoring names {metric_names}.")
        best = int(np.argmin(results[f"rank_test_{key}"]))
    result.best_index_ = best
    result.best_params_ = candidates[best]
    if key is not None:
        result.best_score_ = float(results[f"mean_test_{key}"][best])
    start = time.perf_counter()
    result.best_estimator_ = (
        clone(base).set_params(**clone(candidates[best], safe=False)).fit(X, y, **fit_params)
    )
    result.refit_time_ = time.perf_counter() - start
