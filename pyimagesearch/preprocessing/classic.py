"""The classic per-image preprocessors, kept for users of the old code.

These keep the names and the `preprocess(image)` method of the original
PyImageSearch toolkit, and now also take a whole batch. `preprocess` accepts one
image, (H, W, C) or (H, W), or a batch (N, H, W, C), and returns the same kind.
A 3-D array is always one image, never a batch of grey images.

The training scripts do not use these: they use the faster Keras-layer path in
`pyimagesearch/preprocessing/batch.py`, which runs inside the model.

Images are RGB, not BGR as they were when read with `cv2.imread` in the old
code (see `MeanPreprocessor`'s `bgr` argument).
"""

from numbers import Integral, Real

import cv2
import imutils
import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "AspectAwarePreprocessor",
    "CropPreprocessor",
    "ImageToArrayPreprocessor",
    "MeanPreprocessor",
    "PatchPreprocessor",
    "SimplePreprocessor",
]

# The most channels cv2.resize accepts (CV_CN_MAX).
_CV_MAX_CHANNELS = 512

# Modes for which resizing a batch packed into the channel axis, (H, W, N*C),
# equals resizing each image. This holds for the nearest modes, which only copy
# pixels. It does not hold for the interpolating modes: OpenCV has separate code
# for 1 to 4 channels and for more than 4, and the two round differently
# (INTER_AREA and INTER_LINEAR at an exact 2x reduction, INTER_CUBIC, and float
# images), and INTER_AREA refuses more than 4 channels at non-integer scales.
# Those modes therefore resize the batch one image at a time.
_PACKABLE_MODES = frozenset({cv2.INTER_NEAREST, cv2.INTER_NEAREST_EXACT})


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_inter(inter) -> int:
    if isinstance(inter, bool) or not isinstance(inter, Integral):
        raise ValueError(f"`inter` must be an OpenCV interpolation flag such as "
                         f"cv2.INTER_AREA. Received: inter={inter!r}")
    return int(inter)


