import csv
import json
import os
import shutil

import pytest
from tiny_data import write_hdf5_set

import train_tinyimagenet

NAME = "deepergooglenet_tinyimagenet"
pytestmark = pytest.mark.slow


def _main(*argv):
    return train_tinyimagenet.main(["--batch-size", "16", "--verbose", "0", *argv])


def _json(folder, suffix):
    with open(os.path.join(folder, NAME + suffix)) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def hdf5_dir(tmp_path_factory):
    return write_hdf5_set(str(tmp_path_factory.mktemp("hdf5")), classes=5)


@pytest.fixture(scope="module")
def run(hdf5_dir, tmp_path_factory):
    """1 epoch of 3; then stopped, and resumed with --lr 5e-4 for the last 2."""
    out = str(tmp_path_factory.mktemp("run"))
    assert _main("--hdf5-dir", hdf5_dir, "--output", out, "--epochs", "3", "--seed", "0") == 0
    # Pretend the first run was stopped after epoch 1: drop what epochs 2 and 3 wrote.
    for epoch in (2, 3):
        os.remove(os.path.join(out, "checkpoints", f"{NAME}_epoch_00{epoch}.keras"))
    assert _main("--output", out, "--resume", "--epochs", "3", "--lr", "5e-4") == 0
    return out


def test_outputs_and_evaluation(run):
    for suffix in (".keras", ".json", ".png", "_eval.json", "_args.json", "_confusion.png"):
        assert os.path.getsize(os.path.join(run, NAME + suffix)) > 0
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == [
        f"{NAME}_epoch_00{e}.keras" for e in (1, 2, 3)]
    result = _json(run, "_eval.json")
    assert result["n"] == 25 and 0 <= result["rank1"] <= result["rank5"] <= 1


def test_resume_with_a_new_lr_carries_history_on(run):
    history = _json(run, ".json")
    assert all(len(values) == 3 for values in history.values())
    # 1e-3 for epoch 1; restart at 5e-4 decaying to 0 at epoch 3: 5e-4, then 2.5e-4.
    assert history["learning_rate"] == pytest.approx([1e-3, 5e-4, 2.5e-4], rel=1e-5)
    # The CSV log was cut back to epoch 1 on resume and carried on: one row an epoch.
    with open(os.path.join(run, f"{NAME}_log.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx(history["learning_rate"])
    assert [float(r["val_loss"]) for r in rows] == pytest.approx(history["val_loss"])
    settings = _json(run, "_args.json")
    assert settings["args"]["lr"] == 1e-3
    assert settings["args"]["lr_restarts"] == {"1": 5e-4}
    assert settings["args"]["seed"] == 0 and settings["initial_epoch"] == 1


def test_evaluate_a_saved_model(run, hdf5_dir, tmp_path, capsys):
    model = os.path.join(run, NAME + ".keras")
    assert _main("--hdf5-dir", hdf5_dir, "--output", str(tmp_path), "--evaluate", model) == 0
    assert "rank-1" in capsys.readouterr().out
    assert os.path.getsize(tmp_path / f"{NAME}_confusion.png") > 0
    result, original = _json(str(tmp_path), "_eval.json"), _json(run, "_eval.json")
    assert result["rank1"] == pytest.approx(original["rank1"])
    assert result["rank5"] == pytest.approx(original["rank5"])


def _error(capsys, *argv):
    assert _main(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_checkpoint_of_other_classes_is_refused(run, tmp_path, capsys):
    other = write_hdf5_set(str(tmp_path / "other"), classes=3, per_split=(4, 2, 2))
    out = tmp_path / "run"
    shutil.copytree(run, out)
    err = _error(capsys, "--hdf5-dir", other, "--output", str(out), "--resume", "--epochs", "4")
    assert "5 classes" in err and "3 classes" in err
    model = os.path.join(run, NAME + ".keras")
    assert "3 classes" in _error(capsys, "--hdf5-dir", other, "--output", str(tmp_path / "e"),
                                 "--evaluate", model)


def test_missing_or_broken_data(hdf5_dir, tmp_path, capsys):
    out = ["--output", str(tmp_path / "out")]
    assert "does not exist" in _error(capsys, "--hdf5-dir", str(tmp_path / "none"), *out)
    broken = tmp_path / "broken"
    shutil.copytree(hdf5_dir, broken)
    with open(broken / "val.hdf5", "r+b") as f:
        f.truncate(os.path.getsize(broken / "val.hdf5") // 3)
    assert "val.hdf5" in _error(capsys, "--hdf5-dir", str(broken), *out)
    shutil.copy(os.path.join(hdf5_dir, "val.hdf5"), broken / "val.hdf5")
    os.remove(broken / "mean.json")
    assert "mean.json is missing" in _error(capsys, "--hdf5-dir", str(broken), *out)
    assert "not written" not in _error(capsys, "--hdf5-dir", hdf5_dir, "--output",
                                       str(tmp_path / "none"), "--resume")


def test_find_lr(hdf5_dir, tmp_path, capsys):
    assert _main("--hdf5-dir", hdf5_dir, "--output", str(tmp_path), "--find-lr",
                 "--find-lr-steps", "12") == 0
    assert "suggested --lr" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == [f"{NAME}_lr_find.json", f"{NAME}_lr_find.png"]
    result = _json(str(tmp_path), "_lr_find.json")
    assert result["batch_size"] == 16 and len(result["losses"]) <= 12


def test_resume_refuses_settings_the_checkpoint_fixed(run, tmp_path, capsys):
    """--bn-before-relu or --reg on --resume were ignored (the model is the checkpoint's)
    while _args.json recorded them as in effect."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = _json(out, "_args.json")
    err = _error(capsys, "--output", str(out), "--resume", "--epochs", "4", "--bn-before-relu",
                 "--reg", "0.01", "--seed", "5")
    assert "--bn-before-relu False there, True here" in err
    assert "--reg 0.0002 there, 0.01 here" in err and "--seed 0 there, 5 here" in err
    assert _json(out, "_args.json") == before  # nothing recorded
    assert sorted(os.listdir(out / "checkpoints"))[-1] == f"{NAME}_epoch_003.keras"
    # The same values as the run's are no change.
    assert _main("--output", str(out), "--resume", "--epochs", "4", "--reg", "0.0002",
                 "--seed", "0") == 0
    settings = _json(out, "_args.json")["args"]
    assert settings["bn_before_relu"] is False and settings["epochs"] == 4
