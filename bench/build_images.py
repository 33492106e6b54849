#!/usr/bin/env python3
"""The build of your own images (build_hdf5.py) against the Tiny ImageNet build
(build_tiny_hdf5.py) on the same JPEGs: images written per second.

Writes a class-folder copy of a Tiny ImageNet folder's training images (hard links where
the disk allows, else copies), `TARGET/<English name>/<file>`, named by the first synonym
in words.txt; then times, best of --repeat, each build writing HDF5 files from the same
(cached) files, in this process (Keras's import, which both pay once, is left out).

    python -m bench.build_images ~/data/tiny-imagenet-200 ~/data/tiny-folders
    python -m bench.build_images ~/data/tiny-imagenet-200 ~/data/tiny10-folders \
        --classes 10 --with-val --folders-only   # a real folder of 10 classes to train on
"""

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time

import h5py

from pyimagesearch.cli import ArgumentParser, non_negative_int, positive_int


def folder_name(class_name: str) -> str:
    """A class's folder: its first synonym ("goldfish, Carassius auratus" -> "goldfish")."""
    return class_name.split(",")[0].strip().replace(os.sep, "-")


def write_class_folders(source: str, target: str, classes: int = 0,
                        with_val: bool = False) -> int:
    """Links (or copies) the training images of the first `classes` classes (0: all), and
    with `with_val` their validation images, into `target/<name>/`; returns the count."""
    from pyimagesearch.datasets.tinyimagenet import parse_layout

    layout = parse_layout(source)
    keep = len(layout.wnids) if classes <= 0 else classes
    names = [folder_name(n) for n in layout.class_names]
    names = [n if names.count(n) == 1 else f"{n} ({w})" for n, w in zip(names, layout.wnids)]
    pairs = list(zip(layout.train_paths, layout.train_labels))
    if with_val:
        pairs += list(zip(layout.val_paths, layout.val_labels))
    written = 0
    for path, label in pairs:
        if label >= keep:
            continue
        folder = os.path.join(target, names[label])
        os.makedirs(folder, exist_ok=True)
        link = os.path.join(folder, os.path.basename(path))
        if not os.path.exists(link):
            try:
                os.link(os.path.realpath(path), link)
            except OSError:  # another disk
                shutil.copyfile(path, link)
        written += 1
    return written


def _images_written(hdf5_dir: str) -> int:
    total = 0
    for split in ("train", "val", "test"):
        with h5py.File(os.path.join(hdf5_dir, f"{split}.hdf5"), "r") as db:
            total += len(db["labels"])
    return total


def _timed(main, argv: list[str], hdf5_dir: str) -> tuple[int, float]:
    """(images written, seconds) of one quiet build."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*argv, "--hdf5-dir", hdf5_dir, "--force"])
    seconds = time.perf_counter() - start
    if code:
        raise SystemExit(f"{argv} failed with status {code}")
    return _images_written(hdf5_dir), seconds


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.build_images",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a tiny-imagenet-200 folder (the unzipped download)")
    parser.add_argument("target", help="the folder of class subfolders to write")
    parser.add_argument("--classes", type=non_negative_int, default=0,
                        help="the first N classes (0: all)")
    parser.add_argument("--with-val", action="store_true",
                        help="also put the validation images in the class folders")
    parser.add_argument("--folders-only", action="store_true", help="write them, time nothing")
    parser.add_argument("--repeat", type=positive_int, default=3,
                        help="timed builds of each, the best reported")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="decoding threads of both builds (default: one a CPU core)")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    count = write_class_folders(args.source, args.target, args.classes, args.with_val)
    print(f"{args.target}: {count} images in {len(os.listdir(args.target))} class folders")
    if args.folders_only:
        return 0

    import build_hdf5
    import build_tiny_hdf5

    workers = ["--workers", str(args.workers)]
    builds = {
        "build_tiny_hdf5.py": (build_tiny_hdf5.main, ["--dataset-dir", args.source, *workers]),
        "build_hdf5.py --size 64": (build_hdf5.main, ["--images", args.target, "--size", "64",
                                                      *workers]),
        "build_hdf5.py (default size)": (build_hdf5.main, ["--images", args.target, *workers]),
        "build_hdf5.py --size 32": (build_hdf5.main, ["--images", args.target, "--size", "32",
                                                      *workers]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for main_, build_argv in builds.values():  # warm: the page cache, Keras's import
            _timed(main_, build_argv, tmp)
        rows = []
        for name, (main_, build_argv) in builds.items():
            runs = [_timed(main_, build_argv, tmp) for _ in range(args.repeat)]
            images, seconds = min(runs, key=lambda r: r[1])
            rows.append((name, images, seconds))
    print(f"{'build':<30} {'images':>7} {'seconds':>8} {'images/s':>9}   "
          f"(best of {args.repeat}, {args.workers} decoding threads)")
    for name, images, seconds in rows:
        print(f"{name:<30} {images:>7} {seconds:>8.2f} {images / seconds:>9,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
