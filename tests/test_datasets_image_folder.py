import functools
import os

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
    write_dicom(
        tmp_path / "d" / "m1.dcm", np.full((10, 10), 1000, np.uint16), photometric="MONOCHROME1"
    )
    image = read_image(tmp_path / "d" / "m1.dcm")
    assert image.dtype == np.uint16 and (image == 65535 - 1000).all()


def test_mask_size_mismatch_names_both_files(tmp_path):
    image, _ = _blob_image()
    (tmp_path / "a").mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "a" / "x_mask.png")
    with pytest.raises(
        ValueError, match=r"x_mask.png is 10x10 pixels but its image .*x.png is 80x60"
    ):
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
    assert (
        "empty mask" in messages[0]
        and "mask without an image" in messages[0]
        and "not an image" in messages[0]
    )


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
    Image.fromarray((image == 200).astype(np.uint8) * 255).save(
        tmp_path / "lesion" / "a" / "x_mask.png"
    )
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
    assert (
        "a/x.png: same name as X.bmp" in messages[0]
        and "a/x.tif: same name as X.bmp" in messages[0]
    )


# --- Nothing lost, nothing silent (issue 9) ---------------------------------------------------------


def _skipped(bunch):
    return dict(zip(bunch.skipped["item"], bunch.skipped["reason"], strict=True))


def test_broken_link_and_unreadable_class_folder_are_counted(tmp_path, load, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((8, 8), 10, np.uint8)).save(tmp_path / name / "x.png")
    (tmp_path / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    # Root reads any folder, so a folder without read permission is emulated where the
    # kernel refuses it: listing its entries (test_real_unreadable_folder... does it for real).
    scandir = os.scandir

    def refusing_scandir(path="."):
        if os.fspath(path) == os.fspath(tmp_path / "b"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    bunch, messages = load(tmp_path)
    assert list(bunch.metadata["file"]) == ["a/x.png"]
    assert len(messages) == 1 and "skipped 3 item(s)" in messages[0]
    assert bunch.skipped.values.tolist() == [
        ["a/gone.png", f"broken symbolic link (to {tmp_path / 'nowhere.png'})"],
        ["b/", "folder cannot be read (Permission denied): its files are not loaded"],
        ["b/", "class 'b' (target 1) gives no ROI: it is absent from the data"],
    ]


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root reads folders without permission"
)
def test_real_unreadable_folder_is_counted(tmp_path, load):
    (tmp_path / "a" / "locked").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 10, np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.full((8, 8), 10, np.uint8)).save(tmp_path / "a" / "locked" / "y.png")
    (tmp_path / "a" / "locked").chmod(0)
    try:
        bunch, messages = load(tmp_path)
    finally:
        (tmp_path / "a" / "locked").chmod(0o755)
    assert list(bunch.metadata["file"]) == ["a/x.png"]
    assert "a/locked/: folder cannot be read" in messages[0]


