"""Lesion maps, candidate lesions and FROC: geometry against the loader, FROC by hand."""

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skbreastcad.datasets import load_mias
from skbreastcad.detection import find_candidates, froc, lesion_map, window_shape
from skbreastcad.features import HaarFeatures
from skbreastcad.plotting import plot_froc


class _Recorder:
    """A fitted 'classifier' that records the ROIs it scores; its probability is a known function."""

    classes_ = np.array([0, 1])

    def __init__(self, shape, score=lambda rois: rois[:, 0, 0] / 255.0):
        self.image_shape_ = shape
        self.score = score
        self.seen = []

    def predict_proba(self, rois):
        self.seen.append(np.array(rois))
        p = np.asarray(self.score(rois), dtype=float)
        return np.column_stack([1 - p, p])


# -- lesion maps -------------------------------------------------------------------------------
def test_windows_are_the_loaders_rois(tmp_path):
    # a half-disc breast with one mass whose centre lies on the window grid (rows/cols 32 + 32k)
    rows, cols = np.ogrid[:1024, :1024]
    rng = np.random.default_rng(0)
    film = np.where(
        (rows - 512) ** 2 + cols**2 < 480**2, rng.integers(60, 200, (1024, 1024)), 0
    ).astype(np.uint8)
    Image.fromarray(film).save(tmp_path / "mdb001.pgm")
    (tmp_path / "Info.txt").write_text("mdb001 G CIRC B 320 511 20\n")
    data = load_mias(tmp_path, roi_size=64, output_size=32, negatives_per_positive=0)
    lesion = data.images[data.target == 1][0]
    recorder = _Recorder((32, 32), score=lambda rois: np.zeros(len(rois)))
    result = lesion_map(recorder, film, crop_size=64, output_size=32, stride=32, batch_size=100)
    seen = np.concatenate(recorder.seen)
    k = np.flatnonzero((result.centers == (512, 320)).all(axis=1))
    assert len(k) == 1
    np.testing.assert_array_equal(seen[k[0]], lesion)
    # batches of at most batch_size, every window centred in the breast, none outside
    assert max(len(b) for b in recorder.seen) == 100 and len(seen) == len(result.centers)
    assert result.breast[result.centers[:, 0], result.centers[:, 1]].all()
    assert not result.breast[:, 1000].any() and (result.probability[~result.breast] == 0).all()
    # windows mostly in the film's black padding are left out on request; exact share by hand
    inner = lesion_map(
        recorder, film, crop_size=64, output_size=32, stride=32, min_breast_fraction=0.9
    )
    shares = [result.breast[r - 32 : r + 32, c - 32 : c + 32].mean() for r, c in result.centers]
    np.testing.assert_array_equal(inner.centers, result.centers[np.asarray(shares) >= 0.9])
    assert 0 < len(inner.centers) < len(result.centers)
    # threads cut the same windows, in the same order
    threaded = lesion_map(
        _Recorder((32, 32), score=lambda rois: rois.mean(axis=(1, 2)) / 255),
        film,
        crop_size=64,
        output_size=32,
        stride=32,
        batch_size=100,
        n_jobs=2,
    )
    serial = lesion_map(
        _Recorder((32, 32), score=lambda rois: rois.mean(axis=(1, 2)) / 255),
        film,
        crop_size=64,
        output_size=32,
        stride=32,
        batch_size=100,
    )
    np.testing.assert_array_equal(threaded.scores, serial.scores)
    np.testing.assert_array_equal(threaded.probability, serial.probability)


def test_overlapping_windows_average_uniformly():
    film = (10 * np.arange(8)[:, None] + np.arange(8)[None, :]).astype(np.uint8)
    est = _Recorder((4, 4))
    result = lesion_map(
        est,
        film,
        crop_size=4,
        output_size=None,
        stride=2,
        weighting="uniform",
        mask=np.ones((8, 8), bool),
    )
    # window (top, left) scores film[top, left] / 255; pixel (3, 3) lies in windows at tops/lefts 0 and 2
    assert len(result.scores) == 9
    np.testing.assert_allclose(result.probability[3, 3], np.mean([0, 2, 20, 22]) / 255)
    np.testing.assert_allclose(result.probability[0, 0], 0)
    np.testing.assert_allclose(result.probability[7, 5], np.mean([42, 44]) / 255)
    # a Gaussian weighting keeps a constant score constant
    const = _Recorder((4, 4), score=lambda rois: np.full(len(rois), 0.3))
    gauss = lesion_map(
        const, film, crop_size=4, output_size=None, stride=3, mask=np.ones((8, 8), bool)
    )
    np.testing.assert_allclose(gauss.probability, 0.3)


