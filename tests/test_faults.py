"""Kill the scripts with SIGKILL at awkward moments, rerun the same command, compare."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
from cifar_data import CLASSES, write_cifar
from tiny_data import write_tiny_imagenet

import pyimagesearch.nn  # noqa: F401  (registers the models' layers, as the README says)
from pyimagesearch.io import is_complete
from pyimagesearch.io.checkpoints import save_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1"}
pytestmark = pytest.mark.slow


def _start(script, *argv):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, script), *argv], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=300):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


def _kill_when(process, condition, delay=0.0, timeout=240):
    """SIGKILLs `process` `delay` seconds after `condition()` first holds; True if it was alive."""
    deadline = time.time() + timeout
    try:
        while not condition():
            assert process.poll() is None, process.communicate()[0][-3000:]
            assert time.time() < deadline, "the moment to kill never came"
            time.sleep(0.01)
        time.sleep(delay)
        alive = process.poll() is None
        process.send_signal(signal.SIGKILL)
        return alive
    finally:
        process.kill()
        process.communicate()


def _main_keeping_the_sigterm_handler(main, argv):
    """`main(argv)`'s exit status; the SIGTERM handler it installs is put back after it."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        return main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("recipe", [["classic"], ["fast"], ["fast", "--ema", "0.9"]],
                         ids=["classic", "fast", "fast-ema"])
def test_training_killed_mid_run_resumes_exactly(tmp_path, recipe):
    """The fast recipe adds a per-batch LR with a warm-up, one-hot labels with label
    smoothing, Nesterov momentum and weight decay, and may add the weights' moving
    average: all come back exactly too."""
    data = write_cifar(str(tmp_path / "data"))
    argv = ["--data", data, "--epochs", "3", "--batch-size", "4", "--seed", "7", "--verbose", "0",
            "--recipe", *recipe]
    straight = _start("train_cifar10.py", *argv, "--output", str(tmp_path / "straight"))
    out = tmp_path / "killed"
    first_checkpoint = out / "checkpoints" / "minigooglenet_cifar10_epoch_001.keras"
    killed = _start("train_cifar10.py", *argv, "--output", str(out))
    assert _kill_when(killed, first_checkpoint.exists, delay=1.0)
    assert not (out / "minigooglenet_cifar10.keras").exists()
    # As a kill during a checkpoint's save leaves it: a hidden temporary file.
    (out / "checkpoints" / ".minigooglenet_cifar10_epoch_002.x7k.tmp.keras").write_bytes(b"PK")

    rerun = _finish(_start("train_cifar10.py", *argv, "--output", str(out)))
    assert "continuing the unfinished run" in rerun
    _finish(straight)

    def history(folder):
        with open(folder / "minigooglenet_cifar10.json") as f:
            return json.load(f)

    a, b = history(tmp_path / "straight"), history(out)
    assert len(b["loss"]) == 3 and b["learning_rate"] == a["learning_rate"]
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)  # (of the average, with --ema)
    assert sorted(os.listdir(out / "checkpoints")) == [
        f"minigooglenet_cifar10_epoch_00{e}.keras" for e in (1, 2, 3)]
    assert not glob.glob(str(out / "**" / ".*"), recursive=True)  # no temporary files left
    m1 = keras.models.load_model(tmp_path / "straight" / "minigooglenet_cifar10.keras")
    m2 = keras.models.load_model(out / "minigooglenet_cifar10.keras")
    for w1, w2 in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-5)


def test_build_killed_mid_write_leaves_nothing_that_looks_finished(tmp_path):
    tree = write_tiny_imagenet(str(tmp_path / "tree"), classes=3, train_per_class=700,
                               val_per_class=20)
    argv = ["--dataset-dir", tree, "--test-per-class", "20", "--workers", "1"]
    out = tmp_path / "killed"
    building = _start("build_tiny_hdf5.py", *argv, "--hdf5-dir", str(out))
    assert _kill_when(building, lambda: bool(glob.glob(str(out / ".train.*.tmp.hdf5"))))
    for name in ("train.hdf5", "val.hdf5", "test.hdf5"):
        path = out / name
        assert not path.exists() or is_complete(str(path))
    assert not (out / "mean.json").exists()

    _finish(_start("build_tiny_hdf5.py", *argv, "--hdf5-dir", str(out)))
    _finish(_start("build_tiny_hdf5.py", *argv, "--hdf5-dir", str(tmp_path / "clean")))
    assert sorted(os.listdir(out)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]
    for name in ("train.hdf5", "val.hdf5", "test.hdf5"):
        with h5py.File(out / name) as a, h5py.File(tmp_path / "clean" / name) as b:
            assert np.array_equal(a["images"][:], b["images"][:])
            assert np.array_equal(a["labels"][:], b["labels"][:])
    with open(out / "mean.json") as f, open(tmp_path / "clean" / "mean.json") as g:
        assert json.load(f) == json.load(g)