def test_linked_subfolders_are_read_once_and_loops_counted(tmp_path, load):
    (tmp_path / "a").mkdir()
    (tmp_path / "elsewhere").mkdir()
    Image.fromarray(np.full((8, 8), 10, np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.full((8, 8), 20, np.uint8)).save(tmp_path / "elsewhere" / "y.png")
    (tmp_path / "a" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    bunch, messages = load(tmp_path, classes=["a"], output_size=None)
    assert list(bunch.metadata["file"]) == ["a/x.png", "a/linked/y.png"]
    assert [int(image[0, 0]) for image in bunch.images] == [10, 20]
    assert "skipped 1 item(s)" in messages[0]
    assert _skipped(bunch) == {
        "a/loop/": "the same folder as a/ (a symbolic link), which is loaded once"
    }


def _busi(root):
    """A BUSI-style folder: every image beside ``<name>_mask.png`` (RGB, 0/255), all-zero for normal ones."""
    rng = np.random.default_rng(0)
    images = {}
    for label, n in (("benign", 2), ("normal", 3)):
        (root / label).mkdir(parents=True)
        for k in range(1, n + 1):
            name = f"{label} ({k})"
            image = rng.integers(0, 256, (30, 40), dtype=np.uint8)
            mask = np.zeros((30, 40, 3), np.uint8)
            if label == "benign":
                mask[5:15, 10:20] = 255
            images[f"{label}/{name}.png"] = image
            Image.fromarray(image).save(root / label / f"{name}.png")
            Image.fromarray(mask).save(root / label / f"{name}_mask.png")
    second = np.zeros((30, 40, 3), np.uint8)
    second[20:26, 30:36] = 255
    Image.fromarray(second).save(root / "benign" / "benign (2)_mask_1.png")  # BUSI's second lesion
    return images


def test_busi_style_folder_keeps_its_normal_class(tmp_path, load):
    images = _busi(tmp_path)
    bunch, messages = load(
        tmp_path, output_size=40
    )  # the whole images' size: they are not resampled
    assert not messages
    assert list(bunch.target_names) == ["benign", "normal"]
    assert np.bincount(bunch.target).tolist() == [3, 3]
    meta = bunch.metadata
    assert list(meta["crop"]) == ["mask"] * 3 + ["whole image"] * 3
    assert list(meta["mask_file"][:3]) == [
        "benign/benign (1)_mask.png",
        "benign/benign (2)_mask.png",
        "benign/benign (2)_mask_1.png",
    ]
    assert (
        meta.loc[2, "crop_size"] == 8 and meta.loc[2, "center_col"] == 32
    )  # ceil(6 px x 1.2), columns 30..35
    # an all-zero mask gives the ROI an image without a mask gives: the whole image, zero-padded square
    for k in range(3, 6):
        file = meta.loc[k, "file"]
        assert meta.loc[k, "mask_file"] == file.replace(".png", "_mask.png")
        expected = np.zeros((40, 40), np.uint8)
        expected[5:35] = images[file]
        np.testing.assert_array_equal(bunch.images[k], expected)


def test_empty_mask_policies(tmp_path, load):
    _busi(tmp_path)
    bunch, messages = load(tmp_path, empty_mask="skip")
    assert np.bincount(bunch.target).tolist() == [3]
    assert "skipped 4 item(s)" in messages[0]
    skipped = _skipped(bunch)
    assert skipped["normal/normal (1)_mask.png"].startswith(
        "empty mask (no lesion pixel): its image gives no ROI"
    )
    assert (
        skipped["normal/"] == "class 'normal' (target 1) gives no ROI: it is absent from the data"
    )
    with pytest.raises(
        ValueError, match=r"Mask .*normal \(1\)_mask.png is empty .*empty_mask='whole_image'"
    ):
        load_image_folder(tmp_path, empty_mask="error")
    with pytest.raises(ValueError, match="empty_mask"):
        load_image_folder(tmp_path, empty_mask="whole")


def test_invalid_group_pattern_is_a_clear_error(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "P_001.png")
    with pytest.raises(
        ValueError,
        match=r"group_pattern '\(P_\\\\d\+' is not a valid regular expression: missing \)",
    ):
        load_image_folder(tmp_path, group_pattern=r"(P_\d+")
    with pytest.raises(
        ValueError, match=r"group_pattern '\(Q\)\?P' matches a/P_001.png but captures no patient id"
    ):
        load_image_folder(tmp_path, group_pattern=r"(Q)?P")


def test_classes_listed_twice_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "x.png")
    with pytest.raises(ValueError, match=r"classes lists \['a'\] more than once"):
        load_image_folder(tmp_path, classes=["a", "a"])


def test_images_outside_class_folders_and_empty_classes_are_counted(tmp_path, load):
    for name in ("a", "empty"):
        (tmp_path / name).mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "stray.png")
    (tmp_path / "README.md").write_text("not data")  # not an image: not reported
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    bunch, messages = load(tmp_path)
    assert list(bunch.target_names) == ["a", "empty"]
    assert _skipped(bunch) == {
        "gone": f"broken symbolic link (to {tmp_path / 'nowhere'})",
        "stray.png": "image outside any class folder (expected root/<class>/<image>)",
        "empty/": "class 'empty' (target 1) gives no ROI: it is absent from the data",
    }
    assert "skipped 3 item(s)" in messages[0]


