import csv
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import train_cifar10
from pyimagesearch.datasets import cifar10
from pyimagesearch.datasets.cifar10 import load_cifar10

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "minigooglenet_cifar10"
pytestmark = pytest.mark.slow


def _train(data, output, *extra):
    return train_cifar10.main(["--data", data, "--output", str(output), "--batch-size", "32",
                               "--verbose", "0", *extra])


def _history(output):
    with open(os.path.join(output, f"{NAME}.json")) as f:
        return json.load(f)


def _checkpoints(output):
    return sorted(os.listdir(os.path.join(output, "checkpoints")))


@pytest.fixture(scope="module")
def finished_run(cifar_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    assert _train(cifar_dir, output, "--epochs", "2", "--seed", "3", "--tensorboard") == 0
    return output


def test_two_epochs_write_every_output(finished_run, cifar_dir):
    out = str(finished_run)
    for suffix in (".keras", ".json", ".png", "_report.txt", "_args.json", "_confusion.png",
                   "_diagnosis.txt"):
        assert os.path.getsize(os.path.join(out, NAME + suffix)) > 0, suffix
    with open(os.path.join(out, f"{NAME}_log.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for split in ("train", "validation"):  # --tensorboard: Keras's event files, per split
        assert os.listdir(os.path.join(out, "tensorboard", split))
    assert _checkpoints(out) == [f"{NAME}_epoch_001.keras", f"{NAME}_epoch_002.keras"]
    assert not [n for n in os.listdir(out) if n.startswith(".")]

    history = _history(out)
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(history)
    assert all(len(v) == 2 for v in history.values())
    assert history["learning_rate"] == pytest.approx([1e-2, 5e-3])  # poly decay over 2 epochs
    assert [float(r["loss"]) for r in rows] == pytest.approx(history["loss"])

    with open(os.path.join(out, f"{NAME}_args.json")) as f:
        settings = json.load(f)
    assert settings["args"]["epochs"] == 2 and settings["args"]["batch_size"] == 32
    assert settings["args"]["seed"] == 3 and settings["backend"] == keras.backend.backend()

    # The saved model loads in safe mode and classifies raw uint8 images by itself.
    model = keras.models.load_model(os.path.join(out, f"{NAME}.keras"))
    assert model.input.dtype == "uint8"
    _, (x_test, y_test), names = load_cifar10(cifar_dir)
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    with open(os.path.join(out, f"{NAME}_report.txt")) as f:
        report = f.read()
    assert f"rank-1: {accuracy:.2%} ({round(accuracy * 40)} of 40 test images)" in report
    assert all(name in report for name in names)


def test_seed_makes_a_run_repeatable(finished_run, cifar_dir, tmp_path):
    assert _train(cifar_dir, tmp_path, "--epochs", "2", "--seed", "3") == 0
    first = keras.models.load_model(os.path.join(finished_run, f"{NAME}.keras"))
    second = keras.models.load_model(os.path.join(tmp_path, f"{NAME}.keras"))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert _history(tmp_path) == _history(finished_run)


def test_resume_continues_the_run(cifar_dir, tmp_path, capsys):
    # 100 images at --batch-size 50: 2 steps an epoch.
    assert train_cifar10.main(["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "1",
                               "--batch-size", "50", "--lr", "0.02", "--verbose", "0"]) == 0
    first = _history(tmp_path)
    # The resumed run is given neither --batch-size nor --lr: both come from the saved run.
    assert train_cifar10.main(["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "2",
                               "--resume", "--verbose", "0"]) == 0
    assert "resuming from" in capsys.readouterr().out
    history = _history(tmp_path)
    assert all(len(v) == 2 for v in history.values())
    assert history["loss"][0] == first["loss"][0]
    assert history["learning_rate"] == pytest.approx([0.02, 0.01])
    assert _checkpoints(tmp_path)[-1] == f"{NAME}_epoch_002.keras"
    model = keras.models.load_model(os.path.join(tmp_path, f"{NAME}.keras"))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4
    with open(os.path.join(tmp_path, f"{NAME}_args.json")) as f:
        settings = json.load(f)
    assert settings["initial_epoch"] == 1 and settings["args"]["batch_size"] == 50


def _error(capsys, argv):
    assert train_cifar10.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_existing_and_finished_runs_are_not_overwritten(finished_run, cifar_dir, capsys):
    base = ["--data", cifar_dir, "--output", str(finished_run), "--verbose", "0"]
    assert "--resume" in _error(capsys, base + ["--epochs", "2"])
    assert "--epochs" in _error(capsys, base + ["--epochs", "2", "--resume"])


def test_resume_with_nothing_to_resume(cifar_dir, tmp_path, capsys):
    assert "no checkpoint" in _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path),
                                              "--resume"])


