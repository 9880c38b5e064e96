"""skbreastcad: scikit-learn compatible breast-tumour CAD research toolkit.

Hand-crafted texture features and CNN layer features (:mod:`skbreastcad.features`),
transfer-learning classifiers (:mod:`skbreastcad.models`) on the backbone registry of
:mod:`skbreastcad.nn`, data loaders and
synthetic phantoms (:mod:`skbreastcad.datasets`), and the study's metrics
(:mod:`skbreastcad.metrics`), all composing in scikit-learn / imbalanced-learn
pipelines.
"""

__version__ = "0.1.0.dev0"
