"""Train, evaluate and save the phantom model whose card docs/models.md shows.

Run from the repository root: ``python docs/examples/phantom_model.py [OUTPUT_FOLDER]``.
Synthetic data only: the card shows the format, not a clinical result.
"""

import sys

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from skbreastcad.datasets import make_phantoms
from skbreastcad.evaluation import choose_threshold, evaluate
from skbreastcad.experiments import make_feature_pipeline
from skbreastcad.persistence import ModelCard, load_model, save_model

output = sys.argv[1] if len(sys.argv) > 1 else "glcm-phantoms"
X, y, groups = make_phantoms(200, image_size=64, n_patients=50, return_groups=True, random_state=0)
pipe = make_feature_pipeline("glcm")
report = evaluate(
    pipe,
    X,
    y,
    groups=groups,
    cv=StratifiedGroupKFold(5, shuffle=True, random_state=0),
    threshold="youden",
    metrics=["roc_auc", "sensitivity", "specificity"],
    n_boot=1000,
    random_state=0,
)
# one threshold for the final model, chosen on out-of-fold scores (never on its own fit)
threshold = choose_threshold(report.predictions["y_true"], report.predictions["score"], "youden")
model = pipe.fit(X, y)
card = ModelCard(
    name="GLCM + logistic regression on synthetic phantoms",
    description=(
        "A demonstration model: GLCM texture features, standard scaling, random "
        "over-sampling and a logistic regression, trained on synthetic ROIs from "
        "skbreastcad.datasets.make_phantoms. It shows the format; it says nothing "
        "about real mammograms."
    ),
    training_data={
        "dataset": "make_phantoms(200, image_size=64, n_patients=50, random_state=0)",
        "images": len(y),
        "patients": len(np.unique(groups)),
        "classes": {"0 (normal)": int((y == 0).sum()), "1 (lesion)": int((y == 1).sum())},
        "modality": "synthetic mammography ROIs",
    },
    metrics=report,
    threshold=threshold,
    threshold_policy="youden, on the pooled out-of-fold scores of 5 patient-grouped folds",
    command="python docs/examples/phantom_model.py",
    license="bsd-3-clause",
)
save_model(model, output, card=card, input_convention={"dtype": X.dtype})
assert (load_model(output).predict_proba(X) == model.predict_proba(X)).all()
print(report.format_table())
print(f"saved to {output}")
