"""Data-parallel training: 2 processes on 127.0.0.1 (JAX backend on the CPU), and its parts."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import pyimagesearch.nn  # noqa: F401  (registers the models' layers)
import train_cifar10
from pyimagesearch import cli
from pyimagesearch.datasets.cifar10 import load_cifar10
from pyimagesearch.evaluation.metrics import top_class
from pyimagesearch.errors import UserError
from pyimagesearch.io import ArrayBatches
from pyimagesearch.training import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "distributed_worker.py")
NAME = "minigooglenet_cifar10"


# --- the parts, on any backend ---------------------------------------------------------------

def test_shards_split_every_global_batch_between_processes():
    labels = np.arange(103)
    kwargs = {"batch_size": 8, "seed": 5}
    whole = ArrayBatches(labels, labels, multiple=4, **kwargs)
    parts = [ArrayBatches(labels, labels, shard=(p, 2), multiple=4, **kwargs) for p in (0, 1)]
    # 12 full batches; the 7 left over are cut to the 4 that split across 4 devices.
    assert len(whole) == len(parts[0]) == len(parts[1]) == 13
    for epoch in (0, 3):
        for data in (whole, *parts):
            data.set_epoch(epoch)
        seen = []
        for index in range(13):
            x0, y0 = parts[0][index]
            x1, y1 = parts[1][index]
            assert len(x0) == len(x1) == (4 if index < 12 else 2)
            np.testing.assert_array_equal(np.concatenate([x0, x1]), whole[index][0])
            np.testing.assert_array_equal(x0, y0)
            seen.extend(np.concatenate([x0, x1]))
        assert len(set(seen)) == len(seen) == 100


def test_last_batch_is_dropped_when_smaller_than_the_devices():
    labels = np.arange(10)
    assert len(ArrayBatches(labels, labels, 4, multiple=4)) == 2  # 4 + 4, the 2 left dropped
    assert len(ArrayBatches(labels, labels, 4, multiple=2)) == 3
    assert len(ArrayBatches(labels, labels, 4)) == 3


def test_each_part_of_a_batch_is_augmented_as_in_the_whole_batch():
    from pyimagesearch.preprocessing import RandomAffine

    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    augment = RandomAffine(rotation=20, zoom=0.2, shift=0.2, shear=0.2, flip=True)
    kwargs = {"batch_size": 12, "seed": 4, "augment": augment}
    whole = ArrayBatches(images, np.arange(12), **kwargs)
    parts = [ArrayBatches(images, np.arange(12), shard=(p, 3), multiple=3, **kwargs)
             for p in range(3)]
    for epoch in (0, 2):
        for data in (whole, *parts):
            data.set_epoch(epoch)
        together = np.concatenate([data[0][0] for data in parts])
        np.testing.assert_array_equal(together, whole[0][0])
        assert not np.array_equal(whole[0][0], whole.inputs(whole._order))  # it did augment


@pytest.mark.parametrize("bad", [{"shard": (2, 2)}, {"shard": (0, 2), "multiple": 3},
                                 {"multiple": 3}])
def test_inconsistent_shards_are_refused(bad):
    with pytest.raises(ValueError, match="multiple"):
        ArrayBatches(np.arange(12), np.arange(12), 8, **bad)


def test_global_batch_must_split_across_the_devices(monkeypatch):
    monkeypatch.setattr(distributed, "_current", distributed.Replicas(0, 2, 4))
    distributed.check_batch_size(64)
    with pytest.raises(UserError, match="--batch-size 66 .* multiple of 4, e.g. 64"):
        distributed.check_batch_size(66)
    assert distributed.current().batch_kwargs() == {"shard": (0, 2), "multiple": 4}
    assert not distributed.Replicas(1, 2, 2).chief


def test_one_process_gathers_and_predicts_as_keras_does():
    assert distributed.gather(np.int32(7)).tolist() == [7]
    assert distributed.current() == distributed.Replicas()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    data = ArrayBatches(x, np.zeros(10), 4, shuffle=False)
    # Batches of 4 and Keras's 32 may sum in another order: near-zero outputs need an atol.
    np.testing.assert_allclose(distributed.predict(model, data), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-7)


def test_a_lost_process_is_one_line_and_status_2(monkeypatch, capsys):
    class JaxRuntimeError(RuntimeError):  # what JAX raises when a collective fails
        pass

    failure = JaxRuntimeError("UNKNOWN: Gloo all-reduce failed: Connection closed by peer")

    @cli.handle_user_errors
    def main(argv=None):
        raise failure

    assert distributed.lost_peer(failure) is None  # one process: a failure like any other
    with pytest.raises(JaxRuntimeError):
        main([])
    monkeypatch.setattr(distributed, "_current", distributed.Replicas(1, 2, 2))
    assert distributed.lost_peer(ValueError("x")) is None
    exits = []
    monkeypatch.setattr(os, "_exit", exits.append)
    main([])
    assert exits == [2]
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "Connection closed by peer" in err and "rerun every process" in err


@pytest.mark.parametrize("flags, message", [
    (["--coordinator", "localhost"], "expected HOST:PORT"),
    (["--coordinator", "h:99999"], "expected HOST:PORT"),
    (["--num-processes", "0"], "must be at least 1"),
    (["--process-id", "-1"], "must be at least 0"),
])
def test_bad_distributed_flags_exit_2(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_cifar10.main(flags)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs --distributed")
def test_distributed_on_another_backend_is_one_line(cifar_dir, tmp_path, capsys):
    assert train_cifar10.main(["--data", cifar_dir, "--output", str(tmp_path), "--distributed",
                               "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "runs on the JAX backend only" in err and len(err.strip().splitlines()) == 1


# --- 2 processes --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, tag, argv, processes=2, timeout=420, **env):
    """Runs `processes` worker processes to the end (or kills them); returns their logs."""
    dump = tmp_path / tag
    dump.mkdir()
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT,
           "PYTHONUNBUFFERED": "1", "XLA_FLAGS": "",
           # Later launches reuse the first one's compiled steps.
           "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", **env}
    address = f"127.0.0.1:{_free_port()}"
    several = ["--coordinator", address, "--num-processes", str(processes)]
    running, logs = [], []
    try:
        for i in range(processes):
            log = open(dump / f"log_{i}.txt", "w")
            logs.append(log)
            running.append(subprocess.Popen(
                [sys.executable, WORKER, str(dump), *argv,
                 *(several + ["--process-id", str(i)] if processes > 1 else [])],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.time() + timeout
        for process in running:
            process.wait(timeout=max(1, deadline - time.time()))
    finally:
        for process in running:  # never leave a process behind, whatever happened
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in logs:
            log.close()
    texts = [(dump / f"log_{i}.txt").read_text() for i in range(processes)]
    for process, text in zip(running, texts):
        assert process.returncode == 0, text[-3000:]
    return dump, texts


def _dumped(dump, process):
    with np.load(dump / f"process_{process}.npz") as saved:
        weights = [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]
        probs = saved["probs"]
    with open(dump / f"process_{process}.json") as f:
        return weights, probs, json.load(f)


@pytest.mark.slow
def test_two_processes_train_as_one_and_resume(cifar_dir, tmp_path):
    pytest.importorskip("jax")
    output = tmp_path / "run"
    # 100 training and 40 test images in whole batches of 20: one step compiled per launch.
    argv = ["--data", cifar_dir, "--output", str(output), "--batch-size", "20",
            "--mixed-precision", "off", "--verbose", "2"]
    # A new run without --seed: the processes agree on the weights' and the data's seeds.
    dump, logs = _run(tmp_path, "first", [*argv, "--epochs", "1"])
    shutil.copytree(output, tmp_path / "alone")
    dump2, logs2 = _run(tmp_path, "resumed", [*argv, "--epochs", "2", "--resume"])

    for folder in (dump, dump2):
        (w0, p0, s0), (w1, p1, s1) = _dumped(folder, 0), _dumped(folder, 1)
        assert (s0["process"], s1["process"], s0["processes"], s0["devices"]) == (0, 1, 2, 2)
        assert len(w0) == len(w1) > 100
        for a, b in zip(w0, w1):  # every weight, bit for bit
            np.testing.assert_array_equal(a, b)
        assert s0["history"] == s1["history"]
        assert s0["data_seed"] == s1["data_seed"]
        np.testing.assert_array_equal(p0, p1)

    # One history, written by process 0: the first epoch kept, the second appended.
    with open(output / f"{NAME}.json") as f:
        history = json.load(f)
    first, resumed = _dumped(dump, 0)[2]["history"], _dumped(dump2, 0)[2]["history"]
    assert len(first["loss"]) == len(resumed["loss"]) == 1
    assert history["loss"] == pytest.approx(first["loss"] + resumed["loss"], rel=1e-6)
    assert history["val_accuracy"] == pytest.approx(
        first["val_accuracy"] + resumed["val_accuracy"], rel=1e-6)
    assert "resuming from" in logs2[0] and "resuming from" in logs2[1]
    assert sorted(os.listdir(output / "checkpoints")) == [f"{NAME}_epoch_00{e}.keras"
                                                          for e in (1, 2)]
    assert all("wrote" not in log for log in (logs[1], logs2[1]))  # process 1 writes nothing
    for log in logs + logs2:  # each process checked that all hold the same weights
        assert "the same weights as every other process" in log

    # The same epoch resumed by one process driving 2 devices: the same training, bit for bit
    # (the global batches, their augmentation and the gradient means do not depend on how
    # the devices are spread over processes).
    dump3, _ = _run(tmp_path, "one", ["--data", cifar_dir, "--output", str(tmp_path / "alone"),
                                      "--epochs", "2", "--resume", "--distributed"],
                    processes=1, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    alone, _, state = _dumped(dump3, 0)
    assert (state["processes"], state["devices"]) == (1, 2)
    for a, b in zip(alone, _dumped(dump2, 0)[0]):
        np.testing.assert_array_equal(a, b)

    # The model process 0 saved is the one both trained, and loads on this test's backend:
    # its predictions are those the two processes gathered for the report.
    weights, probs, _ = _dumped(dump2, 0)
    model = keras.models.load_model(output / f"{NAME}.keras")
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    (_, _), (x_test, y_test), _ = load_cifar10(cifar_dir)
    assert probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(model.predict(x_test, verbose=0), probs, atol=2e-5)
    with open(output / f"{NAME}_report.txt") as f:
        right = int((top_class(probs) == y_test).sum())
        assert f"({right} of {len(y_test)} test images)" in f.read()