# --- read_image on damaged files: an error naming the file -------------------------------------------


@pytest.mark.parametrize(
    "content, match",
    [
        (b"P5\n4 4\n0\n" + bytes(16), "header gives maxval 0 .* must be 1..65535"),
        (b"P5\n2 2\n70000\n" + bytes(8), "header gives maxval 70000"),
        (
            b"P5\n# a comment\n2 2\n1000\n" + np.array([0, 500, 1000, 2000], ">u2").tobytes(),
            "grey level 2000 above its header's maxval 1000",
        ),
        (b"P2\n2 2\n100\n0 50 100 200\n", "Channel value too large"),
        (b"P5\n2 x\n255\n" + bytes(4), "are not integers"),
        (b"P5\n64 64\n255\n" + bytes(100), "truncated"),
        (b"P5\n64", "header ends before"),
    ],
    ids=[
        "maxval-0",
        "maxval-too-large",
        "above-maxval",
        "ascii-above-maxval",
        "bad-header",
        "truncated",
        "short-header",
    ],
)
def test_malformed_pgm_names_the_file(tmp_path, content, match):
    path = tmp_path / "film.pgm"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"Cannot read image {path}: .*{match}"):
        read_image(path)


@pytest.mark.parametrize(
    "maxval, levels, dtype",
    [
        (100, [0, 50, 100, 25], np.uint8),
        (15, [0, 5, 15, 1], np.uint8),
        (1023, [0, 512, 1023, 7], np.uint16),
        (4095, [0, 4095, 2048, 1], np.uint16),
    ],
)
@pytest.mark.parametrize("ascii", [False, True], ids=["P5", "P2"])
def test_pgm_below_full_scale_keeps_the_files_grey_levels(tmp_path, maxval, levels, dtype, ascii):
    # Pillow stretches maxval 1023 to 65535 and 15 to 255: every grey level would change
    path = tmp_path / "x.pgm"
    if ascii:
        path.write_bytes(f"P2\n2 2\n{maxval}\n".encode() + " ".join(map(str, levels)).encode())
    else:
        raw = np.array(levels, ">u2" if maxval > 255 else "u1").tobytes()
        path.write_bytes(f"P5\n2 2\n{maxval}\n".encode() + raw)
    image = read_image(path)
    assert image.dtype == dtype
    np.testing.assert_array_equal(image, np.array(levels).reshape(2, 2))


@pytest.mark.parametrize(
    "content",
    [
        b"P5\n2 2\n255\n" + bytes([1, 2, 3, 4]) + b"garbage",
        b"P5\n2 2\n1023\n" + np.array([0, 1, 2, 3], ">u2").tobytes() + bytes(2),
        # a second image after the first: Pillow reads the first only
        b"P5\n2 2\n255\n" + bytes(4) + b"P5\n2 2\n255\n" + bytes(4),
        b"P2\n2 2\n15\n0 5 15 1 7 8\n",
    ],
    ids=["binary", "binary-16-bit", "second-image", "ascii"],
)
def test_pgm_with_data_after_its_pixels_is_refused(tmp_path, content):
    path = tmp_path / "x.pgm"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"Cannot read image {path}: .* follow the 2x2 pixels"):
        read_image(path)


def test_pgm_ending_in_a_newline_is_read(tmp_path):
    path = tmp_path / "x.pgm"
    path.write_bytes(b"P5\n2 2\n255\n" + bytes([1, 2, 3, 4]) + b"\n")
    np.testing.assert_array_equal(read_image(path), [[1, 2], [3, 4]])


