#!/usr/bin/env python3
"""Turn a folder of your own images, one subfolder per class, into HDF5 files, once.

    python build_hdf5.py --images ~/photos --hdf5-dir ~/data/photos-hdf5
    python build_hdf5.py --images ~/photos --hdf5-dir ~/data/photos-hdf5 --size 64 --skip-bad

Reads every image under --images/<class>/ (nested folders allowed; JPEG, PNG,
BMP, WebP, TIFF; grayscale, CMYK and alpha become RGB), scales its shorter side
to --size and crops the centre square (the classic aspect-aware resize). The
default size follows the images: 32 when the median of their shorter sides is
below 48 pixels, else 64. Each class is split in proportion (--val-fraction and
--test-fraction of its images, at least one each) with a fixed seed.

Writes to --hdf5-dir, as build_tiny_hdf5.py does: train.hdf5, val.hdf5 and
test.hdf5, each holding `images` (N, size, size, 3) uint8 RGB, `labels` (N,)
and `class_names` (the folder names, sorted), and mean.json (the training
split's mean R, G, B). Files are written under temporary names and renamed
when complete; rerunning an interrupted build finishes it. Without --skip-bad,
a file with an image's extension that cannot be decoded stops the build once
every image has been decoded: the error names them all, and nothing is written.
Files without an image's extension, and hidden ones, are ignored and counted.
"""

import functools
import sys
import time

from config import images_config as config
from pyimagesearch import startup  # noqa: F401  (TensorFlow's log level, if it is loaded)
from pyimagesearch.cli import (
    ArgumentParser,
    fraction,
    handle_user_errors,
    positive_int,
    random_seed,
)
from pyimagesearch.io import hdf5build

SMALLEST = 32  # the smallest images a network here takes (MiniGoogLeNet)


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(description="Build HDF5 files from a folder of class subfolders "
                                        "(defaults: config/images_config.py).")
    parser.add_argument("--images", required=True, metavar="FOLDER",
                        help="the folder that holds one subfolder of images per class")
    parser.add_argument("--hdf5-dir", default=config.HDF5_DIR, metavar="FOLDER",
                        help="folder for train.hdf5, val.hdf5, test.hdf5 and mean.json")
    parser.add_argument("--size", type=positive_int, metavar="PIXELS",
                        help="side of the square images written, at least 32 (default: 32 "
                             "when the median shorter side of the images is below 48 pixels, "
                             "else 64)")
    parser.add_argument("--val-fraction", type=fraction, default=config.VAL_FRACTION,
                        help="share of each class's images for validation (at least one)")
    parser.add_argument("--test-fraction", type=fraction, default=config.TEST_FRACTION,
                        help="share of each class's images for the test split (at least one)")
    parser.add_argument("--seed", type=random_seed, default=config.SPLIT_SEED,
                        help="seed of the stratified split")
    hdf5build.add_build_arguments(parser)
    return parser


@handle_user_errors(on_interrupt="interrupted; rerun the same command to finish the build")
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    from pyimagesearch.datasets import imagefolder
    from pyimagesearch.errors import UserError
    from pyimagesearch.training import run

    started = time.time()
    if args.size is not None and args.size < SMALLEST:
        raise UserError(f"--size {args.size} is below {SMALLEST}, the smallest images the "
                        "networks here take; pass --size 32 or more")
    for flag, value in (("--val-fraction", args.val_fraction),
                        ("--test-fraction", args.test_fraction)):
        if value <= 0:
            raise UserError(f"{flag} must be above 0: training needs a validation split and "
                            "evaluation a test split")
    if args.val_fraction + args.test_fraction >= 1:
        raise UserError(f"--val-fraction {args.val_fraction:g} and --test-fraction "
                        f"{args.test_fraction:g} leave no images for training; keep their "
                        "sum below 1")
    folder = imagefolder.scan(args.images)
    ignored = (f"; ignored {len(folder.ignored)} files that are not images or are hidden "
               f"(such as {folder.ignored[0]})" if folder.ignored else "")
    print(f"{args.images}: {len(folder.paths)} images of {len(folder.class_names)} classes "
          f"({folder.counts().min()} to {folder.counts().max()} a class){ignored}", flush=True)
    if args.size is None:
        size, median = imagefolder.default_size(
            imagefolder.shorter_sides(folder.paths, args.workers))
        print(f"image size {size}x{size}: the median shorter side is {median:g} pixels (below "
              f"{imagefolder.SIZE_THRESHOLD}: 32, else 64; --size to choose)", flush=True)
    else:
        size = args.size
    parts = imagefolder.split(folder.labels, folder.class_names, args.val_fraction,
                              args.test_fraction, args.seed)
    run.check_writable(args.hdf5_dir, flag="--hdf5-dir")
    sources = {name: ([folder.paths[i] for i in rows], folder.labels[rows])
               for name, rows in parts.items()}
    settings = {"split_seed": args.seed, "val_fraction": args.val_fraction,
                "test_fraction": args.test_fraction, "image_size": size,
                "num_classes": len(folder.class_names), "images": imagefolder.digest(folder)}
    hdf5build.build(args.hdf5_dir, sources, functools.partial(imagefolder.decode_cropped,
                                                              size=(size, size)),
                    size, folder.class_names, None, settings, args.skip_bad, args.workers,
                    args.force, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
