"""Preprocessing and augmentation.

`affine` is the training scripts' augmentation (`RandomAffine`: whole uint8
batches, one OpenCV call a batch, in the input pipeline); `batch` wraps a
network so that it takes raw uint8 images; `classic` keeps the original
per-image preprocessor API, which now also takes whole batches.

Names are loaded on first use, so the image readers that resize with `classic`
(the build, predict with an exported model) do not import Keras.
"""

import importlib

_WHERE = {"RandomAffine": "affine", "warp_affine": "affine", "with_preprocessing": "batch",
          **{name: "classic" for name in ("AspectAwarePreprocessor", "CropPreprocessor",
                                          "ImageToArrayPreprocessor", "MeanPreprocessor",
                                          "PatchPreprocessor", "SimplePreprocessor")}}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
