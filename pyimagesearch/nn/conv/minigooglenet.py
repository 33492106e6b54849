"""MiniGoogLeNet: the small Inception network of Zhang et al. (2017), Table 1.

Zhang, Bengio, Hardt, Recht and Vinyals, "Understanding deep learning requires
rethinking generalization" (ICLR 2017). For 32x32x3 inputs and 10 classes the
Keras model has 1,656,250 parameters.
"""

import keras
from keras import layers

from pyimagesearch.nn.conv.common import channel_axis, check_head, image_input_shape, scaled
from pyimagesearch.nn.layers import BatchNormalization


def conv_module(x, filters: int, kernel_size: int, strides: int = 1,
                padding: str = "same", name: str = "conv"):
    """Conv2D => BatchNormalization => ReLU, its layers named `{name}_conv`, `_bn`, `_relu`."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                      name=f"{name}_conv")(x)
    x = BatchNormalization(axis=channel_axis(), name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def inception_module(x, ch1x1: int, ch3x3: int, name: str):
    """Two branches, a 1x1 and a 3x3 conv module, concatenated on channels."""
    branch1 = conv_module(x, ch1x1, 1, name=f"{name}_1x1")
    branch3 = conv_module(x, ch3x3, 3, name=f"{name}_3x3")
    return layers.Concatenate(axis=channel_axis(), name=name)([branch1, branch3])


def downsample_module(x, filters: int, name: str):
    """A 3x3/2 "valid" conv module beside a 3x3/2 max pool, concatenated on channels."""
    conv = conv_module(x, filters, 3, strides=2, padding="valid", name=f"{name}_3x3")
    pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(axis=channel_axis(), name=name)([conv, pool])


class MiniGoogLeNet:
    """Builder for MiniGoogLeNet (the classic `pyimagesearch` entry point)."""

    @staticmethod
    def build(width: int, height: int, depth: int, classes: int, width_multiplier: float = 1.0,
              dropout: float = 0.5, name: str = "minigooglenet") -> keras.Model:
        """Builds MiniGoogLeNet for float inputs in `keras.config.image_data_format()`.

        Args:
            width: image width in pixels (32 for CIFAR-10).
            height: image height in pixels.
            depth: number of image channels.
            classes: number of output classes.
            width_multiplier: every layer's filter count times this, rounded (1.0: the
                published network; 2.0 has about four times the parameters).
            dropout: dropout rate before the classifier (0.5 as published).
            name: the model's name.

        Returns:
            A Functional `keras.Model` ending in a float32 softmax over `classes`.
        """
        shape = image_input_shape(width, height, depth, classes)
        if min(width, height) < 32:
            raise ValueError("MiniGoogLeNet needs images of at least 32x32 pixels. "
                             f"Received: width={width}, height={height}")
        check_head(width_multiplier, dropout)

        def n(filters):
            return scaled(filters, width_multiplier)

        inputs = keras.Input(shape=shape, name="image")
        x = conv_module(inputs, n(96), 3, name="stem")
        x = inception_module(x, n(32), n(32), name="inception1a")
        x = inception_module(x, n(32), n(48), name="inception1b")
        x = downsample_module(x, n(80), name="downsample1")
        x = inception_module(x, n(112), n(48), name="inception2a")
        x = inception_module(x, n(96), n(64), name="inception2b")
        x = inception_module(x, n(80), n(80), name="inception2c")
        x = inception_module(x, n(48), n(96), name="inception2d")
        x = downsample_module(x, n(96), name="downsample2")
        x = inception_module(x, n(176), n(160), name="inception3a")
        x = inception_module(x, n(176), n(160), name="inception3b")
        # 7x7: the whole feature map for 32x32 inputs, as published.
        x = layers.AveragePooling2D(7, name="avg_pool")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(classes, name="logits")(x)
        # float32 even under a mixed-precision policy, for a stable softmax and loss.
        outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
        return keras.Model(inputs, outputs, name=name)
