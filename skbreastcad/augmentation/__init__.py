"""Batched, seedable image augmentation for training deep models on the device."""

from ._augmenter import ImageAugmenter

__all__ = ["ImageAugmenter"]
