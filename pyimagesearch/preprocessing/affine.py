"""Random affine augmentation of whole uint8 batches: one OpenCV call a batch.

The classic code drew a transform per image and warped it in a Python loop
(Keras's `ImageDataGenerator`, about 1,200 images/s). Here the transforms of
a batch are drawn as arrays, composed into one 2x3 matrix per image
(rotation, shear, zoom, flip and shift at once, so each image is resampled
once), turned into one sampling map for the whole batch, and applied by a
single `cv2.remap` over the batch stacked into one tall image (or a few, for
batches taller than OpenCV's 32,766-row limit). That runs at
tens of thousands of 64x64 images a second on two cores, in the input
pipeline, so the accelerator never does (or waits for) augmentation.
"""

import cv2
import numpy as np

_BORDERS = {"nearest": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT,
            "constant": cv2.BORDER_CONSTANT}
_INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
# `cv2.remap` keeps coordinates in 16-bit integers: its source and destination
# must each have fewer than SHRT_MAX (32767) rows and columns.
_REMAP_LIMIT = 32766


def _check_options(fill_mode: str, interpolation: str) -> None:
    if fill_mode not in _BORDERS:
        raise ValueError(f"`fill_mode` must be one of {tuple(_BORDERS)}. "
                         f"Received: fill_mode={fill_mode!r}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {tuple(_INTERPOLATIONS)}. "
                         f"Received: interpolation={interpolation!r}")


def warp_affine(images: np.ndarray, matrices: np.ndarray, fill_mode: str = "nearest",
                interpolation: str = "bilinear") -> np.ndarray:
    """Resamples each image of a batch through its own affine map.

    Args:
        images: (N, H, W, C) images, C <= 4 (uint8 or float32).
        matrices: (N, 2, 3): output pixel `(x, y, 1)` => source pixel `(x', y')`,
            pixel centres at integer coordinates.
        fill_mode: what lies outside an image: "nearest" (its edge pixel, as
            the classic recipes used), "reflect", or "constant" (zeros).
        interpolation: "bilinear" or "nearest".

    Returns:
        The warped batch, of the images' shape and dtype.
    """
    _check_options(fill_mode, interpolation)
    images = np.asarray(images)
    if images.ndim != 4 or not 1 <= images.shape[-1] <= 4:
        raise ValueError(f"`images` must be (N, H, W, C) with C <= 4. "
                         f"Received: shape={images.shape}")
    n, height, width, channels = images.shape
    matrices = np.asarray(matrices, dtype=np.float32)
    if matrices.shape != (n, 2, 3):
        raise ValueError(f"`matrices` must have shape ({n}, 2, 3). "
                         f"Received: shape={matrices.shape}")
    # With fill "constant", a row of zeros above and below each image lets edge samples
    # blend with the fill as they do at the sides.
    pad = 1 if fill_mode == "constant" else 0
    rows_each = height + 2 * pad
    if max(rows_each, width) > _REMAP_LIMIT:
        raise ValueError(f"`images` must be at most {_REMAP_LIMIT - 2 * pad} pixels high and "
                         f"{_REMAP_LIMIT} wide (OpenCV's limit). Received: shape={images.shape}")
    if n == 0:
        return images.copy()
    # The batch is warped as tall images of up to `per_call` images each, as few
    # `cv2.remap` calls as its row limit allows: OpenCV's border handles x, while y must
    # stay within each image's own rows.
    per_call = _REMAP_LIMIT // rows_each
    images = np.ascontiguousarray(images)
    if pad:
        images = np.pad(images, ((0, 0), (pad, pad), (0, 0), (0, 0)))
    # Row 0 of each image within its tall image.
    top = (np.arange(n) % per_call).astype(np.float32) * rows_each + pad
    # Source coordinates of every output pixel: a (N, 1, W) row term plus a (N, H, 1)
    # column term, one pass each.
    cols = np.arange(width, dtype=np.float32)
    rows = np.arange(height, dtype=np.float32)
    m = matrices[:, :, :, None]
    map_x = (m[:, 0, 0] * cols)[:, None, :] + (m[:, 0, 1] * rows + m[:, 0, 2])[:, :, None]
    if fill_mode == "nearest":  # the fast path: image i's rows, clamped to its edges
        map_y = ((m[:, 1, 0] * cols)[:, None, :]
                 + (m[:, 1, 1] * rows + m[:, 1, 2] + top[:, None])[:, :, None])
        np.clip(map_y, top[:, None, None], (top + height - 1)[:, None, None], out=map_y)
    else:
        map_y = (m[:, 1, 0] * cols)[:, None, :] + (m[:, 1, 1] * rows + m[:, 1, 2])[:, :, None]
        if fill_mode == "reflect":  # ... d c b a | a b c d | d c b a ...
            period = 2.0 * height
            map_y = np.mod(map_y + 0.5, period)
            map_y = np.where(map_y >= height, period - map_y, map_y) - 0.5
            np.clip(map_y, 0.0, height - 1.0, out=map_y)
        else:
            map_x[(map_y < -1.0) | (map_y > height)] = -2.0 * width  # OpenCV fills zeros
            np.clip(map_y, -1.0, float(height), out=map_y)
        map_y += top[:, None, None]
    out = np.empty((n, height, width, channels), dtype=images.dtype)
    for start in range(0, n, per_call):
        part = slice(start, start + per_call)
        count = len(images[part])
        tall = images[part].reshape(count * rows_each, width, channels)
        warped = cv2.remap(tall, map_x[part].reshape(count * height, width),
                           map_y[part].reshape(count * height, width),
                           _INTERPOLATIONS[interpolation], borderMode=_BORDERS[fill_mode],
                           borderValue=0)
        out[part] = warped.reshape(count, height, width, channels)
    return out