def test_lesion_map_of_a_real_pipeline_peaks_on_the_lesion():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:32, :32]
    blob = 90 * np.exp(-((rows - 15.5) ** 2 + (cols - 15.5) ** 2) / (2 * 4**2))
    X = rng.normal(100, 12, (80, 32, 32))
    y = np.arange(80) % 2
    X[y == 1] += blob
    model = make_pipeline(HaarFeatures(), LogisticRegression(max_iter=2000)).fit(
        X.clip(0, 255).astype(np.uint8), y
    )
    film = rng.normal(100, 12, (256, 256))
    film[150:182, 60:92] += blob
    result = lesion_map(
        model,
        film.clip(0, 255).astype(np.uint8),
        crop_size=32,
        output_size=32,
        stride=4,
        mask=np.ones((256, 256), bool),
    )
    top = find_candidates(result.probability, min_distance=16, max_candidates=1)
    assert np.hypot(top.row[0] - 166, top.col[0] - 76) <= 6


def test_lesion_map_errors_before_work():
    est = _Recorder((16, 16))
    film = np.zeros((64, 64), np.uint8)
    ones = np.ones((64, 64), bool)
    with pytest.raises(ValueError, match="smaller than one 128x128 window"):
        lesion_map(est, film, crop_size=128, output_size=16)
    with pytest.raises(ValueError, match="trained on 16x16 ROIs"):
        lesion_map(est, film, crop_size=32, output_size=32, mask=ones)
    with pytest.raises(ValueError, match="stride"):
        lesion_map(est, film, crop_size=32, output_size=16, stride=0, mask=ones)
    with pytest.raises(ValueError, match="breast mask is empty"):
        lesion_map(est, film, crop_size=32, output_size=16)  # a blank film has no breast
    with pytest.raises(ValueError, match="mask has shape"):
        lesion_map(est, film, crop_size=32, output_size=16, mask=ones[:10])
    with pytest.raises(ValueError, match="2-D"):
        lesion_map(est, film[None], crop_size=32, output_size=16)
    with pytest.raises(ValueError, match="pos_label"):
        lesion_map(est, film, crop_size=32, output_size=16, mask=ones, pos_label="tumour")
    assert est.seen == []


def test_window_shape_finds_the_trained_roi_size():
    X = np.zeros((4, 12, 12))
    pipe = make_pipeline(HaarFeatures(), LogisticRegression()).fit(X, [0, 1, 0, 1])
    assert window_shape(pipe) == (12, 12)
    assert window_shape(LogisticRegression()) is None


# -- candidates -----------------------------------------------------------------------------------
def test_candidates_non_maximum_suppression_by_hand():
    p = np.zeros((100, 100))
    p[20, 20], p[20, 30], p[60, 60], p[62, 90] = 0.9, 0.95, 0.5, 0.4
    c = find_candidates(p, min_distance=15, radius=5.0)
    # (20, 20) lies 10 px from the higher (20, 30): suppressed
    assert c[["row", "col"]].values.tolist() == [[20, 30], [60, 60], [62, 90]]
    assert c.score.tolist() == [0.95, 0.5, 0.4]
    assert find_candidates(p, min_distance=15, threshold=0.45).shape[0] == 2
    assert find_candidates(p, min_distance=0, max_candidates=2).score.tolist() == [0.95, 0.9]
    # (60, 60) is 50 px from (20, 30) and kept; (62, 90) is 30 px from (60, 60)
    assert find_candidates(p, min_distance=40).row.tolist() == [20, 60]


def test_candidates_plateau_and_radius():
    rows, cols = np.ogrid[:200, :200]
    p = np.where((rows - 100) ** 2 + (cols - 80) ** 2 <= 20**2, 0.8, 0.0)
    c = find_candidates(p, min_distance=0)
    # a flat disc is one candidate (its first pixel), whose half-maximum region is the disc itself
    assert len(c) == 1 and (c.row[0], c.col[0]) == (80, 80)
    np.testing.assert_allclose(c.radius[0], np.sqrt((p > 0).sum() / np.pi))
    assert c.radius[0] == pytest.approx(20, abs=0.5)
    with pytest.raises(ValueError, match="2-D"):
        find_candidates(p[0])
    with pytest.raises(ValueError, match="NaN"):
        find_candidates(np.full((5, 5), np.nan))