def test_sigterm_stops_cleanly_and_says_where_the_run_resumes(tmp_path):
    """SIGTERM (kill, timeout, job schedulers) ended a run with exit 143 and no word."""
    data = write_cifar(str(tmp_path / "data"))
    argv = ["--data", data, "--epochs", "3", "--batch-size", "4", "--seed", "7", "--verbose", "0",
            "--output", str(tmp_path / "run")]
    first_checkpoint = tmp_path / "run" / "checkpoints" / "minigooglenet_cifar10_epoch_001.keras"
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train_cifar10.py"), *argv],
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not first_checkpoint.exists():
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("terminated (SIGTERM); rerun the same command to continue from epoch")
    epoch = int(last.split("from epoch ")[1].split()[0])
    assert epoch >= 1 and str(tmp_path / "run" / "checkpoints") in last
    assert not glob.glob(str(tmp_path / "run" / "**" / ".*"), recursive=True)
    rerun = _finish(_start("train_cifar10.py", *argv))
    assert f"epoch {epoch} of 3 done" in rerun


@pytest.mark.parametrize("landing", ["swallowed", "turned into an error"])
def test_sigterm_that_keras_swallows_or_an_import_turns_into_an_error_still_stops_the_run(
        landing, tmp_path, monkeypatch, capsys):
    """CI saw a SIGTERM land in Keras's `except: pass` around each batch's logs (the run
    trained to the end and exited 0), and one land in matplotlib's C extension being
    imported ("ImportError: initialization failed": a traceback and exit 1). Both now stop
    the run at that batch, which resumes from its epoch."""
    import train_cifar10
    from keras.src.utils import python_utils

    data = write_cifar(str(tmp_path / "data"))
    argv = ["--data", data, "--epochs", "3", "--batch-size", "50", "--seed", "7", "--verbose", "0",
            "--output", str(tmp_path / "run")]
    convert, sent = python_utils.pythonify_logs, []
    first = tmp_path / "run" / "checkpoints" / "minigooglenet_cifar10_epoch_001.keras"

    def pythonify_logs(logs):  # the signal lands here, in epoch 2
        try:
            if first.exists() and not sent:
                sent.append(1)
                os.kill(os.getpid(), signal.SIGTERM)
            return convert(logs)
        except:  # noqa: E722  (as Keras does, or as a C extension's import does)
            if landing == "swallowed":
                return convert(logs)
            raise ImportError("initialization failed")

    monkeypatch.setattr(python_utils, "pythonify_logs", pythonify_logs)
    assert _main_keeping_the_sigterm_handler(train_cifar10.main, argv) == 143
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(
        "terminated (SIGTERM); rerun the same command to continue from epoch 1")
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == [
        "minigooglenet_cifar10_epoch_001.keras"]
    assert train_cifar10.main(argv) == 0
    assert "epoch 1 of 3 done" in capsys.readouterr().out


def test_sigterm_in_the_first_epoch_says_one_sentence(tmp_path, monkeypatch, capsys):
    """Stopped before its first epoch ended, a run also warned that report.html could not
    be written for want of a history: a second line about nothing the user did."""
    import train_cifar10
    from keras.src.utils import python_utils

    data = write_cifar(str(tmp_path / "data"))
    argv = ["--data", data, "--epochs", "2", "--batch-size", "50", "--seed", "7", "--verbose", "0",
            "--output", str(tmp_path / "run")]
    convert = python_utils.pythonify_logs

    def pythonify_logs(logs):  # the first batch's logs
        os.kill(os.getpid(), signal.SIGTERM)
        return convert(logs)

    monkeypatch.setattr(python_utils, "pythonify_logs", pythonify_logs)
    assert _main_keeping_the_sigterm_handler(train_cifar10.main, argv) == 143
    err = capsys.readouterr().err
    # It advised --force, which the same command does not need.
    assert err.strip().splitlines() == [
        "terminated (SIGTERM); no epoch had finished; rerun the same command to start again"]
    assert not (tmp_path / "run" / "report.html").exists()
    monkeypatch.undo()
    assert train_cifar10.main(argv) == 0  # the same command: no --force needed
    assert (tmp_path / "run" / "minigooglenet_cifar10.keras").exists()


def test_where_a_stopped_run_resumes_is_said_as_the_folder_has_it(tmp_path):
    """--force only where the same command would be refused: epochs trained, no checkpoint."""
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training.run import where_to_resume

    paths = RunPaths(str(tmp_path), "m")
    assert where_to_resume(paths) == "no epoch had finished; rerun the same command to start again"
    with open(paths.history, "w") as f:
        json.dump({"loss": [2.3, 2.1], "val_loss": [2.2, 2.0]}, f)
    assert where_to_resume(paths) == ("no checkpoint was written yet; rerun the same command "
                                      "with --force to start over (the 2 epochs trained are "
                                      "lost)")
    os.makedirs(paths.checkpoints)
    open(os.path.join(paths.checkpoints, "m_epoch_002.keras"), "w").close()
    assert where_to_resume(paths).startswith("rerun the same command to continue from epoch 2")


