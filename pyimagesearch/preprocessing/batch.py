"""Preprocessing as Keras layers, so a saved model carries its own.

The model built by `with_preprocessing` takes raw uint8 images: it subtracts
the training set's mean (a per-pixel image or per-channel values), then, in
training only, augments the whole batch at once.
"""

import keras
import numpy as np
from keras import layers


@keras.saving.register_keras_serializable(package="pyimagesearch")
class RandomShear(layers.RandomShear):
    """`keras.layers.RandomShear` whose saved models load again.

    Keras 3.15's RandomShear saves a factor `f` as the range `[-f, f]`, which
    its own constructor then rejects (each bound must lie in [0, 1]), so no
    model holding it can be reloaded. This subclass saves the `f` it was
    built with. Import `pyimagesearch.preprocessing` before loading a model
    that uses it.
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, **kwargs):
        super().__init__(x_factor=x_factor, y_factor=y_factor, **kwargs)
        self._factors = (x_factor, y_factor)

    def get_config(self):
        config = super().get_config()
        config["x_factor"], config["y_factor"] = self._factors
        return config


def build_augmentation(shift: float = 0.0, flip: bool = False, rotation: float = 0.0,
                       zoom: float = 0.0, shear: float = 0.0, fill_mode: str = "nearest",
                       seed: int | None = None, name: str = "augmentation") -> keras.Sequential:
    """Random batch augmentation, active in training and an identity at inference.

    Args:
        shift: largest shift, as a fraction of the height and width.
        flip: whether to flip left-right at random.
        rotation: largest rotation in degrees.
        zoom: largest zoom in or out, as a fraction.
        shear: largest shear, as a fraction.
        fill_mode: how pixels outside the image are filled (as in Keras).
        seed: seed of the random transforms.
        name: the block's name.
    """
    block = []
    if flip:
        block.append(layers.RandomFlip("horizontal", seed=seed, name=f"{name}_flip"))
    if rotation:
        block.append(layers.RandomRotation(rotation / 360.0, fill_mode=fill_mode, seed=seed,
                                           name=f"{name}_rotation"))
    if zoom:
        block.append(layers.RandomZoom(zoom, zoom, fill_mode=fill_mode, seed=seed,
                                       name=f"{name}_zoom"))
    if shear:
        block.append(RandomShear(shear, shear, fill_mode=fill_mode, seed=seed,
                                 name=f"{name}_shear"))
    if shift:
        block.append(layers.RandomTranslation(shift, shift, fill_mode=fill_mode, seed=seed,
                                              name=f"{name}_shift"))
    return keras.Sequential(block, name=name)


def with_preprocessing(network: keras.Model, mean, augmentation: keras.Layer | None = None,
                       name: str | None = None) -> keras.Model:
    """Wraps `network` in a model that takes raw uint8 images.

    Args:
        network: a model taking float images (e.g. `MiniGoogLeNet.build(...)`).
        mean: the training set's mean, either an image of the network's input
            shape (per-pixel mean) or one value per channel.
        augmentation: a layer applied after the mean subtraction in training.
        name: the model's name (default: the network's).

    Returns:
        A Functional model: uint8 image => mean subtraction => augmentation
        => `network`.
    """
    shape = tuple(network.input_shape[1:])
    mean = np.asarray(mean, dtype="float64")
    channel_axis = -1 if keras.config.image_data_format() == "channels_last" else 1
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
