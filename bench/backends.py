#!/usr/bin/env python3
"""MiniGoogLeNet training speed on every installed Keras backend, float32 and bf16.

    python -m bench.backends            # about 3 minutes on 2 CPU cores
    python -m bench.backends --steps 30

Each measurement runs in its own process with `KERAS_BACKEND` set: our input
pipeline (uint8 batches, RandomAffine shifts and flips) feeding `fit` at the
recipe's batch size 64, timed over `--steps` steps after 3 warm-up steps (the
training part of bench/run.py, with the precision fixed). Prints a Markdown
table.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

from pyimagesearch.cli import ArgumentParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("off", "bf16")


def measure(backend: str, precision: str, steps: int) -> dict:
    """Training images/s of MiniGoogLeNet on `backend` in `precision`, in a fresh process."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-m", "bench.backends", "--child", precision,
                           "--steps", str(steps)], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
        raise SystemExit(f"{backend} {precision} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.backends",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=15, help="timed training steps")
    parser.add_argument("--child", choices=PRECISIONS, help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.child:
        import keras

        from bench.run import part_train

        child = argparse.Namespace(way="ours", network="mini", warmup=3, steps=args.steps,
                                   workdir=None, precision=args.child)
        print(json.dumps({**part_train(child), "backend": keras.backend.backend(),
                          "version": _version(keras.backend.backend())}))
        return 0

    installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    rows = ["| backend | float32 training (img/s) | bf16 training (img/s) |", "|---|---:|---:|"]
    for backend in installed:
        figures = {p: measure(backend, p, args.steps) for p in PRECISIONS}
        print(f"  {backend}: {figures['off']['images_per_s']:.1f} float32, "
              f"{figures['bf16']['images_per_s']:.1f} bf16", flush=True)
        rows.append(f"| {backend} {figures['off']['version']} | "
                    f"{figures['off']['images_per_s']:,.0f} | "
                    f"{figures['bf16']['images_per_s']:,.0f} |")
    print("\n" + "\n".join(rows))
    return 0


def _version(backend: str) -> str:
    return importlib.import_module(backend).__version__.split("+")[0]


if __name__ == "__main__":
    sys.exit(main())
