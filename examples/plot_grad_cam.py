"""
Where the network looks: Grad-CAM on fine-tuned ROIs
====================================================

:func:`~skbreastcad.detection.grad_cam` weights a layer's activations by the gradient of the
tumour score and shows which part of an ROI drove it. Here a small CNN is fine-tuned on
phantoms; on tumour ROIs the maps should fall on the lesion, not on the background texture.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from skbreastcad.datasets import make_phantoms
from skbreastcad.detection import grad_cam
from skbreastcad.models import TwoStageTransferClassifier

X, y = make_phantoms(120, image_size=48, lesion_types=("circumscribed",), random_state=0)
clf = TwoStageTransferClassifier(
    "tiny_cnn",
    transfer="none",
    weights=None,
    max_epochs=10,
    batch_size=16,
    random_state=0,
    device="cpu",
).fit(X, y)

tumours = X[y == 1][:6]
cams = grad_cam(clf, tumours)
fig, axes = plt.subplots(2, 6, figsize=(10, 3.6))
for k in range(6):
    axes[0, k].imshow(tumours[k], cmap="gray")
    axes[1, k].imshow(tumours[k], cmap="gray")
    axes[1, k].imshow(cams[k], cmap="jet", alpha=0.45, vmin=0, vmax=1)
    p = clf.predict_proba(tumours[k : k + 1])[0, 1]
    axes[0, k].set_title(f"p = {p:.2f}", fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle("Tumour phantoms (top) and their Grad-CAM maps (bottom)")
fig.tight_layout()
print("mean map value inside the central third:", float(np.mean(cams[:, 16:32, 16:32])))
print(
    "mean map value elsewhere:", float(np.mean(cams) * 9 / 8 - np.mean(cams[:, 16:32, 16:32]) / 8)
)