def _as_batch(image: ArrayLike) -> tuple[np.ndarray, str]:
    """Returns `image` as an (N, H, W, C) batch and the kind it was given as."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image[None, :, :, None], "grey"
    if image.ndim == 3:
        return image[None], "image"
    if image.ndim == 4:
        return image, "batch"
    raise ValueError("Expected one image (H, W, C) or (H, W), or a batch (N, H, W, C). "
                     f"Received: image.shape={image.shape}")


def _restore(batch: np.ndarray, kind: str) -> np.ndarray:
    """Undoes `_as_batch` on a result whose first axis is the batch."""
    if kind == "grey":
        return batch[0, ..., 0]
    if kind == "image":
        return batch[0]
    return batch


def _check_fits(batch: np.ndarray, width: int, height: int) -> None:
    h, w = batch.shape[1:3]
    if height > h or width > w:
        raise ValueError(f"The crop size (width={width}, height={height}) is larger than the "
                         f"image. Received: an image of width={w}, height={h}")


def _resize_batch(batch: np.ndarray, resize, width: int, height: int,
                  inter: int) -> np.ndarray:
    """Applies `resize`, a function of one (H, W, K) array, to a batch.

    `resize` must treat every channel on its own and return a (height, width)
    or (height, width, K) array. Where that is exact (see `_PACKABLE_MODES`),
    groups of images are packed into the channel axis and resized in one call.
    """
    n, h, w, c = batch.shape
    group = max(1, _CV_MAX_CHANNELS // c) if inter in _PACKABLE_MODES else 1
    out = np.empty((n, height, width, c), dtype=batch.dtype)
    for start in range(0, n, group):
        chunk = batch[start:start + group]
        g = len(chunk)
        packed = np.ascontiguousarray(chunk.transpose(1, 2, 0, 3)).reshape(h, w, g * c)
        resized = resize(packed)
        out[start:start + g] = resized.reshape(height, width, g, c).transpose(2, 0, 1, 3)
    return out


class _Resizer:
    """What the resizing preprocessors share: their arguments and the batch path."""

    def __init__(self, width: int, height: int, inter: int = cv2.INTER_AREA) -> None:
        self.width = _check_size("width", width)
        self.height = _check_size("height", height)
        self.inter = _check_inter(inter)

    def _resize(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def preprocess(self, image: ArrayLike) -> np.ndarray:
        """Resizes one image or a batch.

        Args:
            image: an (H, W, C) or (H, W) image, or an (N, H, W, C) batch.

        Returns:
            The same kind of array, `height` x `width`, in the input's dtype.
        """
        batch, kind = _as_batch(image)
        out = _resize_batch(batch, self._resize, self.width, self.height, self.inter)
        return _restore(out, kind)


class SimplePreprocessor(_Resizer):
    """Resizes images to a fixed size, ignoring the aspect ratio.

    Args:
        width: the output width.
        height: the output height.
        inter: the OpenCV interpolation flag.

    Example:
        >>> sp = SimplePreprocessor(32, 32)
        >>> sp.preprocess(np.zeros((48, 64, 3), "uint8")).shape
        (32, 32, 3)
    """

    def _resize(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (self.width, self.height), interpolation=self.inter)


class AspectAwarePreprocessor(_Resizer):
    """Resizes images to a fixed size, cropping rather than distorting them.

    The image is scaled so that it covers the target (for a square target: its
    shorter side is scaled to the target's), the longer side is centre-cropped,
    and a final resize gives exactly `width` x `height`.

    Args:
        width: the output width.
        height: the output height.
        inter: the OpenCV interpolation flag.

    Example:
        >>> aap = AspectAwarePreprocessor(64, 64)
        >>> aap.preprocess(np.zeros((100, 200, 3), "uint8")).shape
        (64, 64, 3)
    """

    def _resize(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        d_w = d_h = 0
        # For a square target this is the classic `w < h` test; for any other it
        # picks the side whose scaling makes the image cover the whole target.
        if self.width / w > self.height / h:
            image = imutils.resize(image, width=self.width, inter=self.inter)
            d_h = (image.shape[0] - self.height) // 2
        else:
            image = imutils.resize(image, height=self.height, inter=self.inter)
            d_w = (image.shape[1] - self.width) // 2
        h, w = image.shape[:2]
        image = image[d_h:h - d_h, d_w:w - d_w]
        return cv2.resize(image, (self.width, self.height), interpolation=self.inter)


class MeanPreprocessor:
    """Subtracts a mean from each channel.

    Args:
        r_mean: the red channel's mean.
        g_mean: the green channel's mean.
        b_mean: the blue channel's mean.
        bgr: whether images are in BGR order (as from `cv2.imread`) rather than
            RGB.
        rMean: the old name of `r_mean`.
        gMean: the old name of `g_mean`.
        bMean: the old name of `b_mean`.

    Example:
        >>> mp = MeanPreprocessor(100.0, 50.0, 10.0)
        >>> mp.preprocess(np.full((2, 2, 3), 100, "uint8"))[0, 0]
        array([ 0., 50., 90.], dtype=float32)
    """

    def __init__(self, r_mean: float | None = None, g_mean: float | None = None,
                 b_mean: float | None = None, *, bgr: bool = False,
                 rMean: float | None = None, gMean: float | None = None,  # noqa: N803
                 bMean: float | None = None) -> None:  # noqa: N803
        means = {}
        for name, value, old_name, old_value in (("r_mean", r_mean, "rMean", rMean),
                                                  ("g_mean", g_mean, "gMean", gMean),
                                                  ("b_mean", b_mean, "bMean", bMean)):
            if value is not None and old_value is not None:
                raise TypeError(f"Pass either `{name}` or `{old_name}`, not both.")
            value = value if value is not None else old_value
            if value is None:
                raise TypeError(f"Missing the argument `{name}`.")
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValueError(f"`{name}` must be a number. Received: {name}={value!r}")
            means[name] = float(value)
        self.r_mean = means["r_mean"]
        self.g_mean = means["g_mean"]
        self.b_mean = means["b_mean"]
        self.bgr = bool(bgr)
        order = ("b_mean", "g_mean", "r_mean") if self.bgr else ("r_mean", "g_mean", "b_mean")
        self._means = np.array([means[name] for name in order], dtype="float32")

    def preprocess(self, image: ArrayLike) -> np.ndarray:
        """Subtracts the means from one image or a batch.

        Args:
            image: an (H, W, 3) image or an (N, H, W, 3) batch, channels last.

        Returns:
            The same shape, float32.
        """
        image = np.asarray(image)
        if image.ndim not in (3, 4) or image.shape[-1] != 3:
            raise ValueError("Expected an (H, W, 3) image or an (N, H, W, 3) batch. "
                             f"Received: image.shape={image.shape}")
        return image.astype("float32") - self._means


class ImageToArrayPreprocessor:
    """Converts images to float32 arrays in a Keras data format.

    Works like `keras.utils.img_to_array`, for one image or a batch.

    Args:
        data_format: "channels_last" or "channels_first"; None means
            `keras.config.image_data_format()` at the time of each call.

    Example:
        >>> iap = ImageToArrayPreprocessor("channels_first")
        >>> iap.preprocess(np.zeros((8, 32, 32, 3), "uint8")).shape
        (8, 3, 32, 32)
    """

    def __init__(self, data_format: str | None = None) -> None:
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError('`data_format` must be None, "channels_last" or '
                             f'"channels_first". Received: data_format={data_format!r}')
        self.data_format = data_format

    def preprocess(self, image: ArrayLike) -> np.ndarray:
        """Converts one image or a batch.

        Args:
            image: an (H, W, C) or (H, W) image, or an (N, H, W, C) batch,
                channels last.

        Returns:
            A new float32 array: (H, W, C) or (C, H, W) for one image (a grey
            image gets a channel axis), (N, H, W, C) or (N, C, H, W) for a batch.
        """
        import keras  # here: the resizing preprocessors are used where Keras is not

        data_format = self.data_format or keras.config.image_data_format()
        x = np.array(image, dtype="float32")
        if x.ndim == 2:
            x = x[..., None]
        if x.ndim not in (3, 4):
            raise ValueError("Expected one image (H, W, C) or (H, W), or a batch "
                             f"(N, H, W, C). Received: image.shape={x.shape}")
        if data_format == "channels_first":
            x = np.ascontiguousarray(np.moveaxis(x, -1, -3))
        return x


class PatchPreprocessor:
    """Takes a random `width` x `height` crop of each image.

    Each call draws new offsets, one pair per image; two preprocessors with the
    same seed draw the same ones, and a batch of N gets the patches that N
    one-image calls would.

    Args:
        width: the patch width.
        height: the patch height.
        seed: seed of `numpy.random.default_rng`; None for a random one.

    Example:
        >>> pp = PatchPreprocessor(28, 28, seed=0)
        >>> pp.preprocess(np.zeros((4, 32, 32, 3), "uint8")).shape
        (4, 28, 28, 3)
    """

    def __init__(self, width: int, height: int, seed: int | None = None) -> None:
        self.width = _check_size("width", width)
        self.height = _check_size("height", height)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def preprocess(self, image: ArrayLike) -> np.ndarray:
        """Crops one image or a batch at random.

        Args:
            image: an (H, W, C) or (H, W) image, or an (N, H, W, C) batch.

        Returns:
            The same kind of array, `height` x `width`, in the input's dtype.

        Raises:
            ValueError: if the patch is larger than the images.
        """
        batch, kind = _as_batch(image)
        _check_fits(batch, self.width, self.height)
        n, h, w = batch.shape[:3]
        # Uniform floats rather than `rng.integers`, which buffers random bits
        # between draws within one call, so that a batch gets the same offsets
        # as the same images one call at a time.
        counts = np.array([h - self.height + 1, w - self.width + 1])
        offsets = np.floor(self.rng.random((n, 2)) * counts).astype("intp")
        windows = np.lib.stride_tricks.sliding_window_view(
            batch, (self.height, self.width), axis=(1, 2))  # (N, H', W', C, h, w), no copy
        patches = windows[np.arange(n), offsets[:, 0], offsets[:, 1]]  # (N, C, h, w)
        return _restore(np.ascontiguousarray(np.moveaxis(patches, 1, -1)), kind)


class CropPreprocessor:
    """The 10-crop of oversampled evaluation: 4 corners and the centre, and mirrors.

    The crops come in the classic order: top-left, top-right, bottom-right,
    bottom-left, centre, then (when `horiz`) the horizontal flip of each, in
    the same order. When the image's size and the crop's differ by an odd
    number, the centre crop is one pixel larger and is resized to the crop size,
    as in the classic code.

    Args:
        width: the crop width.
        height: the crop height.
        horiz: whether to add the horizontal flips.
        inter: the OpenCV interpolation flag for the centre crop's resize.

    Example:
        >>> cp = CropPreprocessor(28, 28)
        >>> cp.preprocess(np.zeros((32, 32, 3), "uint8")).shape
        (10, 28, 28, 3)
    """

    def __init__(self, width: int, height: int, horiz: bool = True,
                 inter: int = cv2.INTER_AREA) -> None:
        self.width = _check_size("width", width)
        self.height = _check_size("height", height)
        self.horiz = bool(horiz)
        self.inter = _check_inter(inter)

    def _resize(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (self.width, self.height), interpolation=self.inter)

    def preprocess(self, image: ArrayLike) -> np.ndarray:
        """Crops one image or a batch.

        Args:
            image: an (H, W, C) or (H, W) image, or an (N, H, W, C) batch.

        Returns:
            (10, height, width, C) for one image ((10, height, width) for a
            grey one), (N, 10, height, width, C) for a batch; 5 rather than 10
            without `horiz`. In the input's dtype.

        Raises:
            ValueError: if the crop is larger than the images.
        """
        batch, kind = _as_batch(image)
        _check_fits(batch, self.width, self.height)
        h, w = batch.shape[1:3]
        ch, cw = self.height, self.width
        d_h, d_w = (h - ch) // 2, (w - cw) // 2
        centre = batch[:, d_h:h - d_h, d_w:w - d_w]
        if centre.shape[1:3] != (ch, cw):
            centre = _resize_batch(centre, self._resize, cw, ch, self.inter)
        crops = np.stack([batch[:, :ch, :cw], batch[:, :ch, w - cw:],
                          batch[:, h - ch:, w - cw:], batch[:, h - ch:, :cw], centre], axis=1)
        if self.horiz:
            crops = np.concatenate([crops, crops[:, :, :, ::-1]], axis=1)
        return _restore(crops, kind)
