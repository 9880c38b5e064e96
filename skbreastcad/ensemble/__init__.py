"""Averaging ensembles of image classifiers: seeds, fold models and test-time augmentation.

- :class:`SeedEnsembleClassifier`: one classifier fitted with several seeds.
- :class:`AveragedClassifier`: fitted models (e.g. the fold models of a
  cross-validation) combined into one estimator.
- :class:`TTAClassifier`: probabilities averaged over flips and 90-degree turns
  of each image.

Each predicts and pickles like one model.
"""

from ._averaged import AveragedClassifier
from ._seed_ensemble import SeedEnsembleClassifier
from ._tta import TTAClassifier

__all__ = ["AveragedClassifier", "SeedEnsembleClassifier", "TTAClassifier"]
