import json
import os

import keras
import numpy as np
import pytest

import train_cifar10
from pyimagesearch.training import flags, precision

NAME = "minigooglenet_cifar10"


@pytest.mark.parametrize("device, want", [
    ({"kind": "gpu", "name": "H100", "capability": (9, 0)}, "bf16"),
    ({"kind": "gpu", "name": "A100", "capability": (8, 0)}, "bf16"),
    ({"kind": "gpu", "name": "T4", "capability": (7, 5)}, "fp16"),
    ({"kind": "gpu", "name": "P100", "capability": (6, 0)}, "off"),
    ({"kind": "cpu", "name": "Xeon with AMX", "bf16": True}, "bf16"),
    ({"kind": "cpu", "name": "older Xeon", "bf16": False}, "off"),
])
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_auto_picks_by_hardware(device, want, backend):
    choice, reason = precision.auto_precision(device, backend)
    assert choice == want
    assert device["name"] in reason


def test_auto_keeps_float32_for_jax_on_a_cpu_but_not_on_a_gpu():
    xeon = {"kind": "cpu", "name": "Xeon with AMX", "bf16": True}
    assert precision.auto_precision(xeon, "jax")[0] == "off"
    assert "JAX" in precision.auto_precision(xeon, "jax")[1]
    h100 = {"kind": "gpu", "name": "H100", "capability": (9, 0)}
    assert precision.auto_precision(h100, "jax")[0] == "bf16"


def test_explicit_choices_and_the_command_line_agree():
    assert precision.CHOICES == flags.PRECISIONS
    assert precision.resolve("fp16")[0] == "fp16"
    assert precision.resolve("off")[0] == "off"
    with pytest.raises(ValueError, match="choice"):
        precision.resolve("int8")


@pytest.mark.parametrize("choice", ["off", "bf16", "fp16"])
def test_saved_precision_reads_the_layers_policy(choice, tmp_path):
    precision.use(choice)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3)(inputs)
    outputs = keras.layers.Activation("softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    keras.config.set_dtype_policy("float32")
    model.save(tmp_path / "m.keras")
    assert precision.saved_precision(str(tmp_path / "m.keras")) == choice


def _train(data, output, *extra):
    return train_cifar10.main(["--data", data, "--output", str(output), "--batch-size", "50",
                               "--epochs", "1", "--verbose", "0", *extra])


def _small_network(width, height, depth, classes, width_multiplier=1.0, dropout=0.5):
    """A stand-in for MiniGoogLeNet: float16 convolutions crawl on a CPU."""
    from keras import layers

    inputs = keras.Input((height, width, depth))
    x = layers.Conv2D(8, 3, name="stem_conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(classes)(x)
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name="minigooglenet")


@pytest.mark.slow
@pytest.mark.parametrize("choice, compute", [("bf16", "bfloat16"), ("fp16", "float16")])
def test_training_in_mixed_precision(choice, compute, cifar_dir, tmp_path, capsys, monkeypatch):
    if choice == "fp16":
        from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet

        monkeypatch.setattr(MiniGoogLeNet, "build", staticmethod(_small_network))
    assert _train(cifar_dir, tmp_path, "--mixed-precision", choice) == 0
    assert f"precision: {choice}" in capsys.readouterr().out
    model = keras.models.load_model(os.path.join(tmp_path, f"{NAME}.keras"))
    network = model.get_layer("minigooglenet")
    assert network.get_layer("stem_conv").compute_dtype == compute
    assert network.get_layer("stem_conv").kernel.dtype == "float32"  # weights stay float32
    assert network.get_layer("softmax").compute_dtype == "float32"
    probs = model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0)
    assert probs.dtype == np.float32 and np.all(np.isfinite(probs))
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (choice == "fp16")  # float16's narrow range needs loss scaling
    with open(os.path.join(tmp_path, f"{NAME}_args.json")) as f:
        assert json.load(f)["args"]["precision"] == choice
    with open(os.path.join(tmp_path, f"{NAME}.json")) as f:
        assert np.isfinite(json.load(f)["loss"]).all()

    # A resume keeps the checkpoints' precision and refuses to change it.
    assert _train(cifar_dir, tmp_path, "--resume", "--epochs", "2",
                  "--mixed-precision", "off") == 2
    err = capsys.readouterr().err
    assert f"trained in {choice} precision, not off" in err and "\n" not in err.strip()
    assert _train(cifar_dir, tmp_path, "--resume", "--epochs", "2") == 0
    assert f"precision: {choice} (the precision of the run's checkpoints)" in \
        capsys.readouterr().out
