import cv2
import numpy as np
import pytest

from pyimagesearch.io import ArrayBatches
from pyimagesearch.preprocessing import RandomAffine, warp_affine

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (3, 16, 20, 3), dtype=np.uint8)


def _identity(n):
    return np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (n, 1, 1))


def _reference(image, matrix, border):
    """OpenCV's own per-image warp, the map read as output => source."""
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=0)


def test_identity_keeps_every_pixel():
    out = warp_affine(IMAGES, _identity(3))
    assert out.dtype == np.uint8 and out.shape == IMAGES.shape
    np.testing.assert_array_equal(out, IMAGES)


def test_flip_and_integer_shift_are_exact():
    m = _identity(3)
    m[0, 0] = [-1, 0, 19]          # x' = 19 - x: a mirror
    m[1, 0, 2] = 3                 # x' = x + 3: content moves 3 pixels left
    m[2, 1, 2] = -2                # y' = y - 2: content moves 2 rows down
    out = warp_affine(IMAGES, m)
    np.testing.assert_array_equal(out[0], IMAGES[0, :, ::-1])
    np.testing.assert_array_equal(out[1, :, :17], IMAGES[1, :, 3:])
    np.testing.assert_array_equal(out[1, :, 17:], np.repeat(IMAGES[1, :, -1:], 3, axis=1))
    np.testing.assert_array_equal(out[2, 2:], IMAGES[2, :-2])
    np.testing.assert_array_equal(out[2, :2], np.repeat(IMAGES[2, :1], 2, axis=0))


def test_quarter_turn_of_a_square_image_is_rot90():
    square = RNG.integers(0, 256, (1, 9, 9, 3), dtype=np.uint8)
    # output (x, y) samples source (8 - y, x): the image turned 90 degrees anticlockwise
    m = np.array([[[0, -1, 8], [1, 0, 0]]], np.float32)
    np.testing.assert_array_equal(warp_affine(square, m)[0], np.rot90(square[0]))


@pytest.mark.parametrize("fill_mode, border", [("nearest", cv2.BORDER_REPLICATE),
                                               ("reflect", cv2.BORDER_REFLECT),
                                               ("constant", cv2.BORDER_CONSTANT)])
def test_each_image_warps_as_alone_with_its_own_borders(fill_mode, border):
    # Large transforms push samples far past every edge: no image may borrow another's rows.
    matrices = RandomAffine(rotation=60, zoom=0.5, shift=0.4, shear=0.5, flip=True).matrices(
        3, 16, 20, np.random.default_rng(1))
    # Smooth images, far apart in brightness: 1/32-pixel rounding of the sampling
    # positions moves a value by little, borrowing from a neighbour by a lot.
    y, x = np.mgrid[0:16, 0:20]
    smooth = np.stack([30 + 80 * i + 20 * np.sin(x / 3 + i) * np.cos(y / 4)
                       for i in range(3)])
    images = np.repeat(smooth[..., None], 3, axis=3).round().astype(np.uint8)
    out = warp_affine(images, matrices, fill_mode=fill_mode).astype(int)
    for i in range(3):
        want = _reference(images[i], matrices[i], border).astype(int)
        diff = np.abs(out[i] - want)
        # OpenCV rounds sampling positions to 1/32 pixel, its two paths differently: at
        # most a level on smooth content, 200/32 across a jump into the constant fill.
        assert diff.max() <= (7 if fill_mode == "constant" else 2)
        assert diff.mean() < 0.3
        if fill_mode == "constant":
            assert 0.2 < (want == 0).all(axis=2).mean() < 0.8


