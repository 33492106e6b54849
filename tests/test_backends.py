"""A run started on one Keras backend continues on the others, from the same checkpoints."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import pyimagesearch.nn  # noqa: F401  (registers the models' layers)
import train_cifar10
from pyimagesearch.datasets.cifar10 import load_cifar10
from pyimagesearch.evaluation.metrics import top_class

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "minigooglenet_cifar10"
pytestmark = pytest.mark.slow


def _others():
    here = keras.backend.backend()
    return [b for b in ("tensorflow", "jax", "torch")
            if b != here and importlib.util.find_spec(b) is not None]


def test_checkpoints_move_between_backends(cifar_dir, tmp_path):
    others = _others()
    if not others:
        pytest.skip("no other Keras backend installed")
    output = tmp_path / "run"
    argv = ["--data", cifar_dir, "--output", str(output), "--batch-size", "16", "--seed", "4",
            "--verbose", "0", "--mixed-precision", "off"]
    assert train_cifar10.main([*argv, "--epochs", "1"]) == 0
    for epochs, backend in enumerate(others, start=2):
        done = subprocess.run(
            [sys.executable, os.path.join(ROOT, "train_cifar10.py"), *argv, "--resume",
             "--epochs", str(epochs)],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert f"epoch {epochs - 1} of {epochs} done" in done.stdout
        with open(output / f"{NAME}_args.json") as f:
            assert json.load(f)["backend"] == backend
    with open(output / f"{NAME}.json") as f:
        history = json.load(f)
    assert len(history["loss"]) == 1 + len(others)
    assert all(np.isfinite(history["loss"]))
    # The last backend's final model, back on this one: its report's accuracy holds.
    model = keras.models.load_model(output / f"{NAME}.keras")
    (_, _), (x_test, y_test), _ = load_cifar10(cifar_dir)
    right = int((top_class(model.predict(x_test, verbose=0)) == y_test).sum())
    with open(output / f"{NAME}_report.txt") as f:
        assert f"({right} of {len(y_test)} test images)" in f.read()
