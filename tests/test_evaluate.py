"""One evaluation path for both scripts: rank-1/rank-5, the report and the confusion matrix,
on channels_last and channels_first."""

import json
import os

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

import train_cifar10
from pyimagesearch.evaluation.metrics import rank_k_accuracy
from pyimagesearch.io import ArrayBatches
from pyimagesearch.io.checkpoints import save_model
from pyimagesearch.preprocessing import with_preprocessing
from pyimagesearch.io.runfiles import RunPaths
from pyimagesearch.training import engine

NAMES = [f"class {i}" for i in range(10)]


def _model(mean_image):
    """A small trained-looking model of 32x32 RGB images into 10 classes, in Keras's layout."""
    shape = (3, 32, 32) if keras.config.image_data_format() == "channels_first" else (32, 32, 3)
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(inputs)
    x = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    network = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    network.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                         for w in network.get_weights()])
    return with_preprocessing(network, mean_image, name="m")


@pytest.fixture(params=["channels_last", "channels_first"])
def layout(request):
    before = keras.config.image_data_format()
    keras.config.set_image_data_format(request.param)
    yield request.param
    keras.config.set_image_data_format(before)


def _expected(model, images, labels, flip_tta=False):
    x = images.transpose(0, 3, 1, 2) if keras.config.image_data_format() == "channels_first" \
        else images
    probs = model.predict(x, verbose=0)
    if flip_tta:  # the mean of the image's and its mirror image's probabilities
        width = 2 if keras.config.image_data_format() == "channels_last" else 3
        probs = (probs + model.predict(np.flip(x, axis=width), verbose=0)) / 2
    order = np.argsort(-probs, axis=1, kind="stable")
    return float(np.mean(order[:, 0] == labels)), probs


def test_a_saved_model_is_scored_and_reported(layout, tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)  # stored as (N, H, W, C)
    labels = rng.integers(0, 10, 60)
    model = _model(images.mean(axis=0))
    path = str(tmp_path / "m.keras")
    save_model(model, path, {"class_names": NAMES})
    paths = RunPaths(str(tmp_path / "out"), "m")
    os.makedirs(paths.output)
    data = ArrayBatches(images, labels, 16, shuffle=False)
    result = engine.evaluate_saved(path, data, NAMES, paths)
    rank1, probs = _expected(model, images, labels)
    assert result["rank1"] == pytest.approx(rank1) and result["n"] == 60
    assert 0 <= result["rank1"] <= result["rank5"] <= 1
    with open(paths.file("_eval.json")) as f:
        written = json.load(f)
    assert {k: written.pop(k) for k in ("class_names", "confusion")} == {
        "class_names": NAMES,
        "confusion": confusion_matrix(labels, probs.argmax(axis=1), labels=range(10)).tolist()}
    assert written == {"rank1": result["rank1"], "rank5": result["rank5"], "n": 60,
                       "model": path, "flip_tta": result["flip_tta"]}
    assert os.path.getsize(paths.file("_misclassified.png")) > 1000
    assert not os.path.exists(paths.report)  # no run in this folder: no run report
    # The saturated softmax ties the two views' mean often: scikit-learn's order decides.
    _, tta_probs = _expected(model, images, labels, flip_tta=True)
    tta_rank1 = rank_k_accuracy(tta_probs, labels, 1)
    assert result["flip_tta"]["rank1"] == pytest.approx(tta_rank1) != pytest.approx(rank1)
    assert f"rank-1: {result['rank1']:.2%}" in open(paths.file("_report.txt")).read()
    assert os.path.getsize(paths.file("_confusion.png")) > 1000


def test_cifar10_evaluate_flag(cifar_dir, tmp_path, capsys):
    """CIFAR-10 gained --evaluate: a saved model on the test split, as Tiny ImageNet has."""
    from pyimagesearch.datasets.cifar10 import load_cifar10

    (x_train, _), (x_test, y_test), _ = load_cifar10(cifar_dir)
    model = _model(x_train.mean(axis=0))
    path = str(tmp_path / "m.keras")
    save_model(model, path, {"class_names": NAMES})
    out = tmp_path / "eval"
    assert train_cifar10.main(["--data", cifar_dir, "--evaluate", path, "--output", str(out),
                               "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    with open(out / "minigooglenet_cifar10_eval.json") as f:
        result = json.load(f)
    assert result["rank1"] == pytest.approx(_expected(model, x_test, y_test)[0])
    assert f"rank-1: {result['rank1']:.2%}" in printed
    assert (out / "minigooglenet_cifar10_confusion.png").exists()
    assert not (out / "checkpoints").exists()  # nothing trained


def test_progress_is_a_line_an_epoch_when_the_output_is_not_a_terminal(monkeypatch):
    from pyimagesearch.training.flags import verbosity

    assert train_cifar10.get_args_parser().parse_args([]).verbose == "auto"
    assert verbosity("auto") == 2  # pytest captures stdout
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert verbosity("auto") == 1
    assert train_cifar10.get_args_parser().parse_args(["--verbose", "0"]).verbose == 0
    assert verbosity(0) == 0
