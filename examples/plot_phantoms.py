"""
The embedded data: synthetic mammography and MRI phantoms
=========================================================

Every example, test and the ``skbreastcad demo`` command run on synthetic ROIs that ship
with the package: power-law background texture with the exponent measured on real
mammograms, and three lesion kinds. Each simulated patient has her own tissue, so
patient-grouped cross-validation matters here as on real data.
"""

# %%
# Mammography phantoms, 1 tumour : 4 non-tumour as in the study
import numpy as np

from skbreastcad.datasets import make_phantoms
from skbreastcad.plotting import plot_roi_grid

X, y, groups = make_phantoms(80, image_size=64, return_groups=True, random_state=0)
print(X.shape, X.dtype, "tumour ROIs:", int(y.sum()), "patients:", len(np.unique(groups)))

order = np.r_[np.flatnonzero(y == 1)[:8], np.flatnonzero(y == 0)[:8]]
fig = plot_roi_grid(X[order], y[order], target_names=["non-tumour", "tumour"], n_cols=8)

# %%
# The MRI domain: smoother texture, rim-enhancing masses, Rician noise. It is the target
# of the two-stage transfer example.
X_mri, y_mri = make_phantoms(40, image_size=64, modality="mri", random_state=1)
order = np.r_[np.flatnonzero(y_mri == 1)[:8], np.flatnonzero(y_mri == 0)[:8]]
fig_mri = plot_roi_grid(X_mri[order], y_mri[order], target_names=["non-tumour", "tumour"], n_cols=8)
