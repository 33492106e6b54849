import cv2
import imutils
import keras
import numpy as np
import pytest

from pyimagesearch.preprocessing.classic import (
    AspectAwarePreprocessor,
    CropPreprocessor,
    ImageToArrayPreprocessor,
    MeanPreprocessor,
    PatchPreprocessor,
    SimplePreprocessor,
)


def _images(n=4, h=12, w=16, c=3, dtype="uint8", seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w, c)).astype(dtype)


def _classic_aspect_aware(image, width, height, inter=cv2.INTER_AREA):
    """The original PyImageSearch AspectAwarePreprocessor.preprocess."""
    (h, w) = image.shape[:2]
    d_w = 0
    d_h = 0
    if w < h:
        image = imutils.resize(image, width=width, inter=inter)
        d_h = int((image.shape[0] - height) / 2.0)
    else:
        image = imutils.resize(image, height=height, inter=inter)
        d_w = int((image.shape[1] - width) / 2.0)
    (h, w) = image.shape[:2]
    image = image[d_h:h - d_h, d_w:w - d_w]
    return cv2.resize(image, (width, height), interpolation=inter)


def _classic_crops(image, width, height, horiz=True, inter=cv2.INTER_AREA):
    """The original PyImageSearch CropPreprocessor.preprocess."""
    crops = []
    (h, w) = image.shape[:2]
    coords = [[0, 0, width, height], [w - width, 0, w, height],
              [w - width, h - height, w, h], [0, h - height, width, h]]
    d_w = int(0.5 * (w - width))
    d_h = int(0.5 * (h - height))
    coords.append([d_w, d_h, w - d_w, h - d_h])
    for (start_x, start_y, end_x, end_y) in coords:
        crop = image[start_y:end_y, start_x:end_x]
        crops.append(cv2.resize(crop, (width, height), interpolation=inter))
    if horiz:
        crops.extend([cv2.flip(c, 1) for c in crops])
    return np.array(crops)


DETERMINISTIC = {
    "simple_area": lambda: SimplePreprocessor(7, 5),
    "simple_area_2x": lambda: SimplePreprocessor(8, 6, inter=cv2.INTER_AREA),
    "simple_linear": lambda: SimplePreprocessor(10, 7, inter=cv2.INTER_LINEAR),
    "simple_cubic_up": lambda: SimplePreprocessor(21, 19, inter=cv2.INTER_CUBIC),
    "simple_nearest": lambda: SimplePreprocessor(10, 7, inter=cv2.INTER_NEAREST),
    "aspect_area": lambda: AspectAwarePreprocessor(7, 7),
    "aspect_nearest": lambda: AspectAwarePreprocessor(5, 9, inter=cv2.INTER_NEAREST),
    "mean_rgb": lambda: MeanPreprocessor(10.5, 20.0, 30.0),
    "mean_bgr": lambda: MeanPreprocessor(10.5, 20.0, 30.0, bgr=True),
    "to_array_last": lambda: ImageToArrayPreprocessor("channels_last"),
    "to_array_first": lambda: ImageToArrayPreprocessor("channels_first"),
    "crop_even": lambda: CropPreprocessor(10, 8),
    "crop_odd_centre": lambda: CropPreprocessor(9, 7),
    "crop_no_flip": lambda: CropPreprocessor(10, 8, horiz=False),
}


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_batch_equals_stacked_single_images(name):
    x = _images(n=5)
    preprocessor = DETERMINISTIC[name]()
    batch = preprocessor.preprocess(x)
    singles = np.stack([preprocessor.preprocess(image) for image in x])
    assert batch.dtype == singles.dtype
    np.testing.assert_array_equal(batch, singles)


@pytest.mark.parametrize("name", ["simple_area", "aspect_area", "crop_odd_centre",
                                  "simple_nearest"])
def test_grey_images_keep_their_kind(name):
    x = _images(n=3, c=1)
    preprocessor = DETERMINISTIC[name]()
    grey = np.stack([preprocessor.preprocess(image[..., 0]) for image in x])
    batch = preprocessor.preprocess(x)
    assert grey.ndim == batch.ndim - 1
    np.testing.assert_array_equal(grey, batch[..., 0])


