"""skbreastcad: scikit-learn compatible breast-tumour CAD research toolkit.

Hand-crafted texture features (:mod:`skbreastcad.features`), CNN layer features
and transfer-learning classifiers (:mod:`skbreastcad.models`), data loaders and
synthetic phantoms (:mod:`skbreastcad.datasets`), and the study's metrics
(:mod:`skbreastcad.metrics`), all composing in scikit-learn / imbalanced-learn
pipelines.
"""

__version__ = "0.1.0.dev0"
