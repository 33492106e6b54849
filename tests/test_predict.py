import json
import math
import os
import re
import shutil
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
from tiny_data import write_damaged_jpeg

from pyimagesearch import predict
from pyimagesearch.datasets.imagefolder import decode_cropped
from pyimagesearch.errors import UserError
from pyimagesearch.io.checkpoints import save_model
from pyimagesearch.nn.conv.deepergooglenet import DeeperGoogLeNet
from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
from pyimagesearch.preprocessing import with_preprocessing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck"]
# As Tiny ImageNet's words.txt names them: synonyms after commas (printed: the first only).
TINY = ["goldfish, Carassius auratus", "European fire salamander, Salamandra salamandra",
        "bullfrog, Rana catesbeiana", "tailed frog, bell toad, ribbed toad", "alligator"]
TINY_SHOWN = ["goldfish", "European fire salamander", "bullfrog", "tailed frog", "alligator"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five images of other sizes than the models' (one grayscale), two of them nested,
    and a text file that is no image."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    os.makedirs(root / "sub" / "deeper")
    files = {"a.png": (40, 50, 3), "b.jpg": (100, 100, 3), "sub/c.jpg": (70, 30),
             "sub/deeper/d.png": (32, 32, 3), "sub/deeper/e.JPEG": (64, 64, 3)}
    for i, (name, shape) in enumerate(files.items()):
        image = np.clip(rng.normal(60 + 35 * i, 40, shape), 0, 255).astype(np.uint8)
        assert cv2.imwrite(str(root / name), image)
    (root / "sub" / "notes.txt").write_text("not an image")
    return root, sorted(str(root / name) for name in files)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """MiniGoogLeNet as train_cifar10.py saves it."""
    folder = tmp_path_factory.mktemp("mini")
    model = with_preprocessing(MiniGoogLeNet.build(32, 32, 3, 10), np.full((32, 32, 3), 120.0))
    save_model(model, str(folder / "model.keras"), {"class_names": CIFAR})
    return str(folder / "model.keras"), model


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small model saved as the scripts save theirs, and as a plain .keras: it loads in a
    moment on every backend, so the tests of everything but the networks use it."""
    folder = tmp_path_factory.mktemp("small")
    model = _small_model(10)
    save_model(model, str(folder / "model.keras"), {"class_names": CIFAR})
    os.makedirs(folder / "run" / "checkpoints")
    plain = str(folder / "run" / "plain.keras")
    model.save(plain)
    return str(folder / "model.keras"), plain, model


@pytest.fixture(scope="module")
def deeper(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("deeper") / "deepergooglenet.keras")
    model = with_preprocessing(DeeperGoogLeNet.build(64, 64, 3, len(TINY)), [120, 115, 100])
    save_model(model, path, {"class_names": TINY})
    return path, model


def _run(capsys, *argv):
    code = predict.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys, *argv) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    err = err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def _parse(out: str) -> list[tuple[str, list[tuple[str, float]]]]:
    """`path: name 0.1234; name 0.0123` lines => [(path, [(name, prob), ...])]."""
    parsed = []
    for line in out.splitlines():
        path, _, rest = line.rpartition(": ")
        pairs = [re.fullmatch(r"(.+) (\d\.\d{4})", item).groups() for item in rest.split("; ")]
        parsed.append((path, [(name, float(p)) for name, p in pairs]))
    return parsed


def _expected(model, paths, names, top=5):
    """What model.predict says of `paths` decoded like the training data, ranked."""
    channels_first = keras.config.image_data_format() == "channels_first"
    height, width = model.input_shape[2:4] if channels_first else model.input_shape[1:3]
    x = np.stack([decode_cropped(p, size=(width, height)) for p in paths])
    probs = model.predict(x.transpose(0, 3, 1, 2) if channels_first else x, verbose=0)
    ranked = [sorted(range(len(names)), key=lambda i: (-row[i], i))[:top] for row in probs]
    return [(p, [(names[i], float(row[i])) for i in order])
            for p, row, order in zip(paths, probs, ranked)]


def _assert_same(got, expected):
    """The same paths, classes in the same order, probabilities to 4 decimals."""
    assert [(p, [n for n, _ in top]) for p, top in got] == \
        [(p, [n for n, _ in top]) for p, top in expected]
    for (_, top), (_, want) in zip(got, expected):
        assert [p for _, p in top] == pytest.approx([p for _, p in want], abs=5.1e-5)


@pytest.mark.parametrize("network, names", [("mini", CIFAR), ("deeper", TINY_SHOWN)])
def test_prints_the_models_top5_for_images_of_any_size(network, names, images, request,
                                                       capsys):
    saved = request.getfixturevalue(network)
    path, model = saved[0], saved[-1]
    _, files = images
    code, out, err = _run(capsys, "--model", path, *files)
    assert code == 0 and err == ""
    got = _parse(out)
    _assert_same(got, _expected(model, files, names))
    for _, top in got:
        probs = [p for _, p in top]
        # Five probabilities rounded to 4 decimals: their sum is off by up to 5 x 0.00005.
        assert len(top) == 5 and probs == sorted(probs, reverse=True)
        assert 0 < sum(probs) <= 1.00025 + 1e-9


def test_folders_are_searched_recursively(small, images, capsys):
    root, files = images
    code, out, _ = _run(capsys, "--model", small[0], root)
    assert code == 0
    assert [p for p, _ in _parse(out)] == files  # sorted, nested ones too, notes.txt left out
    # Files and folders mixed: in the order given.
    code, out, _ = _run(capsys, "--model", small[0], files[1], root / "sub" / "deeper",
                        files[0])
    assert [p for p, _ in _parse(out)] == [files[1], *files[3:], files[0]]


def test_images_go_through_the_model_in_batches(small, images, capsys, monkeypatch):
    _, files = images
    _, whole, _ = _run(capsys, "--model", small[0], *files)
    batches = []
    real = keras.Model.predict_on_batch

    def counting(model, x):
        batches.append(x.shape)
        return real(model, x)

    monkeypatch.setattr(keras.Model, "predict_on_batch", counting)
    monkeypatch.setattr(keras.Model, "predict", lambda *a, **k: pytest.fail("one call an image"))
    code, out, _ = _run(capsys, "--model", small[0], "--batch-size", "2", *files)
    assert code == 0
    assert batches == [(2, 32, 32, 3), (2, 32, 32, 3), (1, 32, 32, 3)]
    assert len(batches) == math.ceil(len(files) / 2)
    _assert_same(_parse(out), _parse(whole))


def test_class_names_come_from_the_flag_the_model_the_run_or_indices(small, images, tmp_path,
                                                                     capsys):
    saved, plain, _ = small
    listed = tmp_path / "names.txt"
    listed.write_text("".join(f"thing {i}\n" for i in range(10)) + "\n")
    code, out, _ = _run(capsys, "--model", saved, "--class-names", listed, "--top", "10",
                        images[1][0])
    assert code == 0
    assert sorted(name for name, _ in _parse(out)[0][1]) == [f"thing {i}" for i in range(10)]

    assert predict.class_names(saved, 10) == CIFAR
    assert predict.class_names(plain, 10) == [f"class {i}" for i in range(10)]  # nothing saved
    # A plain .keras or a checkpoint of a run: the names in the run's _args.json.
    run = os.path.dirname(plain)
    settings = os.path.join(run, "plain_args.json")
    with open(settings, "w") as f:
        json.dump({"args": {"epochs": 3}, "class_names": [f"run {i}" for i in range(10)]}, f)
    checkpoint = os.path.join(run, "checkpoints", "plain_epoch_003.keras")
    shutil.copy(plain, checkpoint)
    try:
        assert predict.class_names(plain, 10) == [f"run {i}" for i in range(10)]
        assert predict.class_names(checkpoint, 10) == [f"run {i}" for i in range(10)]
        assert predict.class_names(saved, 10) == CIFAR  # the model's own names come first
        assert predict.class_names(checkpoint, 10, str(listed))[0] == "thing 0"
        with pytest.raises(UserError, match="plain_args.json gives 10 class names, but the "
                                            "model has 7 classes"):
            predict.class_names(checkpoint, 7)
    finally:
        os.remove(settings)
        os.remove(checkpoint)


def test_top(small, images, capsys):
    image = images[1][0]
    assert [len(top) for _, top in _parse(_run(capsys, "--model", small[0], "--top", "2",
                                                    image)[1])] == [2]
    # At most every class, highest first.
    top = _parse(_run(capsys, "--model", small[0], "--top", "50", image)[1])[0][1]
    assert sorted(n for n, _ in top) == sorted(CIFAR)
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_ties_go_to_the_lower_class_index():
    probs = np.array([[0.2, 0.4, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]], dtype="float32")
    assert predict.top_classes(probs, list("abcd"), 3) == [
        [("b", pytest.approx(0.4)), ("a", pytest.approx(0.2)), ("c", pytest.approx(0.2))],
        [("a", 0.25), ("b", 0.25), ("c", 0.25)]]


def test_json_holds_every_result(small, images, tmp_path, capsys):
    _, files = images
    out_json = tmp_path / "results" / "predictions.json"
    code, out, _ = _run(capsys, "--model", small[0], "--top", "3", "--json", out_json, *files)
    assert code == 0
    with open(out_json) as f:
        saved = json.load(f)
    assert saved["model"] == small[0]
    assert [p["path"] for p in saved["predictions"]] == files
    assert all(len(p["top"]) == 3 for p in saved["predictions"])
    printed = _parse(out)
    for (_, top), entry in zip(printed, saved["predictions"]):
        assert [name for name, _ in top] == [name for name, _ in entry["top"]]
        assert [p for _, p in top] == [round(p, 4) for _, p in entry["top"]]
    assert os.listdir(out_json.parent) == ["predictions.json"]  # no temporary file left


def test_user_errors_are_one_line_and_exit_2(small, images, tmp_path, capsys):
    model = small[0]
    image = images[1][0]
    missing = tmp_path / "missing.keras"
    assert f"--model {missing} does not exist" in _error(capsys, "--model", missing, image)
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("hello")
    err = _error(capsys, "--model", not_a_model, image)
    assert f"--model {not_a_model} is damaged or not a .keras file" in err
    assert "--resume" not in err
    assert f"{tmp_path / 'nope.png'} does not exist" in _error(capsys, "--model", model, image,
                                                              tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    err = _error(capsys, "--model", model, image, bad)
    assert str(bad) in err and "not an image" in err and "--skip-bad" in err
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nbird\n")
    err = _error(capsys, "--model", model, "--class-names", names, image)
    assert str(names) in err and "3 class names" in err and "10 classes" in err
    empty = tmp_path / "empty"
    os.makedirs(empty / "sub")
    (empty / "sub" / "readme.txt").write_text("no images here")
    assert "no images" in _error(capsys, "--model", model, empty)


@pytest.mark.parametrize("flag", [["--top", "0"], ["--batch-size", "-1"], ["--workers", "x"]])
def test_bad_flags_exit_2_in_one_line(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--model", "m.keras", *flag, "a.png"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and flag[0] in err


def test_help_from_the_shell_is_fast_and_lists_the_flags():
    result = subprocess.run([sys.executable, "-m", "pyimagesearch.predict", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--model", "--class-names", "--top", "--batch-size", "--skip-bad", "--json"):
        assert flag in result.stdout
    assert "(default: 5)" in result.stdout and "(default: 64)" in result.stdout
    assert result.stderr == ""


@pytest.mark.slow
def test_prediction_from_the_shell(images, tmp_path):
    # A small model, so that a fresh process loads it in seconds on every backend.
    inputs = keras.Input((16, 16, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(x))
    model = keras.Model(inputs, keras.layers.Dense(len(TINY), activation="softmax")(x))
    path = str(tmp_path / "small.keras")
    save_model(model, path, {"class_names": TINY})
    root, files = images
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-m", "pyimagesearch.predict", "--model", path,
                             "--top", "3", root], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(files)
    item = "(" + "|".join(TINY_SHOWN) + r") [01]\.\d{4}"
    for line, file in zip(lines, files):
        assert re.fullmatch(rf"{re.escape(file)}: {item}; {item}; {item}", line), line
    _assert_same(_parse(result.stdout), _expected(model, files, TINY_SHOWN, top=3))

    # Piped into `head`: the reader leaves after one line, and the run ends quietly.
    piped = subprocess.run(f"{sys.executable} -m pyimagesearch.predict --model {path} "
                           f"--batch-size 1 {root} | head -1", shell=True, capture_output=True,
                           text=True, env=env, timeout=300)
    assert len(piped.stdout.splitlines()) == 1 and "Traceback" not in piped.stderr


def _small_model(classes, size=32):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    network = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    return with_preprocessing(network, np.full(3, 120.0))


def test_full_names_in_json_and_when_first_synonyms_clash(images, tmp_path, capsys):
    path = str(tmp_path / "tiny.keras")
    save_model(_small_model(len(TINY)), path, {"class_names": TINY})
    _, files = images
    out_json = tmp_path / "p.json"
    code, out, _ = _run(capsys, "--model", path, "--json", out_json, files[0])
    assert code == 0
    with open(out_json) as f:
        top = json.load(f)["predictions"][0]["top"]
    assert {name for name, _ in top} == set(TINY)
    assert {name for name, _ in _parse(out)[0][1]} == set(TINY_SHOWN)
    # Two classes whose first synonyms are the same ("crane" the bird and the machine).
    clash = tmp_path / "names.txt"
    clash.write_text("crane, bird\ncrane, machine\ngoldfish\nbullfrog\nalligator\n")
    code, out, _ = _run(capsys, "--model", path, "--class-names", clash, files[0])
    shown = {name for name, _ in _parse(out)[0][1]}
    assert code == 0 and {"crane, bird", "crane, machine"} <= shown


def test_channels_first_models_get_their_layout(images, tmp_path, capsys):
    """Keras set to channels_first: a (3, 20, 30) model gets 30-wide, 20-high images as NCHW."""
    layout = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        inputs = keras.Input((3, 20, 30))
        x = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
        x = keras.layers.Dense(len(CIFAR), activation="softmax")(keras.layers.Flatten()(x))
        model = keras.Model(inputs, x)
        path = str(tmp_path / "cf.keras")
        save_model(model, path, {"class_names": CIFAR})
        _, files = images
        code, out, _ = _run(capsys, "--model", path, *files)
        expected = _expected(model, files, CIFAR)
    finally:
        keras.config.set_image_data_format(layout)
    assert code == 0
    _assert_same(_parse(out), expected)


@pytest.fixture
def mixed(images, tmp_path):
    """The five good images, and three bad files in other batches of 2: a text file named
    .png, a JPEG cut short and one whose scan data is damaged (which OpenCV decoded into
    garbage, with a libjpeg warning on stderr, before)."""
    _, files = images
    folder = tmp_path / "mixed"
    shutil.copytree(os.path.dirname(files[0]), folder)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    with open(files[1], "rb") as f:  # b.jpg, cut short
        (folder / "sub" / "truncated.jpg").write_bytes(f.read()[:500])
    damaged = write_damaged_jpeg(str(folder / "sub" / "deeper" / "damaged.jpg"), seed=3,
                                 shape=(90, 120, 3))
    assert cv2.imread(damaged) is not None  # the old decoder took it
    bad = [str(folder / "broken.png"), str(folder / "sub" / "truncated.jpg"), damaged]
    return folder, bad


def _stderr_lines(capfd):
    """What the process wrote on its stderr (file descriptor 2, where libjpeg writes its
    warnings), less TensorFlow's own log lines; and its stdout."""
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if not re.match(r"[IWE]\d{4} ", line)]
    return out, lines


