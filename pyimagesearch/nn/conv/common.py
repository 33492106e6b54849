"""What the model builders share: argument checks and the image data format."""

import keras


def channel_axis() -> int:
    """The channel axis of `keras.config.image_data_format()`."""
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def image_input_shape(width: int, height: int, depth: int, classes: int) -> tuple[int, int, int]:
    """Checks a builder's arguments; returns its input shape in the current data format.

    Raises:
        ValueError: an argument is not a positive integer.
    """
    for arg, value in (("width", width), ("height", height), ("depth", depth),
                       ("classes", classes)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}")
    if keras.config.image_data_format() == "channels_last":
        return (height, width, depth)
    return (depth, height, width)
