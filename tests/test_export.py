"""python -m pyimagesearch.export, and predicting with the files it writes: a small model
trained on generated CIFAR-10 is exported to every format (int8 too), checked, and run."""

import importlib.util
import json
import os
import shutil
import sys

import cv2
import keras
import numpy as np
import pytest

from cifar_data import CLASSES, write_cifar
from tiny_data import write_hdf5_set
from pyimagesearch import export, predict
from pyimagesearch.datasets.cifar10 import load_cifar10
from pyimagesearch.deploy import parity
from pyimagesearch.deploy.runtimes import open_model
from pyimagesearch.errors import UserError
from pyimagesearch.io.checkpoints import save_model
from pyimagesearch.nn.layers import BatchNormalization
from pyimagesearch.preprocessing.batch import with_preprocessing

TENSORFLOW = keras.backend.backend() == "tensorflow"
needs_tensorflow = pytest.mark.skipif(not TENSORFLOW, reason="exporting runs on TensorFlow")
NAME = "small_cifar10"


def _network(policy: str = "float32") -> keras.Model:
    """Conv => BatchNormalization (the project's fused one) => ReLU, twice, and a softmax."""
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((32, 32, 3))
        x = inputs
        for i, filters in enumerate((8, 16)):
            x = keras.layers.Conv2D(filters, 3, strides=2, name=f"conv{i}")(x)
            x = BatchNormalization(name=f"bn{i}")(x)
            x = keras.layers.Activation("relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(10, activation="softmax", dtype="float32")(x)
        return keras.Model(inputs, outputs, name="small")
    finally:
        keras.config.set_dtype_policy("float32")


def _run_folder(folder, model, data) -> str:
    """`folder` laid out as a training script leaves its run: the model and its settings."""
    os.makedirs(folder, exist_ok=True)
    save_model(model, os.path.join(folder, f"{NAME}.keras"), {"class_names": CLASSES})
    with open(os.path.join(folder, f"{NAME}_args.json"), "w") as f:
        json.dump({"args": {"data": data, "epochs": 4}, "class_names": CLASSES}, f)
    return str(folder)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Generated CIFAR-10 (500 training, 300 test images) and its arrays."""
    folder = write_cifar(str(tmp_path_factory.mktemp("cifar")), per_batch=100, test=300)
    return folder, load_cifar10(folder)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A run folder whose model learned the generated classes (confident, as a trained
    network is: int8 rounding must not flip its answers by chance)."""
    folder, ((x_train, y_train), _, _) = data
    keras.utils.set_random_seed(0)
    model = with_preprocessing(_network(), x_train.mean(axis=0), name=NAME)
    model.compile(keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=25, epochs=8, verbose=0)
    return _run_folder(tmp_path_factory.mktemp("run"), model, folder), model


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run folder, so a test's exports stay its own."""
    folder = tmp_path / "run"
    shutil.copytree(trained[0], folder)
    return str(folder)


def _export(capsys, *argv):
    code = export.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys, *argv) -> str:
    code, out, err = _export(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (code, out, err)
    return err


def _images(data, n=None):
    _, (_, (x_test, y_test), _) = data
    return x_test[:n], y_test[:n]


@needs_tensorflow
@pytest.mark.parametrize("fmt, name", [("onnx", f"{NAME}.onnx"), ("litert", f"{NAME}.tflite"),
                                       ("saved_model", f"{NAME}_saved_model")])
def test_float_exports_pass_their_check_and_predict_as_the_model(run, data, trained, fmt, name,
                                                                 capsys):
    code, out, err = _export(capsys, run, "--format", fmt)
    assert code == 0 and err == "", err
    exported = os.path.join(run, name)
    assert f"wrote {exported}" in out and "check passed: 300 held-out images" in out
    with open(f"{exported}.json") as f:
        info = json.load(f)
    check = info["check"]
    assert check["passed"] and check["images"] == 300 and check["top1_agreement"] >= 0.999
    assert check["max_probability_difference"] <= parity.MAX_PROB_DIFF
    assert info["class_names"] == CLASSES and info["trained_in"] == "float32"
    assert info["input"]["shape"] == ["batch", 32, 32, 3] and info["input"]["dtype"] == "uint8"
    assert info["output"]["shape"] == ["batch", 10]
    assert not [n for n in os.listdir(run) if n.startswith(".")]  # no temporary file left

    # The file runs outside Keras and gives the model's probabilities, uint8 in.
    x, y = _images(data)
    model = trained[1]
    expected = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    got = open_model(exported).predict(x)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert check["keras_accuracy"] == pytest.approx(100 * np.mean(expected.argmax(1) == y))
    assert check["keras_accuracy"] > 90  # it learned: a check on a trained model


@needs_tensorflow
@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("litert", ".tflite")])
def test_int8_exports_are_smaller_and_lose_at_most_a_point(run, data, trained, fmt, suffix,
                                                           capsys):
    code, out, err = _export(capsys, run, "--format", fmt, "--int8", "--calibration-images",
                             "100")
    assert code == 0 and err == "", err
    exported = os.path.join(run, f"{NAME}_int8{suffix}")
    with open(f"{exported}.json") as f:
        info = json.load(f)
    check = info["check"]
    assert info["computes_in"] == "int8" and info["calibration_images"] == 100
    assert check["passed"] and check["keras_accuracy"] - check["accuracy"] <= 1.0
    # Weights in 8 bits: well under half the float file (conv kernels dominate).
    float_bytes = sum(int(np.prod(w.shape)) * 4 for w in trained[1].weights)
    assert os.path.getsize(exported) < 0.6 * float_bytes + 40_000
    x, y = _images(data)
    probs = open_model(exported).predict(x)
    assert 100 * np.mean(probs.argmax(1) == y) == pytest.approx(check["accuracy"])
    assert np.allclose(probs.sum(axis=1), 1, atol=0.05)  # still probabilities