def test_every_bad_file_is_named_before_anything_is_printed(small, mixed, capfd):
    folder, bad = mixed
    capfd.readouterr()
    code = predict.main(["--model", small[0], "--batch-size", "2", str(folder)])
    out, lines = _stderr_lines(capfd)
    assert code == 2 and out == ""
    assert len(lines) == 1  # one line: no libjpeg warning besides
    err = lines[0]
    assert err.startswith("error: 3 of the 8 files cannot be read as images [")
    for path in bad:
        assert path in err
    assert "truncated JPEG" in err and "damaged JPEG (Corrupt JPEG data" in err
    assert "not an image" in err and "--skip-bad" in err


def test_skip_bad_skips_and_counts_damaged_files_too(small, images, mixed, capfd):
    folder, bad = mixed
    _, files = images
    capfd.readouterr()
    code = predict.main(["--model", small[0], "--skip-bad", "--batch-size", "2", str(folder)])
    out, lines = _stderr_lines(capfd)
    assert code == 0
    assert sorted(os.path.basename(p) for p, _ in _parse(out)) == \
        sorted(os.path.basename(p) for p in files)
    assert sorted(line.split(": ")[0] for line in lines[:3]) == \
        sorted(f"skipping {path}" for path in bad)
    assert any("truncated.jpg" in line and "truncated JPEG" in line for line in lines[:3])
    assert lines[3:] == ["skipped 3 of 8 files (unreadable or not images)"]