class RandomAffine:
    """Random rotation, zoom, shift, shear and flip of whole batches (a training-only op).

    Each image gets its own transform, drawn like Keras's
    `ImageDataGenerator`: rotation angle uniform in +-`rotation` degrees,
    width and height zoom each uniform in [1 - `zoom`, 1 + `zoom`], shear
    coefficient uniform in +-`shear`, shifts uniform in +-`shift` of the width
    and height, and a left-right flip with probability 1/2 if `flip`. All are
    about the image centre and composed into one resampling.

    The randomness comes from the generator passed with each batch, so the
    input pipeline can draw it from (seed, epoch, batch): a resumed run and
    any number of workers augment exactly as an uninterrupted run.

    Args:
        rotation: largest rotation in degrees.
        zoom: largest zoom in or out, as a fraction.
        shift: largest shift, as a fraction of the width and height.
        shear: largest shear coefficient (x' = x + s * y).
        flip: random left-right flips.
        fill_mode: see `warp_affine`.
        interpolation: see `warp_affine`.
        data_format: "channels_last" (N, H, W, C) batches, or "channels_first".
        whole_pixels: round the shifts to whole pixels: with no rotation, zoom
            or shear, and fill "constant", a random crop of the image padded
            with zeros (CIFAR-10's usual pad-and-crop).
        cutout: after the warp, zero a `cutout` x `cutout` square of each image
            at a random centre, partly outside the image near its edges
            (DeVries & Taylor 2017); 0: none. Drawn after the transforms, so the
            rest of the augmentation is the same with or without it.
    """

    def __init__(self, rotation: float = 0.0, zoom: float = 0.0, shift: float = 0.0,
                 shear: float = 0.0, flip: bool = False, fill_mode: str = "nearest",
                 interpolation: str = "bilinear", data_format: str = "channels_last",
                 whole_pixels: bool = False, cutout: int = 0):
        for name, value in (("rotation", rotation), ("zoom", zoom), ("shift", shift),
                            ("shear", shear)):
            if not 0 <= value < (180 if name == "rotation" else 1):
                raise ValueError(f"`{name}` must be in [0, {180 if name == 'rotation' else 1}). "
                                 f"Received: {name}={value}")
        _check_options(fill_mode, interpolation)
        self.rotation, self.zoom, self.shift, self.shear = rotation, zoom, shift, shear
        self.flip = flip
        self.whole_pixels = whole_pixels
        if cutout < 0:
            raise ValueError(f"`cutout` must be 0 or more. Received: cutout={cutout}")
        self.cutout = int(cutout)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("`data_format` must be 'channels_last' or 'channels_first'. "
                             f"Received: data_format={data_format!r}")
        self.data_format = data_format

    def __repr__(self) -> str:
        return (f"RandomAffine(rotation={self.rotation}, zoom={self.zoom}, shift={self.shift}, "
                f"shear={self.shear}, flip={self.flip}, fill_mode={self.fill_mode!r}, "
                f"cutout={self.cutout})")

    @property
    def is_identity(self) -> bool:
        return not (self.rotation or self.zoom or self.shift or self.shear or self.flip
                    or self.cutout)

    def matrices(self, n: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2, 3) random output => source maps for images of `height` x `width`."""
        theta = np.deg2rad(rng.uniform(-self.rotation, self.rotation, n))
        shear = rng.uniform(-self.shear, self.shear, n)
        zoom_x, zoom_y = rng.uniform(1 - self.zoom, 1 + self.zoom, (2, n))
        shift_x = rng.uniform(-self.shift, self.shift, n) * width
        shift_y = rng.uniform(-self.shift, self.shift, n) * height
        if self.whole_pixels:  # a random crop of the image padded by `shift` of its size
            shift_x, shift_y = np.round(shift_x), np.round(shift_y)
        mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0) if self.flip else np.ones(n)
        cos, sin = np.cos(theta), np.sin(theta)
        # A = rotation @ shear @ zoom @ mirror, acting on coordinates about the centre.
        a = np.empty((n, 2, 2))
        a[:, 0, 0] = cos * zoom_x * mirror
        a[:, 0, 1] = (cos * shear - sin) * zoom_y
        a[:, 1, 0] = sin * zoom_x * mirror
        a[:, 1, 1] = (sin * shear + cos) * zoom_y
        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        offset = centre + np.stack([shift_x, shift_y], axis=1) - a @ centre
        return np.concatenate([a, offset[:, :, None]], axis=2).astype(np.float32)

    def __call__(self, images: np.ndarray, rng: np.random.Generator,
                 part: tuple[int, int] | None = None) -> np.ndarray:
        """Augments a batch with transforms drawn from `rng`.

        `part=(start, total)` says that `images` are rows `start:start + len(images)`
        of a batch of `total` (one process's share in data-parallel training): the
        transforms of all `total` are drawn and those rows' used, so the batch is
        augmented the same however it is split.
        """
        if self.is_identity:
            return images
        if self.data_format == "channels_first":
            images = images.transpose(0, 2, 3, 1)
        n, height, width = images.shape[:3]
        start, total = part or (0, n)
        matrices = self.matrices(total, height, width, rng)[start:start + n]
        out = warp_affine(images, matrices, self.fill_mode, self.interpolation)
        if self.cutout:
            centres = rng.integers(0, (height, width), (total, 2))[start:start + n]
            out = cut_out(out, centres, self.cutout)
        return out.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else out


def cut_out(images: np.ndarray, centres: np.ndarray, size: int) -> np.ndarray:
    """Zeroes a `size` x `size` square of each (N, H, W, C) image about its (row, column)
    in `centres` (clipped at the edges), in place; returns `images`."""
    height, width = images.shape[1:3]
    top = centres[:, :1] - size // 2
    left = centres[:, 1:] - size // 2
    rows = (np.arange(height) >= top) & (np.arange(height) < top + size)    # (N, H)
    cols = (np.arange(width) >= left) & (np.arange(width) < left + size)    # (N, W)
    images[rows[:, :, None] & cols[:, None, :]] = 0
    return images
