import keras
import numpy as np
import pytest

from pyimagesearch.nn.conv.deepergooglenet import INCEPTIONS, DeeperGoogLeNet


@pytest.fixture(scope="module")
def model():
    return DeeperGoogLeNet.build(width=64, height=64, depth=3, classes=200, reg=2e-4)


def test_parameter_count_as_published(model):
    assert model.count_params() == 3_667_976


def test_rows_of_the_table(model):
    expected = {"pool1": (32, 32, 64), "pool2": (16, 16, 192), "inception3a": (16, 16, 256),
                "inception3b": (16, 16, 480), "pool3": (8, 8, 480), "inception4a": (8, 8, 512),
                "inception4d": (8, 8, 528), "inception4e": (8, 8, 832), "pool4": (4, 4, 832),
                "avg_pool": (1, 1, 832)}
    for name, shape in expected.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    # Branch widths follow the paper's columns: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
    ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = INCEPTIONS["inception4e"]
    for suffix, filters in (("1x1", ch1x1), ("3x3_reduce", ch3x3red), ("3x3", ch3x3),
                            ("5x5_reduce", ch5x5red), ("5x5", ch5x5), ("pool_proj", pool_proj)):
        assert model.get_layer(f"inception4e_{suffix}_conv").filters == filters


def test_every_kernel_is_regularised(model):
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel")]
    assert len(model.losses) == len(kernels) == 46


def test_module_order_and_alternative(model):
    names = [layer.name for layer in model.layers]
    assert names.index("conv1_relu") < names.index("conv1_bn")  # CONV => RELU => BN
    alt = DeeperGoogLeNet.build(64, 64, 3, 200, bn_before_relu=True)
    alt_names = [layer.name for layer in alt.layers]
    assert alt_names.index("conv1_bn") < alt_names.index("conv1_relu")
    assert alt.count_params() == 3_667_976


def test_output_distribution():
    small = DeeperGoogLeNet.build(64, 64, 3, 7, reg=0.0)
    assert small.losses == []
    probs = keras.ops.convert_to_numpy(small(np.zeros((2, 64, 64, 3), "float32")))
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(width=60), dict(classes=0), dict(reg=-1.0)])
def test_bad_arguments(kwargs):
    args = {**dict(width=64, height=64, depth=3, classes=10), **kwargs}
    with pytest.raises(ValueError):
        DeeperGoogLeNet.build(**args)


def test_width_multiplier_scales_every_layer_and_1_is_the_book():
    book = DeeperGoogLeNet.build(64, 64, 3, 200, reg=2e-4, width_multiplier=1.0, dropout=0.4)
    assert book.count_params() == 3_667_976
    assert book.get_layer("dropout").rate == 0.4
    half = DeeperGoogLeNet.build(64, 64, 3, 200, width_multiplier=0.5, dropout=0.3)
    assert tuple(half.get_layer("inception4e").output.shape[1:]) == (8, 8, 416)  # 832 / 2
    assert tuple(half.get_layer("pool2").output.shape[1:]) == (16, 16, 96)
    assert half.get_layer("dropout").rate == 0.3
    assert 0.25 < half.count_params() / 3_667_976 < 0.35  # convs ~1/4, the head ~1/2
