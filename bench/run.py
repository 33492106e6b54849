#!/usr/bin/env python3
"""Measures this toolkit against the classic baseline, side by side, on this machine.

    python -m bench.run                       # real Tiny ImageNet subset from ../shared/data
    python -m bench.run --tiny-zip tiny-imagenet-200.zip --json output/bench.json
    python -m bench.run --quick               # fewer steps: a rough table in about 3 minutes

In one run it measures, each part in its own process (so peak memory is per
part and nothing carries over): the matmul peak of the machine (float32 and
bfloat16), HDF5 build speed and bytes per image, the input pipeline's images/s
for Tiny ImageNet batches with the full training augmentation, and training
images/s of MiniGoogLeNet (32x32, batch 64, SGD) and DeeperGoogLeNet (64x64,
batch 64, Adam, L2) with their fraction of the matmul peak. "classic" is
bench/classic.py (float64 HDF5, per-image OpenCV preprocessing and per-image
ImageDataGenerator augmentation, float32 model with Keras's batch norm);
"ours" is what the training scripts run (uint8 HDF5, RandomAffine on whole
batches, the auto mixed precision, fused batch norm). It prints a Markdown
table and writes the figures as JSON.
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

from pyimagesearch import startup  # noqa: F401  (TensorFlow's log level, before it loads)
from pyimagesearch.cli import ArgumentParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_ZIP = os.path.join(ROOT, "..", "shared", "data", "tiny-imagenet-200-subset.zip")
BATCH = 64          # both recipes' batch size
CLASSIC_IMAGES = 4000  # images the classic build writes (float64: 98 KB each)
TINY_AUG = dict(rotation=18.0, zoom=0.15, shift=0.2, shear=0.15, flip=True)
CIFAR_AUG = dict(shift=0.1, flip=True)


# ---------------------------------------------------------------- parts (child processes)

def peak_rss_mib() -> float:
    """This process's peak resident memory."""
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def part_matmul(args) -> dict:
    """Best-of-n square matmul throughput in float32 and bfloat16 (GFLOP/s)."""
    import keras
    import numpy as np
    from keras import ops

    n = 4096
    result = {}
    for dtype in ("float32", "bfloat16"):
        a = ops.convert_to_tensor(np.random.default_rng(0).random((n, n)), dtype=dtype)
        b = ops.convert_to_tensor(np.random.default_rng(1).random((n, n)), dtype=dtype)
        def product():
            return ops.convert_to_numpy(ops.cast(ops.sum(ops.matmul(a, b)), "float32"))

        product()  # warm up
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - start)
        result[dtype] = 2 * n**3 / best / 1e9
    result["backend"] = keras.backend.backend()
    result["machine"] = machine()
    result["versions"] = versions()
    return result


def part_build_ours(args) -> dict:
    """build_tiny_hdf5.py on the whole layout."""
    import h5py
    import keras  # noqa: F401  (imported before the clock starts, as the classic side's is)
    import sklearn.model_selection  # noqa: F401

    import build_tiny_hdf5

    out = os.path.join(args.workdir, "ours")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    code = build_tiny_hdf5.main(["--dataset-dir", args.layout, "--hdf5-dir", out, "--force"])
    seconds = time.perf_counter() - start
    if code:
        raise SystemExit(f"build_tiny_hdf5.py exited {code}")
    images = size = pixels = 0
    for split in ("train", "val", "test"):
        path = os.path.join(out, f"{split}.hdf5")
        with h5py.File(path, "r") as db:
            images += db["images"].shape[0]
            pixels += db["images"].id.get_storage_size()
        size += os.path.getsize(path)
    return {"images": images, "seconds": seconds, "images_per_s": images / seconds,
            "file_bytes_per_image": size / images, "pixel_bytes_per_image": pixels / images}


def _training_files(layout: str, limit: int):
    """`limit` training images drawn at random (the layout lists them class by class)."""
    import numpy as np

    from pyimagesearch.datasets.tinyimagenet import parse_layout

    found = parse_layout(layout)
    pick = np.random.default_rng(0).permutation(len(found.train_paths))[:limit]
    return [found.train_paths[i] for i in pick], found.train_labels[pick]


def part_build_classic(args) -> dict:
    """The classic build: imread and a float64 write per image."""
    from bench import classic

    paths, labels = _training_files(args.layout, CLASSIC_IMAGES)
    out = os.path.join(args.workdir, "classic_train.hdf5")
    start = time.perf_counter()
    info = classic.build_hdf5(paths, labels, out)
    seconds = time.perf_counter() - start
    with open(os.path.join(args.workdir, "classic_mean.json"), "w") as f:
        json.dump(info["mean_rgb"], f)
    return {"images": info["images"], "seconds": seconds,
            "images_per_s": info["images"] / seconds,
            "file_bytes_per_image": classic.file_bytes_per_image(out)}