def test_a_folder_named_like_an_image_is_said_to_be_a_folder(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(IsADirectoryError, match="x.png is a folder, not an image file"):
        read_image(tmp_path / "x.png")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_refused_naming_the_file(tmp_path, value):
    (tmp_path / "a").mkdir()
    pixels = np.full((8, 8), 0.5, np.float32)
    pixels[2, 3] = value
    Image.fromarray(pixels).save(tmp_path / "a" / "x.tif")
    with pytest.raises(ValueError, match="x.tif holds 1 NaN or infinite value"):
        read_image(tmp_path / "a" / "x.tif")
    with pytest.raises(ValueError, match="x.tif holds 1 NaN or infinite value"):
        load_image_folder(tmp_path)
    Image.fromarray(np.full((8, 8), np.nan, np.float32)).save(tmp_path / "a" / "x.tif")
    with pytest.raises(ValueError, match="x.tif holds 64 NaN or infinite value"):
        load_image_folder(tmp_path)


def test_truncated_png_and_multi_frame_tiff_name_the_file(tmp_path):
    Image.fromarray(np.arange(4096, dtype=np.uint16).reshape(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"Cannot read image {tmp_path / 'cut.png'}: .*truncated"):
        read_image(tmp_path / "cut.png")
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (1, 2, 3)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=f"{tmp_path / 'stack.tif'} holds 3 frames"):
        read_image(tmp_path / "stack.tif")


def test_dicom_that_is_not_a_dicom_or_cannot_be_decoded_names_the_file(tmp_path, write_dicom):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "x.dcm").write_bytes((tmp_path / "x.png").read_bytes())
    with pytest.raises(ValueError, match=f"Cannot read DICOM image {tmp_path / 'x.dcm'}"):
        read_image(tmp_path / "x.dcm")
    # JPEG 2000 pixel data that no installed decoder reads: pydicom's bare RuntimeError before
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    write_dicom(tmp_path / "j2k.dcm", np.zeros((8, 8), np.uint16))
    ds = pydicom.dcmread(tmp_path / "j2k.dcm")
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\0" * 20])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "j2k.dcm", enforce_file_format=True)
    with pytest.raises(ValueError, match=f"Cannot read DICOM image {tmp_path / 'j2k.dcm'}"):
        read_image(tmp_path / "j2k.dcm")


def test_broken_link_given_to_read_image(tmp_path):
    (tmp_path / "x.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(FileNotFoundError, match="x.png is a broken symbolic link"):
        read_image(tmp_path / "x.png")


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
@pytest.mark.parametrize("where", ["two classes", "one class"])
def test_one_file_linked_twice_is_refused_naming_both_paths(tmp_path, link, where):
    image, _ = _blob_image()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "x.png")
    Image.fromarray(image + 1).save(tmp_path / "b" / "other.png")
    twin = tmp_path / ("b" if where == "two classes" else "a") / "y.png"
    if link == "symlink":
        twin.symlink_to(tmp_path / "a" / "x.png")
    else:
        os.link(tmp_path / "a" / "x.png", twin)
    first, second = sorted([os.path.join("a", "x.png"), os.path.relpath(twin, tmp_path)])
    with pytest.raises(ValueError, match=f"{first} and {second} are the same file"):
        load_image_folder(tmp_path)
    # a copy is another file: loaded, as before
    twin.unlink()
    Image.fromarray(image).save(twin)
    bunch = load_image_folder(tmp_path)
    assert len(bunch.target) == 3


@pytest.mark.parametrize("outside", ["../other", "../other/b", "b/../../other", "ABS", "", "."])
def test_class_names_that_leave_the_root_are_refused(tmp_path, outside):
    root, other = tmp_path / "root", tmp_path / "other"
    (root / "a").mkdir(parents=True)
    (other / "b").mkdir(parents=True)
    image, _ = _blob_image()
    Image.fromarray(image).save(root / "a" / "x.png")
    Image.fromarray(image).save(other / "b" / "y.png")
    Image.fromarray(image).save(other / "z.png")
    name = str(other) if outside == "ABS" else outside
    with pytest.raises(ValueError, match="classes must name subfolders of"):
        load_image_folder(root, classes=["a", name])
    # a nested class folder inside root is still fine
    (root / "a" / "deep").mkdir()
    Image.fromarray(image).save(root / "a" / "deep" / "w.png")
    assert len(load_image_folder(root, classes=["a/deep"]).target) == 1


def _mask_folder(root, mask):
    image, _ = _blob_image()
    (root / "a").mkdir()
    Image.fromarray(image).save(root / "a" / "x.png")
    mask.save(root / "a" / "x_mask.png")
    return root


