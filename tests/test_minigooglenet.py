import keras
import numpy as np
import pytest

from pyimagesearch.nn.conv import MiniGoogLeNet


@pytest.fixture
def channels_first():
    keras.config.set_image_data_format("channels_first")
    yield
    keras.config.set_image_data_format("channels_last")


def test_parameter_count_as_published():
    model = MiniGoogLeNet.build(width=32, height=32, depth=3, classes=10)
    assert model.count_params() == 1_656_250


def test_output_is_a_distribution_per_image():
    model = MiniGoogLeNet.build(32, 32, 3, 10)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    probs = keras.ops.convert_to_numpy(model(x, training=False))
    assert probs.shape == (2, 10)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_stage_shapes_follow_the_table():
    model = MiniGoogLeNet.build(32, 32, 3, 10)
    expected = {"stem_relu": (32, 32, 96), "inception1b": (32, 32, 80),
                "downsample1": (15, 15, 160), "inception2d": (15, 15, 144),
                "downsample2": (7, 7, 240), "inception3b": (7, 7, 336),
                "avg_pool": (1, 1, 336)}
    for name, shape in expected.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name


def test_channels_first(channels_first):
    model = MiniGoogLeNet.build(32, 32, 3, 10)
    assert model.count_params() == 1_656_250
    assert tuple(model.input_shape) == (None, 3, 32, 32)
    assert tuple(model.get_layer("inception3b").output.shape[1:]) == (336, 7, 7)
    assert tuple(model.output_shape) == (None, 10)


def test_class_count_sets_the_head():
    model = MiniGoogLeNet.build(32, 32, 3, 100)
    assert tuple(model.output_shape) == (None, 100)
    assert model.count_params() == 1_656_250 + 90 * 336 + 90


@pytest.mark.parametrize("kwargs", [dict(width=16, height=32, depth=3, classes=10),
                                    dict(width=32, height=32, depth=3, classes=0)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        MiniGoogLeNet.build(**kwargs)


def test_width_multiplier_scales_every_layer_and_1_is_the_book():
    assert MiniGoogLeNet.build(32, 32, 3, 10, width_multiplier=1.0).count_params() == 1_656_250
    wide = MiniGoogLeNet.build(32, 32, 3, 10, width_multiplier=1.5)
    assert tuple(wide.get_layer("stem_relu").output.shape[1:]) == (32, 32, 144)
    assert tuple(wide.get_layer("inception3b").output.shape[1:]) == (7, 7, 504)  # 1.5 x 336
    half = MiniGoogLeNet.build(32, 32, 3, 10, width_multiplier=0.5)
    assert tuple(half.get_layer("inception3b").output.shape[1:]) == (7, 7, 168)
    # Convolutions scale with in x out channels: about 2.25x and 0.25x the parameters.
    assert 2.1 < wide.count_params() / 1_656_250 < 2.3
    assert 0.24 < half.count_params() / 1_656_250 < 0.28


def test_dropout_rate_is_the_builders():
    assert MiniGoogLeNet.build(32, 32, 3, 10).get_layer("dropout").rate == 0.5
    assert MiniGoogLeNet.build(32, 32, 3, 10, dropout=0.2).get_layer("dropout").rate == 0.2


@pytest.mark.parametrize("kwargs, message", [({"width_multiplier": 0}, "width_multiplier"),
                                             ({"dropout": 1.0}, "dropout"),
                                             ({"dropout": -0.1}, "dropout")])
def test_bad_width_or_dropout_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MiniGoogLeNet.build(32, 32, 3, 10, **kwargs)
