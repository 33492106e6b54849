"""train_images.py on what build_hdf5.py wrote: the network by image size, its recipe,
resume, evaluation, and the commands that take a run (predict, export, report, tune)."""

import json
import os

import numpy as np
import pytest
from image_folders import write_image_folder

import build_hdf5
import train_images
from pyimagesearch.io import HDF5DatasetWriter
from pyimagesearch.training import networks

NAME = "googlenet_images"


def _json(folder, suffix):
    with open(os.path.join(folder, NAME + suffix)) as f:
        return json.load(f)


def _hdf5(folder, side, classes=3, rows=6):
    """train/val/test.hdf5 and mean.json of `side` x `side` images, quickly."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(side)
    for split in ("train", "val", "test"):
        labels = np.arange(rows) % classes
        images = rng.integers(0, 256, (rows, side, side, 3), dtype=np.uint8)
        with HDF5DatasetWriter(images.shape, os.path.join(folder, f"{split}.hdf5")) as writer:
            writer.store_class_labels([f"c{i}" for i in range(classes)])
            writer.add(images, labels)
    with open(os.path.join(folder, "mean.json"), "w") as f:
        json.dump({"R": 127.0, "G": 127.0, "B": 127.0}, f)
    return str(folder)


@pytest.fixture(scope="module")
def sizes(tmp_path_factory):
    root = tmp_path_factory.mktemp("sizes")
    return {side: _hdf5(root / str(side), side) for side in (32, 48, 64, 72, 96)}


def test_the_network_follows_the_image_size(sizes):
    chosen = {side: networks.choose(["--hdf5-dir", path], "nowhere")
              for side, path in sizes.items()}
    assert {side: network for side, (network, _) in chosen.items()} == {
        32: "minigooglenet", 48: "minigooglenet", 64: "deepergooglenet",
        72: "minigooglenet", 96: "deepergooglenet"}
    assert chosen[64][1] == "the default for 64x64 images"
    assert networks.choose(["--hdf5-dir", sizes[64], "--network", "minigooglenet"],
                           "nowhere") == ("minigooglenet", "--network")
    assert networks.choose(["--resume"], "nowhere", {"network": "deepergooglenet",
                                                     "hdf5_dir": sizes[32]})[0] == \
        "deepergooglenet"
    assert networks.choose(["--hdf5-dir=" + sizes[96], "--evaluate", "m.keras"],
                           "nowhere")[0] == "deepergooglenet"  # the test split's size
    assert networks.choose([], "nowhere") == ("minigooglenet", None)


def test_the_flags_default_to_the_networks_recipe(sizes):
    mini = train_images.get_args_parser("minigooglenet").parse_args([])
    deeper = train_images.get_args_parser("deepergooglenet").parse_args([])
    assert (mini.lr, mini.momentum, mini.reg, mini.rotation) == (1e-2, 0.9, None, 0.0)
    assert (deeper.lr, deeper.momentum, deeper.reg, deeper.rotation) == (1e-3, None, 2e-4, 18.0)


def _error(capsys, *argv):
    assert train_images.main(["--verbose", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_mistakes_are_one_sentence_before_keras(sizes, tmp_path, capsys):
    out = ["--output", str(tmp_path / "run")]
    err = _error(capsys, "--hdf5-dir", sizes[48], "--network", "deepergooglenet", *out)
    assert ("--network deepergooglenet takes images of at least 64x64 whose sides are "
            "multiples of 16, but --hdf5-dir") in err
    assert "48x48 images; pass --network minigooglenet, or rebuild them" in err
    err = _error(capsys, "--hdf5-dir", sizes[32], "--reg", "1e-4", "--momentum", "0.8", *out)
    assert ("--reg applies to deepergooglenet only, not to minigooglenet (which trains with "
            "SGD); drop it, or pass --network deepergooglenet") in err
    err = _error(capsys, "--hdf5-dir", sizes[64], "--nesterov", "--bn-before-relu", *out)
    assert ("--nesterov applies to minigooglenet only, not to deepergooglenet (which trains "
            "with Adam); drop it") in err
    err = _error(capsys, "--hdf5-dir", str(tmp_path / "none"), *out)
    assert "does not exist; build it with build_hdf5.py" in err
    assert not os.path.exists(tmp_path / "run" / f"{NAME}.keras")


def test_tune_starts_from_the_recipe_of_the_network_the_images_get(sizes):
    from pyimagesearch.tuning import space

    small = {p.name: p for p in space.build("images", "classic",
                                            script_flags=["--hdf5-dir", sizes[32]])}
    large = {p.name: p for p in space.build("images", "classic",
                                            script_flags=["--hdf5-dir", sizes[64]])}
    assert (small["lr"].default, small["regularisation"].flag) == (1e-2, "--weight-decay")
    assert (large["lr"].default, large["regularisation"].flag) == (1e-3, "--reg")
    assert space.model_name("images") == NAME
    assert os.path.exists(space.script("images"))


# --- End to end: a folder of photos to an exported model (minutes: slow) ---------------

@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_image_folder(str(tmp_path_factory.mktemp("photos")), per_class=10, side=40)


@pytest.fixture(scope="module")
def run(photos, tmp_path_factory):
    """Built at the default size (32: MiniGoogLeNet); 2 epochs, then the second again after
    its checkpoint is lost (`--resume`)."""
    hdf5 = str(tmp_path_factory.mktemp("hdf5"))
    assert build_hdf5.main(["--images", photos, "--hdf5-dir", hdf5, "--workers", "2"]) == 0
    out = str(tmp_path_factory.mktemp("run"))
    common = ["--batch-size", "8", "--verbose", "0"]
    assert train_images.main(["--hdf5-dir", hdf5, "--output", out, "--epochs", "2",
                              "--width", "0.25", "--seed", "0", *common]) == 0
    first = _json(out, "_eval.json")
    os.remove(os.path.join(out, "checkpoints", f"{NAME}_epoch_002.keras"))
    assert train_images.main(["--output", out, "--resume", *common]) == 0
    return hdf5, out, first


@pytest.mark.slow
def test_trains_resumes_and_evaluates(run):
    hdf5, out, first = run
    settings = _json(out, "_args.json")
    assert settings["args"]["network"] == "minigooglenet" and settings["initial_epoch"] == 1
    assert settings["args"]["momentum"] == 0.9 and settings["args"]["reg"] is None
    assert settings["class_names"] == ["cat", "dog", "fish"]
    history = _json(out, ".json")
    assert all(len(values) == 2 for values in history.values())
    assert history["learning_rate"] == pytest.approx([1e-2, 5e-3])
    result = _json(out, "_eval.json")
    assert result["n"] == 3 and result["class_names"] == ["cat", "dog", "fish"]
    # The resumed run trained the second epoch exactly as the first run had.
    assert result["rank1"] == pytest.approx(first["rank1"])
    for suffix in (".keras", ".png", "_confusion.png", "_report.txt"):
        assert os.path.getsize(os.path.join(out, NAME + suffix)) > 0
    assert os.path.getsize(os.path.join(out, "report.html")) > 0


@pytest.mark.slow
def test_evaluate_predict_report_and_export_take_the_run(run, photos, tmp_path, capsys):
    from pyimagesearch import export, predict, report

    hdf5, out, _ = run
    model = os.path.join(out, NAME + ".keras")
    assert train_images.main(["--hdf5-dir", hdf5, "--output", str(tmp_path / "e"),
                              "--evaluate", model, "--verbose", "0"]) == 0
    assert _json(str(tmp_path / "e"), "_eval.json")["rank1"] == \
        pytest.approx(_json(out, "_eval.json")["rank1"])

    assert predict.main(["--model", model, os.path.join(photos, "dog"), "--json",
                         str(tmp_path / "p.json")]) == 0
    with open(tmp_path / "p.json") as f:
        predictions = json.load(f)["predictions"]
    assert len(predictions) == 10
    assert {name for p in predictions for name, _ in p["top"]} == {"cat", "dog", "fish"}

    assert report.main([out]) == 0
    capsys.readouterr()
    import keras

    if keras.backend.backend() == "tensorflow":
        pytest.importorskip("tf2onnx")
        assert export.main([out, "--format", "onnx", "--check-images", "3"]) == 0
        with open(os.path.join(out, NAME + ".onnx.json")) as f:
            assert json.load(f)["class_names"] == ["cat", "dog", "fish"]


@pytest.mark.slow
def test_find_lr_on_64x64_images_with_deepergooglenet(sizes, tmp_path, capsys):
    assert train_images.main(["--hdf5-dir", sizes[64], "--output", str(tmp_path),
                              "--find-lr", "--find-lr-steps", "12", "--batch-size", "2",
                              "--width", "0.25", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "network: deepergooglenet (the default for 64x64 images)" in out
    assert "suggested --lr" in out
    assert sorted(os.listdir(tmp_path)) == [f"{NAME}_lr_find.json", f"{NAME}_lr_find.png"]


def test_resume_reads_the_network_of_the_saved_run(sizes, tmp_path, capsys):
    """--resume takes the network (and the data) from the saved run before any flag is
    parsed: the defaults are that network's."""
    out = tmp_path / "run"
    out.mkdir()
    saved = {"network": "deepergooglenet", "hdf5_dir": sizes[64]}
    with open(out / f"{NAME}_args.json", "w") as f:
        json.dump({"args": saved}, f)
    assert train_images._saved_settings(["--output", str(out), "--resume"]) == saved
    assert train_images._saved_settings(["--output", str(out)]) == {}
    (out / f"{NAME}_args.json").write_text("{not json")
    assert "cannot read the saved settings of the run in" in _error(
        capsys, "--output", str(out), "--resume")
