"""load_duke_mri: the TCIA layout, slice order, boxes, subtraction and the study's pipelines."""

import numpy as np
import pytest

from skbreastcad.datasets import load_duke_mri
from skbreastcad.datasets._duke_mri import _phase_of, read_annotation_boxes

SIZE = 96
# 1-based, inclusive: rows 21-36, columns 61-76 (the right breast), slices 13-16 of 10-21
BOX = (21, 36, 61, 76, 13, 16)
SLICES = range(10, 22)


def _write(path, pixels, *, description, number, patient, slope=None, intercept=None):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientID = patient
    ds.SeriesDescription = description
    ds.InstanceNumber = number
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _slice(number, enhanced, rng):
    """An axial slice: two half-ellipses of breast above a chest band, noise, and the tumour."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    image = np.zeros((SIZE, SIZE))
    for centre in (22, 74):
        image[((rows - 48) / 40) ** 2 + ((cols - centre) / 18) ** 2 < 1] = 300
    image[48:70, 2:94] = 300
    image += rng.normal(0, 5, image.shape)
    if enhanced:
        image[52:70, 30:66] += 400  # the heart: bright after contrast, never a non-tumour ROI
        r0, r1, c0, c1, s0, s1 = BOX
        if s0 <= number <= s1:
            image[r0 - 1 : r1, c0 - 1 : c1] += 600
    return np.clip(image, 0, None)


def _exam(root, patient="Breast_MRI_900", *, slices=SLICES, phases=("pre", "1st pass"), **kw):
    """A patient in the TCIA layout, file names shuffled against the InstanceNumber order."""
    rng = np.random.default_rng(0)
    study = root / patient / "01-01-1990-NA-MRI BREAST BILATERAL WWO-11111"
    names = rng.permutation(len(slices))
    for k, phase in enumerate(phases):
        folder = study / f"{k + 2}.000000-ax dyn {phase}-{11111 + k}"
        for name, number in zip(names, slices):
            pixels = _slice(number, phase != "pre", rng)
            _write(
                folder / f"1-{name + 1:03d}.dcm",
                pixels,
                description=f"ax dyn {phase}",
                number=number,
                patient=patient,
                **kw,
            )
    return study


def _boxes(root, rows):
    lines = ["Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice"]
    lines += [",".join(map(str, (patient, *box))) for patient, box in rows]
    (root / "Annotation_Boxes.csv").write_text("\n".join(lines) + "\n")


def test_phase_of_reads_duke_series_descriptions():
    assert _phase_of("ax dyn pre") == 0
    assert _phase_of("ax 3d dyn pre") == 0
    assert _phase_of("ax dyn 1st pass") == 1
    assert _phase_of("ax dyn 3rd pass") == 3
    assert _phase_of("Ph2/ax 3d dyn") == 2
    assert _phase_of("t1 localizer") is None


def test_shuffled_file_names_follow_instance_numbers(tmp_path):
    _exam(tmp_path)
    _boxes(tmp_path, [("Breast_MRI_900", BOX)])
    data = load_duke_mri(tmp_path, roi_size=16, output_size=None, intensity="raw")
    tumour = data.metadata[data.target == 1]
    # one tumour ROI per box slice, in InstanceNumber order, centred on the box (0-based)
    assert tumour["slice"].tolist() == [13, 14, 15, 16]
    assert (tumour["center_row"] == 27.5).all() and (tumour["center_col"] == 67.5).all()
    # the 16 px ROI is exactly the box: +600 enhancement (and no heart) in every pixel
    assert np.all(data.images[data.target == 1] > 450)
    assert (data.target == 0).sum() == 16 and set(data.groups) == {"Breast_MRI_900"}
    assert data.images.dtype == np.float32


def test_non_tumour_rois_lie_in_the_breast_away_from_box_and_heart(tmp_path):
    _exam(tmp_path)
    _boxes(tmp_path, [("Breast_MRI_900", BOX)])
    data = load_duke_mri(tmp_path, roi_size=12, output_size=None, intensity="raw")
    background = data.metadata[data.target == 0]
    # anterior to the chest band, so never the enhancing heart, and never air
    assert (background["center_row"] < 48).all()
    negatives = data.images[data.target == 0]
    assert negatives.mean(axis=(1, 2)).max() < 60
    # the subtraction of breast tissue is noise around 0; the tumour's is +600
    assert data.images[data.target == 1].mean() > 10 * abs(negatives.mean()) + 500


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    _exam(tmp_path, slope=2.0, intercept=-10.0)
    _boxes(tmp_path, [("Breast_MRI_900", BOX)])
    pre = load_duke_mri(tmp_path, image="pre", roi_size=16, output_size=None, intensity="raw")
    post = load_duke_mri(tmp_path, image="post", roi_size=16, output_size=None, intensity="raw")
    sub = load_duke_mri(tmp_path, roi_size=16, output_size=None, intensity="raw")
    t = sub.target == 1
    np.testing.assert_allclose(sub.images[t], post.images[t] - pre.images[t], atol=1e-3)
    # +600 stored, x2 by the slope; the intercept cancels in the subtraction
    assert sub.images[t].mean() == pytest.approx(1200, abs=30)


def test_unit_intensity_lies_in_zero_one(tmp_path):
    _exam(tmp_path)
    _boxes(tmp_path, [("Breast_MRI_900", BOX)])
    data = load_duke_mri(tmp_path, roi_size=16)
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.images.shape[1:] == (64, 64)


def test_missing_slice_is_an_error_naming_the_series(tmp_path):
    _exam(tmp_path, slices=[10, 11, 12, 14, 15, 16, 17])
    _boxes(tmp_path, [("Breast_MRI_900", BOX)])
    with pytest.raises(ValueError, match=r"ax dyn pre-11111 misses slice\(s\) 13 "):
        load_duke_mri(tmp_path, roi_size=12, output_size=None)


def test_series_missing_a_phase_is_named(tmp_path, recording_warnings):
    _exam(tmp_path, phases=("pre",))
    _exam(tmp_path, patient="Breast_MRI_901")
    _boxes(tmp_path, [("Breast_MRI_900", BOX), ("Breast_MRI_901", BOX)])
    data, messages = recording_warnings(load_duke_mri, tmp_path, roi_size=12, output_size=None)
    assert set(data.groups) == {"Breast_MRI_901"}
    assert any("Breast_MRI_900" in m and "post-contrast pass 1" in m for m in messages)
    with pytest.raises(ValueError, match="Breast_MRI_900.*post-contrast pass 1"):
        load_duke_mri(tmp_path, roi_size=12, output_size=None, missing="raise")
    # the pre-contrast images alone need no post-contrast series
    pre = load_duke_mri(tmp_path, image="pre", roi_size=12, output_size=None)
    assert set(pre.groups) == {"Breast_MRI_900", "Breast_MRI_901"}


def test_box_outside_the_slices_present(tmp_path, recording_warnings):
    _exam(tmp_path)
    _exam(tmp_path, patient="Breast_MRI_901")
    outside = (*BOX[:4], 40, 45)
    _boxes(tmp_path, [("Breast_MRI_900", outside), ("Breast_MRI_901", BOX)])
    data, messages = recording_warnings(load_duke_mri, tmp_path, roi_size=12, output_size=None)
    assert set(data.groups) == {"Breast_MRI_901"}
    assert any(
        "Breast_MRI_900" in m and "outside the slices present (10-21)" in m for m in messages
    )
    with pytest.raises(ValueError, match="Breast_MRI_900.*outside the slices"):
        load_duke_mri(tmp_path, roi_size=12, output_size=None, missing="raise")


def test_patient_without_a_box(tmp_path, recording_warnings):
    _exam(tmp_path)
    _exam(tmp_path, patient="Breast_MRI_901")
    _boxes(tmp_path, [("Breast_MRI_901", BOX)])
    data, messages = recording_warnings(load_duke_mri, tmp_path, roi_size=12, output_size=None)
    assert set(data.groups) == {"Breast_MRI_901"}
    assert data.target.sum() == 4 and (data.target == 0).sum() == 16
    assert any("Breast_MRI_900" in m and "no tumour box" in m for m in messages)
    with pytest.raises(ValueError, match="Breast_MRI_900.*no tumour box"):
        load_duke_mri(tmp_path, roi_size=12, output_size=None, missing="raise")


def test_several_patients_are_groups(tmp_path):
    for patient in ("Breast_MRI_900", "Breast_MRI_901", "Breast_MRI_902"):
        _exam(tmp_path, patient=patient)
    _boxes(tmp_path, [(p, BOX) for p in ("Breast_MRI_900", "Breast_MRI_901", "Breast_MRI_902")])
    data = load_duke_mri(tmp_path, roi_size=12, output_size=None)
    assert sorted(set(data.groups)) == ["Breast_MRI_900", "Breast_MRI_901", "Breast_MRI_902"]
    for patient in set(data.groups):
        mine = data.target[data.groups == patient]
        assert mine.sum() == 4 and (mine == 0).sum() == 16


def test_two_series_of_one_phase_are_refused(tmp_path):
    study = _exam(tmp_path)
    extra = study / "9.000000-ax dyn pre repeat-99999"
    for path in sorted((study / "2.000000-ax dyn pre-11111").iterdir()):
        extra.mkdir(exist_ok=True)
        (extra / path.name).write_bytes(path.read_bytes())
    _boxes(tmp_path, [("Breast_MRI_900", BOX)])
    with pytest.raises(ValueError, match="two series .* phase 0"):
        load_duke_mri(tmp_path, roi_size=12, output_size=None)


def test_malformed_boxes_are_named(tmp_path):
    (tmp_path / "Annotation_Boxes.csv").write_text(
        "Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice\n"
        "Breast_MRI_900,0,10,5,9,1,2\n"
    )
    with pytest.raises(ValueError, match="'Start Row' must be a positive whole number"):
        read_annotation_boxes(tmp_path / "Annotation_Boxes.csv")
    (tmp_path / "b.csv").write_text("Patient ID,Start Row\nx,1\n")
    with pytest.raises(ValueError, match="lacks the column"):
        read_annotation_boxes(tmp_path / "b.csv")


@pytest.fixture(scope="module")
def duke(request):
    from conftest import _data_dir

    return load_duke_mri(_data_dir("duke_mri"))


@pytest.mark.real_data
def test_real_exam_rois(duke):
    assert duke.images.shape == (90, 64, 64) and duke.images.dtype == np.float32
    # the official box spans slices 83-100 (InstanceNumber): 18 tumour ROIs, 1:4 by default
    assert duke.target.sum() == 18 and (duke.target == 0).sum() == 72
    assert sorted(duke.metadata.loc[duke.target == 1, "slice"]) == list(range(83, 101))
    assert set(duke.groups) == {"Breast_MRI_153"}
    tumour = duke.metadata[duke.target == 1]
    # rows 47-82 and columns 90-124, 1-based: the centre in 0-based indices
    assert (tumour["center_row"] == 63.5).all() and (tumour["center_col"] == 106).all()


@pytest.mark.real_data
def test_real_exam_tumour_enhances_in_the_subtraction(duke):
    # measured: median centre of the tumour ROIs 0.85 of the exam scale, non-tumour 0.04 (95th pct 0.08)
    centre = duke.images[:, 24:40, 24:40].mean(axis=(1, 2))
    tumour, other = centre[duke.target == 1], centre[duke.target == 0]
    assert np.median(tumour) > 3 * np.median(other)
    assert np.median(tumour) > np.percentile(other, 95)


@pytest.mark.real_data
def test_study_pipelines_run_on_the_real_exam(duke):
    """Texture, CNN layer features and a mammography-to-MRI transfer run on real MRI ROIs.

    One patient gives no score: only that each pipeline runs and returns what it should.
    """
    from conftest import _data_dir

    from skbreastcad.datasets import load_mias
    from skbreastcad.experiments import make_feature_pipeline
    from skbreastcad.features import CNNLayerFeatures
    from skbreastcad.models import SourceData, TwoStageTransferClassifier

    X, y = duke.images, duke.target
    texture = make_feature_pipeline("glcm").fit(X, y)
    assert texture.predict_proba(X).shape == (90, 2)

    features = CNNLayerFeatures("tiny_cnn", weights=None, random_state=0, device="cpu")
    out = features.fit_transform(X)
    assert out.shape[0] == 90 and np.isfinite(out).all()

    films = sorted(p.stem for p in _data_dir("mias").glob("mdb*.pgm"))[:16]
    mias = load_mias(_data_dir("mias"), roi_size=128, output_size=32, references=films)
    source = SourceData(mias.images, mias.target)
    clf = TwoStageTransferClassifier(
        "tiny_cnn",
        transfer="two_stage",
        source_data=source,
        weights=None,
        max_epochs=1,
        source_params={"max_epochs": 1},
        batch_size=16,
        random_state=0,
        device="cpu",
    )
    small = X[:, ::2, ::2]  # 32 px, as the source
    proba = clf.fit(small, y).predict_proba(small)
    assert proba.shape == (90, 2) and np.allclose(proba.sum(axis=1), 1)
    assert clf.stage1_history_ is not None


@pytest.mark.real_data
def test_cli_runs_the_feature_experiment_on_the_real_exam(tmp_path, capsys):
    from conftest import _data_dir

    from skbreastcad._cli import main

    data = f"duke-mri:{_data_dir('duke_mri')}"
    argv = ["run", "features", "--data", data, "--features", "glcm", "haar"]
    argv += ["--cv", "3", "--n-boot", "100", "--output", str(tmp_path / "out")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    # one patient: the folds split her images, and the run says its scores are not a result
    assert "one patient (Breast_MRI_153)" in err and "NOT a result" in err
    report = tmp_path / "out" / "features" / "report.html"
    assert report.is_file() and "glcm" in report.read_text()