def _time_batches(data, limit: int) -> tuple[int, float]:
    data[0]  # opens files, warms caches
    count, start = 0, time.perf_counter()
    for index in range(min(limit, len(data))):
        count += len(data[index][0])
    return count, time.perf_counter() - start


def part_pipeline_ours(args) -> dict:
    """HDF5DatasetGenerator + RandomAffine, held in memory and streamed from disk."""
    from pyimagesearch.io import HDF5DatasetGenerator
    from pyimagesearch.preprocessing import RandomAffine

    path = os.path.join(args.workdir, "ours", "train.hdf5")
    result = {}
    for mode, in_memory in (("in_memory", True), ("streamed", False)):
        data = HDF5DatasetGenerator(path, BATCH, seed=0, in_memory=in_memory,
                                    augment=RandomAffine(**TINY_AUG))
        images, seconds = _time_batches(data, 10**9)
        data.close()
        result[mode] = images / seconds
    # As `fit` runs it with `workers=2`: batches built in two threads.
    from concurrent.futures import ThreadPoolExecutor

    data = HDF5DatasetGenerator(path, BATCH, seed=0, in_memory=True,
                                augment=RandomAffine(**TINY_AUG))
    data[0]
    with ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        count = sum(len(x) for x, _ in pool.map(data.__getitem__, range(len(data))))
        result["two_threads"] = count / (time.perf_counter() - start)
    result["images"] = images
    result["images_per_s"] = result["in_memory"]
    return result


def part_pipeline_classic(args) -> dict:
    """The classic generator: per-image preprocessors and ImageDataGenerator warps."""
    from bench import classic

    with open(os.path.join(args.workdir, "classic_mean.json")) as f:
        mean = json.load(f)
    data = classic.ClassicBatches(os.path.join(args.workdir, "classic_train.hdf5"), BATCH, mean,
                                  classic.image_data_generator(**TINY_AUG))
    images, seconds = _time_batches(data, args.classic_batches)
    return {"images": images, "images_per_s": images / seconds}


def training_flops(network) -> float:
    """FLOPs of one training image: 3x the forward pass's convolutions and dense layers."""
    import keras

    forward = 0
    for layer in network._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape  # (None, H, W, C) channels-last
            k_h, k_w = layer.kernel_size
            forward += 2 * out[1] * out[2] * out[3] * k_h * k_w * layer.kernel.shape[2]
        elif isinstance(layer, keras.layers.Dense):
            forward += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return 3.0 * forward


def part_train(args) -> dict:
    """Training images/s of one network, the classic way or ours."""
    import keras
    import numpy as np

    from pyimagesearch.nn.conv.deepergooglenet import DeeperGoogLeNet
    from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
    from pyimagesearch.preprocessing import RandomAffine, with_preprocessing
    from pyimagesearch.training import precision

    ours = args.way == "ours"
    steps = args.warmup + args.steps
    keras.utils.set_random_seed(0)
    if ours:
        chosen, reason = precision.resolve(getattr(args, "precision", None) or "auto")
        precision.use(chosen)
    else:
        chosen, reason = "off", "the classic code trained in float32"

    if args.network == "mini":
        network = MiniGoogLeNet.build(32, 32, 3, 10)
        optimizer = keras.optimizers.SGD(1e-2, momentum=0.9)
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (steps * BATCH, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, steps * BATCH)
        mean = x.mean(axis=0)
        if ours:
            from pyimagesearch.io import ArrayBatches

            data = ArrayBatches(x, y, BATCH, seed=0, augment=RandomAffine(**CIFAR_AUG))
        else:
            from bench import classic

            data = classic.ClassicArrayBatches(x, y, BATCH, mean,
                                               classic.image_data_generator(
                                                   0, 0, CIFAR_AUG["shift"], 0, True))
    else:
        network = DeeperGoogLeNet.build(64, 64, 3, 200, reg=2e-4)
        optimizer = keras.optimizers.Adam(1e-3)
        if ours:
            from pyimagesearch.io import HDF5DatasetGenerator

            path = os.path.join(args.workdir, "ours", "train.hdf5")
            data = HDF5DatasetGenerator(path, BATCH, seed=0, augment=RandomAffine(**TINY_AUG))
            mean = [122.0, 114.0, 101.0]
        else:
            from bench import classic

            with open(os.path.join(args.workdir, "classic_mean.json")) as f:
                mean = json.load(f)
            data = classic.ClassicBatches(os.path.join(args.workdir, "classic_train.hdf5"),
                                          BATCH, mean, classic.image_data_generator(**TINY_AUG))
    if len(data) < steps:
        raise SystemExit(f"only {len(data)} batches for {steps} steps; lower --steps")
    flops = training_flops(network)
    if ours:
        model = with_preprocessing(network, mean)
    else:
        from bench import classic

        model = classic.classic_network(network)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # Wall time from the end of the warm-up steps to the end of the last step.
    times = {}

    def record(batch, logs=None):
        if batch == args.warmup - 1:
            times["start"] = time.perf_counter()
        times["end"] = time.perf_counter()

    clock = keras.callbacks.LambdaCallback(on_train_batch_end=record)
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock],
              shuffle=False)
    images_per_s = args.steps * BATCH / (times["end"] - times["start"])
    return {"images_per_s": images_per_s, "precision": chosen, "why": reason,
            "gflop_per_image": flops / 1e9, "achieved_gflops": images_per_s * flops / 1e9,
            "steps": args.steps}