@needs_tensorflow
def test_predict_takes_the_exported_files(run, data, tmp_path, capsys):
    x, y = _images(data, 4)
    files = []
    for i, image in enumerate(x):
        files.append(str(tmp_path / f"{i}.png"))
        assert cv2.imwrite(files[-1], image[:, :, ::-1])
    lines = {}
    for fmt in ("onnx", "litert"):
        assert _export(capsys, run, "--format", fmt)[0] == 0
    for model in (f"{NAME}.keras", f"{NAME}.onnx", f"{NAME}.tflite"):
        code = predict.main(["--model", os.path.join(run, model), "--top", "1", *files])
        out, err = capsys.readouterr()
        assert code == 0 and err == ""
        lines[model] = out.splitlines()
    # The same best class, named from the JSON beside the file, with the same probability.
    assert lines[f"{NAME}.onnx"] == lines[f"{NAME}.keras"] == lines[f"{NAME}.tflite"]
    assert [line.split(": ")[1].split()[0] for line in lines[f"{NAME}.keras"]] == \
        [CLASSES[label] for label in y]


@needs_tensorflow
def test_a_model_trained_in_bf16_is_exported_in_float32(data, tmp_path, capsys):
    folder, ((x_train, y_train), _, _) = data
    keras.utils.set_random_seed(1)
    model = with_preprocessing(_network("mixed_bfloat16"), x_train.mean(axis=0), name=NAME)
    run = _run_folder(tmp_path / "bf16", model, folder)
    code, out, err = _export(capsys, run, "--format", "onnx", "--check-images", "50")
    assert code == 0, err
    with open(os.path.join(run, f"{NAME}.onnx.json")) as f:
        info = json.load(f)
    assert (info["trained_in"], info["computes_in"]) == ("bf16", "float32")
    assert info["check"]["passed"] and info["check"]["images"] == 50
    import onnx

    graph = onnx.load(os.path.join(run, f"{NAME}.onnx")).graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == \
        ["probabilities"]
    assert not any(t.data_type == onnx.TensorProto.BFLOAT16 for t in graph.initializer)


@needs_tensorflow
def test_a_failed_check_is_an_error_and_writes_nothing(run, monkeypatch, capsys):
    monkeypatch.setattr(parity, "MAX_PROB_DIFF", -1.0)  # nothing can pass
    before = sorted(os.listdir(run))
    code, out, err = _export(capsys, run, "--format", "onnx")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert out.startswith("exporting ") and "check passed" not in out
    assert "fails its check" in err and "300 held-out images" in err
    assert "nothing was written" in err
    assert sorted(os.listdir(run)) == before


def test_a_backend_other_than_tensorflow_is_refused(run, capsys):
    if TENSORFLOW:
        pytest.skip("this checks the message of a JAX or PyTorch session")
    err = _error(capsys, run, "--format", "onnx")
    assert "KERAS_BACKEND=tensorflow" in err


def test_user_errors_are_one_line(run, data, tmp_path, capsys):
    assert "--int8 applies to onnx and litert" in _error(capsys, run, "--format",
                                                         "saved_model", "--int8")
    assert "does not exist" in _error(capsys, tmp_path / "nothing", "--format", "onnx")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no training run" in _error(capsys, empty, "--format", "onnx")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(os.path.join(run, f"{NAME}_args.json"), unfinished)
    assert "has no final model" in _error(capsys, unfinished, "--format", "onnx")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(os.path.join(run, f"{NAME}.keras"), bare)
    assert "pass --data" in _error(capsys, bare / f"{NAME}.keras", "--format", "onnx")
    assert "--data /no/such does not exist" in _error(capsys, run, "--format", "onnx", "--data",
                                                      "/no/such")
    assert "must end with .tflite" in _error(capsys, run, "--format", "litert", "--output",
                                             tmp_path / "model.onnx")
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(b"PK\x03\x04 not really")
    assert "is damaged or not a .keras file" in _error(capsys, damaged, "--format", "onnx",
                                                       "--data", data[0])