def test_candidates_agree_with_skimage_on_separated_peaks():
    from skimage.feature import peak_local_max

    rng = np.random.default_rng(1)
    p = np.zeros((300, 300))
    grid = np.array([(r, c) for r in range(20, 280, 40) for c in range(20, 280, 40)])
    pos = grid[rng.choice(len(grid), size=6, replace=False)]
    for k, (r, c) in enumerate(pos):
        p[r, c] = 0.2 + 0.1 * k
    from scipy.ndimage import gaussian_filter

    p = gaussian_filter(p, 3)
    ours = find_candidates(p, min_distance=10)
    ref = peak_local_max(p, min_distance=10, threshold_abs=1e-6)
    assert sorted(map(tuple, ours[["row", "col"]].values)) == sorted(map(tuple, ref))


# -- FROC -----------------------------------------------------------------------------------------
def _hand_case():
    candidates = pd.DataFrame(
        [
            ("A", 105, 100, 5, 0.9),
            ("A", 300, 300, 5, 0.8),
            ("A", 110, 95, 5, 0.3),
            ("B", 400, 400, 5, 0.6),
            ("B", 10, 10, 5, 0.2),
            ("C", 55, 50, 5, 0.5),
            ("C", 200, 235, 10, 0.7),
        ],
        columns=["film", "row", "col", "radius", "score"],
    )
    lesions = pd.DataFrame(
        [("A", 100, 100, 20), ("C", 50, 50, 10), ("C", 200, 200, 30)],
        columns=["film", "row", "col", "radius"],
    )
    return candidates, lesions, ["A", "B", "C"], [1, 1, 2]


