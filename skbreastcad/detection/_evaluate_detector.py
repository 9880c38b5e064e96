"""FROC of a film-trained detector: cross-validation by woman, or train on one set, test on another."""

import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch, check_random_state

from ._froc import DEFAULT_FP_RATES
from ._froc_classes import froc_by_class

__all__ = ["cbis_sample_detection_data", "evaluate_froc", "mias_detection_data", "mias_pairs"]


def mias_pairs(films):
    """The woman's other film of each mini-MIAS film (Info.txt note 1: films 2k-1 and 2k).

    Parameters
    ----------
    films : array-like of str
        References such as ``"mdb001"``.

    Returns
    -------
    partner : list of str or None
        The other film's reference when it is in ``films``, else None.

    Examples
    --------
    >>> from skbreastcad.detection import mias_pairs
    >>> mias_pairs(["mdb001", "mdb002", "mdb003"])
    ['mdb002', 'mdb001', None]
    """
    names = list(films)
    present = set(names)
    out = []
    for name in names:
        k = int(str(name)[3:])
        other = f"mdb{k + 1 if k % 2 else k - 1:03d}"
        out.append(other if other in present else None)
    return out


def _load(films, cache):
    from ..datasets import read_image

    if "image" in films.columns:
        return [np.asarray(image) for image in films["image"]]
    out = []
    for row in films.itertuples():
        key = str(row.path)
        if key not in cache:
            cache[key] = read_image(row.path)
        out.append(cache[key])
    return out


def _arrays(films, lesions):
    groups = dict(tuple(lesions.groupby("film", sort=False)))
    return [
        groups[f][["row", "col", "radius"]].to_numpy(float) if f in groups else np.empty((0, 3))
        for f in films["film"]
    ]


def _partners(films):
    if "partner" not in films.columns:
        return None
    index = {f: k for k, f in enumerate(films["film"])}
    return [index.get(p) if isinstance(p, str) else None for p in films["partner"]]


