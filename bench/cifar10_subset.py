#!/usr/bin/env python3
"""Writes a CIFAR-10 of the first N training images of each batch file (and the whole test
set), in the official python layout, for short experiments (docs/results.md: the
ablation; the diagnosis's real histories).

    python -m bench.cifar10_subset ~/data/cifar10 ~/data/cifar10k --per-batch 2000
    python -m bench.cifar10_subset ~/data/cifar10 ~/data/cifar2k --per-batch 400 --test 2000
"""

import os
import pickle
import shutil
import sys

from pyimagesearch.cli import ArgumentParser


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.cifar10_subset",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a folder holding cifar-10-batches-py/")
    parser.add_argument("target", help="the folder to write cifar-10-batches-py/ in")
    parser.add_argument("--per-batch", type=int, default=2000,
                        help="training images kept from each of the 5 batch files")
    parser.add_argument("--test", type=int, default=None,
                        help="test images kept (default: all 10,000)")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    src = os.path.join(args.source, "cifar-10-batches-py")
    dst = os.path.join(args.target, "cifar-10-batches-py")
    os.makedirs(dst, exist_ok=True)
    for i in range(1, 6):
        with open(os.path.join(src, f"data_batch_{i}"), "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # the official files, trusted here
        kept = {key: value[:args.per_batch] if key in (b"data", b"labels", b"filenames")
                else value for key, value in batch.items()}
        with open(os.path.join(dst, f"data_batch_{i}"), "wb") as f:
            pickle.dump(kept, f)
    with open(os.path.join(src, "test_batch"), "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    kept = {key: value[:args.test] if key in (b"data", b"labels", b"filenames") else value
            for key, value in batch.items()}
    with open(os.path.join(dst, "test_batch"), "wb") as f:
        pickle.dump(kept, f)
    shutil.copy(os.path.join(src, "batches.meta"), os.path.join(dst, "batches.meta"))
    print(f"wrote {dst}: {5 * args.per_batch} training images, {len(kept[b'labels'])} test "
          "images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