def test_many_bad_files_name_the_first_ten(small, images, tmp_path, capsys):
    for i in range(12):
        (tmp_path / f"bad_{i:02d}.png").write_text("not a picture")
    err = _error(capsys, "--model", small[0], images[1][0], tmp_path)
    assert err.startswith("error: 12 of the 13 files cannot be read as images [")
    assert all(f"bad_{i:02d}.png" in err for i in range(10))
    assert "bad_10.png" not in err and "and 2 more, which --skip-bad names" in err


def test_many_images_are_decoded_again_rather_than_kept(small, images, capsys, monkeypatch):
    """Past KEEP_DECODED_BYTES, the check decodes every file and the predictions decode
    them again: the same results."""
    _, files = images
    _, kept, _ = _run(capsys, "--model", small[0], "--batch-size", "2", *files)
    decoded = []
    real = predict._decode
    monkeypatch.setattr(predict, "_decode", lambda path, size: decoded.append(path) or
                        real(path, size))
    monkeypatch.setattr(predict, "KEEP_DECODED_BYTES", 5 * 32 * 32 * 3 - 1)
    code, again, _ = _run(capsys, "--model", small[0], "--batch-size", "2", *files)
    assert code == 0 and again == kept
    assert sorted(decoded) == sorted(files * 2)
    decoded.clear()
    monkeypatch.setattr(predict, "KEEP_DECODED_BYTES", 5 * 32 * 32 * 3)
    assert _run(capsys, "--model", small[0], "--batch-size", "2", *files)[1] == kept
    assert sorted(decoded) == sorted(files)
