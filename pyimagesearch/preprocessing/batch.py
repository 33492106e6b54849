"""Preprocessing as Keras layers, so a saved model carries its own.

The model built by `with_preprocessing` takes raw uint8 images: it subtracts
the training set's mean (a per-pixel image or per-channel values), then, in
training only, applies any augmentation layers given to the whole batch (the
scripts augment in the input pipeline instead: `pyimagesearch.preprocessing.affine`).
"""

import keras
import numpy as np
from keras import layers


def with_preprocessing(network: keras.Model, mean, augmentation: keras.Layer | None = None,
                       name: str | None = None) -> keras.Model:
    """Wraps `network` in a model that takes raw uint8 images.

    Args:
        network: a model taking float images (e.g. `MiniGoogLeNet.build(...)`).
        mean: the training set's mean, either an image of the network's input
            shape (per-pixel mean; with channels_first, also of the stored
            (H, W, C) shape) or one value per channel.
        augmentation: a layer applied after the mean subtraction in training.
        name: the model's name (default: the network's).

    Returns:
        A Functional model: uint8 image => mean subtraction => augmentation
        => `network`.
    """
    shape = tuple(network.input_shape[1:])
    mean = np.asarray(mean, dtype="float64")
    channel_axis = -1 if keras.config.image_data_format() == "channels_last" else 1
    if channel_axis == 1 and mean.ndim == 3 and mean.transpose(2, 0, 1).shape == shape:
        mean = mean.transpose(2, 0, 1)  # a mean image of (H, W, C) images, as stored
    if mean.shape == shape:
        axis = tuple(range(1, len(shape) + 1))
    elif mean.shape == (shape[channel_axis],):
        axis = channel_axis
    else:
        raise ValueError(f"`mean` must have shape {shape} or ({shape[channel_axis]},). "
                         f"Received: mean.shape={mean.shape}")
    inputs = keras.Input(shape=shape, dtype="uint8", name="image")
    # Normalization with unit variance is exactly `x - mean`; it stores the mean in the model.
    x = layers.Normalization(axis=axis, mean=mean, variance=np.ones_like(mean),
                             name="mean_subtraction")(inputs)
    if augmentation is not None:
        x = augmentation(x)
    outputs = network(x)
    return keras.Model(inputs, outputs, name=name or network.name)
