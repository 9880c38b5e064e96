"""Batched, seedable image augmentation: on the device for deep models, and as an
imbalanced-learn sampler for feature pipelines."""

from ._augmenter import ImageAugmenter
from ._sampler import AugmentingSampler

__all__ = ["AugmentingSampler", "ImageAugmenter"]