PARTS = {"matmul": part_matmul, "build_ours": part_build_ours,
         "build_classic": part_build_classic, "pipeline_ours": part_pipeline_ours,
         "pipeline_classic": part_pipeline_classic, "train": part_train}


def run_part(name: str, args, **extra) -> dict:
    """Runs one part in a fresh Python process; returns its figures and peak memory."""
    argv = [sys.executable, "-m", "bench.run", "--part", name, "--workdir", args.workdir,
            "--layout", args.layout, "--steps", str(extra.pop("steps", args.steps)),
            "--warmup", str(args.warmup), "--repeats", str(args.repeats),
            "--classic-batches", str(args.classic_batches)]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    label = " ".join([name] + [str(v) for v in extra.values()])
    print(f"  {label} ...", end="", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"bench part {label} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f" {time.perf_counter() - start:.0f} s", flush=True)
    return result


# ---------------------------------------------------------------- the whole run

def machine() -> dict:
    from pyimagesearch.backend import _cpu_flags, _cpu_name

    flags = _cpu_flags()
    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "bf16_units": sorted(flags & {"amx_bf16", "avx512_bf16"}),
            "platform": platform.platform()}


def versions() -> dict:
    import importlib.metadata as md

    found = {}
    for package in ("keras", "tensorflow", "jax", "torch", "numpy", "h5py", "opencv-python-headless"):
        try:
            found[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return found


def prepare_layout(args) -> str:
    """Unzips the Tiny ImageNet download (or writes a synthetic one) under the work folder."""
    if args.synthetic:
        spec = importlib.util.spec_from_file_location(
            "tiny_data", os.path.join(ROOT, "tests", "tiny_data.py"))
        tiny_data = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tiny_data)
        write_tiny_imagenet = tiny_data.write_tiny_imagenet

        return write_tiny_imagenet(os.path.join(args.workdir, "layout"), classes=200,
                                   train_per_class=100, val_per_class=10)
    if not os.path.isfile(args.tiny_zip):
        raise SystemExit(f"{args.tiny_zip} does not exist; pass --tiny-zip with the Tiny "
                         "ImageNet zip, or --synthetic for generated images")
    with zipfile.ZipFile(args.tiny_zip) as archive:
        archive.extractall(os.path.join(args.workdir, "layout"))
    for root, dirs, _ in os.walk(os.path.join(args.workdir, "layout")):
        if "wnids.txt" in os.listdir(root):
            return root
    raise SystemExit(f"{args.tiny_zip} holds no tiny-imagenet-200 layout (no wnids.txt)")


