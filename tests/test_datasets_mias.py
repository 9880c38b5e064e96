"""load_mias / read_mias_info on small synthetic databases written into tmp_path.

They cover what the real subset lacks (lesions without coordinates, malformed
rows, missing or corrupt files) and pin the geometry with films whose only
bright spots are the annotated lesions.
"""

import functools
import re

import numpy as np
import pytest
from PIL import Image

from skbreastcad.datasets import load_mias, read_mias_info

HEADER = """MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY (synthetic test copy)
NOTES
1) pairs of films ...
3) Coordinate system origin is the bottom-left corner.
=================================================================

"""
SIZE = 1024


def _film(lesions=(), breast=120):
    """A 1024x1024 film: black background, a half-disc 'breast' on the left, bright lesion discs.

    ``lesions`` are (x, y, radius, value) in Info.txt coordinates (origin bottom-left).
    """
    rows, cols = np.ogrid[:SIZE, :SIZE]
    image = np.zeros((SIZE, SIZE), dtype=np.uint8)
    image[(rows - 512) ** 2 + cols**2 < 480**2] = breast
    for x, y, radius, value in lesions:
        image[(rows - (SIZE - 1 - y)) ** 2 + (cols - x) ** 2 <= radius**2] = value
    return image


def _write(folder, info_rows, films, ext=".pgm"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Info.txt").write_text(HEADER + "\n".join(info_rows) + "\n\n=====\n")
    for reference, image in films.items():
        Image.fromarray(image).save(folder / f"{reference}{ext}")
    return folder


@pytest.fixture
def database(tmp_path):
    """Two women; one film with three lesions, one with a lesion without coordinates."""
    rows = [
        "mdb001 G CIRC B 300 800 20",  # upper part of the film: row 223
        "mdb002 G NORM ",
        "mdb003 D CALC B 200 400 10",
        "mdb003 D SPIC M 250 600 15",
        "mdb003 D CIRC M 150 520 12",
        "mdb004 F CALC M",  # note 4: widely distributed, no coordinates
    ]
    films = {
        "mdb001": _film([(300, 800, 20, 250)]),
        "mdb002": _film(),
        "mdb003": _film([(200, 400, 10, 180), (250, 600, 15, 200), (150, 520, 12, 220)]),
        "mdb004": _film(),
    }
    return _write(tmp_path / "mias", rows, films)


@pytest.fixture(scope="module")
def load(recording_warnings):
    """``load_mias(...)`` -> ``(bunch, warning messages)``."""
    return functools.partial(recording_warnings, load_mias)


def test_lesion_rois_sit_on_the_annotated_lesions(database, load):
    bunch, _ = load(database, roi_size=64, output_size=None, negatives_per_positive=0)
    meta = bunch.metadata
    assert list(meta["reference"]) == ["mdb001", "mdb003", "mdb003", "mdb003"]
    # each lesion disc has its own grey value: the centre of each ROI must show it
    expected = {(300, 800): 250, (200, 400): 180, (250, 600): 200, (150, 520): 220}
    for image, row in zip(bunch.images, meta.itertuples(), strict=True):
        assert image[32, 32] == expected[(row.x, row.y)], (row.x, row.y)
        # origin bottom-left: array row = 1023 - y
        assert (row.center_row, row.center_col) == (SIZE - 1 - row.y, row.x)
    # the upper-left lesion would be plain breast if y were not flipped or x and y swapped
    film = _film([(300, 800, 20, 250)])
    assert film[800, 300] == 120 and film[300, 800] == 0


def test_lesion_without_coordinates_is_counted_and_its_film_gives_no_negatives(database, load):
    bunch, messages = load(database, negatives_per_positive=4)
    assert (bunch.target == 1).sum() == 4
    assert (bunch.target == 0).sum() == 16
    assert "mdb004" not in set(bunch.metadata["reference"])
    assert len(messages) == 1 and "skipped 2 item(s)" in messages[0]
    assert "mdb004 CALC (line" in messages[0] and "note 4" in messages[0]
    assert set(bunch.skipped["item"].str[:6]) == {"mdb004"}


def test_note_pointer_in_place_of_coordinates(tmp_path, load):
    folder = _write(
        tmp_path / "m",
        ["mdb001 G CIRC B 300 800 20", "mdb002 G CALC M *NOTE 3*"],
        {"mdb001": _film([(300, 800, 20, 250)]), "mdb002": _film()},
    )
    info = read_mias_info(folder / "Info.txt")
    assert info.loc[1, "note"] == "*NOTE 3*" and np.isnan(info.loc[1, "x"])
    bunch, messages = load(folder, task="malignancy")
    assert len(bunch.target) == 1 and "mdb002 CALC" in messages[0]


def test_negatives_lie_in_the_breast_and_clear_of_every_lesion(database, load):
    bunch, _ = load(
        database, roi_size=64, output_size=None, negatives_per_positive=4, random_state=0
    )
    negatives = bunch.images[bunch.target == 0]
    assert len(negatives) == 16
    # breast (at most the 5 % allowed at the skin line is background), none of the lesion grey levels
    assert not np.isin(negatives, [180, 200, 220, 250]).any()
    assert ((negatives == 120).mean(axis=(1, 2)) >= 0.95).all()
    meta = bunch.metadata[bunch.target == 0]
    assert set(meta["reference"]) <= {"mdb001", "mdb002", "mdb003"}
    assert meta["abnormality"].isna().all() and meta["severity"].isna().all()


def test_counts_follow_negatives_per_positive(database, load):
    for ratio, expected in [(0, 0), (1, 4), (2.5, 10)]:
        bunch, _ = load(database, negatives_per_positive=ratio)
        assert (bunch.target == 0).sum() == expected


def test_malignancy_task_and_class_filter(database, load):
    bunch, _ = load(database, task="malignancy")
    assert list(bunch.target_names) == ["benign", "malignant"]
    assert sorted(zip(bunch.metadata["severity"], bunch.target, strict=True)) == [
        ("B", 0),
        ("B", 0),
        ("M", 1),
        ("M", 1),
    ]
    bunch, _ = load(database, task="malignancy", abnormality_classes=["circ", "SPIC"])
    assert set(bunch.metadata["abnormality"]) == {"CIRC", "SPIC"}
    with pytest.raises(ValueError, match="abnormality_classes"):
        load_mias(database, abnormality_classes=["MASS"])


def test_deterministic_given_random_state(database, load):
    a, _ = load(database, random_state=3)
    b, _ = load(database, random_state=3)
    c, _ = load(database, random_state=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.metadata.equals(b.metadata)
    assert not a.metadata[["center_row", "center_col"]].equals(
        c.metadata[["center_row", "center_col"]]
    )


def test_groups_pair_the_two_films_of_a_woman(database, load):
    bunch, _ = load(database)
    meta = bunch.metadata
    expected = {"mdb001": 1, "mdb002": 1, "mdb003": 2}
    assert [expected[r] for r in meta["reference"]] == list(bunch.groups)
    assert set(meta.loc[meta["reference"] == "mdb002", "breast"]) == {"left"}  # even number: left


def test_png_copies_give_the_same_rois(database, tmp_path, load):
    films = {p.stem: np.asarray(Image.open(p)) for p in database.glob("*.pgm")}
    rows = [
        line for line in (database / "Info.txt").read_text().splitlines() if line.startswith("mdb")
    ]
    png = _write(tmp_path / "png", rows, films, ext=".png")
    a, _ = load(database)
    b, _ = load(png)
    np.testing.assert_array_equal(a.images, b.images)
    assert set(b.metadata["file"].str[-4:]) == {".png"}


def test_lesion_sized_crops_contain_the_whole_circle(database, load):
    bunch, _ = load(database, roi_size="lesion", output_size=16, negatives_per_positive=1)
    meta = bunch.metadata
    lesions = meta[meta["kind"] == "lesion"]
    assert (lesions["crop_size"] >= 2 * lesions["radius"]).all()
    assert bunch.images.shape[1:] == (16, 16)
    # non-tumour crops copy the sizes of the lesion crops
    assert set(meta.loc[meta["kind"] == "background", "crop_size"]) <= set(lesions["crop_size"])


def test_subset_and_missing_files(database, load):
    (database / "mdb002.pgm").unlink()
    bunch, messages = load(database)
    assert "mdb002" not in set(bunch.metadata["reference"])
    assert "mdb002: listed in Info.txt, image file not present" in messages[0]
    with pytest.raises(FileNotFoundError, match="mdb002"):
        load_mias(database, missing="raise")
    with pytest.raises(FileNotFoundError, match="mdb002"):
        load_mias(database, references=["mdb001", "mdb002"])
    bunch, _ = load(database, references=["mdb001"])
    assert set(bunch.metadata["reference"]) == {"mdb001"}
    with pytest.raises(ValueError, match="not listed"):
        load_mias(database, references=["mdb999"])


def test_unlisted_image_is_reported(database, load):
    Image.fromarray(_film()).save(database / "mdb005.pgm")
    _, messages = load(database)
    assert "mdb005.pgm: image file without a row in Info.txt" in messages[0]


def test_lesion_outside_the_breast_is_skipped_with_a_warning(tmp_path, load):
    folder = _write(
        tmp_path / "m",
        ["mdb001 G CIRC B 300 800 20", "mdb002 G CALC B 900 900 5"],
        {"mdb001": _film([(300, 800, 20, 250)]), "mdb002": _film()},
    )
    bunch, messages = load(folder)
    assert (bunch.target == 1).sum() == 1
    assert "mdb002 CALC (line" in messages[0] and "outside the breast" in messages[0]
    bunch, _ = load(folder, lesions_outside_breast="keep")
    assert (bunch.target == 1).sum() == 2


def test_missing_folder_or_info(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder not found"):
        load_mias(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No Info.txt"):
        load_mias(tmp_path / "empty")


def test_corrupt_and_wrong_size_images_name_the_file(database):
    (database / "mdb002.pgm").write_bytes(b"P5\n1024 1024\n255\n" + b"\0" * 100)
    with pytest.raises(ValueError, match="mdb002.pgm"):
        load_mias(database)
    Image.fromarray(np.zeros((512, 512), np.uint8)).save(database / "mdb002.pgm")
    with pytest.raises(ValueError, match=r"mdb002.pgm is 512x512.*1024x1024"):
        load_mias(database)


@pytest.mark.parametrize(
    "row, match",
    [
        ("mdb002 G CIRC B 300 800", "expected x, y and radius"),
        ("mdb002 G CIRC B 300 abc 20", "y 'abc' is not a number"),
        ("mdb002 G CIRC B 300 1200 20", "outside the 1024x1024"),
        ("mdb002 G CIRC B 300 800 0", "radius must be positive"),
        ("mdb002 G CIRC X 300 800 20", "unknown severity"),
        ("mdb002 G CIRC", "no severity"),
        ("mdb002 Q NORM", "unknown background tissue"),
        ("mdb002 G MASS B 1 2 3", "unknown class of abnormality"),
        ("mdb002 G NORM B", "NORM film has no severity"),
        ("mdb02 G NORM", "not of the form mdbNNN"),
        ("mdb002", "at least 3 columns"),
        ("mdb001 G CIRC B 300 800 20", "duplicate of line"),
        ("mdb001 D CALC B 100 100 5", "has tissue D here but G"),
        ("mdb001 G NORM", "listed as NORM and as abnormal"),
        ("G NORM", "expected a film row"),
    ],
)
def test_malformed_rows_name_the_file_and_line(tmp_path, row, match):
    folder = _write(tmp_path / "m", ["mdb001 G CIRC B 300 800 20", row, "mdb004 G NORM"], {})
    line = HEADER.count("\n") + 2
    with pytest.raises(ValueError, match=rf"Info.txt, line {line}: .*{match}"):
        load_mias(folder)


def test_info_without_rows(tmp_path):
    folder = _write(tmp_path / "m", [], {})
    with pytest.raises(ValueError, match="no film rows"):
        read_mias_info(folder / "Info.txt")


def test_the_order_of_references_does_not_change_the_rois(database, load):
    a, _ = load(database, references=["mdb001", "mdb002", "mdb003"], random_state=3)
    b, _ = load(database, references=["mdb003", "mdb001", "mdb002"], random_state=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.metadata.equals(b.metadata)


def test_a_second_copy_of_a_film_is_reported(database, load):
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(database / "mdb002.png")
    bunch, messages = load(database)
    assert set(bunch.metadata.loc[bunch.metadata["reference"] == "mdb002", "file"]) == {
        "mdb002.pgm"
    }
    assert "mdb002.png: another copy of mdb002.pgm, which is read" in messages[0]
    _, messages = load(database, references=["mdb001"])
    assert "mdb002.png" not in " ".join(messages)


def test_film_with_maxval_zero_names_the_file(database):
    # Pillow's own message ("maxval must be greater than 0 ...") named no file
    (database / "mdb002.pgm").write_bytes(b"P5\n1024 1024\n0\n" + b"\0" * SIZE * SIZE)
    with pytest.raises(
        ValueError, match=r"Cannot read image .*mdb002.pgm: its PGM/PPM header gives maxval 0"
    ):
        load_mias(database)


@pytest.mark.parametrize(
    "rows, lines",
    [
        (["mdb001 G CIRC B 300 800 20", "mdb001 G CIRC M 300 800 20"], (1, 2)),
        # another radius or class at the same centre is still the same lesion
        (["mdb001 G CIRC B 300 800 20", "mdb004 G NORM", "mdb001 G SPIC M 300 800 25"], (1, 3)),
        (["mdb001 G CALC M", "mdb001 G CALC B"], (1, 2)),
    ],
    ids=["same-row", "other-radius-and-class", "no-coordinates"],
)
def test_one_lesion_listed_as_benign_and_malignant_is_refused(tmp_path, rows, lines):
    folder = _write(tmp_path / "m", rows, {})
    first, second = (HEADER.count("\n") + k for k in lines)
    with pytest.raises(
        ValueError,
        match=rf"Info.txt, line {second}: mdb001 lists one lesion .* as (benign|malignant) "
        rf"\([BM]\) here but as (malignant|benign) \([BM]\) on line {first}",
    ):
        read_mias_info(folder / "Info.txt")


def test_two_lesions_of_one_film_may_differ_in_severity(tmp_path):
    rows = ["mdb001 G CIRC B 300 800 20", "mdb001 G CIRC M 310 800 20", "mdb001 G CALC B"]
    info = read_mias_info(_write(tmp_path / "m", rows, {}) / "Info.txt")
    assert info["severity"].tolist() == ["B", "M", "B"]


@pytest.mark.parametrize("text", ["5_35", "1e2", "+300", "nan", "inf", "٣٠٠", "3.", "0x10", "-5"])
def test_coordinates_are_plain_decimal_numbers(tmp_path, text):
    # float() reads "5_35" as 535, "1e2" as 100 and Arabic-Indic digits as 300
    folder = _write(tmp_path / "m", [f"mdb001 G CIRC B {text} 800 20"], {})
    with pytest.raises(ValueError, match=rf"line \d+: x '{re.escape(text)}' is not a number"):
        read_mias_info(folder / "Info.txt")


def test_decimal_coordinates_are_read(tmp_path):
    folder = _write(tmp_path / "m", ["mdb001 G CIRC B 300.5 800 20.25"], {})
    info = read_mias_info(folder / "Info.txt")
    assert info.loc[0, ["x", "y", "radius"]].tolist() == [300.5, 800.0, 20.25]


@pytest.mark.parametrize(
    "encoding, bom",
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-8", b""),
        ("utf-16", b""),  # Python's utf-16 writes its own byte-order mark
        ("utf-16-le", b""),
        ("utf-16-be", b""),
        ("utf-16-le", b"\xff\xfe"),
    ],
    ids=["utf8-bom", "utf8", "utf16", "utf16le-no-bom", "utf16be-no-bom", "utf16le-bom"],
)
@pytest.mark.parametrize("header", [True, False])
def test_byte_order_marks_and_utf16_keep_every_film(database, load, encoding, bom, header):
    expected, _ = load(database)
    info = database / "Info.txt"
    text = info.read_text()
    if not header:
        # the mark then sits right before the first mdbNNN row
        text = text[text.index("mdb001") :]
    info.write_bytes(bom + text.encode(encoding))
    parsed = read_mias_info(info)
    assert parsed["reference"].tolist()[0] == "mdb001" and len(parsed) == 6
    bunch, messages = load(database)
    np.testing.assert_array_equal(bunch.images, expected.images)
    assert "without a row" not in " ".join(messages)


def test_a_byte_order_mark_before_a_later_row_is_ignored(tmp_path):
    folder = _write(tmp_path / "m", ["mdb001 G CIRC B 300 800 20"], {})
    info = folder / "Info.txt"
    # two files pasted together: the second one's mark lands before its first row
    info.write_bytes(info.read_bytes().replace(b"\n\n=====", b"\n\xef\xbb\xbfmdb002 G NORM\n====="))
    assert read_mias_info(info)["reference"].tolist() == ["mdb001", "mdb002"]


def test_text_with_nul_bytes_that_is_not_utf16_names_the_encoding(tmp_path):
    info = tmp_path / "Info.txt"
    info.write_bytes(b"mdb001 G NORM\n\x00\xd8\x00")
    with pytest.raises(ValueError, match="holds NUL bytes but is not UTF-16 text"):
        read_mias_info(info)
    # UTF-32 decodes as UTF-16 without finding a row: the error says which encodings are read
    info.write_bytes("mdb001 G NORM\n".encode("utf-32-le"))
    with pytest.raises(ValueError, match="no film rows .* UTF-16"):
        read_mias_info(info)