@pytest.mark.parametrize("encoding", ["alpha", "blue-1", "red-1", "la-alpha", "palette"])
def test_masks_are_read_from_the_channel_that_holds_them(tmp_path, load, encoding):
    _, grey = _blob_image()
    lesion = grey > 0
    height, width = grey.shape
    if encoding == "alpha":
        rgba = np.zeros((height, width, 4), np.uint8)
        rgba[..., 3] = np.where(lesion, 255, 0)
        mask = Image.fromarray(rgba, "RGBA")
    elif encoding == "la-alpha":
        la = np.zeros((height, width, 2), np.uint8)
        la[..., 1] = np.where(lesion, 255, 0)
        mask = Image.fromarray(la, "LA")
    elif encoding == "palette":
        mask = Image.fromarray(lesion.astype(np.uint8), "P")
        mask.putpalette([0, 0, 0, 0, 0, 1] + [0] * 762)  # index 1 is blue = 1
    else:
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[..., 2 if encoding == "blue-1" else 0] = lesion
        mask = Image.fromarray(rgb, "RGB")
    _mask_folder(tmp_path, mask)
    bunch, messages = load(tmp_path, margin=0.0, output_size=None)
    # the 11x11 lesion, not the whole image
    assert bunch.metadata.loc[0, "crop"] == "mask"
    np.testing.assert_array_equal(bunch.images[0], np.full((11, 11), 200, np.uint8))
    assert len(messages) == 1
    assert "1 mask(s) hold their lesion only in the alpha channel" in messages[0]
    assert os.path.join("a", "x_mask.png") in messages[0]


def test_opaque_alpha_and_transparent_white_leave_the_lesion_in_the_colours(tmp_path, load):
    _, grey = _blob_image()
    lesion = grey > 0
    # alpha 255 everywhere holds nothing: the colours say where the lesion is
    rgba = np.zeros((*grey.shape, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[lesion, :3] = 255
    _mask_folder(tmp_path, Image.fromarray(rgba, "RGBA"))
    bunch, messages = load(tmp_path, margin=0.0, output_size=None)
    assert not messages and bunch.images.shape == (1, 11, 11)
    # a lesion drawn on a transparent white layer: alpha holds it, the white colours do not
    rgba[...] = 255
    rgba[..., 3] = np.where(lesion, 255, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a" / "x_mask.png")
    bunch, messages = load(tmp_path, margin=0.0, output_size=None)
    assert not messages and bunch.images.shape == (1, 11, 11)
    np.testing.assert_array_equal(bunch.images[0], np.full((11, 11), 200, np.uint8))


def test_an_empty_colour_mask_is_still_empty(tmp_path, load):
    _mask_folder(tmp_path, Image.fromarray(np.zeros((60, 80, 3), np.uint8), "RGB"))
    with pytest.raises(ValueError, match="x_mask.png is empty"):
        load_image_folder(tmp_path, empty_mask="error")


@pytest.mark.parametrize("margin", [1e9, 1e300, float("inf")])
def test_absurd_margin_is_refused_before_allocation(tmp_path, margin):
    image, mask = _blob_image()
    _mask_folder(tmp_path, Image.fromarray(mask))
    with pytest.raises(ValueError, match="margin"):
        load_image_folder(tmp_path, margin=margin, output_size=8)
    # a generous margin on a small lesion is still fine
    bunch = load_image_folder(tmp_path, margin=10.0, output_size=8)
    assert bunch.metadata.loc[0, "crop_size"] == 231


@pytest.mark.parametrize("name", ["x_mask.dcm", "x_mask.png"])
def test_dicom_masks_are_read_whatever_their_name(tmp_path, load, write_dicom, name):
    # a DICOM file is told by its preamble; Pillow cannot open it to look for channels
    image, mask = _blob_image()
    (tmp_path / "a").mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "x.png")
    write_dicom(tmp_path / "a" / name, mask)
    bunch, messages = load(tmp_path, margin=0.0, output_size=None)
    assert not messages
    np.testing.assert_array_equal(bunch.images[0], np.full((11, 11), 200, np.uint8))