def test_user_errors(cifar_dir, tmp_path, capsys, monkeypatch):
    out = ["--output", str(tmp_path / "out")]
    assert "does not exist" in _error(capsys, ["--data", str(tmp_path / "missing")] + out)
    not_cifar = tmp_path / "data_batch_1"
    not_cifar.write_bytes(b"hello")
    assert "holds neither" in _error(capsys, ["--data", str(tmp_path)] + out)
    assert "not a readable" in _error(capsys, ["--data", str(not_cifar)] + out)
    tampered = tmp_path / "tampered"
    shutil.copytree(cifar_dir, tampered)
    marker = tmp_path / "payload_ran"
    with open(tampered / "test_batch", "wb") as f:
        f.write(b"cposix\nsystem\n(Vtouch " + str(marker).encode() + b"\ntR.")
    assert "refers to code" in _error(capsys, ["--data", str(tampered)] + out)
    assert not marker.exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "cannot write to --output" in _error(capsys, ["--data", cifar_dir, "--output",
                                                         str(blocker / "sub")])
    monkeypatch.setattr(cifar10, "CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setattr(cifar10, "CACHE_DIR", str(tmp_path / "cache"))
    assert "could not download" in _error(capsys, out)


@pytest.mark.parametrize("flag", [["--epochs", "0"], ["--batch-size", "-4"], ["--lr", "0"],
                                  ["--lr", "fast"], ["--shift", "1.5"],
                                  ["--mixed-precision", "int8"],
                                  # crashed with a traceback (NumPy's seed range), trained with
                                  # NaN momentum, or deleted checkpoints it was told to keep:
                                  ["--seed", "-1"], ["--seed", str(2**32)], ["--momentum", "nan"],
                                  ["--momentum", "1.5"], ["--keep-checkpoints", "-1"]])
def test_bad_flags_exit_2_in_one_line(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cifar10.main(flag)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and flag[0] in err


def test_shell_user_sees_one_line_and_status_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train_cifar10.py"), "--data",
                             str(tmp_path / "nope"), "--output", str(tmp_path / "o")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    # One line and nothing before it: no TensorFlow start-up notices (it is not even loaded).
    assert result.stderr.startswith("error: --data ") and result.stderr.count("\n") == 1
    assert result.stdout == ""

    help_text = subprocess.run([sys.executable, os.path.join(ROOT, "train_cifar10.py"),
                                "--help"], capture_output=True, text=True, timeout=60).stdout
    for flag in ("--data", "--output", "--epochs", "--batch-size", "--lr", "--seed", "--resume"):
        assert flag in help_text
    assert "(default: 70)" in help_text


def test_rerunning_the_same_command_continues_an_unfinished_run(cifar_dir, tmp_path, capsys):
    argv = ["--epochs", "1", "--seed", "2"]
    assert _train(cifar_dir, tmp_path, *argv) == 0
    finished_weights = keras.models.load_model(os.path.join(tmp_path, f"{NAME}.keras"))
    # As if killed after its last checkpoint but before the final model was written.
    os.remove(os.path.join(tmp_path, f"{NAME}.keras"))
    capsys.readouterr()
    err = _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path), "--batch-size", "32",
                          "--epochs", "1", "--seed", "2", "--lr", "0.05"])
    assert "other settings (--lr 0.01 there, 0.05 here)" in err
    assert _train(cifar_dir, tmp_path, *argv) == 0
    assert "continuing the unfinished run" in capsys.readouterr().out
    model = keras.models.load_model(os.path.join(tmp_path, f"{NAME}.keras"))
    for a, b in zip(model.get_weights(), finished_weights.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(_history(tmp_path)["loss"]) == 1


def test_divergence_stops_at_once_and_keeps_the_last_good_checkpoint(finished_run, cifar_dir,
                                                                     tmp_path, capsys):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    err = _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "4",
                          "--resume", "--lr", "1e30", "--batch-size", "32"])
    assert "diverged at batch" in err and "of epoch 3" in err and "--resume --lr 1e+29" in err
    assert _checkpoints(tmp_path)[-1] == f"{NAME}_epoch_002.keras"
    keras.models.load_model(os.path.join(tmp_path, "checkpoints", f"{NAME}_epoch_002.keras"))


