"""The benchmark's own pieces: the classic baseline is what it claims to be."""

import os

import cv2
import h5py
import keras
import numpy as np
import pytest

from bench import classic, run
from pyimagesearch.nn.conv.deepergooglenet import DeeperGoogLeNet
from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
from pyimagesearch.nn.layers import BatchNormalization


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="shape arithmetic, the same on every backend (JAX builds in 30 s)")
@pytest.mark.parametrize("build, gflop", [(lambda: MiniGoogLeNet.build(32, 32, 3, 10), 1.41),
                                          (lambda: DeeperGoogLeNet.build(64, 64, 3, 200), 2.75)])
def test_training_flops_per_image(build, gflop):
    assert run.training_flops(build()) / 1e9 == pytest.approx(gflop, rel=0.01)


def test_classic_network_is_float32_with_keras_batch_norm():
    keras.config.set_dtype_policy("mixed_bfloat16")
    ours = MiniGoogLeNet.build(32, 32, 3, 10)
    keras.config.set_dtype_policy("float32")
    baseline = classic.classic_network(ours)
    norms = [la for la in baseline._flatten_layers() if "BatchNormalization" in type(la).__name__]
    assert norms and all(type(la) is keras.layers.BatchNormalization for la in norms)
    assert not any(isinstance(la, BatchNormalization) for la in norms)
    assert all(la.dtype_policy.name == "float32" for la in baseline._flatten_layers())
    assert baseline.count_params() == ours.count_params() == 1_656_250


def test_classic_build_and_batches(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = str(tmp_path / f"{i}.JPEG")
        cv2.imwrite(path, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        paths.append(path)
    out = str(tmp_path / "classic.hdf5")
    info = classic.build_hdf5(paths, list(range(6)), out)
    with h5py.File(out) as db:
        assert db["images"].dtype == np.float64  # the classic writer's dtype="float"
        first = db["images"][0]
    assert classic.file_bytes_per_image(out) > 64 * 64 * 3 * 8
    bgr = cv2.imread(paths[0]).astype(np.float64)
    np.testing.assert_array_equal(first, bgr)
    assert info["mean_rgb"][0] == pytest.approx(np.mean([cv2.imread(p)[..., 2].mean()
                                                          for p in paths]))

    plain = classic.ClassicBatches(out, 4, info["mean_rgb"])
    x, y = plain[0]
    assert x.dtype == np.float32 and x.shape == (4, 64, 64, 3) and list(y) == [0, 1, 2, 3]
    np.testing.assert_allclose(x[0, ..., 2], bgr[..., 2] - info["mean_rgb"][0], atol=1e-3)
    augmented = classic.ClassicBatches(out, 4, info["mean_rgb"],
                                       classic.image_data_generator(**run.TINY_AUG))
    xa, ya = augmented[0]
    assert xa.shape == x.shape and not np.allclose(xa, x)
    assert len(plain) == 2 and len(plain[1][0]) == 2


def test_table_reports_ratios():
    train = {"images_per_s": 100.0, "achieved_gflops": 141.0, "gflop_per_image": 1.41,
             "precision": "off", "peak_rss_mib": 900.0}
    ours = dict(train, images_per_s=250.0, achieved_gflops=352.5, precision="bf16")
    r = {"machine": {"cpu": "Test CPU", "cores": 2, "bf16_units": ["amx_bf16"]},
         "versions": {"keras": "3"}, "matmul": {"float32": 250.0, "bfloat16": 800.0,
                                                 "backend": "tensorflow"},
         "pipeline_classic": {"images_per_s": 1200.0, "peak_rss_mib": 500.0},
         "pipeline_ours": {"images_per_s": 36000.0, "streamed": 30000.0,
                           "two_threads": 42000.0, "peak_rss_mib": 600.0},
         "build_classic": {"images_per_s": 3000.0, "file_bytes_per_image": 98313.0,
                           "peak_rss_mib": 400.0},
         "build_ours": {"images_per_s": 5000.0, "file_bytes_per_image": 12298.0,
                        "pixel_bytes_per_image": 12288.0, "peak_rss_mib": 400.0},
         "train_classic_mini": train, "train_ours_mini": ours,
         "train_classic_deeper": train, "train_ours_deeper": ours}
    text = run.table(r)
    assert "| 1,200 | 36,000 | 30.0x |" in text
    assert "| 100.0 | 250.0 | 2.5x |" in text
    assert "141 = 56% of fp32 | 352 = 44% of bf16" in text
    assert "| 98,313 | 12,298 | 8.0x smaller |" in text
    assert "Test CPU, 2 cores (amx_bf16)" in text


def test_the_speed_page_shows_the_bench_command():
    with open(os.path.join(run.ROOT, "docs", "speed.md"), encoding="utf-8") as f:
        assert "python -m bench.run" in f.read()


def test_ema_bn_recalibration_is_the_mean_of_the_batch_statistics():
    from bench.ema_bn import recalibrate

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.99)(inputs))
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, 1.0, (16, 3)).astype("float32") for loc in (1.0, 3.0, 8.0)]
    assert recalibrate(model, batches) == 1
    norm = model.layers[-1]
    np.testing.assert_allclose(norm.moving_mean.numpy(),
                               np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(),
                               np.mean([b.var(axis=0) for b in batches], axis=0), rtol=1e-4)
    assert norm.momentum == 0.99


def test_gpu_runs_bring_back_each_runs_small_text_files_only(tmp_path):
    """The device call returns at most 8 files: one archive of every run's history,
    settings, evaluation, CSV log and console output, never its models or plots."""
    import tarfile

    from bench import gpu_runs

    runs, out = tmp_path / "runs", tmp_path / "out"
    (runs / "fast" / "checkpoints").mkdir(parents=True)
    (runs / "classic20").mkdir()
    out.mkdir()
    small = {"fast/minigooglenet_cifar10.json": "{}", "fast/minigooglenet_cifar10_log.csv": "e\n",
             "fast/train.log": "Epoch 1/20\n", "classic20/minigooglenet_cifar10_eval.json": "{}",
             "classic20/minigooglenet_cifar10_report.txt": "rank-1"}
    for name, text in small.items():
        (runs / name).write_text(text)
    (runs / "fast" / "minigooglenet_cifar10.keras").write_bytes(b"PK" * 10)
    (runs / "fast" / "minigooglenet_cifar10.png").write_bytes(b"\x89PNG")
    (runs / "fast" / "checkpoints" / "epoch_001.json").write_text("{}")
    (runs / "classic20" / "huge.json").write_bytes(b" " * (gpu_runs.MAX_BYTES + 1))

    gpu_runs.pack(str(runs), str(out), "H200\n")
    assert os.listdir(out) == ["runs.tar.gz"]
    with tarfile.open(out / "runs.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(["machine.txt", *small])
        assert tar.extractfile("machine.txt").read() == b"H200\n"
        assert tar.extractfile("fast/train.log").read() == b"Epoch 1/20\n"
