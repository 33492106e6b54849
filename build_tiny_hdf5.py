#!/usr/bin/env python3
"""Turn the Tiny ImageNet-200 download into HDF5 files, once.

    python build_tiny_hdf5.py --dataset-dir ~/data/tiny-imagenet-200 --hdf5-dir ~/data/tiny-hdf5

Writes to --hdf5-dir: train.hdf5 (the training images minus a stratified,
seeded test split), val.hdf5 (the official validation set), test.hdf5 (the
carved split) and mean.json (the training split's mean R, G, B). Each file
holds `images` (N, 64, 64, 3) uint8 RGB, `labels` (N,), `class_names` and
`wnids`. Files are written under temporary names and renamed when complete;
rerunning an interrupted build (or one stopped by a full disk) finishes it.
Without --skip-bad, an image that cannot be decoded stops the build, but only
once every image left to build has been decoded: the error names them all.
"""

import sys
import time

from config import tiny_imagenet_config as config
from pyimagesearch import startup  # noqa: F401  (TensorFlow's log level, if it is loaded)
from pyimagesearch.cli import ArgumentParser, handle_user_errors, positive_int, random_seed
from pyimagesearch.io import hdf5build


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(description="Build the Tiny ImageNet-200 HDF5 files "
                                        "(defaults: config/tiny_imagenet_config.py).")
    parser.add_argument("--dataset-dir", default=config.DATASET_DIR, metavar="FOLDER",
                        help="the tiny-imagenet-200 folder of the unzipped download")
    parser.add_argument("--hdf5-dir", default=config.HDF5_DIR, metavar="FOLDER",
                        help="folder for train.hdf5, val.hdf5, test.hdf5 and mean.json")
    parser.add_argument("--test-per-class", type=positive_int, default=config.TEST_PER_CLASS,
                        help="training images per class carved out as the test split")
    parser.add_argument("--seed", type=random_seed, default=config.SPLIT_SEED,
                        help="random_state of the stratified test split")
    hdf5build.add_build_arguments(parser)
    return parser


def decode(path: str):
    """A Tiny ImageNet image as (64, 64, 3) uint8 RGB (ValueError naming it if it cannot be)."""
    from pyimagesearch.datasets.tinyimagenet import decode_image

    return decode_image(path, (config.IMAGE_SIZE, config.IMAGE_SIZE))


@handle_user_errors(on_interrupt="interrupted; rerun the same command to finish the build")
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    import numpy as np

    from pyimagesearch.datasets.tinyimagenet import parse_layout
    from pyimagesearch.errors import UserError
    from pyimagesearch.training import run

    started = time.time()
    layout = parse_layout(args.dataset_dir)
    counts = np.bincount(layout.train_labels, minlength=len(layout.wnids))
    if args.test_per_class >= counts.min():
        raise UserError(f"--test-per-class {args.test_per_class} leaves no training images for "
                        f"a class with {counts.min()}; pass a smaller --test-per-class")
    run.check_writable(args.hdf5_dir, flag="--hdf5-dir")
    # Once the paths are checked: a mistake in them costs no scikit-learn (1-4 s) to find.
    from sklearn.model_selection import train_test_split

    train_paths, test_paths, train_labels, test_labels = train_test_split(
        layout.train_paths, layout.train_labels, test_size=args.test_per_class * len(counts),
        stratify=layout.train_labels, random_state=args.seed)
    sources = {"train": (train_paths, train_labels),
               "val": (layout.val_paths, layout.val_labels),
               "test": (test_paths, test_labels)}
    settings = {"split_seed": args.seed, "test_per_class": args.test_per_class,
                "num_classes": len(layout.wnids)}
    hdf5build.build(args.hdf5_dir, sources, decode, config.IMAGE_SIZE, layout.class_names,
                    layout.wnids, settings, args.skip_bad, args.workers, args.force, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
