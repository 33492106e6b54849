#!/usr/bin/env python3
"""The recipes' full runs on one GPU with JAX (issue 18), in one call, for either dataset.

    python3 bench/gpu_runs.py cifar10 --data .devdata/cifar-10-images.zip --out "$OUT" --minutes 8
    python3 bench/gpu_runs.py tinyimagenet --data .devdata/tiny-imagenet-200.tar.gz --out "$OUT"

Prepares the data once under `--work`: CIFAR-10 from `cifar-10-images.zip` in the official
layout (with `cifar10_from_images.py`, found beside the zip); Tiny ImageNet from a .tar.gz of
its official layout (`python -m bench.tiny_subset ... --tar`) through `build_tiny_hdf5.py`. Then it
trains `--parallel` runs at a time on the machine's one GPU (each its own training-script
process with `--seed 1`; JAX's memory not preallocated, so they share it), in the order of
`RUNS` (most wanted first; `--runs` picks). Every 5 s, and once more at the end, it packs each
run's small text files (history, settings, evaluation, CSV log, console output with every
epoch's seconds) and the machine's description into `OUT/runs.tar.gz`, written atomically, so
that what finished comes back even when the call is cut short. At `--minutes` a run still going
is asked to stop (SIGTERM: the scripts checkpoint and exit), so its history up to there is kept.

`--append` adds flags to every run, after its own (a rehearsal on a CPU:
`--append="--epochs 2 --subset 512 --holdout 256"`). Unpack the result into results/:
`tar -xzf runs.tar.gz -C results/gpu_cifar10`.

On a GPU machine with JAX but no Keras and no internet (Python 3.12), carry the wheels
keras 3.15.1, namex 0.1.0, optree 0.20.0 (cp312), imutils 0.5.4 and for Tiny ImageNet
simplejpeg 1.9.0 (`pip download` / `pip wheel` them elsewhere into `.whl/`) and the data in
`.devdata/`, then:

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
    PYTHONPATH=/tmp/site python3 bench/gpu_runs.py cifar10 --data .devdata/cifar-10-images.zip \
        --out "$OUT" --minutes 8
"""

import argparse
import io
import os
import signal
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# dataset: {name: the flags of one run}, in the order they are wanted. CIFAR-10: fast and
# classic at the fast recipe's 20 epochs, classic's published 70, then the fast recipe's parts.
# Tiny ImageNet: both recipes at the fast recipe's 15 epochs, then classic's published 70.
RUNS = {
    "cifar10": {
        "fast": ["--recipe", "fast"],
        "classic20": ["--recipe", "classic", "--epochs", "20"],
        "classic70": ["--recipe", "classic"],
        "fast-dropout0.2": ["--recipe", "fast", "--dropout", "0.2"],
        "fast-nosmoothing": ["--recipe", "fast", "--label-smoothing", "0"],
        "fast-cutout8": ["--recipe", "fast", "--cutout", "8"],
        "fast15": ["--recipe", "fast", "--epochs", "15"],
    },
    "tinyimagenet": {
        "fast": ["--recipe", "fast"],
        "classic15": ["--recipe", "classic", "--epochs", "15"],
        "classic70": ["--recipe", "classic"],
    },
}
SCRIPTS = {"cifar10": "train_cifar10.py", "tinyimagenet": "train_tinyimagenet.py"}
KEPT = (".json", ".csv", ".txt", ".log")   # what comes back of a run: its small text files
MAX_BYTES = 1 << 20                         # ... up to 1 MiB each (never a model)


def prepare(dataset: str, source: str, work: str) -> list:
    """Prepares the data under `work` (once); the training script's flags that read them."""
    if dataset == "cifar10":
        data = os.path.join(work, "cifar10")
        if not os.path.isdir(os.path.join(data, "cifar-10-batches-py")):
            converter = os.path.join(os.path.dirname(os.path.abspath(source)),
                                     "cifar10_from_images.py")
            subprocess.run([sys.executable, converter, data, "--zip", os.path.abspath(source)],
                           check=True)
        return ["--data", data]
    hdf5 = os.path.join(work, "tiny-hdf5")
    if not os.path.exists(os.path.join(hdf5, "mean.json")):
        unpacked = os.path.join(work, "tiny")
        with tarfile.open(source) as archive:
            archive.extractall(unpacked, filter="data")
        layout = next(root for root, _, files in os.walk(unpacked) if "wnids.txt" in files)
        subprocess.run([sys.executable, os.path.join(ROOT, "build_tiny_hdf5.py"),
                        "--dataset-dir", layout, "--hdf5-dir", hdf5], check=True, cwd=ROOT)
    return ["--hdf5-dir", hdf5]