def test_random_affine_is_a_function_of_its_generator():
    aug = RandomAffine(rotation=18, zoom=0.15, shift=0.2, shear=0.15, flip=True)
    a = aug(IMAGES, np.random.default_rng(5))
    b = aug(IMAGES, np.random.default_rng(5))
    c = aug(IMAGES, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert a.shape == IMAGES.shape and a.dtype == np.uint8
    assert not np.array_equal(a, c)


def test_drawn_transforms_stay_within_their_ranges():
    m = RandomAffine(rotation=18, zoom=0.15, shift=0.2).matrices(
        4000, 64, 64, np.random.default_rng(0))
    a = m[:, :, :2]
    angles = np.degrees(np.arctan2(a[:, 1, 0], a[:, 0, 0]))
    assert 17 < angles.max() <= 18 and -18 <= angles.min() < -17
    zoom_x = np.hypot(a[:, 0, 0], a[:, 1, 0])
    assert 1.14 < zoom_x.max() <= 1.15 and 0.85 <= zoom_x.min() < 0.86
    centre = np.array([31.5, 31.5])
    moved = np.einsum("nij,j->ni", a, centre) + m[:, :, 2] - centre  # where the centre samples
    assert 12 < np.abs(moved).max() <= 0.2 * 64 + 1e-4


def test_flip_alone_mirrors_about_half_the_images():
    images = RNG.integers(0, 256, (400, 4, 6, 1), dtype=np.uint8)
    out = RandomAffine(flip=True)(images, np.random.default_rng(0))
    same = (out == images).all(axis=(1, 2, 3))
    mirrored = (out == images[:, :, ::-1]).all(axis=(1, 2, 3))
    assert (same | mirrored).all()
    assert 150 < mirrored.sum() < 250


def test_channels_first_batches():
    aug = RandomAffine(rotation=30, flip=True, data_format="channels_first")
    last = RandomAffine(rotation=30, flip=True)
    first = aug(IMAGES.transpose(0, 3, 1, 2), np.random.default_rng(2))
    np.testing.assert_array_equal(first.transpose(0, 2, 3, 1),
                                  last(IMAGES, np.random.default_rng(2)))


def test_nothing_to_do_returns_the_batch():
    assert RandomAffine()(IMAGES, np.random.default_rng(0)) is IMAGES


@pytest.mark.parametrize("kwargs", [{"zoom": 1.0}, {"shift": -0.1}, {"rotation": 180},
                                    {"fill_mode": "wrap"}, {"interpolation": "cubic"},
                                    {"data_format": "nhwc"}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RandomAffine(**kwargs)


def test_batches_augment_by_seed_epoch_and_index():
    labels = np.arange(6)
    images = RNG.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    aug = RandomAffine(rotation=30, shift=0.2, flip=True)

    def batches(epoch, indices):
        data = ArrayBatches(images, labels, 2, seed=3, augment=aug)
        data.set_epoch(epoch)
        return {i: data[i] for i in indices}

    forward, backward = batches(1, [0, 1, 2]), batches(1, [2, 1, 0])
    for i in range(3):
        np.testing.assert_array_equal(forward[i][0], backward[i][0])
        np.testing.assert_array_equal(forward[i][1], backward[i][1])
    plain = ArrayBatches(images, labels, 2, seed=3)
    plain.set_epoch(1)
    assert not np.array_equal(forward[0][0], plain[0][0])
    np.testing.assert_array_equal(forward[0][1], plain[0][1])  # same images, augmented
    other_epoch = batches(2, [0])
    assert not np.array_equal(other_epoch[0][0], forward[0][0])


@pytest.mark.parametrize("fill_mode, border", [("nearest", cv2.BORDER_REPLICATE),
                                               ("reflect", cv2.BORDER_REFLECT),
                                               ("constant", cv2.BORDER_CONSTANT)])
@pytest.mark.parametrize("n, size", [(1024, 32), (520, 64)])
def test_batches_taller_than_opencvs_limit_warp_as_small_ones(n, size, fill_mode, border):
    """1,024 CIFAR-10 or 512 Tiny ImageNet images stacked exceed `cv2.remap`'s 32,767 rows:
    those batch sizes crashed at the first batch."""
    y, x = np.mgrid[0:size, 0:size]
    brightness = np.random.default_rng(2).uniform(40, 200, n)
    smooth = brightness[:, None, None] + 20 * np.sin(x / 3) * np.cos(y / 4)
    images = np.repeat(smooth[..., None], 3, axis=3).round().astype(np.uint8)
    matrices = RandomAffine(rotation=30, zoom=0.2, shift=0.2, flip=True).matrices(
        n, size, size, np.random.default_rng(3))
    out = warp_affine(images, matrices, fill_mode=fill_mode)
    assert out.shape == images.shape
    for i in (0, n // 2, n - 1):  # the first, a middle one, and one in the last remap
        want = _reference(images[i], matrices[i], border).astype(int)
        assert np.abs(out[i].astype(int) - want).max() <= (7 if fill_mode == "constant" else 2)

    batches = ArrayBatches(images, np.zeros(n, int), n, augment=RandomAffine(shift=0.1, flip=True),
                           seed=0)
    x_batch, _ = batches[0]
    assert x_batch.shape == images.shape


def test_images_too_large_for_opencv_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match="OpenCV's limit"):
        warp_affine(np.zeros((1, 1, 40000, 1), np.uint8), _identity(1))