def test_full_disk_while_checkpointing(finished_run, cifar_dir, tmp_path, capsys, monkeypatch):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    real_save = keras.Model.save

    def save_until_the_disk_is_full(model, path, *args, **kwargs):
        real_save(model, path, *args, **kwargs)
        with open(path, "r+b") as f:  # half the file made it to disk, then the disk was full
            f.truncate(os.path.getsize(path) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", save_until_the_disk_is_full)
    err = _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "3",
                          "--resume", "--batch-size", "32"])
    assert f"{NAME}_epoch_003.keras" in err and "No space left on device" in err
    monkeypatch.undo()
    # No torn file, no temporary file: the previous checkpoint is still the newest, and loads.
    assert _checkpoints(tmp_path) == [f"{NAME}_epoch_001.keras", f"{NAME}_epoch_002.keras"]
    assert not [n for n in os.listdir(tmp_path / "checkpoints") if n.startswith(".")]
    keras.models.load_model(os.path.join(tmp_path, "checkpoints", f"{NAME}_epoch_002.keras"))


def _files(folder):
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def test_find_lr_writes_its_plot_and_suggestion_and_trains_nothing(finished_run, cifar_dir,
                                                                 tmp_path, capsys):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    before = _files(tmp_path)
    # 100 training images: 12 whole batches of 8 an epoch, so 30 steps span 3 epochs.
    assert _train(cifar_dir, tmp_path, "--find-lr", "--find-lr-steps", "30", "--batch-size",
                  "8", "--find-lr-range", "1e-4", "1e2", "--seed", "1") == 0
    out = capsys.readouterr().out
    with open(os.path.join(tmp_path, f"{NAME}_lr_find.json")) as f:
        result = json.load(f)
    assert f"suggested --lr {result['suggested_lr']:.2g}" in out
    assert result["suggested_lr"] == pytest.approx(result["min_loss_lr"] / 3)
    assert 1e-4 <= result["min_loss_lr"] <= 1e2
    assert result["batch_size"] == 8 and result["range"] == [1e-4, 1e2]
    assert 10 <= len(result["lrs"]) == len(result["losses"]) <= 30
    assert result["lrs"][0] == pytest.approx(1e-4) and np.all(np.diff(result["lrs"]) > 0)
    if result["stopped"] == "end of range":
        assert len(result["lrs"]) == 30 and result["lrs"][-1] == pytest.approx(1e2)
    # The finished run is untouched; only the test's two files are new.
    after = _files(tmp_path)
    assert set(after) - set(before) == {f"{NAME}_lr_find.json", f"{NAME}_lr_find.png"}
    assert all(after[name] == data for name, data in before.items())


def test_find_lr_in_a_new_folder_leaves_no_model(cifar_dir, tmp_path, capsys):
    assert _train(cifar_dir, tmp_path, "--find-lr", "--find-lr-steps", "12", "--batch-size",
                  "16") == 0
    assert sorted(os.listdir(tmp_path)) == [f"{NAME}_lr_find.json", f"{NAME}_lr_find.png"]
    assert "range" in _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path),
                                      "--find-lr", "--find-lr-range", "1", "0.1"])
    assert "larger than the 100" in _error(capsys, ["--data", cifar_dir, "--output",
                                                    str(tmp_path), "--find-lr",
                                                    "--batch-size", "128"])


def test_force_starts_a_finished_run_over(finished_run, cifar_dir, tmp_path):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    assert _train(cifar_dir, tmp_path, "--epochs", "1", "--seed", "4", "--force") == 0
    assert _checkpoints(tmp_path) == [f"{NAME}_epoch_001.keras"]  # the old epoch 2 is gone
    assert len(_history(tmp_path)["loss"]) == 1


def test_resume_refuses_a_new_momentum(finished_run, cifar_dir, tmp_path, capsys):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    err = _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "3",
                          "--resume", "--momentum", "0.5"])
    assert "--momentum 0.9 there, 0.5 here" in err and "--force" in err
    with open(tmp_path / f"{NAME}_args.json") as f:
        assert json.load(f)["args"]["momentum"] == 0.9


@pytest.mark.parametrize("damage", ["random", "cut", "flipped"])
def test_a_damaged_model_file_is_called_damaged(finished_run, cifar_dir, tmp_path, capsys,
                                                damage):
    """Keras says "File not found" for a .keras file that is there but damaged."""
    model = tmp_path / "m.keras"
    data = (finished_run / f"{NAME}.keras").read_bytes()
    if damage == "random":
        data = np.random.default_rng(0).bytes(len(data))
    elif damage == "cut":
        data = data[: len(data) // 2]
    else:  # bytes changed inside the weights, the zip's directory intact
        middle = len(data) // 2
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + \
            data[middle + 64:]
    model.write_bytes(data)
    import cv2

    from pyimagesearch import predict

    image = str(tmp_path / "a.png")
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    assert predict.main(["--model", str(model), image]) == 2
    err = capsys.readouterr().err
    assert f"--model {model} is damaged" in err and "not found" not in err.lower()


def test_a_damaged_newest_checkpoint_says_what_will_happen(finished_run, cifar_dir, tmp_path,
                                                           capsys):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    os.remove(tmp_path / f"{NAME}.keras")  # an unfinished run: 2 checkpoints
    newest = tmp_path / "checkpoints" / f"{NAME}_epoch_002.keras"
    newest.write_bytes(newest.read_bytes()[:1000])
    argv = ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "2", "--seed", "3",
            "--tensorboard", "--batch-size", "32"]
    err = _error(capsys, argv)
    assert "damaged" in err and f"{NAME}_epoch_001.keras (epoch 1)" in err

    os.remove(tmp_path / "checkpoints" / f"{NAME}_epoch_001.keras")  # now the only one
    err = _error(capsys, argv)
    assert "only checkpoint" in err and "--force" in err and "epoch 1" in err
    # Deleted too: the run's 2 epochs of history are not silently thrown away.
    os.remove(newest)
    err = _error(capsys, argv)
    assert "history of 2 epochs" in err and "--force" in err
    assert len(_history(tmp_path)["loss"]) == 2


