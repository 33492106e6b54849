import keras
import numpy as np
import pytest

from pyimagesearch.preprocessing import with_preprocessing


def _batch(dtype="float32"):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(8, 32, 32, 3)).astype(dtype)


def _identity_network(shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Identity()(inputs), name="identity")


def test_model_takes_uint8_and_subtracts_the_pixel_mean():
    x = _batch("uint8")
    mean = x.mean(axis=0)
    model = with_preprocessing(_identity_network((32, 32, 3)), mean,
                               keras.layers.RandomFlip("horizontal"))
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
