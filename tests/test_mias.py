"""load_mias on the real mini-MIAS subset in ../shared/data/mias (read at run time, never copied).

The expected geometry is recomputed here from Info.txt with a few lines of
plain parsing, independent of the loader's parser.
"""

import functools
import shutil

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold

from skbreastcad.datasets import load_mias, read_image

pytestmark = pytest.mark.real_data

# Two benign calcification clusters whose annotated circles lie in the film background,
# beyond the skin line (checked by eye): the loader leaves them out with a warning.
OUTSIDE_BREAST = {"mdb212", "mdb214"}


def _info_rows(mias_dir):
    rows = []
    for line in (mias_dir / "Info.txt").read_text(encoding="latin-1").splitlines():
        tokens = line.split()
        if tokens and tokens[0].startswith("mdb"):
            rows.append(tokens)
    return rows


def _lesions(mias_dir):
    """(reference, class, severity, x, y, radius) of every row with coordinates."""
    return [
        (t[0], t[2], t[3], int(t[4]), int(t[5]), int(t[6]))
        for t in _info_rows(mias_dir)
        if len(t) == 7
    ]


@pytest.fixture(scope="module")
def load(recording_warnings):
    """``load_mias(...)`` -> ``(bunch, warning messages)``."""
    return functools.partial(recording_warnings, load_mias)


@pytest.fixture(scope="module")
def tumour(mias_dir, load):
    return load(mias_dir, task="tumour", random_state=0)


@pytest.fixture(scope="module")
def malignancy(mias_dir, load):
    return load(mias_dir, task="malignancy")


def test_roi_counts_for_both_tasks(mias_dir, tumour, malignancy):
    lesions = [r for r in _lesions(mias_dir) if r[0] not in OUTSIDE_BREAST]
    n_files = len(list(mias_dir.glob("mdb*.pgm")))
    bunch, _ = tumour
    assert bunch.images.shape[1:] == (64, 64) and bunch.images.dtype == np.uint8
    assert (bunch.target == 1).sum() == len(lesions)
    assert (bunch.target == 0).sum() == 4 * len(lesions)
    bunch, _ = malignancy
    assert sorted(bunch.target) == sorted(int(r[2] == "M") for r in lesions)
    if n_files == 216:  # the subset shipped with the project
        assert len(lesions) == 80 and (bunch.target == 1).sum() == 35


def test_the_suspect_annotations_are_reported_not_dropped_silently(tumour):
    bunch, messages = tumour
    assert len(messages) == 1
    assert "skipped 2 item(s)" in messages[0]
    for reference in OUTSIDE_BREAST:
        assert f"{reference} CALC (line" in messages[0]
    assert set(bunch.skipped["item"].str[:6]) == OUTSIDE_BREAST


def test_lesion_rois_are_the_film_cut_at_the_flipped_coordinates(mias_dir, load):
    films = ["mdb001", "mdb028", "mdb223", "mdb226", "mdb249"]
    bunch, _ = load(mias_dir, task="malignancy", references=films, roi_size=96, output_size=None)
    expected = [r for r in _lesions(mias_dir) if r[0] in films]
    assert len(bunch.target) == len(expected) == 9  # several lesions on mdb223, mdb226 and mdb249
    meta = bunch.metadata
    for reference, _, severity, x, y, _radius in expected:
        (k,) = np.flatnonzero(
            (meta["reference"] == reference) & (meta["x"] == x) & (meta["y"] == y)
        )
        film = np.asarray(Image.open(mias_dir / f"{reference}.pgm"))
        row = 1023 - y  # Info.txt origin: bottom-left corner
        patch = np.zeros((96, 96), np.uint8)
        top, left = row - 48, x - 48
        r0, c0 = max(top, 0), max(left, 0)
        patch[r0 - top : row + 48 - top, c0 - left : x + 48 - left] = film[
            r0 : row + 48, c0 : x + 48
        ]
        np.testing.assert_array_equal(bunch.images[k], patch)
        assert bunch.target[k] == (severity == "M")


def _centre_contrast(image, radius, scale):
    """Mean grey level inside the lesion circle minus that of the ring around it."""
    side = image.shape[0]
    rows, cols = np.ogrid[:side, :side]
    d = np.hypot(rows - (side - 1) / 2, cols - (side - 1) / 2)
    inner = max(min(radius, 60) * scale, 2)
    ring = (d > inner) & (d <= min(2 * inner, side / 2))
    return image[d <= inner].mean() - image[ring].mean()