def test_the_data_are_the_runs_own_unless_given(tmp_path):
    hdf5 = write_hdf5_set(str(tmp_path / "hdf5"))
    assert export.data_source({"args": {"hdf5_dir": hdf5}}, None) == ("tinyimagenet", hdf5)
    assert export.data_source({"args": {"data": str(tmp_path)}}, None) == ("cifar10",
                                                                           str(tmp_path))
    # A CIFAR-10 run without --data had the download (Keras's cache): so does its export.
    assert export.data_source({"args": {"data": None}}, None) == ("cifar10", None)
    assert export.data_source({"args": {"data": None}}, hdf5) == ("tinyimagenet", hdf5)
    with pytest.raises(UserError, match="pass --data"):
        export.data_source({}, None)


def test_a_missing_dependency_names_the_pip_command(run, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    err = _error(capsys, run, "--format", "onnx")
    assert "needs onnxruntime" in err and "pip install -r requirements-export.txt" in err


def test_predict_without_the_runtime_names_the_pip_command(tmp_path, monkeypatch, capsys):
    image = tmp_path / "a.png"
    assert cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    code = predict.main(["--model", str(model), str(image)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "needs ONNX Runtime; pip install -r requirements-export.txt" in err


@needs_tensorflow
def test_a_tiny_imagenet_run_is_checked_on_its_hdf5_test_split(tmp_path, capsys):
    """The data of a Tiny ImageNet run: its --hdf5-dir's test.hdf5, train.hdf5 to calibrate."""
    hdf5 = write_hdf5_set(str(tmp_path / "hdf5"), classes=4, per_split=(10, 3, 6))
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(4, 3, strides=4)(inputs)
    x = BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    network = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    run = tmp_path / "run"
    run.mkdir()
    name = "deepergooglenet_tinyimagenet"
    save_model(with_preprocessing(network, [120.0, 110.0, 100.0]), str(run / f"{name}.keras"))
    with open(run / f"{name}_args.json", "w") as f:
        json.dump({"args": {"hdf5_dir": hdf5}, "class_names": ["a", "b", "c", "d"]}, f)
    code, out, err = _export(capsys, run, "--format", "litert", "--int8",
                             "--calibration-images", "8")
    assert code == 0, err
    with open(run / f"{name}_int8.tflite.json") as f:
        info = json.load(f)
    assert info["check"]["images"] == 24 and info["calibration_images"] == 8
    assert info["class_names"] == ["a", "b", "c", "d"]
    assert info["input"]["shape"] == ["batch", 64, 64, 3]
    # Another copy of the data, given with --data.
    assert "check passed: 5 held-out images" in _export(
        capsys, run, "--format", "onnx", "--data", hdf5, "--check-images", "5")[1]


@needs_tensorflow
def test_data_of_another_image_size_is_refused(run, tmp_path, capsys):
    tiny = write_hdf5_set(str(tmp_path / "tiny"))
    assert f"the model takes 32x32 images but {tiny} holds 64x64" in _error(
        capsys, run, "--format", "onnx", "--data", tiny)


def _onnx_model(path, dtype, shape):
    """A foreign ONNX model: the identity of one input."""
    import onnx
    from onnx import helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "foreign",
                              [value("x", dtype, shape)], [value("y", dtype, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@needs_tensorflow
def test_damaged_or_foreign_files_get_one_sentence(run, data, tmp_path, capsys):
    import onnx

    assert _export(capsys, run, "--format", "litert")[0] == 0
    image = tmp_path / "a.png"
    assert cv2.imwrite(str(image), _images(data, 1)[0][0])
    cut = tmp_path / "cut.tflite"
    with open(os.path.join(run, f"{NAME}.tflite"), "rb") as f:
        cut.write_bytes(f.read()[:2000])
    text_onnx = tmp_path / "notes.onnx"
    text_onnx.write_text("not a model")
    floats = tmp_path / "floats.onnx"
    _onnx_model(str(floats), onnx.TensorProto.FLOAT, ["n", 32, 32, 3])
    vector = tmp_path / "vector.onnx"
    _onnx_model(str(vector), onnx.TensorProto.UINT8, ["n", 10])
    other = tmp_path / "model.pt"
    other.write_bytes(b"\x00" * 64)
    cases = {cut: "is damaged or not a LiteRT model", text_onnx: "is damaged or not an ONNX model",
             floats: "takes float inputs of shape (32, 32, 3), not batches of fixed-size uint8 "
                     "RGB images",
             vector: "takes uint8 inputs of shape None",
             other: "is neither .keras, .onnx nor .tflite"}
    for path, message in cases.items():
        code = predict.main(["--model", str(path), str(image)])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert f"--model {path} {message}" in err
        with pytest.raises(UserError, match="pyimagesearch.export"):
            open_model(str(path))
