"""FROC per lesion class, with the minimum-radius hit rule and the recall ceiling."""

import numpy as np
from sklearn.utils import Bunch

from ._froc import DEFAULT_FP_RATES, _frame, _hit_matrix, froc

__all__ = ["LESION_CLASSES", "froc_by_class"]

# mini-MIAS abnormality codes grouped as the issue and the literature report them
LESION_CLASSES = {
    "masses": ("CIRC", "SPIC", "MISC", "MASS"),
    "calcifications": ("CALC",),
    "other": ("ARCH", "ASYM"),
}


def _other_class_hits(candidates, others, hit_rule):
    """Boolean per candidate: it hits a lesion of another class (and is then no false positive)."""
    out = np.zeros(len(candidates), bool)
    if len(others) == 0 or len(candidates) == 0:
        return out
    groups = others.groupby("film", sort=False)
    positions = {film: idx for film, idx in candidates.groupby("film", sort=False).indices.items()}
    for film, les in groups:
        idx = positions.get(film)
        if idx is None:
            continue
        c = candidates.iloc[idx][["row", "col", "radius"]].to_numpy(float)
        hits = _hit_matrix(c, les[["row", "col", "radius"]].to_numpy(float), hit_rule)
        out[idx] |= hits.any(axis=1)
    return out


def froc_by_class(
    candidates,
    lesions,
    films,
    *,
    groups=None,
    classes=None,
    min_radius=10.0,
    hit_rule="inside",
    fp_rates=DEFAULT_FP_RATES,
    n_bootstraps=2000,
    confidence_level=0.95,
    random_state=0,
):
    """FROC of every lesion class and of all lesions, plus each class's recall ceiling.

    For a class, its lesions are the ones to find; a candidate that hits a
    lesion of another class is neither a hit nor a false positive (it is
    dropped), and every other candidate that hits none of the class's
    lesions is a false positive. Rates are per film over all ``films``,
    normal films included. Lesion radii below ``min_radius`` are raised to
    it before matching (mini-MIAS gives calcification clusters radii of
    3 px, which no candidate centre would hit by chance).

    Parameters
    ----------
    candidates : pandas.DataFrame or dict of columns
        ``film``, ``row``, ``col``, ``radius``, ``score``.
    lesions : pandas.DataFrame or dict of columns
        ``film``, ``row``, ``col``, ``radius``, ``abnormality``.
    films : array-like of shape (n_films,)
        Every film evaluated.
    groups : array-like of shape (n_films,), default=None
        The woman of each film, for the patient bootstrap.
    classes : dict of str to tuple of str, default=None
        Class name to abnormality codes; None: :data:`LESION_CLASSES`
        (masses, calcifications, other). ``"all"`` is always added.
    min_radius : float, default=10.0
        Smallest lesion radius used by the hit rule, in pixels.
    hit_rule : {"inside", "overlap"} or callable, default="inside"
        See :func:`froc`.
    fp_rates : array-like, default=(0.25, 0.5, 1, 2, 4)
        Mean false positives per film at which sensitivity is reported.
    n_bootstraps : int, default=2000
        Patient-bootstrap replicates (0: no intervals).
    confidence_level : float, default=0.95
        Coverage of the percentile intervals.
    random_state : int, RandomState instance or None, default=0
        Seeds the bootstrap.

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``table``: pandas.DataFrame, one row per class with ``n_lesions``,
          ``ceiling`` (share of its lesions hit by any candidate), the
          sensitivity and interval at each rate, and ``mean`` (the mean
          sensitivity over the rates, with its interval).
        - ``froc``: dict of class name to the :func:`froc` result.

    Examples
    --------
    One mass found with the top score, one calcification found after a false positive:

    >>> from skbreastcad.detection import froc_by_class
    >>> candidates = {"film": ["a", "a", "b"], "row": [10, 60, 200], "col": [10, 60, 200],
    ...               "radius": [5, 5, 5], "score": [0.9, 0.5, 0.7]}
    >>> lesions = {"film": ["a", "a"], "row": [12, 62], "col": [10, 60], "radius": [20, 3],
    ...            "abnormality": ["CIRC", "CALC"]}
    >>> result = froc_by_class(candidates, lesions, ["a", "b"], fp_rates=[0.5], n_bootstraps=0)
    >>> result.table["sensitivity@0.5"].round(2).to_dict()
    {'masses': 1.0, 'calcifications': 1.0, 'other': nan, 'all': 1.0}
    """
    import pandas as pd

    candidates = _frame(candidates, "candidates", ["film", "row", "col", "radius", "score"])
    lesions = _frame(lesions, "lesions", ["film", "row", "col", "radius"])
    if "abnormality" not in lesions.columns:
        raise ValueError("lesions lacks the column 'abnormality' needed to split by class.")
    if min_radius < 0:
        raise ValueError(f"min_radius must be >= 0; got {min_radius}.")
    classes = dict(LESION_CLASSES if classes is None else classes)
    lesions = lesions.assign(radius=lesions["radius"].clip(lower=min_radius))
    fp_rates = list(np.asarray(fp_rates, float))
    candidates = candidates.reset_index(drop=True)
    rows, results = [], {}
    for name, codes in [*classes.items(), ("all", None)]:
        mine = lesions if codes is None else lesions[lesions["abnormality"].isin(codes)]
        others = (
            lesions.iloc[0:0] if codes is None else lesions[~lesions["abnormality"].isin(codes)]
        )
        row = {"class": name, "n_lesions": len(mine)}
        if len(mine) == 0:
            rows.append(row)
            continue
        drop = _other_class_hits(candidates, others, hit_rule)
        # a candidate on this class's lesion stays, even if it also touches another class's
        own = _other_class_hits(candidates, mine, hit_rule)
        kept = candidates[~drop | own]
        result = froc(
            kept,
            mine,
            films,
            groups=groups,
            fp_rates=fp_rates,
            hit_rule=hit_rule,
            n_bootstraps=n_bootstraps,
            confidence_level=confidence_level,
            random_state=random_state,
        )
        results[name] = result
        row["ceiling"] = float(np.isfinite(result.lesion_scores).mean())
        for rate, (sens, low, high) in zip(
            fp_rates, result.table[["sensitivity", "ci_low", "ci_high"]].to_numpy(), strict=True
        ):
            row[f"sensitivity@{rate:g}"] = sens
            row[f"ci_low@{rate:g}"] = low
            row[f"ci_high@{rate:g}"] = high
        row["mean"] = float(result.table["sensitivity"].mean())
        if len(result.bootstrap):
            alpha = (1 - confidence_level) / 2
            means = np.nanmean(result.bootstrap, axis=1)
            row["mean_ci_low"], row["mean_ci_high"] = np.nanquantile(means, [alpha, 1 - alpha])
        rows.append(row)
    return Bunch(table=pd.DataFrame(rows).set_index("class"), froc=results)
