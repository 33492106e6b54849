import os

# TensorFlow runs a channels_first (NCHW) convolution on the CPU only through oneDNN, which
# it turns on by default only on CPUs with AVX512-VNNI/BF16 or AMX: the channels_first tests
# would fail on an AVX2-only machine. On for every machine, before TensorFlow is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pytest


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """A tiny CIFAR-10 in the official layout: 5 x 20 training and 40 test images."""
    from cifar_data import write_cifar

    return write_cifar(str(tmp_path_factory.mktemp("cifar")))


@pytest.fixture(autouse=True)
def _float32_policy():
    """Training scripts set a mixed-precision policy for the process: reset it after each test."""
    yield
    import keras

    keras.config.set_dtype_policy("float32")