@pytest.mark.parametrize("inter", [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC,
                                   cv2.INTER_NEAREST])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("size", [(8, 6), (24, 24), (7, 11)])
def test_simple_resize_equals_cv2_resize(inter, dtype, size):
    x = _images(n=3, dtype=dtype)
    preprocessor = SimplePreprocessor(*size, inter=inter)
    expected = np.stack([cv2.resize(image, size, interpolation=inter) for image in x])
    out = preprocessor.preprocess(x)
    assert out.shape == (3, size[1], size[0], 3) and out.dtype == x.dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(preprocessor.preprocess(x[1]), expected[1])


@pytest.mark.parametrize("inter", [cv2.INTER_NEAREST, cv2.INTER_NEAREST_EXACT])
@pytest.mark.parametrize("channels, n", [(3, 200), (1, 600)])
def test_packed_batch_resize_is_grouped_and_exact(monkeypatch, inter, channels, n):
    x = _images(n=n, h=5, w=7, c=channels)
    expected = np.stack([cv2.resize(image, (4, 9), interpolation=inter).reshape(9, 4, channels)
                         for image in x])
    calls = []
    resize = cv2.resize

    def counting_resize(image, *args, **kwargs):
        calls.append(image.shape)
        return resize(image, *args, **kwargs)

    monkeypatch.setattr(cv2, "resize", counting_resize)
    out = SimplePreprocessor(4, 9, inter=inter).preprocess(x)
    np.testing.assert_array_equal(out, expected)
    group = 512 // channels
    assert len(calls) == -(-n // group)
    assert calls[0] == (5, 7, group * channels)


def test_aspect_aware_matches_the_classic_code_for_square_targets():
    rng = np.random.default_rng(1)
    for h, w in [(20, 31), (31, 20), (16, 16), (13, 40), (9, 9)]:
        image = rng.integers(0, 256, size=(h, w, 3)).astype("uint8")
        for inter in (cv2.INTER_AREA, cv2.INTER_LINEAR):
            expected = _classic_aspect_aware(image, 8, 8, inter)
            out = AspectAwarePreprocessor(8, 8, inter=inter).preprocess(image)
            np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("landscape", [True, False])
def test_aspect_aware_keeps_the_centre(landscape):
    # 20 x 40: a black middle half between white quarters, which the crop removes.
    image = np.full((20, 40, 3), 255, dtype="uint8")
    image[:, 10:30] = 0
    if not landscape:
        image = image.transpose(1, 0, 2).copy()
    out = AspectAwarePreprocessor(10, 10).preprocess(image)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, 0)
    assert SimplePreprocessor(10, 10).preprocess(image).max() == 255


def test_aspect_aware_non_square_target_crops_the_centre_band():
    image = _images(n=1, h=30, w=30)[0]
    out = AspectAwarePreprocessor(20, 10, inter=cv2.INTER_NEAREST).preprocess(image)
    expected = cv2.resize(image, (20, 20), interpolation=cv2.INTER_NEAREST)[5:15]
    assert out.shape == (10, 20, 3)
    np.testing.assert_array_equal(out, expected)
    batch = AspectAwarePreprocessor(6, 9).preprocess(_images(n=4, h=12, w=16))
    assert batch.shape == (4, 9, 6, 3) and batch.dtype == np.uint8


def test_mean_subtraction_values_in_rgb_and_bgr():
    image = np.zeros((2, 3, 3), dtype="uint8")
    image[..., 0], image[..., 1], image[..., 2] = 100, 150, 200
    rgb = MeanPreprocessor(10.0, 20.0, 30.5).preprocess(image)
    bgr = MeanPreprocessor(10.0, 20.0, 30.5, bgr=True).preprocess(image)
    assert rgb.dtype == np.float32 and bgr.dtype == np.float32
    assert rgb.shape == image.shape
    np.testing.assert_array_equal(rgb[0, 0], [90.0, 130.0, 169.5])
    np.testing.assert_array_equal(bgr[0, 0], [69.5, 130.0, 190.0])
    np.testing.assert_array_equal(rgb, np.broadcast_to(rgb[0, 0], rgb.shape))
    batch = MeanPreprocessor(10.0, 20.0, 30.5).preprocess(image[None].astype("float64"))
    assert batch.dtype == np.float32 and batch.shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(batch[0], rgb)


