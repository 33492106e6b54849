#!/usr/bin/env python3
"""A trained model and its exports side by side: file size, test accuracy, latency.

    python -m bench.export ~/runs/c10                # exports it if needed, then measures
    python -m bench.export ~/runs/c10 --images 1000  # a quicker accuracy figure

For the run's `.keras` model and its ONNX and LiteRT exports, float32 and int8
(written by `python -m pyimagesearch.export` beside the model unless already there):
the file's size, top-1 accuracy on the test split (all of it by default), and the
latency of one image and of a batch of 64 (the median of --repeats calls after
--warmup calls, each runtime on all cores, through `pyimagesearch.deploy.runtimes`
as `predict` runs them). Prints a Markdown table and the machine; writes it as JSON
with --json.
"""

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from pyimagesearch.cli import ArgumentParser

FILES = [("Keras (.keras)", ".keras", None), ("ONNX float32", ".onnx", ["onnx"]),
         ("ONNX int8", "_int8.onnx", ["onnx", "--int8"]),
         ("LiteRT float32", ".tflite", ["litert"]),
         ("LiteRT int8", "_int8.tflite", ["litert", "--int8"])]


def _latency(predictor, images: np.ndarray, batch: int, warmup: int, repeats: int) -> float:
    """Median seconds of one call on `batch` images."""
    x = images[:batch]
    for _ in range(warmup):
        predictor.run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.export",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a finished CIFAR-10 or Tiny ImageNet run folder")
    parser.add_argument("--images", type=int, help="test images for accuracy (default: all)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--repeats", type=int, default=200,
                        help="timed calls of one image, whose median is reported")
    parser.add_argument("--batch-repeats", type=int, default=50,
                        help="timed calls of a batch of 64, whose median is reported")
    parser.add_argument("--json", help="also write the table here")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    from pyimagesearch import export, startup

    model = export.find_model(args.run)
    stem = os.path.splitext(model)[0]
    for _, suffix, flags in FILES:
        if flags and not os.path.exists(stem + suffix):
            subprocess.run([sys.executable, "-m", "pyimagesearch.export", args.run, "--format",
                            *flags], check=True)
    settings = export.run_settings(model)
    dataset, data = export.data_source(settings, None)
    images, labels, _ = export.load_images(dataset, data, args.images, 1, 0)
    startup.import_keras()
    from pyimagesearch.backend import describe_hardware
    from pyimagesearch.deploy.runtimes import open_model

    rows = []
    for title, suffix, _ in FILES:
        path = stem + suffix
        predictor = open_model(path)
        probs = predictor.predict(images, 256)
        rows.append({"model": title, "file": os.path.basename(path),
                     "mib": os.path.getsize(path) / 2**20,
                     "accuracy": 100 * float(np.mean(probs.argmax(1) == labels.ravel())),
                     "images": len(labels),
                     "ms_1": 1000 * _latency(predictor, images, 1, args.warmup, args.repeats),
                     "ms_64": 1000 * _latency(predictor, images, 64, args.warmup // 4 + 1,
                                              args.batch_repeats)})
        print(f"{title}: done", file=sys.stderr, flush=True)
    print(f"{dataset}, {len(labels)} test images; {describe_hardware()}; median of {args.repeats} single-image and {args.batch_repeats} "
          f"batch-of-64 calls after warm-up\n")
    print("| model | file | size | test accuracy | 1 image | batch of 64 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | `{r['file']}` | {r['mib']:.2f} MiB | {r['accuracy']:.2f}% | "
              f"{r['ms_1']:.2f} ms | {r['ms_64']:.1f} ms |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"dataset": dataset, "hardware": describe_hardware(), "rows": rows}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
