import functools

import numpy as np
import pytest
from PIL import Image

from skbreastcad.datasets import load_image_folder, read_image


def _blob_image(shape=(60, 80), centre=(20, 30), half=5, value=200, dtype=np.uint8):
    image = np.full(shape, 50, dtype=dtype)
    r, c = centre
    image[r - half : r + half + 1, c - half : c + half + 1] = value
    mask = np.zeros(shape, np.uint8)
    mask[r - half : r + half + 1, c - half : c + half + 1] = 255
    return image, mask


@pytest.fixture(scope="module")
def load(recording_warnings):
    """``load_image_folder(...)`` -> ``(bunch, warning messages)``."""
    return functools.partial(recording_warnings, load_image_folder)


def test_rois_are_cut_around_each_mask(tmp_path, load):
    image, mask1 = _blob_image(centre=(20, 30))
    _, mask2 = _blob_image(centre=(40, 60))
    image[35:46, 55:66] = 220
    (tmp_path / "malignant").mkdir()
    (tmp_path / "benign").mkdir()
    Image.fromarray(image).save(tmp_path / "malignant" / "case1.png")
    Image.fromarray(mask1).save(tmp_path / "malignant" / "case1_mask1.png")
    Image.fromarray(mask2).save(tmp_path / "malignant" / "case1_mask2.png")
    Image.fromarray(np.full((9, 11), 80, np.uint8)).save(tmp_path / "benign" / "whole.png")
    bunch, messages = load(tmp_path, margin=0.0, output_size=None, classes=["benign", "malignant"])
    assert not messages
    assert list(bunch.target) == [0, 1, 1]
    assert list(bunch.target_names) == ["benign", "malignant"]
    # without a mask, the ROI is the whole image (square, zero-padded) ...
    assert bunch.metadata["mask_file"].isna()[0] and bunch.metadata.loc[0, "crop_size"] == 11
    assert (bunch.images[0, 1:10] == 80).all() and (bunch.images[0, [0, 10]] == 0).all()
    # ... with masks, exactly the 11x11 lesion squares
    np.testing.assert_array_equal(bunch.images[1], np.full((11, 11), 200, np.uint8))
    np.testing.assert_array_equal(bunch.images[2], np.full((11, 11), 220, np.uint8))
    assert list(bunch.groups) == [0, 1, 1]  # ROIs of one image share its group


def test_margin_and_output_size(tmp_path, load):
    image, mask = _blob_image()
    (tmp_path / "a").mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "x.png")
    Image.fromarray(mask).save(tmp_path / "a" / "x_mask.png")
    bunch, _ = load(tmp_path, margin=0.5, output_size=None)
    assert bunch.images.shape == (1, 22, 22)  # 11 px + 2 x 50 %
    assert bunch.images[0, 11, 11] == 200 and bunch.images[0, 0, 0] == 50
    bunch, _ = load(tmp_path, output_size=32)
    assert bunch.images.shape == (1, 32, 32)


@pytest.mark.parametrize("ext", [".png", ".tif", ".pgm", ".dcm"])
def test_sixteen_bit_images_stay_sixteen_bit(tmp_path, ext, load, write_dicom):
    image, mask = _blob_image(value=40000, dtype=np.uint16)
    folder = tmp_path / "lesion"
    folder.mkdir()
    if ext == ".dcm":
        write_dicom(folder / "img.dcm", image)
    else:
        Image.fromarray(image).save(folder / f"img{ext}")
    Image.fromarray(mask).save(folder / "img_mask.png")
    bunch, _ = load(tmp_path, margin=0.0, output_size=None)
    assert bunch.images.dtype == np.uint16
    assert (bunch.images == 40000).all()


def test_colour_jpeg_becomes_grayscale_and_monochrome1_is_inverted(tmp_path, write_dicom):
    (tmp_path / "c").mkdir()
    Image.fromarray(np.full((20, 20, 3), (200, 100, 50), np.uint8)).save(tmp_path / "c" / "rgb.jpg")
    assert read_image(tmp_path / "c" / "rgb.jpg").ndim == 2
    write_dicom(tmp_path / "d" / "m1.dcm", np.full((10, 10), 1000, np.uint16), photometric="MONOCHROME1")
    image = read_image(tmp_path / "d" / "m1.dcm")
    assert image.dtype == np.uint16 and (image == 65535 - 1000).all()


