#!/usr/bin/env python3
"""How long a mistake in a path takes to be answered: each script run with a wrong path.

    python -m bench.startup              # 15 runs of each command, their median
    python -m bench.startup --runs 31

Every mistake that can be found before a heavy import (TensorFlow, Keras,
scikit-learn, OpenCV) is found before it, so a wrong `--data` should cost no
more than Python's start-up, NumPy and the command's own checks (the goal: under
0.5 s on an idle machine). Each command runs in a fresh process, as a user
runs it; the figure is the wall time of the whole process, from its start to
its exit, and the command must answer with one line and status 2. Python's own
start-up (`python -c pass`) is measured beside them as the floor.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

from pyimagesearch.cli import ArgumentParser, positive_int

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = {
    "python train_cifar10.py --data /nonexistent": ["train_cifar10.py", "--data", "{missing}",
                                                    "--output", "{tmp}/run"],
    "python train_tinyimagenet.py --hdf5-dir /nonexistent": [
        "train_tinyimagenet.py", "--hdf5-dir", "{missing}", "--output", "{tmp}/run"],
    "python build_tiny_hdf5.py --dataset-dir /nonexistent": [
        "build_tiny_hdf5.py", "--dataset-dir", "{missing}", "--hdf5-dir", "{tmp}/hdf5"],
    "python train_images.py --hdf5-dir /nonexistent": [
        "train_images.py", "--hdf5-dir", "{missing}", "--output", "{tmp}/run"],
    "python build_hdf5.py --images /nonexistent": [
        "build_hdf5.py", "--images", "{missing}", "--hdf5-dir", "{tmp}/hdf5"],
}


def time_command(argv: list[str], runs: int, expect_error: bool = True) -> list[float]:
    """Wall seconds of `runs` runs of `python argv...` from the repository's root."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": ROOT})
        times.append(time.perf_counter() - start)
        if expect_error and (result.returncode != 2 or result.stderr.count("\n") != 1):
            raise SystemExit(f"{' '.join(argv)} did not answer with one line and status 2: "
                             f"{result.returncode}, {result.stderr!r}")
    return times


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=15,
                        help="runs of each command, whose median is reported")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fields = {"missing": os.path.join(tmp, "nonexistent"), "tmp": tmp}
        rows = [("python -c pass (the floor)", time_command(["-c", "pass"], args.runs, False))]
        for name, command in COMMANDS.items():
            rows.append((name, time_command([a.format(**fields) for a in command], args.runs)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.runs} runs each, {os.cpu_count()} cores, load average {load:.2f} at the end")
    print(f"{'command':58} {'median':>8} {'min':>8} {'max':>8}")
    for name, times in rows:
        print(f"{name:58} {statistics.median(times):7.3f}s {min(times):7.3f}s "
              f"{max(times):7.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