def start(script: str, name: str, flags: list, runs_dir: str, append: list) -> subprocess.Popen:
    """One training run of `script` (with `flags`) in its own process, its console output in
    `<run>/train.log`."""
    output = os.path.join(runs_dir, name)
    os.makedirs(output, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, os.path.join(ROOT, script), "--output", output, "--seed", "1",
               "--verbose", "2", *flags, *append]
    log = open(os.path.join(output, "train.log"), "a")
    log.write("$ " + " ".join(command[1:]) + "\n")
    log.flush()
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def pack(runs_dir: str, out: str, notes: str) -> None:
    """Every run's small text files and `notes` into `out/runs.tar.gz`, atomically."""
    partial = os.path.join(out, ".runs.tar.gz.partial")
    with tarfile.open(partial, "w:gz") as tar:
        data = notes.encode()
        info = tarfile.TarInfo("machine.txt")
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
        for name in sorted(os.listdir(runs_dir)):
            folder = os.path.join(runs_dir, name)
            for file in sorted(os.listdir(folder)):
                path = os.path.join(folder, file)
                if (file.endswith(KEPT) and os.path.isfile(path)
                        and os.path.getsize(path) <= MAX_BYTES):
                    tar.add(path, arcname=f"{name}/{file}")
    os.replace(partial, os.path.join(out, "runs.tar.gz"))


def describe() -> str:
    """The machine, for machine.txt: GPU, JAX and Keras versions, CPU count."""
    lines = [f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"]
    for command in (["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                     "--format=csv,noheader"],
                    [sys.executable, "-c", "import jax, keras; print('jax', jax.__version__, "
                     "'keras', keras.__version__, jax.devices())"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            lines.append((done.stdout or done.stderr).strip())
        except (OSError, subprocess.TimeoutExpired) as error:
            lines.append(f"{command[0]}: {error}")
    return "\n".join(lines) + "\n"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("dataset", choices=list(RUNS), help="whose runs: CIFAR-10 or Tiny ImageNet")
    parser.add_argument("--data", required=True, help="cifar-10-images.zip (with "
                        "cifar10_from_images.py beside it), or a .tar.gz of Tiny ImageNet's layout")
    parser.add_argument("--out", required=True, help="where runs.tar.gz is written")
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="stop every run still going after this long (default: 8)")
    parser.add_argument("--runs", nargs="+", help="names in RUNS (default: all of the dataset's)")
    parser.add_argument("--parallel", type=int, default=3,
                        help="runs at once on the GPU; the next starts when one ends (default: 3)")
    parser.add_argument("--append", default="", help="flags added to every run")
    parser.add_argument("--work", default="/tmp/gpu_runs", help="data and run folders (default: /tmp/gpu_runs)")
    return parser


def main(argv=None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    runs = RUNS[args.dataset]
    unknown = sorted(set(args.runs or []) - set(runs))
    if unknown:
        parser.error(f"no run named {', '.join(unknown)} for {args.dataset}; "
                     f"choose from {', '.join(runs)}")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"   # the runs share the GPU

    deadline = time.monotonic() + 60 * args.minutes
    runs_dir = os.path.join(args.work, "runs", args.dataset)
    os.makedirs(runs_dir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    notes = describe()
    print(notes, end="", flush=True)
    began = time.monotonic()
    data = prepare(args.dataset, args.data, args.work)
    notes += f"data prepared in {time.monotonic() - began:.0f} s\n"
    queue, processes = list(args.runs or runs), {}
    started, began_at, ended = time.monotonic(), {}, {}
    stopping = False
    while queue or any(p.poll() is None for p in processes.values()):
        ended.update({name: time.monotonic() for name, p in processes.items()
                      if p.poll() is not None and name not in ended})
        while (queue and not stopping
               and sum(p.poll() is None for p in processes.values()) < args.parallel):
            name = queue.pop(0)
            processes[name] = start(SCRIPTS[args.dataset], name, runs[name] + data, runs_dir,
                                    args.append.split())
            began_at[name] = time.monotonic()
            print(f"{name}: started at {(time.monotonic() - started) / 60:.1f} min", flush=True)
        if not stopping and time.monotonic() > deadline:
            stopping, queue = True, []
            for p in processes.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30     # then they are killed
        elif stopping and time.monotonic() > deadline:
            for p in processes.values():
                if p.poll() is None:
                    p.kill()
        pack(runs_dir, args.out, notes)
        time.sleep(5 if not stopping else 2)
    now = time.monotonic()
    summary = "\n".join(f"{name}: exit {p.returncode}, started at "
                        f"{(began_at[name] - started) / 60:.1f} min, ran "
                        f"{(ended.get(name, now) - began_at[name]) / 60:.1f} min"
                        for name, p in processes.items())
    pack(runs_dir, args.out, notes + summary + "\n")
    print(summary, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
