#!/usr/bin/env python3
"""What writing `report.html` costs, against an epoch's time (the target: under 2% of a
CIFAR-10 epoch).

    python -m bench.report                         # a 70-epoch CIFAR-10 run, made up here
    python -m bench.report --run ~/runs/c10_fast   # a real run folder (its own epoch time)

Without --run it lays out a run folder as a finished 70-epoch MiniGoogLeNet
CIFAR-10 run leaves it: the published 70-epoch history of that recipe
(tests/data/histories/minigooglenet_cifar10_tdevh.json), its settings, and a
test split of 10,000 images in 10 classes with the confusion matrix and the
grid of misclassified images. It times `run_report.write` (read the files,
diagnose, draw the curves, write the page atomically) as the training engine
calls it after every epoch, without the test split (as during training) and
with it (after the last epoch), and prints the median of --repeats against
--epoch-seconds (or the run's own mean epoch time from its timeline).
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

from pyimagesearch.cli import ArgumentParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HISTORY = os.path.join(ROOT, "tests", "data", "histories", "minigooglenet_cifar10_tdevh.json")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def cifar_like_run(folder: str):
    """A finished 70-epoch CIFAR-10 run's folder (made up but for its history)."""
    from pyimagesearch import atomic
    from pyimagesearch.evaluation import figures
    from pyimagesearch.evaluation.history import load_history
    from pyimagesearch.io.runfiles import RunPaths

    os.makedirs(folder, exist_ok=True)
    paths = RunPaths(folder, "minigooglenet_cifar10")
    history = load_history(HISTORY)
    epochs = len(history["loss"])
    atomic.write_json(paths.history, history)
    atomic.write_json(paths.args, {"args": {"epochs": epochs, "lr": 0.01, "batch_size": 64,
                                            "recipe": "classic", "shift": 0.1, "flip": True,
                                            "precision": "bf16", "lr_restarts": {}},
                                   "backend": "tensorflow", "keras": "3", "title":
                                   "MiniGoogLeNet on CIFAR-10"})
    atomic.write_json(paths.timeline, {"sessions": [{"started": "2026-12-03T06:00:00+0000",
                                                     "initial_epoch": 0, "epochs": epochs}],
                                       "seconds": [170.0] * epochs})
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10_000)
    preds = np.where(rng.random(10_000) < 0.9, labels, rng.integers(0, 10, 10_000))
    counts = figures.plot_confusion_matrix(labels, preds, CLASSES, paths.file("_confusion.png"))
    wrong = np.flatnonzero(preds != labels)[:24]
    figures.plot_misclassified(rng.integers(0, 256, (len(wrong), 32, 32, 3), dtype=np.uint8),
                               labels[wrong], rng.dirichlet(np.ones(10), len(wrong)), CLASSES,
                               paths.file("_misclassified.png"))
    evaluation = {"rank1": float(np.mean(preds == labels)), "rank5": 0.99, "n": 10_000,
                  "model": paths.model, "flip_tta": {"rank1": 0.91, "rank5": 0.99},
                  "class_names": CLASSES, "confusion": counts}
    return paths, evaluation


def time_writes(paths, repeats: int) -> float:
    """The median seconds of `run_report.write(paths)`."""
    from pyimagesearch.evaluation import run_report

    run_report.write(paths)  # the first call imports matplotlib and builds its font cache
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        run_report.write(paths)
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.report",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a run folder to time instead of the made-up one (its "
                                      "files are copied; the folder is not changed)")
    parser.add_argument("--epoch-seconds", type=float, default=None,
                        help="an epoch's seconds to compare with (default: the run's own "
                             "mean from its timeline, or 170, a CIFAR-10 epoch of the fast "
                             "recipe on a 2-core bf16 CPU)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="times each report is written, whose median is reported")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    from pyimagesearch import atomic
    from pyimagesearch.io.runfiles import RunPaths

    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "run")
        if args.run:
            shutil.copytree(args.run, folder, ignore=shutil.ignore_patterns(
                "checkpoints", "tensorboard", "*.keras"))
            paths = RunPaths.find(folder)
            evaluation = None
            if os.path.exists(paths.eval):
                with open(paths.eval) as f:
                    evaluation = json.load(f)
                os.remove(paths.eval)
        else:
            paths, evaluation = cifar_like_run(folder)
        with open(paths.timeline) as f:
            recorded = [s for s in json.load(f).get("seconds", []) if s]
        epoch = args.epoch_seconds or (float(np.mean(recorded)) if recorded else 170.0)
        during = time_writes(paths, args.repeats)
        rows = [("each epoch (no test split yet)", during)]
        if evaluation:
            atomic.write_json(paths.eval, evaluation)
            rows.append(("after the test split", time_writes(paths, args.repeats)))
        size = os.path.getsize(paths.report)
    print(f"report.html of {paths.name}, {size / 1024:.0f} KiB; epoch {epoch:.0f} s; median "
          f"of {args.repeats}:")
    for what, seconds in rows:
        print(f"  {what}: {seconds:.2f} s = {seconds / epoch:.2%} of an epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
