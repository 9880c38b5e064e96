"""Imbalance handling for image batches: random over-sampling and balanced class weights."""

from ._class_weight import balanced_class_weight, balanced_sample_weight
from ._random_over_sampler import RandomImageOverSampler, random_oversample_indices

__all__ = [
    "RandomImageOverSampler",
    "balanced_class_weight",
    "balanced_sample_weight",
    "random_oversample_indices",
]