def test_mass_rois_are_centred_on_something_brighter_than_its_surround(tumour):
    # Masses are denser than the tissue around them. A flipped, swapped or shifted
    # geometry puts the ROIs on random tissue: then about a third of these contrasts
    # are negative and their median is near 0 (measured: 2.8 grey levels unflipped).
    bunch, _ = tumour
    meta = bunch.metadata
    masses = np.flatnonzero(meta["abnormality"].isin(["CIRC", "SPIC", "MISC"]).to_numpy())
    contrast = np.array(
        [_centre_contrast(bunch.images[k].astype(float), meta["radius"][k], 0.5) for k in masses]
    )
    assert len(masses) >= 30
    assert (contrast > 0).mean() >= 0.95
    assert np.median(contrast) > 10


def test_negatives_are_breast_tissue_clear_of_every_lesion(mias_dir, tumour):
    bunch, _ = tumour
    meta = bunch.metadata
    circles = {}
    for reference, _, _, x, y, radius in _lesions(mias_dir):
        circles.setdefault(reference, []).append((1023 - y, x, radius))
    negatives = meta[meta["kind"] == "background"]
    assert negatives["abnormality"].isna().all()
    for row in negatives.itertuples():
        for r, c, radius in circles.get(row.reference, []):
            dr = max(row.crop_top - r, r - row.crop_bottom, 0)
            dc = max(row.crop_left - c, c - row.crop_right, 0)
            assert dr**2 + dc**2 > radius**2, (row.reference, row.crop_top, row.crop_left)
    images = bunch.images[bunch.target == 0]
    # centred in the breast: the film background is black (grey levels below 10)
    assert (images[:, 28:36, 28:36].mean(axis=(1, 2)) > 20).all()
    # spread over the films of both breasts, normal and abnormal
    assert negatives["reference"].nunique() > 150
    assert negatives.groupby("reference").size().max() <= 4


def test_negatives_match_the_lesion_crops_in_share_of_breast(tumour):
    bunch, _ = tumour
    share = bunch.metadata.groupby("kind")["breast_fraction"]
    assert abs(share.mean()["lesion"] - share.mean()["background"]) < 0.03
    assert (
        abs(
            (bunch.metadata["breast_fraction"] == 1)
            .groupby(bunch.metadata["kind"])
            .mean()
            .diff()
            .iloc[-1]
        )
        < 0.1
    )


def test_deterministic_given_random_state(mias_dir, tumour, load):
    first, _ = tumour
    again, _ = load(mias_dir, task="tumour", random_state=0)
    np.testing.assert_array_equal(first.images, again.images)
    assert first.metadata.equals(again.metadata)
    other, _ = load(mias_dir, task="tumour", random_state=1)
    lesion = first.metadata["kind"] == "lesion"
    np.testing.assert_array_equal(
        first.images[lesion], other.images[other.metadata["kind"] == "lesion"]
    )
    assert not np.array_equal(
        first.images[~lesion], other.images[other.metadata["kind"] != "lesion"]
    )


def test_groups_are_women_and_grouped_folds_never_split_one(tumour):
    bunch, _ = tumour
    numbers = bunch.metadata["reference"].str[3:].astype(int)
    np.testing.assert_array_equal(bunch.groups, (numbers + 1) // 2)
    # both films of a woman share her id: left (even) and right (odd)
    per_woman = bunch.metadata.groupby("woman")["breast"].nunique()
    assert (per_woman == 2).mean() > 0.9
    cv = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    for train, test in cv.split(bunch.images, bunch.target, bunch.groups):
        assert not set(bunch.groups[train]) & set(bunch.groups[test])
        assert bunch.target[test].sum() > 0


def test_png_copies_and_a_subset_folder_give_the_same_rois(mias_dir, tmp_path, load):
    films = ["mdb223", "mdb224", "mdb225", "mdb226"]
    for reference in films:  # outside the repository, deleted with tmp_path
        Image.fromarray(read_image(mias_dir / f"{reference}.pgm")).save(
            tmp_path / f"{reference}.png"
        )
    shutil.copy(mias_dir / "Info.txt", tmp_path / "Info.txt")
    copies, messages = load(tmp_path, random_state=5)
    original, _ = load(mias_dir, references=films, random_state=5)
    np.testing.assert_array_equal(copies.images, original.images)
    assert (copies.target == 1).sum() == 5
    n_listed = len({t[0] for t in _info_rows(mias_dir)})
    assert f"skipped {n_listed - 4} item(s)" in messages[0]
