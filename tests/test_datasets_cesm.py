"""load_image_folder on the real CDD-CESM subset in ../shared/data/cesm (skipped off CI when absent).

The folder is the layout the loader is for: ``<class>/P<woman>_<L|R>_CM_<CC|MLO>.png``, with a
``labels.csv`` and a README beside the class folders. Its README and labels.csv are the references.
"""

import csv
import functools
import re

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import GroupKFold

from skbreastcad.datasets import load_image_folder


@pytest.fixture(scope="module")
def cesm(cesm_dir, recording_warnings):
    """The whole set, unresampled (512 x 512), grouped by woman; and the warnings it raised."""
    load = functools.partial(recording_warnings, load_image_folder)
    return load(cesm_dir, group_pattern=r"(P\d+)_", output_size=None)


@pytest.fixture(scope="module")
def labels(cesm_dir):
    with open(cesm_dir / "labels.csv", newline="") as f:
        return {
            row["Image_name"]: row["PathologyClassification"].lower() for row in csv.DictReader(f)
        }


def test_every_image_is_loaded_with_its_labelled_class(cesm, labels):
    bunch, messages = cesm
    assert not messages  # README.md and labels.csv beside the class folders are not images
    assert list(bunch.target_names) == ["benign", "malignant", "normal"]
    assert np.bincount(bunch.target).tolist() == [187, 214, 267]  # as the README says
    assert bunch.images.shape == (668, 512, 512) and bunch.images.dtype == np.uint8
    files = bunch.metadata["file"].str.extract(r"/(\w+)\.png$")[0]
    assert sorted(files) == sorted(labels)
    assert [labels[f] for f in files] == list(bunch.target_names[bunch.target])
    assert (bunch.metadata["crop"] == "whole image").all()


def test_rois_are_the_files_pixels(cesm, cesm_dir):
    bunch, _ = cesm
    for k in (0, 300, 667):
        expected = np.asarray(Image.open(cesm_dir / bunch.metadata.loc[k, "file"]).convert("L"))
        np.testing.assert_array_equal(bunch.images[k], expected)


def test_groups_are_women_and_grouped_folds_never_split_one(cesm):
    bunch, _ = cesm
    women = [
        re.match(r"P(\d+)_[LR]_CM_(CC|MLO)$", f.split("/")[-1][:-4]).group(1)
        for f in bunch.metadata["file"]
    ]
    assert list(bunch.metadata["group"]) == [f"P{w}" for w in women]
    assert len(set(women)) == len(np.unique(bunch.groups)) == 218
    for train, test in GroupKFold(5).split(bunch.images, bunch.target, bunch.groups):
        assert not {women[k] for k in train} & {women[k] for k in test}