def evaluate_froc(
    films,
    lesions,
    detector,
    *,
    n_splits=5,
    train_films=None,
    train_lesions=None,
    min_radius=10.0,
    fp_rates=DEFAULT_FP_RATES,
    n_bootstraps=2000,
    random_state=0,
    verbose=0,
):
    """Per-class FROC of a film-trained detector, out of fold by woman or on another data set.

    With ``train_films=None``, the films are split into ``n_splits`` folds
    by woman (both films of a woman on one side); each fold's detector is
    fitted on the other folds' films only, and the out-of-fold candidates
    of all films are pooled into one FROC. With ``train_films``, the
    detector is fitted once on them and tested on every film of ``films``.

    Parameters
    ----------
    films : pandas.DataFrame
        ``film`` (name), ``path`` (image file), ``woman``; optional
        ``image`` (the film itself, read instead of ``path``) and
        ``partner`` (the name of the woman's other film, for asymmetry).
    lesions : pandas.DataFrame
        ``film``, ``row``, ``col``, ``radius`` (film pixels), ``abnormality``.
    detector : FilmLesionDetector
        Unfitted; cloned for every fit.
    n_splits : int, default=5
        Folds of women (ignored with ``train_films``).
    train_films, train_lesions : pandas.DataFrame, default=None
        A training set of the same form.
    min_radius : float, default=10.0
        Smallest lesion radius of the hit rule (see :func:`froc_by_class`).
    fp_rates : array-like, default=(0.25, 0.5, 1, 2, 4)
        Mean false positives per film at which sensitivity is reported.
    n_bootstraps : int, default=2000
        Patient-bootstrap replicates.
    random_state : int, RandomState instance or None, default=0
        Seeds the folds and the bootstrap.
    verbose : int, default=0
        Print the progress per fold.

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``table``: the centre-in-circle :func:`froc_by_class` table;
          ``table_overlap``: the same with the overlap rule.
        - ``froc``, ``froc_overlap``: dicts of per-class :func:`froc` results.
        - ``candidates``: pandas.DataFrame (``film, row, col, radius,
          score`` then the detector's other columns and ``fold``).
        - ``films``: ``films`` with each film's ``fold``.
        - ``fit_seconds``, ``predict_seconds_per_film``: float.

    See Also
    --------
    froc_by_class : The tables.
    FilmLesionDetector : The detector.

    Examples
    --------
    Three women of two films each, with a bright mass on each of four films:

    >>> import numpy as np, pandas as pd
    >>> from skbreastcad.detection import FilmLesionDetector, evaluate_froc
    >>> rng = np.random.default_rng(0)
    >>> rows, cols = np.ogrid[:128, :128]
    >>> def film(r):
    ...     image = np.where((rows - 64) ** 2 + cols**2 < 120**2, 90.0, 0.0)
    ...     image += rng.normal(0, 4, image.shape) * (image > 0)
    ...     image += 80 * np.exp(-((rows - r) ** 2 + (cols - 50) ** 2) / 50.0) * (r > 0)
    ...     return image.clip(0, 255).astype(np.uint8)
    >>> centres = [40, 50, 60, 70, 0, 0]
    >>> films = pd.DataFrame({"film": list("abcdef"), "path": list("abcdef"),
    ...                       "image": [film(r) for r in centres],
    ...                       "woman": [1, 1, 2, 2, 3, 3]})
    >>> lesions = pd.DataFrame({"film": list("abcd"), "row": centres[:4], "col": [50] * 4,
    ...                         "radius": [12.0] * 4, "abnormality": ["CIRC"] * 4})
    >>> detector = FilmLesionDetector(scales=(2,), pixel_size_mm=0.8, view="CC",
    ...                               hard_negative_rounds=1, negatives_per_film=10)
    >>> result = evaluate_froc(films, lesions, detector, n_splits=3, n_bootstraps=0)
    >>> sorted(result.films["fold"].unique().tolist())
    [0, 1, 2]
    """
    import pandas as pd
    from sklearn.model_selection import GroupKFold

    films = films.reset_index(drop=True).copy()
    for name, frame, cols in (
        ("films", films, ["film", "path", "woman"]),
        ("lesions", lesions, ["film", "row", "col", "radius", "abnormality"]),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks the column(s) {missing}.")
    rng = check_random_state(random_state)
    seed = int(rng.randint(0, 2**31 - 1))
    cache = {}
    if train_films is None:
        women = films["woman"].to_numpy()
        if len(np.unique(women)) < n_splits:
            raise ValueError(
                f"{len(np.unique(women))} women cannot fill n_splits={n_splits} folds."
            )
        splits = list(
            GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(
                films, groups=women
            )
        )
        plan = [(films.iloc[tr], lesions, te) for tr, te in splits]
    else:
        train_films = train_films.reset_index(drop=True)
        overlap = set(map(str, train_films["path"])) & set(map(str, films["path"]))
        if overlap:
            raise ValueError(
                f"{len(overlap)} film(s) are both training and test films, e.g. {sorted(overlap)[0]}."
            )
        plan = [(train_films, train_lesions, np.arange(len(films)))]
    films["fold"] = -1
    candidates, fit_seconds, predict_seconds = [], 0.0, 0.0
    for fold, (train, train_les, test) in enumerate(plan):
        train = train.reset_index(drop=True)
        model = clone(detector)
        start = time.perf_counter()
        model.fit(_load(train, cache), _arrays(train, train_les), contralateral=_partners(train))
        fit_seconds += time.perf_counter() - start
        test_films = films.iloc[test].reset_index(drop=True)
        start = time.perf_counter()
        found = model.predict_candidates(
            _load(test_films, cache), contralateral=_partners(test_films)
        )
        predict_seconds += time.perf_counter() - start
        for name, frame in zip(test_films["film"], found, strict=True):
            candidates.append(frame.assign(film=name, fold=fold))
        films.loc[test, "fold"] = fold
        if verbose:
            print(f"fold {fold}: fitted in {model.fit_seconds_:.0f} s", flush=True)
    cand = pd.concat(candidates, ignore_index=True)
    front = ["film", "row", "col", "radius", "score"]
    cand = cand[front + [c for c in cand.columns if c not in front]]
    les = lesions[lesions["film"].isin(films["film"])].reset_index(drop=True)
    common = dict(
        groups=films["woman"].to_numpy(),
        min_radius=min_radius,
        fp_rates=fp_rates,
        n_bootstraps=n_bootstraps,
        random_state=seed,
    )
    inside = froc_by_class(cand, les, films["film"], hit_rule="inside", **common)
    overlap = froc_by_class(cand, les, films["film"], hit_rule="overlap", **common)
    return Bunch(
        table=inside.table,
        table_overlap=overlap.table,
        froc=inside.froc,
        froc_overlap=overlap.froc,
        candidates=cand,
        films=films,
        fit_seconds=fit_seconds,
        predict_seconds_per_film=predict_seconds / max(len(films), 1),
    )


def mias_detection_data(data_home):
    """Read the films (with women and partners) and lesions of a mini-MIAS folder.

    The tables :func:`evaluate_froc` takes; films follow :func:`mias_films`.

    Parameters
    ----------
    data_home : str or path-like
        Folder with ``Info.txt`` and the films.

    Returns
    -------
    films : pandas.DataFrame
        ``film``, ``path``, ``woman``, ``abnormal``, ``partner``.
    lesions : pandas.DataFrame
        ``film``, ``row``, ``col``, ``radius``, ``abnormality``, ``severity``.

    Examples
    --------
    >>> from pathlib import Path
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.detection import mias_detection_data
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("mdb001", "mdb002"):
    ...     Image.fromarray(np.zeros((1024, 1024), np.uint8)).save(folder / f"{name}.pgm")
    >>> _ = (folder / "Info.txt").write_text("mdb001 G CIRC B 535 425 197\\nmdb002 G NORM\\n")
    >>> films, lesions = mias_detection_data(folder)
    >>> films["partner"].tolist(), int(lesions["row"].iloc[0])
    (['mdb002', 'mdb001'], 598)
    """
    from ._evaluate import mias_films

    films, lesions, _ = mias_films(Path(data_home))
    films["partner"] = mias_pairs(films["film"])
    return films, lesions


def cbis_sample_detection_data(png_root, *, factor=4):
    """Full CBIS-DDSM films and their mass circles from a ``png_copies`` folder, reduced in size.

    The folder holds ``full/<view>/<case>=full.png`` films and
    ``masks/<view>/<case>_<k>=*.png`` lesion masks (CBIS-DDSM, CC BY 3.0,
    Lee et al., Scientific Data 4:170177, 2017). Films are reduced by
    block means of ``factor`` (50 um scans to about 0.2 mm, mini-MIAS's
    pixel); each mask becomes the circle of its centroid and of the
    radius of a disc of its area.

    Parameters
    ----------
    png_root : str or path-like
        The ``png_copies`` folder.
    factor : int, default=4
        Reduction of the films and masks.

    Returns
    -------
    films : pandas.DataFrame
        ``film``, ``path``, ``image`` (the reduced uint8 film), ``woman``, ``view``.
    lesions : pandas.DataFrame
        ``film``, ``row``, ``col``, ``radius`` (reduced pixels), ``abnormality`` (``"MASS"``).

    Examples
    --------
    >>> from pathlib import Path
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.detection import cbis_sample_detection_data
    >>> root = Path(tempfile.mkdtemp())
    >>> for part in ("full/CC", "masks/CC"):
    ...     (root / part).mkdir(parents=True)
    >>> Image.fromarray(np.full((64, 32), 90, np.uint8)).save(root / "full/CC/Mass-Test_P_1_LEFT_CC=full.png")
    >>> mask = np.zeros((64, 32), np.uint8)
    >>> mask[8:16, 8:16] = 255
    >>> Image.fromarray(mask).save(root / "masks/CC/Mass-Test_P_1_LEFT_CC_1=ROI.png")
    >>> films, lesions = cbis_sample_detection_data(root)
    >>> films["image"][0].shape, lesions[["row", "col"]].round(2).values.tolist()
    ((16, 8), [[2.88, 2.88]])
    """
    import pandas as pd

    from ..datasets import read_image
    from ._preprocess import _block_mean

    root = Path(png_root)
    full = sorted(root.glob("full/*/*.png"))
    if not full:
        raise FileNotFoundError(f"No full/<view>/*.png film in {root}.")
    films, lesions = [], []
    for path in full:
        case = path.name.split("=")[0]
        image = read_image(path)
        image = image if image.ndim == 2 else image[..., 0]
        films.append(
            {
                "film": case,
                "path": path,
                "image": _block_mean(image.astype(np.float32), factor).astype(np.uint8),
                "woman": case.split("_")[2],
                "view": path.parent.name,
            }
        )
        for mask_path in sorted(root.glob(f"masks/*/{case}_*.png")):
            from PIL import Image

            # masks are stored as RGB 0/255, some in the red channel only: any channel counts
            with Image.open(mask_path) as handle:
                mask = np.asarray(handle)
            mask = (mask if mask.ndim == 2 else mask.max(axis=-1)) > 127
            rows, cols = np.nonzero(mask)
            if len(rows) == 0:
                raise ValueError(f"The mask {mask_path} is empty.")
            lesions.append(
                {
                    "film": case,
                    "row": rows.mean() / factor,
                    "col": cols.mean() / factor,
                    "radius": np.sqrt(len(rows) / np.pi) / factor,
                    "abnormality": "MASS",
                }
            )
    return pd.DataFrame(films), pd.DataFrame(lesions)
