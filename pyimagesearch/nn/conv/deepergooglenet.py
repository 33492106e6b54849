"""DeeperGoogLeNet: GoogLeNet (Szegedy et al. 2014, Table 1) adapted to 64x64 images.

The 7x7/2 stem becomes 5x5/1, inceptions 5a/5b are dropped and the final
average pool is 4x4. For 64x64x3 inputs and 200 classes (Tiny ImageNet) the
model has 3,667,976 parameters.
"""

import keras
from keras import layers, regularizers

from pyimagesearch.nn.conv.common import channel_axis, check_head, image_input_shape, scaled
from pyimagesearch.nn.layers import BatchNormalization


def conv_module(x, filters: int, kernel_size: int, strides: int = 1, reg: float = 0.0,
                bn_before_relu: bool = False, name: str = "conv"):
    """Conv2D ("same", L2 `reg`) => ReLU => BatchNormalization, or Conv => BN => ReLU.

    Layers are named `{name}_conv`, `{name}_relu`, `{name}_bn`.
    """
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                      kernel_regularizer=regularizers.l2(reg) if reg else None,
                      name=f"{name}_conv")(x)
    relu = layers.Activation("relu", name=f"{name}_relu")
    bn = BatchNormalization(axis=channel_axis(), name=f"{name}_bn")
    return relu(bn(x)) if bn_before_relu else bn(relu(x))


def inception_module(x, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                     pool_proj: int, name: str, reg: float = 0.0, bn_before_relu: bool = False):
    """The Inception block of Table 1, its arguments named after the table's columns.

    Four branches concatenated on channels: 1x1; 1x1 reduce => 3x3; 1x1 reduce
    => 5x5; 3x3/1 max pool => 1x1 projection.
    """
    def conv(y, filters, size, suffix):
        return conv_module(y, filters, size, reg=reg, bn_before_relu=bn_before_relu,
                           name=f"{name}_{suffix}")

    branch1 = conv(x, ch1x1, 1, "1x1")
    branch2 = conv(conv(x, ch3x3red, 1, "3x3_reduce"), ch3x3, 3, "3x3")
    branch3 = conv(conv(x, ch5x5red, 1, "5x5_reduce"), ch5x5, 5, "5x5")
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch4 = conv(pool, pool_proj, 1, "pool_proj")
    return layers.Concatenate(axis=channel_axis(), name=name)(
        [branch1, branch2, branch3, branch4])


# Rows of Table 1 kept in the 64x64 network: name => (#1x1, #3x3 reduce, #3x3, #5x5 reduce,
# #5x5, pool proj).
INCEPTIONS = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
}


class DeeperGoogLeNet:
    """Builder for the 64x64 GoogLeNet (the classic `pyimagesearch` entry point)."""

    @staticmethod
    def build(width: int, height: int, depth: int, classes: int, reg: float = 2e-4,
              bn_before_relu: bool = False, width_multiplier: float = 1.0, dropout: float = 0.4,
              name: str = "deepergooglenet") -> keras.Model:
        """Builds DeeperGoogLeNet for float inputs in `keras.config.image_data_format()`.

        Args:
            width: image width in pixels (64 for Tiny ImageNet).
            height: image height in pixels.
            depth: number of image channels.
            classes: number of output classes.
            reg: L2 regularisation factor of every kernel (0 for none).
            bn_before_relu: use CONV => BN => RELU modules instead of the default
                CONV => RELU => BN (which had the better public result).
            name: the model's name.

        Returns:
            A Functional `keras.Model` ending in a float32 softmax over `classes`.
        """
        shape = image_input_shape(width, height, depth, classes)
        if width % 16 or height % 16 or min(width, height) < 64:
            raise ValueError("DeeperGoogLeNet needs a width and height of at least 64 and "
                             "divisible by 16 (four stride-2 pools, then a 4x4 average pool). "
                             f"Received: width={width}, height={height}")
        if reg < 0:
            raise ValueError(f"`reg` must be at least 0. Received: reg={reg}")
        check_head(width_multiplier, dropout)

        def conv(y, filters, size, block, strides=1):
            return conv_module(y, scaled(filters, width_multiplier), size, strides=strides,
                               reg=reg, bn_before_relu=bn_before_relu, name=block)

        def inception(y, block):
            return inception_module(y, *(scaled(f, width_multiplier) for f in INCEPTIONS[block]),
                                    name=block, reg=reg, bn_before_relu=bn_before_relu)

        def pool(y, block):
            return layers.MaxPooling2D(3, strides=2, padding="same", name=block)(y)

        inputs = keras.Input(shape=shape, name="image")
        x = conv(inputs, 64, 5, "conv1")
        x = pool(x, "pool1")
        x = conv(x, 64, 1, "conv2_reduce")
        x = conv(x, 192, 3, "conv2")
        x = pool(x, "pool2")
        for block in ("inception3a", "inception3b"):
            x = inception(x, block)
        x = pool(x, "pool3")
        for block in ("inception4a", "inception4b", "inception4c", "inception4d",
                      "inception4e"):
            x = inception(x, block)
        x = pool(x, "pool4")
        x = layers.AveragePooling2D(4, name="avg_pool")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(classes, kernel_regularizer=regularizers.l2(reg) if reg else None,
                         name="logits")(x)
        # float32 even under a mixed-precision policy, for a stable softmax and loss.
        outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
        return keras.Model(inputs, outputs, name=name)