def table(r: dict) -> str:
    def ratio(ours, classic):
        return f"{ours / classic:.1f}x"

    peak32, peak16 = r["matmul"]["float32"], r["matmul"]["bfloat16"]
    rows = [
        ("Input pipeline, Tiny ImageNet batches + full augmentation, 1 thread (img/s)",
         f"{r['pipeline_classic']['images_per_s']:,.0f}",
         f"{r['pipeline_ours']['images_per_s']:,.0f}",
         ratio(r["pipeline_ours"]["images_per_s"], r["pipeline_classic"]["images_per_s"])),
        ("  same, streamed from disk (img/s)", "",
         f"{r['pipeline_ours']['streamed']:,.0f}",
         ratio(r["pipeline_ours"]["streamed"], r["pipeline_classic"]["images_per_s"])),
        ("  same, 2 worker threads (train_tinyimagenet.py's default) (img/s)", "",
         f"{r['pipeline_ours']['two_threads']:,.0f}",
         ratio(r["pipeline_ours"]["two_threads"], r["pipeline_classic"]["images_per_s"])),
    ]
    for net, title in (("mini", "MiniGoogLeNet"), ("deeper", "DeeperGoogLeNet")):
        classic, ours = r[f"train_classic_{net}"], r[f"train_ours_{net}"]
        peak_ours = peak16 if ours["precision"] == "bf16" else peak32
        rows.append((f"{title} training, batch {BATCH} (img/s)",
                     f"{classic['images_per_s']:.1f}", f"{ours['images_per_s']:.1f}",
                     ratio(ours["images_per_s"], classic["images_per_s"])))
        rows.append((f"  GFLOP/s ({ours['gflop_per_image']:.2f} GFLOP/img) and share of "
                     "matmul peak",
                     f"{classic['achieved_gflops']:.0f} = {classic['achieved_gflops'] / peak32:.0%}"
                     " of fp32",
                     f"{ours['achieved_gflops']:.0f} = {ours['achieved_gflops'] / peak_ours:.0%}"
                     f" of {'bf16' if peak_ours == peak16 else 'fp32'}", ""))
    rows += [
        ("HDF5 bytes per image (file)", f"{r['build_classic']['file_bytes_per_image']:,.0f}",
         f"{r['build_ours']['file_bytes_per_image']:,.0f}",
         ratio(r["build_classic"]["file_bytes_per_image"],
               r["build_ours"]["file_bytes_per_image"]) + " smaller"),
        ("  pixels alone", "", f"{r['build_ours']['pixel_bytes_per_image']:,.0f}", ""),
        ("HDF5 build (img/s)", f"{r['build_classic']['images_per_s']:,.0f}",
         f"{r['build_ours']['images_per_s']:,.0f}",
         ratio(r["build_ours"]["images_per_s"], r["build_classic"]["images_per_s"])),
    ]
    for part, title in (("pipeline", "input pipeline"), ("train_{}_mini", "MiniGoogLeNet training"),
                        ("train_{}_deeper", "DeeperGoogLeNet training"),
                        ("build", "HDF5 build")):
        if "{}" in part:
            classic, ours = r[part.format("classic")], r[part.format("ours")]
        else:
            classic, ours = r[f"{part}_classic"], r[f"{part}_ours"]
        rows.append((f"Peak memory, {title} (MiB)", f"{classic['peak_rss_mib']:,.0f}",
                     f"{ours['peak_rss_mib']:,.0f}", ""))
    m = r["machine"]
    head = (f"{m['cpu']}, {m['cores']} cores ({', '.join(m['bf16_units']) or 'no bf16 units'}); "
            f"Keras {r['versions'].get('keras')} on {r['matmul']['backend']}; "
            f"ours trains in {r['train_ours_mini']['precision']}; "
            f"matmul peak {peak32:.0f} GFLOP/s fp32, {peak16:.0f} GFLOP/s bf16\n\n")
    lines = ["| | classic | ours | ours vs classic |", "|---|---:|---:|---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return head + "\n".join(lines)


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.run",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny-zip", default=DEFAULT_ZIP,
                        help="the Tiny ImageNet zip (official layout) to build and read (default: "
                             "../shared/data/tiny-imagenet-200-subset.zip beside the clone)")
    parser.add_argument("--synthetic", action="store_true",
                        help="generated images in the official layout instead of --tiny-zip")
    parser.add_argument("--json", default=os.path.join(ROOT, "output", "bench.json"),
                        help="where the figures are written (default: output/bench.json)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps a part")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument("--repeats", type=int, default=8, help="matmul repeats (best taken)")
    parser.add_argument("--classic-batches", type=int, default=30,
                        help="batches timed through the classic input pipeline")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--layout", help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--way", choices=("ours", "classic"), help=argparse.SUPPRESS)
    parser.add_argument("--network", choices=("mini", "deeper"), help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    if args.part:  # a child process: one part, its figures as the last line
        result = PARTS[args.part](args)
        result["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(result))
        return 0

    if args.quick:
        args.steps, args.repeats, args.classic_batches = 6, 3, 10
    keep = args.workdir
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="bench_")
    started = time.time()
    try:
        print(f"bench: working in {args.workdir}", flush=True)
        args.layout = prepare_layout(args)
        r = {"batch_size": BATCH, "matmul": run_part("matmul", args)}
        r["machine"] = r["matmul"].pop("machine")
        r["versions"] = r["matmul"].pop("versions")
        r["build_ours"] = run_part("build_ours", args)
        r["build_classic"] = run_part("build_classic", args)
        r["pipeline_ours"] = run_part("pipeline_ours", args)
        r["pipeline_classic"] = run_part("pipeline_classic", args)
        for net in ("mini", "deeper"):
            for way in ("classic", "ours"):
                steps = args.steps if net == "mini" else max(2, args.steps // 2)
                r[f"train_{way}_{net}"] = run_part("train", args, way=way, network=net,
                                                   steps=steps)
        r["seconds"] = time.time() - started
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    text = table(r)
    print("\n" + text)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    tmp = args.json + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({**r, "table": text}, f, indent=2)
    os.replace(tmp, args.json)
    print(f"\nwrote {args.json} ({r['seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