def test_froc_by_hand():
    candidates, lesions, films, groups = _hand_case()
    result = froc(candidates, lesions, films, groups=groups, n_bootstraps=0)
    # inside: L1 best 0.9 (the 0.3 on it is no FP), L2 0.5, L3 missed (35 px > 30);
    # FPs 0.8, 0.7, 0.6, 0.2 over 3 films: 0.25/film allows 0, 0.5 allows 1, 1 allows 3
    np.testing.assert_allclose(result.table["sensitivity"], [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert result.n_films == 3 and result.n_lesions == 3 and result.n_groups == 2
    np.testing.assert_allclose(result.curve["fp_per_film"], [0, 1 / 3, 2 / 3, 1, 1, 4 / 3])
    np.testing.assert_allclose(
        result.curve["sensitivity"], [1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3]
    )
    # overlap: the 10-px candidate 35 px from L3 (radius 30) now hits it
    overlap = froc(candidates, lesions, films, hit_rule="overlap", n_bootstraps=0)
    np.testing.assert_allclose(overlap.table["sensitivity"], [1 / 3, 2 / 3, 1, 1, 1])
    # a callable rule: within 40 px of the centre
    near = froc(
        candidates,
        lesions,
        films,
        n_bootstraps=0,
        hit_rule=lambda r, c, rad, lr, lc, lrad: np.hypot(r[:, None] - lr, c[:, None] - lc) <= 40,
    )
    np.testing.assert_allclose(near.table["sensitivity"], overlap.table["sensitivity"])


def test_froc_normal_films_count_false_positives_only():
    candidates, lesions, films, _ = _hand_case()
    more = froc(candidates, lesions, [*films, "D", "E", "F"], n_bootstraps=0)
    # 6 films: 0.25/film allows 1 FP (of 0.8, 0.7, 0.6, 0.2), 0.5 allows 3: lesions above 0.2 found
    np.testing.assert_allclose(more.table["sensitivity"], [1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert more.n_lesions == 3


def _renamed(candidates, lesions, films, multiset):
    """Films of the drawn patients, each copy under its own name: the naive bootstrap replicate."""
    cands, less, names = [], [], []
    for copy, film in enumerate(multiset):
        cands.append(candidates[candidates.film == film].assign(film=f"{film}{copy}"))
        less.append(lesions[lesions.film == film].assign(film=f"{film}{copy}"))
        names.append(f"{film}{copy}")
    return pd.concat(cands), pd.concat(less), names


def test_froc_patient_bootstrap_equals_resampling_films_by_patient():
    candidates, lesions, films, groups = _hand_case()
    result = froc(candidates, lesions, films, groups=groups, n_bootstraps=400, random_state=0)
    patients = {1: ["A", "B"], 2: ["C"]}
    expected = {}
    for draw in itertools.combinations_with_replacement([1, 2], 2):
        drawn = [f for g in draw for f in patients[g]]
        c, les, names = _renamed(candidates, lesions, films, drawn)
        table = froc(c, les, names, n_bootstraps=0).table if len(les) else None
        expected[draw] = None if table is None else tuple(np.round(table["sensitivity"], 12))
    rows = {tuple(np.round(r, 12)) if np.isfinite(r).all() else None for r in result.bootstrap}
    assert rows == set(expected.values())
    low, high = result.table["ci_low"], result.table["ci_high"]
    assert (low <= result.table["sensitivity"]).all() and (
        result.table["sensitivity"] <= high
    ).all()


def test_froc_bad_input():
    candidates, lesions, films, _ = _hand_case()
    with pytest.raises(ValueError, match="not in films"):
        froc(candidates, lesions, ["A", "B"])
    with pytest.raises(ValueError, match="lacks the column"):
        froc(candidates.drop(columns="score"), lesions, films)
    with pytest.raises(ValueError, match="duplicates"):
        froc(candidates, lesions, ["A", "A", "B", "C"])
    with pytest.raises(ValueError, match="groups has"):
        froc(candidates, lesions, films, groups=[1, 2])
    with pytest.raises(ValueError, match="lesions is empty"):
        froc(candidates[candidates.film == "B"], lesions.iloc[:0], films)
    with pytest.raises(ValueError, match="hit_rule returned"):
        froc(candidates, lesions, films, hit_rule=lambda *a: np.ones(3, bool))


def test_plot_froc_writes_png(tmp_path):
    candidates, lesions, films, groups = _hand_case()
    result = froc(candidates, lesions, films, groups=groups, n_bootstraps=50)
    path = tmp_path / "froc.png"
    assert plot_froc({"model": result}, path=path) == path
    ax = plot_froc({"model": result}).axes[0]
    assert path.stat().st_size > 1000 and ax.get_xlabel() == "mean false positives per film"


def test_deprecated_plot_froc_keeps_its_signature_and_warns(tmp_path):
    import skbreastcad.detection as detection

    candidates, lesions, films, groups = _hand_case()
    result = froc(candidates, lesions, films, groups=groups, n_bootstraps=50)
    path = tmp_path / "froc.png"
    with pytest.warns(FutureWarning, match="use skbreastcad.plotting.plot_froc"):
        ax = detection.plot_froc({"model": result}, path)
    assert path.stat().st_size > 1000 and ax.get_xlabel() == "mean false positives per film"
    # drawing into a caller's axes returns those axes
    fig = plot_froc({"model": result})
    with pytest.warns(FutureWarning):
        assert detection.plot_froc({"other": result}, ax=fig.axes[0]) is fig.axes[0]
    assert len(fig.axes[0].get_legend().get_texts()) == 2


def test_lesion_map_of_a_fine_tuned_network_scores_its_windows():
    from skbreastcad.datasets._roi import cut_roi
    from skbreastcad.models import TwoStageTransferClassifier

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16, 16, 16), dtype=np.uint8)
    clf = TwoStageTransferClassifier(
        backbone="tiny_cnn",
        transfer="none",
        weights=None,
        max_epochs=1,
        batch_size=8,
        device="cpu",
        input_size="native",
        random_state=0,
    ).fit(X, np.arange(16) % 2)
    film = rng.integers(0, 256, (128, 128), dtype=np.uint8)
    result = lesion_map(
        clf,
        film,
        crop_size=32,
        output_size=16,
        stride=16,
        mask=np.ones((128, 128), bool),
        batch_size=5,
    )
    rois = np.stack([cut_roi(film, r, c, 32, 16)[0] for r, c in result.centers])
    # batches of 5 windows give the network's own probabilities (its batches are padded)
    np.testing.assert_allclose(result.scores, clf.predict_proba(rois)[:, 1], rtol=1e-6)
    assert len(result.scores) == 49