def _signal_at(argv, reached, signum, timeout=300):
    """Runs `python argv...`, sends `signum` once `reached(maps, stdout_lines)` holds (`maps`:
    the process's /proc/PID/maps, which names every shared library loaded so far), and
    returns `(status, stdout, stderr)`."""
    import threading

    process = subprocess.Popen([sys.executable, *argv], env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.time() + timeout
    while process.poll() is None:
        assert time.time() < deadline, "the moment to send the signal never came"
        with open(f"/proc/{process.pid}/maps") as f:
            if reached(f.read(), lines):
                break
        time.sleep(0.0005)
    assert process.poll() is None, "it ended before the moment came"
    process.send_signal(signum)
    _, err = process.communicate(timeout=timeout)
    reader.join()
    return process.returncode, "".join(lines), err


def _library(name):
    return lambda maps, lines: name in maps


def _printed(start, delay=0.0):
    def reached(maps, lines):
        if any(line.startswith(start) for line in lines):
            time.sleep(delay)
            return True
        return False
    return reached


# Moments of a command's start-up, found in what it has loaded or printed: NumPy, JAX's
# C extension (which Keras loads whatever the backend, with its gc callback), the backend's.
BACKEND_LIBRARY = {"tensorflow": "_pywrap_tensorflow_internal", "jax": "jaxlib/_jax",
                   "torch": "libtorch_cpu"}
START_UP = {"numpy": _library("numpy/_core/_multiarray_umath"), "jax": _library("jaxlib/_jax"),
            "backend": _library(BACKEND_LIBRARY[keras.backend.backend()])}
STOPS = {signal.SIGTERM: (143, "terminated (SIGTERM)"), signal.SIGINT: (130, "interrupted")}


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="watches /proc/PID/maps")
def test_a_stop_anywhere_in_the_start_up_says_one_line(tmp_path):
    """Stopped while it started, a run printed TensorFlow's start-up notices, or "Exception
    ignored in: <function _xla_gc_callback> ... Terminated", or crashed (a segmentation
    fault inside jaxlib's initialization), or advised --force where the same command
    restarts fine."""
    data = write_cifar(str(tmp_path / "data"))
    moments = {**START_UP, "data read": _printed("CIFAR-10: "),
               "model built": _printed("CIFAR-10: ", delay=2.0)}
    for number, (moment, reached) in enumerate(moments.items()):
        signum = [signal.SIGTERM, signal.SIGINT][number % 2]
        status, out, err = _signal_at(
            [os.path.join(ROOT, "train_cifar10.py"), "--data", data, "--epochs", "2",
             "--batch-size", "20", "--verbose", "0", "--output", str(tmp_path / moment)],
            reached, signum)
        expected, said = STOPS[signum]
        assert status == expected and len(err.splitlines()) == 1, (moment, status, err)
        assert err.startswith(f"{said}; ") and "rerun the same command" in err, (moment, err)
        assert "--force" not in err, (moment, err)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="watches /proc/PID/maps")
def test_an_export_stopped_anywhere_writes_nothing_and_says_one_line(tmp_path):
    """An export stopped while TensorFlow loaded went on and wrote its file 15 s later."""
    data = write_cifar(str(tmp_path / "data"))
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = keras.layers.Conv2D(4, 3, strides=2)(keras.layers.Rescaling(1 / 255)(inputs))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    run = tmp_path / "run"
    os.makedirs(run)
    save_model(keras.Model(inputs, outputs), str(run / "small.keras"), {"class_names": CLASSES})
    with open(run / "small_args.json", "w") as f:
        json.dump({"args": {"data": data}}, f)
    moments = {"jax": START_UP["jax"], "tensorflow": _library("_pywrap_tensorflow_internal"),
               "exporting": _printed("exporting "), "checking": _printed("exporting ", 0.3)}
    for number, (moment, reached) in enumerate(moments.items()):
        signum = [signal.SIGTERM, signal.SIGINT][number % 2]
        out = tmp_path / f"{moment}.onnx"
        status, _, err = _signal_at(["-m", "pyimagesearch.export", str(run), "--format", "onnx",
                                     "--output", str(out)], reached, signum)
        expected, said = STOPS[signum]
        assert (status, err) == (expected, said + "\n"), moment
        assert not out.exists() and not os.path.exists(f"{out}.json"), moment
        assert not glob.glob(str(tmp_path / ".*")), moment  # nor a temporary file