def test_mask_size_mismatch_names_both_files(tmp_path):
    image, _ = _blob_image()
    (tmp_path / "a").mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "a" / "x_mask.png")
    with pytest.raises(ValueError, match=r"x_mask.png is 10x10 pixels but its image .*x.png is 80x60"):
        load_image_folder(tmp_path)


def test_corrupt_image_and_wrong_path(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        load_image_folder(tmp_path)
    (tmp_path / "a" / "bad.dcm").write_bytes(b"\0" * 200)
    with pytest.raises(ValueError, match="bad"):
        read_image(tmp_path / "a" / "bad.dcm")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="Class folder"):
        load_image_folder(tmp_path, classes=["a", "b"])


def test_left_out_items_are_counted(tmp_path, load):
    image, mask = _blob_image()
    (tmp_path / "a").mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros_like(mask)).save(tmp_path / "a" / "x_mask1.png")
    Image.fromarray(mask).save(tmp_path / "a" / "x_mask2.png")
    Image.fromarray(mask).save(tmp_path / "a" / "orphan_mask.png")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    bunch, messages = load(tmp_path)
    assert "skipped 3 item(s)" in messages[0]
    assert len(bunch.target) == 1  # x_mask2 only
    assert "empty mask" in messages[0] and "mask without an image" in messages[0] and "not an image" in messages[0]


def test_mixed_bit_depths_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "a" / "y.png")
    with pytest.raises(ValueError, match="mix pixel types"):
        load_image_folder(tmp_path)


def test_group_pattern(tmp_path, load):
    for name in ("P_001_L.png", "P_001_R.png", "P_002_L.png"):
        (tmp_path / "a").mkdir(exist_ok=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / name)
    bunch, _ = load(tmp_path, group_pattern=r"(P_\d+)")
    assert list(bunch.groups) == [0, 0, 1]
    assert list(bunch.metadata["group"]) == ["P_001", "P_001", "P_002"]
    with pytest.raises(ValueError, match="does not match"):
        load_image_folder(tmp_path, group_pattern=r"(Q_\d+)")


def test_even_sized_masks_and_images_are_cut_whole_not_shifted(tmp_path, load):
    # Even sides put the centre between two pixels; rounding it half-to-even
    # used to shift every other crop by one pixel, cutting off a row of the lesion
    # (or of a whole image) and padding a black one on the other side.
    (tmp_path / "whole" / "a").mkdir(parents=True)
    whole = np.random.default_rng(0).integers(1, 256, (42, 42), dtype=np.uint8)
    Image.fromarray(whole).save(tmp_path / "whole" / "a" / "whole.png")
    bunch, _ = load(tmp_path / "whole", output_size=None)
    np.testing.assert_array_equal(bunch.images[0], whole)

    (tmp_path / "lesion" / "a").mkdir(parents=True)
    image = np.full((60, 60), 50, np.uint8)
    image[10:20, 13:21] = 200  # rows 10..19 (centre 14.5), columns 13..20 (centre 16.5)
    Image.fromarray(image).save(tmp_path / "lesion" / "a" / "x.png")
    Image.fromarray((image == 200).astype(np.uint8) * 255).save(tmp_path / "lesion" / "a" / "x_mask.png")
    bunch, _ = load(tmp_path / "lesion", margin=0.0, output_size=None)
    assert bunch.images.shape == (1, 10, 10)
    assert (bunch.images[0, :, 1:9] == 200).all() and (bunch.images[0] == 200).sum() == 80


def test_images_sharing_a_name_are_reported_not_dropped_silently(tmp_path, load):
    (tmp_path / "a").mkdir()
    for value, name in [(10, "x.png"), (20, "x.tif"), (30, "X.bmp")]:
        Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / "a" / name)
    bunch, messages = load(tmp_path, output_size=None)
    assert list(bunch.metadata["file"]) == ["a/X.bmp"]  # the first in sorted order
    assert "skipped 2 item(s)" in messages[0]
    assert "a/x.png: same name as X.bmp" in messages[0] and "a/x.tif: same name as X.bmp" in messages[0]
