"""
Two-stage transfer: a source domain first, then the target (the study's Fig. 6)
===============================================================================

The study fine-tunes a network on mammograms (the source) before the target, breast MRI
ROIs, and compares that "second transfer" with training from scratch. Here both domains
are phantoms: mammography phantoms are the source and MRI phantoms the target.
:func:`~skbreastcad.experiments.compare_transfer` cross-validates every transfer with
folds grouped by patient; stage 1 never sees a target ROI, and up-sampling and
augmentation only see the training folds.
"""

# %%
import tempfile

import matplotlib.pyplot as plt
from sklearn.model_selection import StratifiedGroupKFold

from skbreastcad.datasets import make_phantoms
from skbreastcad.experiments import compare_transfer
from skbreastcad.models import SourceData

X_source, y_source = make_phantoms(100, image_size=32, random_state=1)
X, y, groups = make_phantoms(80, image_size=32, modality="mri", return_groups=True, random_state=0)

report = compare_transfer(
    X,
    y,
    backbones=("tiny_cnn",),
    transfers=("none", "two_stage"),
    source_data=SourceData(X_source, y_source),
    groups=groups,
    weights=None,
    deep_params={"max_epochs": 6, "batch_size": 16},
    memory=tempfile.mkdtemp(),  # stage 1 trains once and serves every fold
    cv=StratifiedGroupKFold(3, shuffle=True, random_state=0),
    metrics=("sensitivity", "specificity", "f1", "roc_auc"),
    n_boot=200,
    device="cpu",
)
print(report.format_table())

# %%
# Learning curves: the training loss of every fit on the target (stage 2), per transfer
curves = report.curves
fig, ax = plt.subplots(figsize=(6, 3.5))
labelled = set()
for (candidate, _fit), run in curves[curves["stage"] == 2].groupby(["candidate", "fit"]):
    colour = "tab:blue" if candidate.endswith("none") else "tab:orange"
    label = None if candidate in labelled else candidate
    labelled.add(candidate)
    ax.plot(run["epoch"], run["train_loss"], color=colour, alpha=0.7, label=label)
ax.set_xlabel("epoch on the target")
ax.set_ylabel("training loss")
ax.legend()
fig.tight_layout()
