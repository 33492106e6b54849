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


def scaled(filters: int, width_multiplier: float) -> int:
    """`filters` times the width multiplier, rounded, at least 1 (1.0: `filters` exactly)."""
    return max(1, round(filters * width_multiplier))


def check_head(width_multiplier: float, dropout: float) -> None:
    """Checks the width multiplier (above 0) and the dropout rate (0 to below 1).

    Raises:
        ValueError: either is out of its range.
    """
    if not width_multiplier > 0:
        raise ValueError("`width_multiplier` must be above 0. "
                         f"Received: width_multiplier={width_multiplier}")
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be from 0 to below 1. Received: dropout={dropout}")
