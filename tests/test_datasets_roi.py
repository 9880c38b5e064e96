"""The ROI toolkit shared by the loaders (skbreastcad.datasets._roi) and the loaders' shared conventions."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage as ndi

from skbreastcad.datasets import load_image_folder, load_mias
from skbreastcad.datasets._roi import (
    Film,
    crop_square,
    mask_box,
    place_negatives,
    stack_rois,
)


@given(
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    side=st.integers(1, 40),
    row2=st.integers(-20, 80),
    col2=st.integers(-20, 80),
)
@settings(max_examples=200, deadline=None)
def test_crop_square_equals_a_zero_padded_slice(h, w, side, row2, col2):
    # centres on the half-pixel grid, as mask boxes and whole images give them
    image = np.arange(1, h * w + 1, dtype=np.int32).reshape(h, w)
    roi, (top, left, bottom, right) = crop_square(image, row2 / 2, col2 / 2, side)
    assert roi.shape == (side, side) and (bottom - top, right - left) == (side, side)
    # the reference: pad generously with zeros, then slice the box out
    pad = 100
    padded = np.pad(image, pad)
    np.testing.assert_array_equal(roi, padded[top + pad : bottom + pad, left + pad : right + pad])
    # the box is centred on the requested centre (exactly when the parities allow, else by half a pixel)
    assert (
        abs((top + bottom - 1) / 2 - row2 / 2) <= 0.5
        and abs((left + right - 1) / 2 - col2 / 2) <= 0.5
    )


def test_mask_box_encloses_the_mask_as_scipy_finds_it():
    mask = np.zeros((50, 60), bool)
    mask[10:20, 13:21] = True
    mask[25, 30] = True
    ((rows, cols),) = ndi.find_objects(mask.astype(int))
    row, col, side = mask_box(mask, 0.0)
    assert side == max(rows.stop - rows.start, cols.stop - cols.start) == 18
    assert (row, col) == ((rows.start + rows.stop - 1) / 2, (cols.start + cols.stop - 1) / 2)
    roi, _ = crop_square(mask, row, col, side)
    assert roi.sum() == mask.sum()  # nothing of the mask is cut off
    assert mask_box(np.zeros((5, 5), bool), 0.1) is None
    assert mask_box(mask, 0.5)[2] == 36  # 18 px + 2 x 50 %


def test_stack_rois_refuses_mixed_bit_depths_and_sizes():
    with pytest.raises(ValueError, match=r"uint16 \(e.g. b.png\)"):
        stack_rois([np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint16)], ["a.png", "b.png"])
    with pytest.raises(ValueError, match="different sizes"):
        stack_rois([np.zeros((4, 4)), np.zeros((5, 5))], ["a", "b"])


def _disc_film(size=256, radius=110):
    rows, cols = np.ogrid[:size, :size]
    image = np.zeros((size, size), np.uint8)
    image[(rows - size // 2) ** 2 + cols**2 < radius**2] = (
        120  # a half-disc breast at the left edge
    )
    return image


@pytest.mark.parametrize("attempts, match", [(1, False), (3, True)])
def test_placed_negatives_keep_every_rule(global_random_seed, attempts, match):
    films = [
        Film(_disc_film(), factor=4, keep_away=[(128, 40, 20)]),
        Film(_disc_film(radius=90), factor=4),
    ]
    templates = [(24, 1.0), (16, 0.7), (32, 0.98)]
    rng = np.random.RandomState(global_random_seed)
    placed = place_negatives(
        40, films, templates, rng, attempts=attempts, match_breast_fraction=match
    )
    assert 0 < len(placed) <= 40
    boxes = {0: [], 1: []}
    for k, row, col, side in placed:
        assert side in {24, 16, 32}
        film = films[k]
        _, box = crop_square(film.image, row, col, side)
        top, left, bottom, right = box
        assert film.breast[row // 4, col // 4]  # centred in the breast
        fraction = film.breast_fraction(box)
        assert fraction >= 0.95 - 1e-9 or (
            match and side == 16 and abs(fraction - 0.7) <= 0.05 + 1e-9
        )
        for r, c, radius in film.keep_away:  # clear of the lesion circle
            dr, dc = max(top - r, r - bottom, 0), max(left - c, c - right, 0)
            assert dr**2 + dc**2 > radius**2
        for t, lft, b, rgt in boxes[k]:  # never overlapping another ROI of the film
            assert top >= b or bottom <= t or left >= rgt or right <= lft
        boxes[k].append(box)
    # round robin: the two films take turns while both have room
    assert abs(len(boxes[0]) - len(boxes[1])) <= 1 or len(placed) < 40
    again = place_negatives(
        40,
        films,
        templates,
        np.random.RandomState(global_random_seed),
        attempts=attempts,
        match_breast_fraction=match,
    )
    assert again == placed
    assert place_negatives(0, films, templates, rng) == []


def test_skipped_items_warning_points_at_the_callers_line(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "x.png")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_image_folder(tmp_path)
    assert [w.filename for w in caught] == [__file__]


def test_mias_films_of_mixed_bit_depth_are_refused_not_promoted(tmp_path):
    # a 16-bit copy among 8-bit films: stacking would put 8-bit grey levels into a 16-bit range
    rows, cols = np.ogrid[:1024, :1024]
    film = np.zeros((1024, 1024), np.uint8)
    film[(rows - 512) ** 2 + cols**2 < 480**2] = 120
    (tmp_path / "Info.txt").write_text("mdb001 G CIRC B 300 500 20\nmdb003 G CIRC M 300 500 20\n")
    Image.fromarray(film).save(tmp_path / "mdb001.pgm")
    Image.fromarray(film.astype(np.uint16) * 256).save(tmp_path / "mdb003.png")
    with pytest.raises(
        ValueError, match=r"mix pixel types: uint8 \(e.g. mdb001.pgm\), uint16 \(e.g. mdb003.png\)"
    ):
        load_mias(tmp_path, task="malignancy")


def test_pydicom_is_imported_only_to_read_a_dicom(tmp_path, write_dicom):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "x.png")
    write_dicom(tmp_path / "d" / "y.dcm", np.zeros((8, 8), np.uint16))
    code = (
        "import sys\n"
        "from skbreastcad.datasets import load_image_folder, read_image\n"
        f"load_image_folder({str(tmp_path)!r}, classes=['a'])\n"
        "print('pydicom' in sys.modules)\n"
        f"read_image({str(tmp_path / 'd' / 'y.dcm')!r})\n"
        "print('pydicom' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