def test_an_unwritable_checkpoint_folder_is_found_before_training(cifar_dir, tmp_path, capsys):
    if os.geteuid() == 0:  # root writes anywhere: block the folder with a file instead
        (tmp_path / "checkpoints").write_text("")
    else:
        (tmp_path / "checkpoints").mkdir()
        os.chmod(tmp_path / "checkpoints", 0o500)
    err = _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "1"])
    assert "checkpoints" in err and "cannot write" in err
    assert not (tmp_path / f"{NAME}.json").exists()  # no epoch was trained


def test_an_epoch_whose_checkpoint_failed_is_not_in_the_history(cifar_dir, tmp_path, capsys,
                                                                monkeypatch):
    real_save = keras.Model.save
    saves = []

    def fail_the_second_checkpoint(model, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(28, "No space left on device")
        real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", fail_the_second_checkpoint)
    argv = ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "3", "--seed", "1",
            "--batch-size", "32"]
    err = _error(capsys, argv)
    assert "continue from epoch 1" in err
    monkeypatch.undo()
    assert len(_history(tmp_path)["loss"]) == 1  # epoch 2 trained, but its checkpoint failed
    with open(tmp_path / f"{NAME}_log.csv") as f:
        assert len(list(csv.DictReader(f))) == 1
    assert _train(cifar_dir, tmp_path, "--epochs", "3", "--seed", "1") == 0
    history = _history(tmp_path)
    assert len(history["loss"]) == 3 and None not in history["loss"]


def test_history_comes_back_from_the_checkpoint(finished_run, cifar_dir, tmp_path, capsys):
    """A crash after a checkpoint but before the history's write leaves the JSON an epoch
    short: the checkpoint holds the history too, and the resume takes it from there."""
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    full = _history(tmp_path)
    with open(tmp_path / f"{NAME}.json", "w") as f:
        json.dump({k: v[:1] for k, v in full.items()}, f)
    with open(tmp_path / f"{NAME}_log.csv") as f:
        lines = f.readlines()
    with open(tmp_path / f"{NAME}_log.csv", "w") as f:
        f.writelines(lines[:2])
    assert _train(cifar_dir, tmp_path, "--epochs", "3", "--resume") == 0
    history = _history(tmp_path)
    assert len(history["loss"]) == 3
    assert history["loss"][:2] == pytest.approx(full["loss"])
    with open(tmp_path / f"{NAME}_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert float(rows[1]["loss"]) == pytest.approx(full["loss"][1])


@pytest.mark.parametrize("argv", [["--data", "/nonexistent"], ["--epoch", "1"],
                                  ["--resume", "--epochs", "3"]])
def test_mistakes_are_found_before_tensorflow_is_imported(argv, cifar_dir, tmp_path):
    code = ("import sys, train_cifar10\n"
            "try:\n"
            f"    rc = train_cifar10.main({argv + ['--output', str(tmp_path / 'o')]!r})\n"
            "except SystemExit as stop:\n"
            "    rc = stop.code\n"
            "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT}, timeout=60, cwd=ROOT)
    assert result.stdout.split()[-3:] == ["2", "False", "False"]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        "-c: error:" if argv[0] == "--epoch" else "error: ")


def test_resume_with_fewer_epochs_than_trained_is_refused(finished_run, cifar_dir, tmp_path,
                                                          capsys):
    """It saved the checkpoint as the final model and recorded --epochs 1 for 2 epochs."""
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    os.remove(tmp_path / f"{NAME}.keras")  # unfinished: 2 epochs checkpointed
    err = _error(capsys, ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "1",
                          "--resume"])
    assert "already trained 2 epochs, more than --epochs 1" in err
    assert not (tmp_path / f"{NAME}.keras").exists()
