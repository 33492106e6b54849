"""A model saved in one image data format is used in the other (`pyimagesearch.io.dataformat`):
trained where keras.json said channels_first, it predicts, is scored by `--evaluate` and is
exported where Keras has its defaults (channels_last), and the reverse; on every backend."""

import contextlib
import json
import os
import zipfile

import cv2
import keras
import numpy as np
import pytest

import train_cifar10
from pyimagesearch import export, predict
from pyimagesearch.datasets.cifar10 import load_cifar10
from pyimagesearch.deploy.runtimes import open_model
from pyimagesearch.io.checkpoints import load_checkpoint, save_model
from pyimagesearch.io.dataformat import convert_config, saved_data_format
from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
from pyimagesearch.preprocessing import with_preprocessing

OTHER = {"channels_last": "channels_first", "channels_first": "channels_last"}


@contextlib.contextmanager
def _data_format(name: str):
    before = keras.config.image_data_format()
    keras.config.set_image_data_format(name)
    try:
        yield
    finally:
        keras.config.set_image_data_format(before)


def _to(images: np.ndarray, data_format: str) -> np.ndarray:
    return images.transpose(0, 3, 1, 2) if data_format == "channels_first" else images


@pytest.fixture(scope="module")
def saved(cifar_dir, tmp_path_factory):
    """MiniGoogLeNet with its per-pixel mean, built and saved as train_cifar10.py saves it
    where Keras is set to the other data format, its batch-norm statistics those of the
    training images, and its probabilities on the test split there."""
    (x_train, _), (x_test, y_test), names = load_cifar10(cifar_dir)
    other = OTHER[keras.config.image_data_format()]
    with _data_format(other):
        keras.utils.set_random_seed(0)
        network = MiniGoogLeNet.build(32, 32, 3, 10, width_multiplier=0.25)
        model = with_preprocessing(network, x_train.mean(axis=0, dtype="float64"), name="mini")
        norms = [layer for layer in network.layers if "momentum" in layer.get_config()]
        for layer in norms:  # one batch in training mode sets the statistics to its own
            layer.momentum = 0.0
        model(_to(x_train, other), training=True)
        for layer in norms:
            layer.momentum = 0.99
        probs = keras.ops.convert_to_numpy(model.predict(_to(x_test, other), verbose=0))
        path = str(tmp_path_factory.mktemp("other_layout") / "mini.keras")
        save_model(model, path, {"class_names": names})
    assert probs.std(axis=0).max() > 0.02  # answers that depend on the image, as they must
    return path, other, x_test, y_test, probs, names


def test_the_config_is_moved_to_the_other_layout_and_back(saved):
    path, other, *_ = saved
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    here = keras.config.image_data_format()
    assert saved_data_format(config) == other
    moved = convert_config(config, here)
    assert saved_data_format(moved) == here
    layers = {layer["name"]: layer for layer in moved["config"]["layers"]}
    assert layers["image"]["config"]["batch_shape"] == [None, *_to(np.zeros((1, 32, 32, 3)),
                                                                  here).shape[1:]]
    mean = np.asarray(layers["mean_subtraction"]["config"]["mean"])
    assert mean.shape == _to(np.zeros((1, 32, 32, 3)), here).shape[1:]
    assert convert_config(moved, here) == moved
    assert convert_config(convert_config(moved, other), here) == moved  # there and back


def test_a_model_from_the_other_layout_loads_and_predicts_the_same(saved):
    path, _, x_test, _, probs, _ = saved
    model = load_checkpoint(path)
    here = keras.config.image_data_format()
    got = keras.ops.convert_to_numpy(model.predict(_to(x_test, here), verbose=0))
    np.testing.assert_allclose(got, probs, atol=1e-5)


def test_predict_takes_a_model_trained_in_the_other_layout(saved, tmp_path, capsys):
    """It was refused: "takes inputs of shape (3, 32, 32), not batches of fixed-size RGB
    images; pass a .keras file saved by a training script" (it was)."""
    path, _, x_test, _, probs, names = saved
    files = []
    for i, image in enumerate(x_test[:8]):
        files.append(str(tmp_path / f"{i}.png"))
        assert cv2.imwrite(files[-1], image[:, :, ::-1])  # RGB stored as OpenCV's BGR
    out = tmp_path / "out.json"
    code = predict.main(["--model", path, "--top", "10", "--json", str(out), *files])
    assert code == 0, capsys.readouterr().err
    with open(out) as f:
        results = json.load(f)["predictions"]
    for result, expected in zip(results, probs[:8]):
        got = dict(result["top"])
        np.testing.assert_allclose([got[name] for name in names], expected, atol=1e-5)


def test_evaluate_scores_a_model_trained_in_the_other_layout(saved, cifar_dir, tmp_path,
                                                             capsys):
    path, _, _, y_test, probs, _ = saved
    out = tmp_path / "eval"
    code = train_cifar10.main(["--data", cifar_dir, "--evaluate", path, "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    with open(out / "minigooglenet_cifar10_eval.json") as f:
        result = json.load(f)
    assert result["n"] == len(y_test)
    assert result["rank1"] == pytest.approx(np.mean(probs.argmax(axis=1) == y_test))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="exporting runs on TensorFlow")
def test_export_takes_a_model_trained_in_the_other_layout(saved, cifar_dir, tmp_path, capsys):
    path, _, x_test, _, probs, _ = saved
    onnx = str(tmp_path / "mini.onnx")
    code = export.main([path, "--format", "onnx", "--data", cifar_dir, "--output", onnx])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    with open(f"{onnx}.json") as f:
        info = json.load(f)
    assert info["layout"] == keras.config.image_data_format() and info["check"]["passed"]
    np.testing.assert_allclose(open_model(onnx).predict(x_test), probs, atol=1e-4)
    assert os.path.getsize(onnx) > 0
