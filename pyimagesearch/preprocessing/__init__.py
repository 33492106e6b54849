"""Preprocessing and augmentation on whole batches, as Keras layers."""

from pyimagesearch.preprocessing.batch import build_augmentation, with_preprocessing

__all__ = ["build_augmentation", "with_preprocessing"]
