"""FROC analysis of candidate lesions, with patient-bootstrap confidence intervals."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..evaluation import bootstrap_counts
from ..utils._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["froc"]

DEFAULT_FP_RATES = (0.25, 0.5, 1.0, 2.0, 4.0)


def _hit_matrix(cand, les, hit_rule):
    """Boolean (n_candidates, n_lesions): does each candidate hit each lesion of the same film."""
    if callable(hit_rule):
        hits = np.asarray(
            hit_rule(cand[:, 0], cand[:, 1], cand[:, 2], les[:, 0], les[:, 1], les[:, 2]),
            dtype=bool,
        )
        if hits.shape != (len(cand), len(les)):
            raise ValueError(
                f"hit_rule returned shape {hits.shape}; expected (n_candidates, n_lesions) = "
                f"{(len(cand), len(les))}."
            )
        return hits
    d2 = (cand[:, None, 0] - les[None, :, 0]) ** 2 + (cand[:, None, 1] - les[None, :, 1]) ** 2
    reach = les[None, :, 2] if hit_rule == "inside" else les[None, :, 2] + cand[:, None, 2]
    return d2 <= reach**2


def _frame(data, name, columns):
    import pandas as pd

    frame = pd.DataFrame(data)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it needs {columns}.")
    values = frame[columns[1:]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds NaN or infinite {columns[1:]}.")
    return frame


def _score_films(candidates, lesions, films, hit_rule):
    """Per lesion: best score of a candidate hitting it (-inf: missed); per false positive: its score."""
    index = {film: k for k, film in enumerate(films)}
    for name, frame in (("candidates", candidates), ("lesions", lesions)):
        unknown = sorted(set(frame["film"]) - set(index), key=str)
        if unknown:
            raise ValueError(f"{name} name films that are not in films: {unknown[:5]}.")
    lesion_scores, lesion_film, fp_scores, fp_film = [], [], [], []
    cand_groups = dict(tuple(candidates.groupby("film", sort=False)))
    les_groups = dict(tuple(lesions.groupby("film", sort=False)))
    for film, k in index.items():
        cand = cand_groups.get(film)
        les = les_groups.get(film)
        c = np.empty((0, 3)) if cand is None else cand[["row", "col", "radius"]].to_numpy(float)
        s = np.empty(0) if cand is None else cand["score"].to_numpy(float)
        ll = np.empty((0, 3)) if les is None else les[["row", "col", "radius"]].to_numpy(float)
        hits = (
            _hit_matrix(c, ll, hit_rule)
            if len(c) and len(ll)
            else np.zeros((len(c), len(ll)), bool)
        )
        best = np.where(hits, s[:, None], -np.inf).max(axis=0, initial=-np.inf)
        lesion_scores.append(best)
        lesion_film.append(np.full(len(ll), k))
        # a candidate on any lesion is no false positive, even when another candidate hit it first
        fp = ~hits.any(axis=1)
        fp_scores.append(s[fp])
        fp_film.append(np.full(int(fp.sum()), k))
    return (
        np.concatenate(lesion_scores),
        np.concatenate(lesion_film).astype(int),
        np.concatenate(fp_scores),
        np.concatenate(fp_film).astype(int),
    )


def _sensitivity_at(lesion_scores, lesion_film, fp_scores, fp_film, weights, fp_rates):
    """Sensitivity at each FP rate for each row of film ``weights`` (n_replicates, n_films).

    The operating point for a rate r is the lowest threshold whose mean
    number of false positives per film is at most r: lesions count as found
    when their score exceeds the highest false-positive score that would
    push the rate above r.
    """
    n_films = weights.sum(axis=1)
    order = np.argsort(-fp_scores, kind="stable")
    fp_sorted = fp_scores[order]
    fp_cum = np.cumsum(weights[:, fp_film[order]], axis=1)
    les_order = np.argsort(-lesion_scores, kind="stable")
    les_sorted = lesion_scores[les_order]
    les_cum = np.concatenate(
        [np.zeros((len(weights), 1)), np.cumsum(weights[:, lesion_film[les_order]], axis=1)], axis=1
    )
    n_lesions = les_cum[:, -1]
    out = np.empty((len(weights), len(fp_rates)))
    rows = np.arange(len(weights))
    for j, rate in enumerate(fp_rates):
        over = fp_cum > rate * n_films[:, None] + 1e-9
        any_over = over.any(axis=1)
        # no false positive at all: no threshold is ever excluded (argmax of nothing fails)
        first = np.argmax(over, axis=1) if over.shape[1] else np.zeros(len(weights), dtype=int)
        # found: lesion scores strictly above the first excluded false positive's score
        cut = np.where(any_over, fp_sorted[first] if len(fp_sorted) else -np.inf, -np.inf)
        # les_sorted is descending: count of scores > cut
        n_above = np.searchsorted(-les_sorted, -cut, side="left")
        # a lesion never hit (score -inf) is never above the cut, not even a cut of -inf
        found = les_cum[rows, n_above]
        out[:, j] = np.divide(
            found, n_lesions, out=np.full(len(weights), np.nan), where=n_lesions > 0
        )
    return out


def _curve(lesion_scores, fp_scores, n_films):
    import pandas as pd

    thresholds = np.unique(np.concatenate([lesion_scores[np.isfinite(lesion_scores)], fp_scores]))[
        ::-1
    ]
    les = np.sort(lesion_scores)
    fps = np.sort(fp_scores)
    n_les = np.searchsorted(les, thresholds, side="left")
    n_fp = np.searchsorted(fps, thresholds, side="left")
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "fp_per_film": (len(fps) - n_fp) / n_films,
            "sensitivity": (len(les) - n_les) / max(len(les), 1),
        }
    )


@validate_params(
    {
        "candidates": ["array-like", dict],
        "lesions": ["array-like", dict],
        "films": ["array-like"],
        "groups": ["array-like", None],
        "fp_rates": ["array-like"],
        "hit_rule": [StrOptions({"inside", "overlap"}), callable],
        "n_bootstraps": [Interval(Integral, 0, None, closed="left")],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def froc(
    candidates,
    lesions,
    films,
    *,
    groups=None,
    fp_rates=DEFAULT_FP_RATES,
    hit_rule="inside",
    n_bootstraps=2000,
    confidence_level=0.95,
    random_state=0,
):
    """Free-response ROC: lesion sensitivity against mean false positives per film.

    A lesion is found at a threshold when a candidate scoring at least the
    threshold hits it; a candidate that hits no lesion is a false positive.
    Several candidates on one lesion find it once, and none of them is a
    false positive. Films without lesions add false positives only.

    Parameters
    ----------
    candidates : pandas.DataFrame or dict of columns
        One row per candidate: ``film``, ``row``, ``col``, ``radius``,
        ``score`` (see :func:`find_candidates`).
    lesions : pandas.DataFrame or dict of columns
        One row per annotated lesion: ``film``, ``row``, ``col``, ``radius``
        (array indices; mini-MIAS's ``x, y`` are ``col = x``,
        ``row = 1023 - y``).
    films : array-like of shape (n_films,)
        Every film evaluated, with or without lesions or candidates.
    groups : array-like of shape (n_films,), default=None
        The patient of each film: the bootstrap resamples patients with
        replacement, keeping all films of a drawn patient together. None
        treats every film as its own patient.
    fp_rates : array-like of float, default=(0.25, 0.5, 1, 2, 4)
        Mean false positives per film at which the sensitivity is reported.
    hit_rule : {"inside", "overlap"} or callable, default="inside"
        ``"inside"`` (mini-MIAS's rule): the candidate's centre lies in the
        annotated circle. ``"overlap"``: the candidate's circle touches it.
        A callable ``hit_rule(row, col, radius, lesion_row, lesion_col,
        lesion_radius)`` gets the candidates' and lesions' arrays of one
        film and returns a boolean array (n_candidates, n_lesions).
    n_bootstraps : int, default=2000
        Patient-bootstrap replicates for the confidence intervals; 0 skips them.
    confidence_level : float, default=0.95
        Coverage of the percentile intervals.
    random_state : int, RandomState instance or None, default=0
        Seeds the bootstrap.

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``table``: pandas.DataFrame indexed by ``fp_rate`` with
          ``sensitivity``, ``ci_low``, ``ci_high``.
        - ``curve``: pandas.DataFrame ``threshold``, ``fp_per_film``,
          ``sensitivity``, one row per distinct score, by decreasing threshold.
        - ``lesion_scores``: ndarray, the best score on each lesion
          (``-inf``: never hit); ``fp_scores``: ndarray, the score of each
          false positive.
        - ``n_films``, ``n_lesions``, ``n_groups``: int.
        - ``bootstrap``: ndarray (n_bootstraps, n_rates) of replicate sensitivities.

    Notes
    -----
    The sensitivity at a rate ``r`` is the highest one reached at a
    threshold whose mean false positives per film is at most ``r`` (a step
    function of the curve, as the FROC is defined on the operating points
    themselves); MONAI's ``compute_froc_score`` interpolates linearly
    between operating points instead, which can only give more. The
    bootstrap redraws patients (``groups``), so two films of a woman stay
    together and the interval reflects the variation between patients;
    its percentile intervals are computed for all replicates at once, with
    the films' multiplicities as weights.

    References
    ----------
    .. [1] D. P. Chakraborty, "Maximum likelihood analysis of free-response
       receiver operating characteristic (FROC) data", Med. Phys. 16(4),
       561-568, 1989.
    .. [2] B. Efron and R. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993 (percentile intervals).

    Examples
    --------
    Two films, one lesion each; film ``b`` also has a false positive:

    >>> from skbreastcad.detection import froc
    >>> candidates = {"film": ["a", "b", "b"], "row": [10, 50, 90], "col": [10, 50, 90],
    ...               "radius": [5, 5, 5], "score": [0.9, 0.4, 0.7]}
    >>> lesions = {"film": ["a", "b"], "row": [12, 52], "col": [10, 50], "radius": [8, 8]}
    >>> result = froc(candidates, lesions, ["a", "b"], fp_rates=[0, 0.5], n_bootstraps=0)
    >>> result.table["sensitivity"].tolist()
    [0.5, 1.0]
    """
    candidates = _frame(candidates, "candidates", ["film", "row", "col", "radius", "score"])
    lesions = _frame(lesions, "lesions", ["film", "row", "col", "radius"])
    films = list(np.asarray(films).tolist())
    if len(set(films)) != len(films):
        raise ValueError("films holds duplicates: list each film once.")
    if not films:
        raise ValueError("films is empty.")
    groups = np.arange(len(films)) if groups is None else np.asarray(groups)
    if len(groups) != len(films):
        raise ValueError(f"groups has {len(groups)} entries for {len(films)} films.")
    fp_rates = np.asarray(fp_rates, dtype=float)
    if fp_rates.ndim != 1 or (fp_rates < 0).any() or not np.isfinite(fp_rates).all():
        raise ValueError(f"fp_rates must be a 1-D array of non-negative rates; got {fp_rates}.")
    if len(lesions) == 0:
        raise ValueError("lesions is empty: sensitivity is undefined without a lesion.")
    for name, frame in (("lesions", lesions), ("candidates", candidates)):
        negative = np.flatnonzero(frame["radius"].to_numpy(dtype=float) < 0)
        if len(negative):
            # a negative radius squared would reach as far as a positive one
            raise ValueError(
                f"{name} holds {len(negative)} negative radius (radii) at row(s) "
                f"{negative[:5].tolist()}: a radius is a distance, >= 0."
            )

    lesion_scores, lesion_film, fp_scores, fp_film = _score_films(
        candidates, lesions, films, hit_rule
    )
    point = _sensitivity_at(
        lesion_scores, lesion_film, fp_scores, fp_film, np.ones((1, len(films))), fp_rates
    )[0]

    _, group_of_film = np.unique(groups, return_inverse=True)
    n_groups = int(group_of_film.max()) + 1
    boot = np.empty((0, len(fp_rates)))
    if n_bootstraps:
        # the patient bootstrap of skbreastcad.evaluation: how often each woman is drawn in
        # each replicate; a film weighs as often as its woman was drawn
        counts, _ = bootstrap_counts(
            np.arange(n_groups),
            n_groups,
            n_bootstraps,
            random_state=check_random_state(random_state),
        )
        boot = _sensitivity_at(
            lesion_scores, lesion_film, fp_scores, fp_film, counts[:, group_of_film], fp_rates
        )
    alpha = (1 - confidence_level) / 2
    import pandas as pd

    with np.errstate(all="ignore"):
        low = np.nanquantile(boot, alpha, axis=0) if len(boot) else np.full(len(fp_rates), np.nan)
        high = (
            np.nanquantile(boot, 1 - alpha, axis=0) if len(boot) else np.full(len(fp_rates), np.nan)
        )
    table = pd.DataFrame(
        {"sensitivity": point, "ci_low": low, "ci_high": high},
        index=pd.Index(fp_rates, name="fp_rate"),
    )
    return Bunch(
        table=table,
        curve=_curve(lesion_scores, fp_scores, len(films)),
        lesion_scores=lesion_scores,
        fp_scores=fp_scores,
        n_films=len(films),
        n_lesions=len(lesion_scores),
        n_groups=n_groups,
        bootstrap=boot,
        confidence_level=confidence_level,
    )
