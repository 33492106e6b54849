"""Preprocessing and augmentation.

`batch` holds the fast path the training scripts use (Keras layers inside the
model); `classic` keeps the original per-image preprocessor API, which now
also takes whole batches.
"""

from pyimagesearch.preprocessing.batch import build_augmentation, with_preprocessing
from pyimagesearch.preprocessing.classic import (AspectAwarePreprocessor, CropPreprocessor,
                                                 ImageToArrayPreprocessor, MeanPreprocessor,
                                                 PatchPreprocessor, SimplePreprocessor)

__all__ = ["AspectAwarePreprocessor", "CropPreprocessor", "ImageToArrayPreprocessor",
           "MeanPreprocessor", "PatchPreprocessor", "SimplePreprocessor", "build_augmentation",
           "with_preprocessing"]
