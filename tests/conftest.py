"""Shared fixtures: seeded randomness, the real data folders in ../shared/data
(every test that uses one is marked ``real_data``), and the small
TwoStageTransferClassifier of the transfer tests.

This module imports neither torch nor skorch at its top: the texture tests run
in an install without the ``deep`` extra (``.ci/run`` checks it).
"""

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(
    os.environ.get(
        "SKBREASTCAD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def fresh_python(code, **environ):
    """Run ``code`` (dedented) in a fresh interpreter importing this checkout's skbreastcad.

    For what must be checked without the modules this test process has loaded
    already (torch, above all); ``environ`` adds environment variables.
    Returns the ``subprocess.CompletedProcess`` (stdout and stderr as text).
    """
    import subprocess
    import sys
    import textwrap

    import skbreastcad

    env = {**os.environ, **environ}
    root = os.path.dirname(os.path.dirname(skbreastcad.__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _data_dir(name):
    path = SHARED_DATA / name
    if not path.is_dir():
        message = f"real data folder {path} is missing"
        if IN_CI:
            pytest.fail(f"{message}; CI must run beside ../shared/data")
        pytest.skip(f"{message} (set SKBREASTCAD_SHARED_DATA to its parent folder)")
    return path


# a test that uses one of these (directly or through another fixture) reads real data
REAL_DATA_FIXTURES = frozenset({"mias_dir", "ibsi_dir", "cesm_dir"})


def pytest_collection_modifyitems(config, items):
    # marked here rather than by hand, so that `-m "not real_data"` cannot miss a test
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_data)


@pytest.fixture(scope="session")
def mias_dir():
    """The real mini-MIAS subset; skipped off CI when absent, a failure on CI."""
    return _data_dir("mias")


@pytest.fixture(scope="session")
def ibsi_dir():
    """IBSI digital phantom and reference values."""
    return _data_dir("ibsi")


@pytest.fixture(params=[0, 42])
def global_random_seed(request):
    """Seeds for tests whose result must not depend on one lucky seed."""
    return request.param


def pytest_configure(config):
    # Test networks are tiny: on CI's 2 cores, torch's intra-op threads cost far
    # more in synchronisation than they gain.
    try:
        import torch
    except ImportError:  # an install without the deep extra
        return
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything():
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # an install without the deep extra
        return
    torch.manual_seed(0)


@contextmanager
def _storages_tagged_cuda():
    """While active, torch.save tags every storage as living on cuda:0, which is
    exactly what a model trained (and pickled) on a GPU machine contains."""
    from torch import serialization

    entry = (-1, lambda obj: "cuda:0", lambda obj, location: None)
    serialization._package_registry.insert(0, entry)
    try:
        yield
    finally:
        serialization._package_registry.remove(entry)


@pytest.fixture
def as_if_pickled_on_gpu():
    """Context manager simulating a GPU machine's pickles on this CPU-only one."""
    return _storages_tagged_cuda


# --- Dataset test helpers (shared by tests/test_datasets_*.py and tests/test_mias.py) -------------
# Fixtures rather than an importable module: `from _helpers import ...` only works when pytest
# puts tests/ on sys.path, which it does not under --import-mode=importlib.


@pytest.fixture(scope="session")
def recording_warnings():
    """``call(fn, *args, **kwargs)`` returns ``(fn(*args, **kwargs), messages of every warning)``.

    Loaders report what they leave out in one warning; this lets a test
    check its text while the suite turns warnings into errors.
    """

    def call(fn, *args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn(*args, **kwargs)
        return result, [str(w.message) for w in caught]

    return call


@pytest.fixture(scope="session")
def write_dicom():
    """``write(path, pixels, photometric="MONOCHROME2")``: a minimal single-frame DICOM file.

    Uncompressed grayscale at ``pixels``' bit depth, parent folders created.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    def write(path, pixels, photometric="MONOCHROME2"):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = (
            meta.MediaStorageSOPClassUID,
            meta.MediaStorageSOPInstanceUID,
        )
        ds.Modality = "MG"
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 0
        ds.PixelData = pixels.tobytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)

    return write


@pytest.fixture(scope="session")
def cesm_dir():
    """The real CDD-CESM subset (``../shared/data/cesm``); skipped off CI when absent, a failure on CI."""
    return _data_dir("cesm")


# --- end of dataset test helpers --------------------------------------------------------------------


# --- TwoStageTransferClassifier test helpers (tests/test_transfer*.py) -----------------------------
# Plain functions, exposed as the fixtures `_data` and `_clf` (named like the module helpers
# they replace): the killed-fit subprocess of tests/test_transfer_reliability.py imports them.


def transfer_images(n=40, size=12, n_classes=2, seed=0, shift=60):
    """Images whose mean grey level depends on the class (learnable by a tiny CNN)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.integers(0, 120, (n, size, size)) + shift * y[:, None, None]
    return X.astype(np.uint8), y


def small_transfer_clf(**params):
    """A TwoStageTransferClassifier on tiny_cnn that fits in about a second; ``params`` override."""
    from skbreastcad.models import TwoStageTransferClassifier

    base = dict(
        backbone="tiny_cnn",
        transfer="none",
        weights=None,
        max_epochs=3,
        source_params={"max_epochs": 3, "lr": 0.01},
        batch_size=8,
        lr=0.01,
        random_state=0,
        device="cpu",
        validation_fraction=0.25,
    )
    base.update(params)
    return TwoStageTransferClassifier(**base)


@pytest.fixture(scope="session")
def _data():
    """``_data(n=40, size=12, n_classes=2, seed=0, shift=60)``: see :func:`transfer_images`."""
    return transfer_images


@pytest.fixture(scope="session")
def _clf():
    """``_clf(**params)``: see :func:`small_transfer_clf`."""
    return small_transfer_clf
