"""
A seed ensemble with test-time augmentation
===========================================

Small medical data sets make a fine-tuned network depend on its seed.
:class:`~skbreastcad.ensemble.SeedEnsembleClassifier` fits the same estimator with several
seeds and averages their probabilities; :class:`~skbreastcad.ensemble.TTAClassifier`
averages each model's answers over the eight flips and quarter turns of every test ROI,
which a lesion's diagnosis does not depend on. Both wrap any image classifier.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.metrics import RocCurveDisplay
from sklearn.model_selection import GroupShuffleSplit

from skbreastcad.datasets import make_phantoms
from skbreastcad.ensemble import SeedEnsembleClassifier, TTAClassifier
from skbreastcad.experiments import make_feature_pipeline

X, y, groups = make_phantoms(160, image_size=48, return_groups=True, random_state=0)
train, test = next(GroupShuffleSplit(1, test_size=0.3, random_state=0).split(X, y, groups))

single = make_feature_pipeline("haar")
models = {
    "one model": single,
    "3 seeds": SeedEnsembleClassifier(single, n_estimators=3, random_state=0),
    "3 seeds + TTA": TTAClassifier(SeedEnsembleClassifier(single, n_estimators=3, random_state=0)),
}

fig, ax = plt.subplots(figsize=(5, 5))
for name, model in models.items():
    model.fit(X[train], y[train])
    RocCurveDisplay.from_estimator(model, X[test], y[test], name=name, ax=ax)
ax.set_title("Held-out patients")
fig.tight_layout()
