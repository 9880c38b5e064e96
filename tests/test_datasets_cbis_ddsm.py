"""load_cbis_ddsm on a tiny CBIS-DDSM look-alike written into tmp_path (DICOM and PNG copies)."""

import csv
import functools

import numpy as np
import pytest
from PIL import Image

from skbreastcad.datasets import load_cbis_ddsm

MASS_HEADER = [
    "patient_id",
    "breast_density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "mass shape",
    "mass margins",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
CALC_HEADER = [
    "patient_id",
    "breast density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "calc type",
    "calc distribution",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
SHAPE = (240, 160)
LESIONS = {  # (patient, abnormality id): (top, left, size, grey level, pathology)
    ("P_00001", "1"): (40, 40, 20, 60000, "MALIGNANT"),
    ("P_00001", "2"): (150, 70, 14, 50000, "BENIGN"),
    ("P_00002", "1"): (100, 60, 10, 55000, "BENIGN_WITHOUT_CALLBACK"),
}


def _mammogram(patient):
    image = np.zeros(SHAPE, np.uint16)
    image[10:230, :130] = 20000  # the breast, on a black background
    masks = {}
    for (p, abnormality_id), (top, left, size, value, _) in LESIONS.items():
        if p == patient:
            image[top : top + size, left : left + size] = value
            mask = np.zeros(SHAPE, np.uint8)
            mask[top : top + size, left : left + size] = 255
            masks[abnormality_id] = mask
    return image, masks


@pytest.fixture
def cbis(tmp_path, write_dicom):
    root = tmp_path / "cbis"
    # P_00001: DICOMs in the TCIA download layout, which does not match the CSV paths;
    # its ROI folders hold the cropped image first and the mask second.
    image, masks = _mammogram("P_00001")
    case = "Mass-Training_P_00001_LEFT_CC"
    full = (
        root / "CBIS-DDSM" / case / "07-20-2016-DDSM-74994" / "1.000000-full mammogram images-24515"
    )
    write_dicom(full / "1-1.dcm", image)
    rows = []
    for abnormality_id, mask in masks.items():
        top, left, size, _, pathology = LESIONS[("P_00001", abnormality_id)]
        series = (
            root
            / "CBIS-DDSM"
            / f"{case}_{abnormality_id}"
            / "07-21-2016-DDSM-1"
            / "1.000000-ROI mask images-2"
        )
        write_dicom(series / "1-1.dcm", image[top : top + size, left : left + size])
        write_dicom(series / "1-2.dcm", mask.astype(np.uint16))
        roi_path = f"{case}_{abnormality_id}/1.3.6.1.4.1.9590.100.1.2.{abnormality_id}/1.3.6.1.4.1.9590.100.1.2.9/"
        rows.append(
            [
                "P_00001",
                "2",
                "LEFT",
                "CC",
                abnormality_id,
                "mass",
                "OVAL",
                "CIRCUMSCRIBED",
                "4",
                pathology,
                "3",
                f"{case}/1.3.6.1.4.1.9590.100.1.2.0/1.3.6.1.4.1.9590.100.1.2.8/000000.dcm",
                roi_path + "000000.dcm",
                roi_path + "000001.dcm\n",
            ]
        )
    _write_csv(root / "mass_case_description_train_set.csv", MASS_HEADER, rows)

    # P_00002: 16-bit PNG copies at exactly the CSV paths (with .png for .dcm).
    image, masks = _mammogram("P_00002")
    case = "Calc-Test_P_00002_RIGHT_MLO"
    Image.fromarray(image).save(_mkdir(root / case / "s" / "f" / "000000.png"))
    Image.fromarray(masks["1"]).save(_mkdir(root / f"{case}_1" / "s" / "r" / "000001.png"))
    _write_csv(
        root / "calc_case_description_test_set.csv",
        CALC_HEADER,
        [
            [
                "P_00002",
                "3",
                "RIGHT",
                "MLO",
                "1",
                "calcification",
                "PLEOMORPHIC",
                "CLUSTERED",
                "3",
                "BENIGN_WITHOUT_CALLBACK",
                "2",
                f"{case}/s/f/000000.dcm",
                f"{case}_1/s/r/000000.dcm",
                f"{case}_1/s/r/000001.dcm",
            ]
        ],
    )
    return root


def _mkdir(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def load(recording_warnings):
    """``load_cbis_ddsm(...)`` -> ``(bunch, warning messages)``."""
    return functools.partial(recording_warnings, load_cbis_ddsm)


def test_lesion_rois_from_dicom_and_png(cbis, load):
    bunch, messages = load(cbis, margin=0.0, output_size=8)
    assert not messages
    meta = bunch.metadata
    assert bunch.images.dtype == np.uint16 and bunch.images.shape == (3, 8, 8)
    for image, row in zip(bunch.images, meta.itertuples(), strict=True):
        top, left, size, value, pathology = LESIONS[(row.patient_id, row.abnormality_id)]
        assert (
            image[3:5, 3:5] == value
        ).all()  # centred on the lesion square, whatever the file layout
        assert row.crop_size == size and row.pathology == pathology
        assert row.center_row == round(top + (size - 1) / 2)
    assert list(bunch.target) == [int(p == "MALIGNANT") for p in meta["pathology"]]
    assert list(bunch.target_names) == ["benign", "malignant"]
    # one group per patient
    assert {p: set(bunch.groups[meta["patient_id"] == p]) for p in meta["patient_id"]} in (
        {"P_00001": {0}, "P_00002": {1}},
        {"P_00001": {1}, "P_00002": {0}},
    )
    assert dict(zip(meta["patient_id"], meta["split"], strict=True)) == {
        "P_00001": "train",
        "P_00002": "test",
    }
    masks = meta.loc[meta["patient_id"] == "P_00001", "mask_file"]
    assert masks.str.endswith("1-2.dcm").all()  # the masks, not the cropped images listed first


def test_margin_adds_context(cbis, load):
    bunch, _ = load(cbis, margin=0.5, abnormality="mass", output_size=40)
    assert list(bunch.metadata["crop_size"]) == [40, 28]
    assert bunch.images[0, 0, 0] == 20000 and bunch.images[0, 20, 20] == 60000


def test_filters(cbis, load):
    bunch, _ = load(cbis, abnormality="calc")
    assert list(bunch.metadata["patient_id"]) == ["P_00002"]
    bunch, _ = load(cbis, split="train")
    assert set(bunch.metadata["patient_id"]) == {"P_00001"}


def test_tumour_task_places_negatives_in_the_breast_away_from_lesions(cbis, load):
    bunch, _ = load(cbis, task="tumour", margin=0.0, output_size=16, negatives_per_positive=2)
    assert (bunch.target == 1).sum() == 3 and (bunch.target == 0).sum() == 6
    negatives = bunch.images[bunch.target == 0]
    assert not np.isin(negatives, [50000, 55000, 60000]).any()
    assert (negatives[:, 4:12, 4:12] == 20000).all()
    # a non-tumour ROI describes no lesion: only its film's fields are copied
    background = bunch.metadata[bunch.target == 0]
    assert (
        background[["abnormality_type", "abnormality_id", "pathology", "mask_file"]]
        .isna()
        .all()
        .all()
    )
    assert background["patient_id"].notna().all()
    a, _ = load(cbis, task="tumour", random_state=1)
    b, _ = load(cbis, task="tumour", random_state=1)
    np.testing.assert_array_equal(a.images, b.images)


def test_missing_file_is_counted_or_raised(cbis, load):
    next(cbis.rglob("000000.png")).unlink()
    bunch, messages = load(cbis)
    assert len(bunch.target) == 2
    assert (
        "skipped 1 item(s)" in messages[0]
        and "calc_case_description_test_set.csv, line 2" in messages[0]
    )
    with pytest.raises(
        FileNotFoundError, match=r"calc_case_description_test_set.csv, line 2: image file path"
    ):
        load_cbis_ddsm(cbis, missing="raise")


def test_mask_of_another_size_is_an_error(cbis):
    mask = next(cbis.rglob("000001.png"))
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    with pytest.raises(
        ValueError, match=r"line 2: no ROI mask of the size of its mammogram .*000000.png"
    ):
        load_cbis_ddsm(cbis)


def test_corrupt_dicom_names_the_file(cbis):
    full = next(cbis.rglob("1-1.dcm"))
    full.write_bytes(b"DICM" * 10)
    with pytest.raises(ValueError, match="1-1.dcm"):
        load_cbis_ddsm(cbis, abnormality="mass")


def test_bad_csv(cbis, tmp_path):
    path = cbis / "mass_case_description_train_set.csv"
    path.write_text(path.read_text().replace("MALIGNANT", "UNSURE"))
    with pytest.raises(
        ValueError, match=r"mass_case_description_train_set.csv, line 2: unknown pathology"
    ):
        load_cbis_ddsm(cbis)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="description CSV"):
        load_cbis_ddsm(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_cbis_ddsm(tmp_path / "nowhere")


def test_no_negatives_on_a_mammogram_whose_lesion_mask_is_missing(cbis, load):
    # P_00001's second lesion (grey level 50000) loses its mask: where it lies is
    # unknown, so non-tumour ROIs must not be drawn from that mammogram at all.
    import shutil

    shutil.rmtree(cbis / "CBIS-DDSM" / "Mass-Training_P_00001_LEFT_CC_2")
    for seed in range(5):
        bunch, messages = load(
            cbis,
            task="tumour",
            margin=0.0,
            output_size=16,
            negatives_per_positive=8,
            random_state=seed,
        )
        meta = bunch.metadata
        assert set(meta.loc[meta["kind"] == "background", "patient_id"]) == {"P_00002"}
        assert not np.isin(bunch.images[bunch.target == 0], [50000, 55000, 60000]).any()
    assert "P_00001 LEFT CC: a lesion of this mammogram was left out" in messages[0]


def test_negatives_avoid_the_lesions_of_every_copy_of_a_mammogram(cbis, load, write_dicom):
    # CBIS-DDSM publishes a mammogram with a mass and a calcification twice, under
    # Mass-... and Calc-...: the calcification (grey level 45000) is annotated only in
    # the Calc copy, yet it is on the Mass copy's pixels too.
    image, _ = _mammogram("P_00001")
    image[190:202, 14:26] = 45000
    mask = np.zeros(SHAPE, np.uint16)
    mask[190:202, 14:26] = 255
    write_dicom(
        next((cbis / "CBIS-DDSM" / "Mass-Training_P_00001_LEFT_CC").rglob("1-1.dcm")), image
    )
    case = "Calc-Training_P_00001_LEFT_CC"
    write_dicom(cbis / case / "full" / "000000.dcm", image)
    write_dicom(cbis / f"{case}_1" / "roi" / "000001.dcm", mask)
    _write_csv(
        cbis / "calc_case_description_train_set.csv",
        CALC_HEADER,
        [
            [
                "P_00001",
                "2",
                "LEFT",
                "CC",
                "1",
                "calcification",
                "PLEOMORPHIC",
                "CLUSTERED",
                "3",
                "BENIGN",
                "2",
                f"{case}/full/000000.dcm",
                f"{case}_1/roi/000000.dcm",
                f"{case}_1/roi/000001.dcm",
            ]
        ],
    )
    for seed in range(5):
        bunch, _ = load(
            cbis,
            task="tumour",
            margin=0.0,
            output_size=16,
            negatives_per_positive=6,
            random_state=seed,
        )
        assert (bunch.target == 1).sum() == 4
        assert not np.isin(bunch.images[bunch.target == 0], [45000, 50000, 55000, 60000]).any()
        # one film, one set of negatives: not a second set cut from its copy
        files = bunch.metadata.loc[bunch.target == 0, "image_file"]
        assert files[files.str.contains("P_00001")].nunique() == 1


# --- Nothing lost, nothing silent (issue 9) ---------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ('P_00009,1,BENIGN,"a.dcm,b.dcm\n', "EOF inside string"),  # an unterminated quote
        (
            "P_00009,1,BENIGN,a.dcm,b.dcm,extra\n",
            "does not match length of data",
        ),  # would shift the columns
        ("", "No columns to parse"),
    ],
    ids=["unterminated-quote", "extra-field", "empty"],
)
def test_unparsable_csv_names_the_file(cbis, text, match):
    path = cbis / "mass_case_description_train_set.csv"
    header = (
        ""
        if not text
        else "patient_id,abnormality id,pathology,image file path,ROI mask file path\n"
    )
    path.write_text(header + text)
    with pytest.raises(
        ValueError, match=f"Cannot parse the CBIS-DDSM description file {path}: .*{match}"
    ):
        load_cbis_ddsm(cbis)


def test_csv_that_is_not_utf8_names_the_file(cbis):
    path = cbis / "mass_case_description_train_set.csv"
    path.write_bytes(path.read_bytes().replace(b"OVAL", "OV\xc4L".encode("latin-1")))
    with pytest.raises(
        ValueError, match=f"Cannot parse the CBIS-DDSM description file {path}: 'utf-8' codec"
    ):
        load_cbis_ddsm(cbis)


def test_a_csv_present_twice_is_loaded_once(cbis, load):
    copy = cbis / "backup" / "mass_case_description_train_set.csv"
    copy.parent.mkdir()
    copy.write_bytes((cbis / "mass_case_description_train_set.csv").read_bytes())
    bunch, messages = load(cbis, margin=0.0, output_size=8)
    assert len(bunch.target) == 3  # not 5: P_00001's two lesions once each
    assert bunch.metadata[["patient_id", "abnormality_id"]].value_counts().max() == 1
    assert "skipped 2 item(s)" in messages[0]
    assert (
        bunch.skipped["reason"]
        .str.fullmatch(
            r"repeats mass_case_description_train_set.csv, line [23] \(the same lesion\): loaded once"
        )
        .all()
    )


def test_a_lesion_repeated_with_another_pathology_is_an_error(cbis):
    path = cbis / "mass_case_description_train_set.csv"
    with open(path, newline="") as f:
        header, *rows = csv.reader(f)
    _write_csv(path, header, [*rows, [field.replace("MALIGNANT", "BENIGN") for field in rows[0]]])
    with pytest.raises(
        ValueError, match=r"line 4 repeats lesion 1 of .* from .*line 2 with another pathology"
    ):
        load_cbis_ddsm(cbis)


def test_no_lesion_roi_says_why(cbis):
    for dicom in cbis.rglob("1-1.dcm"):
        dicom.unlink()
    next(cbis.rglob("000000.png")).unlink()
    with pytest.raises(
        ValueError, match=r"No lesion ROI .*: 3 item\(s\) left out \(3 image file path not found\)"
    ):
        load_cbis_ddsm(cbis)