def test_mean_accepts_the_classic_keyword_names():
    x = _images(n=2)
    classic = MeanPreprocessor(rMean=123.68, gMean=116.78, bMean=103.94)
    new = MeanPreprocessor(r_mean=123.68, g_mean=116.78, b_mean=103.94)
    assert (classic.r_mean, classic.g_mean, classic.b_mean) == (123.68, 116.78, 103.94)
    np.testing.assert_array_equal(classic.preprocess(x), new.preprocess(x))


def test_mean_rejects_bad_arguments_and_images():
    with pytest.raises(TypeError, match="r_mean"):
        MeanPreprocessor(1.0, 2.0, 3.0, rMean=1.0)
    with pytest.raises(TypeError, match="b_mean"):
        MeanPreprocessor(1.0, 2.0)
    with pytest.raises(ValueError, match="Received: g_mean='2'"):
        MeanPreprocessor(1.0, "2", 3.0)
    with pytest.raises(ValueError, match=r"Received: image.shape=\(4, 4\)"):
        MeanPreprocessor(1.0, 2.0, 3.0).preprocess(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="image.shape"):
        MeanPreprocessor(1.0, 2.0, 3.0).preprocess(np.zeros((2, 4, 4, 1)))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_image_to_array_matches_keras_for_one_image(data_format):
    preprocessor = ImageToArrayPreprocessor(data_format)
    x = _images(n=1)[0]
    for image in (x, x[..., 0]):
        out = preprocessor.preprocess(image)
        expected = keras.utils.img_to_array(image, data_format=data_format, dtype="float32")
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)


def test_image_to_array_layouts_of_a_batch():
    x = _images(n=3, h=5, w=7)
    last = ImageToArrayPreprocessor("channels_last").preprocess(x)
    first = ImageToArrayPreprocessor("channels_first").preprocess(x)
    assert last.shape == (3, 5, 7, 3) and first.shape == (3, 3, 5, 7)
    assert last.dtype == first.dtype == np.float32
    np.testing.assert_array_equal(last, x.astype("float32"))
    np.testing.assert_array_equal(first[1, 2], x[1, :, :, 2])
    assert first.flags.c_contiguous


def test_image_to_array_defaults_to_the_keras_setting_and_copies():
    x = _images(n=2, dtype="float32")
    current = keras.config.image_data_format()
    out = ImageToArrayPreprocessor().preprocess(x)
    np.testing.assert_array_equal(out, ImageToArrayPreprocessor(current).preprocess(x))
    assert not np.shares_memory(out, x)
    with pytest.raises(ValueError, match="Received: data_format='channels_middle'"):
        ImageToArrayPreprocessor("channels_middle")


def _locate(patch, image):
    """Every (y, x) at which `patch` occurs in `image`."""
    h, w = patch.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(image, (h, w), axis=(0, 1))
    hits = np.all(windows == np.moveaxis(patch, -1, 0), axis=(2, 3, 4))
    return list(zip(*np.nonzero(hits)))


def test_patches_are_sub_arrays_at_varied_offsets():
    # Unique pixel values make each patch's position unambiguous.
    x = np.arange(8 * 16 * 16 * 3, dtype="int32").reshape(8, 16, 16, 3)
    patches = PatchPreprocessor(6, 4, seed=0).preprocess(x)
    assert patches.shape == (8, 4, 6, 3) and patches.dtype == x.dtype
    offsets = []
    for patch, image in zip(patches, x):
        (y, x0), = _locate(patch, image)
        np.testing.assert_array_equal(patch, image[y:y + 4, x0:x0 + 6])
        offsets.append((y, x0))
    assert len(set(offsets)) > 4


