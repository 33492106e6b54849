"""Preprocessing and augmentation.

`affine` is the training scripts' augmentation (`RandomAffine`: whole uint8
batches, one OpenCV call a batch, in the input pipeline); `batch` wraps a
network so that it takes raw uint8 images; `classic` keeps the original
per-image preprocessor API, which now also takes whole batches.
"""

from pyimagesearch.preprocessing.affine import RandomAffine, warp_affine
from pyimagesearch.preprocessing.batch import with_preprocessing
from pyimagesearch.preprocessing.classic import (
                                                 AspectAwarePreprocessor,
                                                 CropPreprocessor,
                                                 ImageToArrayPreprocessor,
                                                 MeanPreprocessor,
                                                 PatchPreprocessor,
                                                 SimplePreprocessor,
)

__all__ = ["AspectAwarePreprocessor", "CropPreprocessor", "ImageToArrayPreprocessor",
           "MeanPreprocessor", "PatchPreprocessor", "RandomAffine", "SimplePreprocessor",
           "warp_affine", "with_preprocessing"]
