"""Test-time augmentation with horizontal flips: a model's class probabilities are
averaged over each image and its mirror image (every evaluation reports it beside the
model alone: `engine.evaluate`)."""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="pyimagesearch")
class HorizontalFlip(keras.layers.Layer):
    """Mirrors a batch of images left to right (always: not a random augmentation)."""

    def call(self, images):
        width = 2 if keras.config.image_data_format() == "channels_last" else 3
        return keras.ops.flip(images, axis=width)

    def compute_output_shape(self, input_shape):
        return input_shape


def mirrored(model: keras.Model) -> keras.Model:
    """`model` applied to the mirror images of its inputs (the same weights)."""
    inputs = keras.Input(model.input_shape[1:], dtype=model.inputs[0].dtype, name="image")
    return keras.Model(inputs, model(HorizontalFlip()(inputs)), name=f"{model.name}_mirrored")


def flip_average(probs, mirrored_probs) -> np.ndarray:
    """The flip-TTA probabilities: the mean of the two views' (float64)."""
    return (np.asarray(probs, "float64") + np.asarray(mirrored_probs, "float64")) / 2
