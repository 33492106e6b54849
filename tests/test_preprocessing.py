import keras
import numpy as np
import pytest

from pyimagesearch.preprocessing import build_augmentation, with_preprocessing


def _batch(dtype="float32"):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(8, 32, 32, 3)).astype(dtype)


def test_augmentation_keeps_shape_and_dtype_and_changes_pixels_in_training_only():
    augment = build_augmentation(shift=0.1, flip=True, seed=1)
    x = _batch()
    trained = keras.ops.convert_to_numpy(augment(x, training=True))
    assert trained.shape == x.shape and trained.dtype == x.dtype
    assert not np.array_equal(trained, x)
    inferred = keras.ops.convert_to_numpy(augment(x, training=False))
    np.testing.assert_array_equal(inferred, x)


def test_flip_alone_mirrors_or_keeps_each_image():
    augment = build_augmentation(flip=True, seed=3)
    x = _batch()
    out = keras.ops.convert_to_numpy(augment(x, training=True))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_tiny_imagenet_augmentations_build():
    augment = build_augmentation(shift=0.2, flip=True, rotation=18, zoom=0.15, shear=0.15,
                                 seed=0)
    assert len(augment.layers) == 5
    x = _batch()
    out = keras.ops.convert_to_numpy(augment(x, training=True))
    assert out.shape == x.shape


def _identity_network(shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Identity()(inputs), name="identity")


def test_model_takes_uint8_and_subtracts_the_pixel_mean():
    x = _batch("uint8")
    mean = x.mean(axis=0)
    model = with_preprocessing(_identity_network((32, 32, 3)), mean,
                               build_augmentation(shift=0.1, flip=True))
    assert model.input.dtype == "uint8"
    out = model.predict(x, verbose=0)  # inference: no augmentation
    np.testing.assert_allclose(out, x.astype("float32") - mean, atol=1e-4)


def test_channel_mean_and_saved_model_carries_it(tmp_path):
    x = _batch("uint8")
    model = with_preprocessing(_identity_network((32, 32, 3)), [100.0, 110.0, 120.0])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # safe mode
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               x.astype("float32") - np.array([100.0, 110.0, 120.0]), atol=1e-4)


def test_mean_of_the_wrong_shape():
    with pytest.raises(ValueError, match="mean"):
        with_preprocessing(_identity_network((32, 32, 3)), np.zeros((16, 16, 3)))


def test_saved_augmentation_loads_again(tmp_path):
    # Keras 3.15's own RandomShear saves a config its constructor refuses.
    x = _batch("uint8")
    augment = build_augmentation(shift=0.2, flip=True, rotation=18, zoom=0.15, shear=0.15)
    model = with_preprocessing(_identity_network((32, 32, 3)), [1.0, 2.0, 3.0], augment)
    path = str(tmp_path / "aug.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # safe mode
    shear = loaded.get_layer("augmentation").get_layer("augmentation_shear")
    assert shear.x_factor == (-0.15, 0.15) or list(shear.x_factor) == [-0.15, 0.15]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
