"""The mini-MIAS detection study: ROI model trained on some women, FROC on the others' films."""

import time
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch

from ..utils._sklearn_compat import Interval, validate_params
from ._candidates import find_candidates
from ._froc import DEFAULT_FP_RATES, froc
from ._lesion_map import lesion_map

__all__ = ["evaluate_mias_froc", "mias_films"]

_EXTENSIONS = (".pgm", ".png", ".tif", ".tiff")


def mias_films(data_home):
    """The films of a mini-MIAS folder usable for FROC, their women and their annotated lesions.

    Films whose calcifications are spread without coordinates (``Info.txt``
    note 4) are left out: their true lesions could not be told from false
    positives. Lesion centres follow note 3 (origin bottom-left):
    ``row = 1023 - y``, ``col = x``.

    Parameters
    ----------
    data_home : str or path-like
        Folder with ``Info.txt`` and the images.

    Returns
    -------
    films : pandas.DataFrame
        ``film`` (reference), ``path``, ``woman`` (note 1: films 2k-1 and 2k
        are woman k), ``abnormal`` (bool).
    lesions : pandas.DataFrame
        ``film``, ``row``, ``col``, ``radius``, ``abnormality``, ``severity``.
    left_out : list of str
        References left out (note 4).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from skbreastcad.detection import mias_films
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "Info.txt").write_text("mdb001 G CIRC B 535 425 197\\nmdb002 G NORM\\n")
    >>> for reference in ("mdb001", "mdb002"):
    ...     (root / f"{reference}.pgm").touch()
    >>> films, lesions, left_out = mias_films(root)
    >>> films[["film", "woman", "abnormal"]].to_numpy().tolist()
    [['mdb001', 1, True], ['mdb002', 1, False]]
    >>> lesions[["row", "col", "radius"]].to_numpy().tolist()
    [[598.0, 535.0, 197.0]]
    """
    import pandas as pd

    from ..datasets import read_mias_info

    data_home = Path(data_home)
    info_path = next(
        (data_home / n for n in ("Info.txt", "info.txt", "INFO.TXT") if (data_home / n).is_file()),
        None,
    )
    if info_path is None:
        raise FileNotFoundError(
            f"No Info.txt in {data_home}: the mini-MIAS annotations are needed for FROC."
        )
    info = read_mias_info(info_path)
    rows = []
    for reference in dict.fromkeys(info["reference"]):
        path = next(
            (
                data_home / f"{reference}{e}"
                for e in _EXTENSIONS
                if (data_home / f"{reference}{e}").is_file()
            ),
            None,
        )
        if path is not None:
            rows.append((reference, path, (int(reference[3:]) + 1) // 2))
    if not rows:
        raise ValueError(f"No film listed in {info_path} is present in {data_home}.")
    films = pd.DataFrame(rows, columns=["film", "path", "woman"])
    info = info[info["reference"].isin(films["film"])]
    no_xy = sorted(set(info.loc[(info["abnormality"] != "NORM") & info["x"].isna(), "reference"]))
    films = films[~films["film"].isin(no_xy)].reset_index(drop=True)
    lesions = info[info["x"].notna() & info["reference"].isin(films["film"])]
    lesions = pd.DataFrame(
        {
            "film": lesions["reference"].to_numpy(),
            "row": 1023 - lesions["y"].to_numpy(),
            "col": lesions["x"].to_numpy(),
            "radius": lesions["radius"].to_numpy(),
            "abnormality": lesions["abnormality"].to_numpy(),
            "severity": lesions["severity"].to_numpy(),
        }
    )
    films["abnormal"] = films["film"].isin(lesions["film"])
    return films, lesions, no_xy


def _keep_map(keep_maps, films, film, probability, maps):
    """Add ``film``'s map to ``maps`` if ``keep_maps`` asks for it."""
    if not isinstance(keep_maps, Integral):
        if keep_maps and film["film"] in keep_maps:
            maps[film["film"]] = probability
        return
    if not film["abnormal"] or keep_maps == 0:
        return
    maps[film["film"]] = probability
    if len(maps) > keep_maps:
        # the first films in the folder's order, whatever the order of the folds that map them
        order = list(films["film"])
        del maps[max(maps, key=order.index)]


@validate_params(
    {
        "data_home": [str, Path],
        "estimator": [object],
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "crop_size": [Interval(Integral, 8, None, closed="left")],
        "output_size": [Interval(Integral, 8, None, closed="left"), None],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "negatives_per_positive": [Interval(Integral, 0, None, closed="left")],
        "min_distance": [Interval(Integral, 0, None, closed="left")],
        "max_candidates": [Interval(Integral, 1, None, closed="left"), None],
        "max_films": [Interval(Integral, 1, None, closed="left"), None],
        "fp_rates": ["array-like"],
        "n_bootstraps": [Interval(Integral, 0, None, closed="left")],
        "keep_maps": [list, tuple, Interval(Integral, 0, None, closed="left"), None],
        "min_breast_fraction": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def evaluate_mias_froc(
    data_home,
    estimator,
    *,
    n_splits=3,
    crop_size=128,
    output_size=64,
    stride=32,
    negatives_per_positive=4,
    min_distance=64,
    max_candidates=10,
    max_films=None,
    fp_rates=DEFAULT_FP_RATES,
    n_bootstraps=2000,
    keep_maps=None,
    min_breast_fraction=0.0,
    random_state=0,
    verbose=0,
):
    """Train a ROI model on some women's ROIs and measure FROC on the other women's whole films.

    The usable films (see :func:`mias_films`) are split into ``n_splits``
    folds by woman (both films of a woman on one side). For each fold a
    clone of ``estimator`` is fitted on the ROIs :func:`~skbreastcad.datasets.load_mias`
    cuts from the training women's films (``roi_size=crop_size``,
    ``output_size``); it then maps each test film (:func:`lesion_map`,
    same window geometry) and its candidates (:func:`find_candidates`) are
    pooled over folds into one :func:`froc` with a bootstrap over women.

    Parameters
    ----------
    data_home : str or path-like
        The mini-MIAS folder (``Info.txt`` and the films).
    estimator : estimator instance
        An unfitted classifier or pipeline taking ``(n, output_size,
        output_size)`` ROIs.
    n_splits : int, default=3
        Folds of women.
    crop_size, output_size : int, default=128, 64
        ROI and window geometry (``load_mias``' ``roi_size`` and ``output_size``).
    stride : int, default=32
        Step of the sliding windows.
    negatives_per_positive : int, default=4
        Non-tumour ROIs per lesion ROI in training.
    min_distance : int, default=64
        Smallest distance between two candidates of a film.
    max_candidates : int or None, default=10
        Candidates kept per film.
    max_films : int or None, default=None
        Evaluate (map) at most this many test films per fold, drawn at random
        by woman: bounds the cost; training still uses every training film.
    fp_rates : array-like, default=(0.25, 0.5, 1, 2, 4)
        False positives per film at which the sensitivity is reported.
    n_bootstraps : int, default=2000
        Bootstrap replicates over women.
    keep_maps : list of str or int, default=None
        Films whose lesion maps are returned (each is 8 MB); an int ``n``
        keeps those of the first ``n`` films with lesions (in the folder's
        order) among those mapped, which with ``max_films`` cannot be named
        in advance.
    min_breast_fraction : float, default=0.0
        Passed to :func:`lesion_map`.
    random_state : int, RandomState instance or None, default=0
        Seeds the folds, the ROI sampling, ``max_films`` and the bootstrap.
    verbose : int, default=0
        Print progress per fold and film.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``froc`` (the :func:`froc` result), ``candidates`` and ``lesions``
        (DataFrames with a ``film`` column), ``films`` (with their ``fold``;
        films not mapped have fold -1), ``maps`` (dict of the kept maps),
        ``left_out`` and ``seconds`` (the mapping time).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skbreastcad.detection import evaluate_mias_froc
    >>> from skbreastcad.features import HaarFeatures
    >>> model = make_pipeline(HaarFeatures(), LogisticRegression())
    >>> result = evaluate_mias_froc("mias", model, max_films=4, keep_maps=2)  # doctest: +SKIP
    >>> result.froc.table  # sensitivity at 0.25-4 FP per film  # doctest: +SKIP
    """
    import pandas as pd
    from sklearn.model_selection import GroupKFold
    from sklearn.utils import check_random_state

    from ..datasets import load_mias, read_image

    films, lesions, left_out = mias_films(data_home)
    rng = check_random_state(random_state)
    seed = int(rng.randint(0, 2**31 - 1))
    women = films["woman"].to_numpy()
    if len(np.unique(women)) < n_splits:
        raise ValueError(f"{len(np.unique(women))} women cannot fill n_splits={n_splits} folds.")
    films["fold"] = -1
    candidates, maps, seconds = [], {}, 0.0
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(films, groups=women)):
        data = load_mias(
            data_home,
            references=list(films["film"].iloc[train]),
            roi_size=crop_size,
            output_size=output_size,
            negatives_per_positive=negatives_per_positive,
            random_state=seed,
        )
        model = clone(estimator).fit(data.images, data.target)
        if max_films is not None and len(test) > max_films:
            test_women = rng.permutation(np.unique(women[test]))
            chosen = []
            for w in test_women:
                members = test[women[test] == w]
                if len(chosen) + len(members) > max_films:
                    break
                chosen += list(members)
            test = np.sort(np.asarray(chosen, dtype=int))
        films.loc[films.index[test], "fold"] = fold
        for k in test:
            film = films.iloc[k]
            start = time.perf_counter()
            result = lesion_map(
                model,
                read_image(film["path"]),
                crop_size=crop_size,
                output_size=output_size,
                stride=stride,
                min_breast_fraction=min_breast_fraction,
            )
            seconds += time.perf_counter() - start
            found = find_candidates(
                result.probability, min_distance=min_distance, max_candidates=max_candidates
            )
            candidates.append(found.assign(film=film["film"]))
            _keep_map(keep_maps, films, film, result.probability, maps)
            if verbose:
                print(
                    f"fold {fold}: {film['film']}: {len(result.scores)} windows, top score "
                    f"{found['score'].max() if len(found) else float('nan'):.3f}",
                    flush=True,
                )
    mapped = films[films["fold"] >= 0]
    cand = pd.concat(candidates, ignore_index=True)
    les = lesions[lesions["film"].isin(mapped["film"])].reset_index(drop=True)
    result = froc(
        cand,
        les,
        mapped["film"],
        groups=mapped["woman"],
        fp_rates=fp_rates,
        n_bootstraps=n_bootstraps,
        random_state=seed,
    )
    return Bunch(
        froc=result,
        candidates=cand,
        lesions=les,
        films=films,
        maps={f: maps[f] for f in films["film"] if f in maps},
        left_out=left_out,
        seconds=seconds,
    )