def test_patches_are_reproducible_and_batch_equals_single_calls():
    x = _images(n=6, h=10, w=10)
    first = PatchPreprocessor(5, 5, seed=42).preprocess(x)
    np.testing.assert_array_equal(PatchPreprocessor(5, 5, seed=42).preprocess(x), first)
    one_by_one = PatchPreprocessor(5, 5, seed=42)
    np.testing.assert_array_equal(np.stack([one_by_one.preprocess(i) for i in x]), first)
    preprocessor = PatchPreprocessor(5, 5, seed=42)
    preprocessor.preprocess(x)
    assert not np.array_equal(preprocessor.preprocess(x), first)


def test_patch_of_a_grey_image_and_of_the_full_size():
    image = _images(n=1, c=1)[0, ..., 0]
    patch = PatchPreprocessor(5, 3, seed=0).preprocess(image)
    assert patch.shape == (3, 5)
    assert len(_locate(patch[..., None], image[..., None])) >= 1
    np.testing.assert_array_equal(PatchPreprocessor(16, 12).preprocess(image), image)


def test_ten_crops_are_the_corners_centre_and_mirrors():
    image = _images(n=1, h=12, w=16)[0]
    crops = CropPreprocessor(10, 8).preprocess(image)
    assert crops.shape == (10, 8, 10, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(crops[0], image[:8, :10])
    np.testing.assert_array_equal(crops[1], image[:8, 6:])
    np.testing.assert_array_equal(crops[2], image[4:, 6:])
    np.testing.assert_array_equal(crops[3], image[4:, :10])
    np.testing.assert_array_equal(crops[4], image[2:10, 3:13])
    np.testing.assert_array_equal(crops[5:], crops[:5, :, ::-1])
    np.testing.assert_array_equal(crops, _classic_crops(image, 10, 8))


def test_crops_of_a_batch_and_an_odd_centre_match_the_classic_code():
    x = _images(n=3, h=12, w=16)
    crops = CropPreprocessor(9, 7).preprocess(x)
    assert crops.shape == (3, 10, 7, 9, 3) and crops.dtype == np.uint8
    for out, image in zip(crops, x):
        np.testing.assert_array_equal(out, _classic_crops(image, 9, 7))
    five = CropPreprocessor(9, 7, horiz=False).preprocess(x)
    assert five.shape == (3, 5, 7, 9, 3)
    np.testing.assert_array_equal(five, crops[:, :5])


@pytest.mark.parametrize("cls", [SimplePreprocessor, AspectAwarePreprocessor,
                                 PatchPreprocessor, CropPreprocessor])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
def test_sizes_must_be_positive_integers(cls, bad):
    with pytest.raises(ValueError, match=f"Received: width={bad!r}"):
        cls(bad, 8)
    with pytest.raises(ValueError, match=f"Received: height={bad!r}"):
        cls(8, bad)


@pytest.mark.parametrize("cls", [SimplePreprocessor, AspectAwarePreprocessor, CropPreprocessor])
def test_interpolation_must_be_a_flag(cls):
    with pytest.raises(ValueError, match="Received: inter='area'"):
        cls(8, 8, inter="area")


@pytest.mark.parametrize("cls", [PatchPreprocessor, CropPreprocessor])
def test_crops_larger_than_the_image_name_both_sizes(cls):
    x = _images(n=2, h=12, w=16)
    with pytest.raises(ValueError, match=r"width=17, height=5.*width=16, height=12"):
        cls(17, 5).preprocess(x)
    with pytest.raises(ValueError, match=r"width=4, height=13.*width=16, height=12"):
        cls(4, 13).preprocess(x[0])


@pytest.mark.parametrize("shape", [(5,), (1, 2, 4, 4, 3)])
@pytest.mark.parametrize("preprocessor", [SimplePreprocessor(2, 2), AspectAwarePreprocessor(2, 2),
                                          ImageToArrayPreprocessor(), PatchPreprocessor(1, 1),
                                          CropPreprocessor(1, 1)],
                         ids=lambda p: type(p).__name__)
def test_inputs_must_be_images_or_batches(preprocessor, shape):
    with pytest.raises(ValueError, match="image.shape"):
        preprocessor.preprocess(np.zeros(shape, dtype="uint8"))
