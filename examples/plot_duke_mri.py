"""
Breast MRI: subtraction ROIs from a Duke exam
=============================================

The study's target modality is contrast-enhanced breast MRI.
:func:`~skbreastcad.datasets.load_duke_mri` reads the Duke-Breast-Cancer-MRI collection as
The Cancer Imaging Archive downloads it, builds the subtraction image (first post-contrast
pass minus pre-contrast) and cuts tumour ROIs from the official box and non-tumour ROIs from
breast tissue, 1:4 as in the study.

The exam shown is ``Breast_MRI_153`` of Duke-Breast-Cancer-MRI (Saha et al., British
Journal of Cancer 2018; The Cancer Imaging Archive, CC BY-NC 4.0), read from
``../shared/data/duke_mri`` beside the repository. Where that folder is absent the example
says so and stops.
"""

# %%
import os
from pathlib import Path

import numpy as np

from skbreastcad.datasets import load_duke_mri
from skbreastcad.plotting import plot_roi_grid

shared = Path(os.environ.get("SKBREASTCAD_SHARED_DATA", Path.cwd().parents[1] / "shared" / "data"))
folder = shared / "duke_mri"
if not folder.is_dir():
    print(f"{folder} is not here: this example needs the Duke exam of ../shared/data.")
else:
    rois = load_duke_mri(folder)
    print(rois.DESCR)
    tumour = rois.images[rois.target == 1]
    other = rois.images[rois.target == 0]
    print(f"mean subtraction value: tumour ROIs {tumour.mean():.3f}, non-tumour {other.mean():.3f}")
    order = np.r_[
        np.flatnonzero(rois.target == 1)[::3][:6], np.flatnonzero(rois.target == 0)[::12][:6]
    ]
    fig = plot_roi_grid(
        rois.images[order],
        rois.target[order],
        target_names=list(rois.target_names),
        titles=[f"slice {s}" for s in rois.metadata["slice"].to_numpy()[order]],
        n_cols=6,
        vmin=0,
        vmax=1,
    )
