"""
Probing a backbone layer by layer (the study's Table 2)
=======================================================

The study reads VGG16's activations at several depths and asks which layer separates
tumour from non-tumour ROIs best. :func:`~skbreastcad.experiments.probe_layers` does this
as one cross-validated grid: :class:`~skbreastcad.features.CNNLayerFeatures` pools one
layer's activations, a scaled logistic regression classifies them, and every layer gets
its AUC with a patient-bootstrap interval.

VGG16's ImageNet weights load from the torch hub cache on a user's machine; this site is
built offline, so the example probes EfficientNet-Lite0, whose ImageNet weights ship in the
``efficientnet`` extra.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.model_selection import StratifiedGroupKFold

from skbreastcad.datasets import make_phantoms
from skbreastcad.experiments import probe_layers

X, y, groups = make_phantoms(100, image_size=64, return_groups=True, random_state=0)
layers = ["blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5"]
report = probe_layers(
    X,
    y,
    backbone="efficientnet_lite0",
    layers=layers,
    groups=groups,
    input_size=64,
    cv=StratifiedGroupKFold(3, shuffle=True, random_state=0),
    metrics=("sensitivity", "specificity", "f1", "roc_auc"),
    n_boot=200,
    device="cpu",
)
print(report.format_table())

# %%
# The layer curve: AUC against depth, with the 95 % patient-bootstrap interval
auc = report.results[report.results["metric"] == "roc_auc"].set_index("candidate")
fig, ax = plt.subplots(figsize=(6, 3.5))
depth = range(len(auc))
ax.errorbar(
    depth,
    auc["estimate"],
    yerr=[auc["estimate"] - auc["ci_low"], auc["ci_high"] - auc["estimate"]],
    marker="o",
    capsize=3,
)
ax.set_xticks(list(depth), [c.split("=")[-1] for c in auc.index], rotation=30)
ax.set_xlabel("layer of EfficientNet-Lite0")
ax.set_ylabel("ROC AUC (out-of-fold)")
ax.set_ylim(0.4, 1.0)
ax.axhline(0.5, color="grey", lw=0.8, ls=":")
fig.tight_layout()
