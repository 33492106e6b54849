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

import glob
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from config import tiny_imagenet_config as config
from pyimagesearch import startup
from pyimagesearch.cli import ArgumentParser, handle_user_errors, positive_int, random_seed

SPLITS = ("train", "val", "test")


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
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="threads decoding JPEGs (default: one a CPU core)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip (and count) images that cannot be decoded (unreadable, "
                             "truncated or damaged) instead of stopping with an error that "
                             "names them all")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even if --hdf5-dir holds finished files")
    return parser


def _decode_or_error(path):
    from pyimagesearch.datasets.tinyimagenet import decode_image

    size = (config.IMAGE_SIZE, config.IMAGE_SIZE)
    try:
        return decode_image(path, size), None
    except ValueError as err:
        return None, str(err)


def _decode_run(paths):
    return [_decode_or_error(path) for path in paths]


class BadImages(Exception):
    """Images that cannot be decoded, without --skip-bad: `errors`, decode_image's messages."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} images cannot be decoded")
        self.errors = errors


def _decoded(pool, paths):
    """`[(image or None, error or None), ...]` of `paths`, decoded by the pool's threads."""
    # Each thread decodes a run of files: one task per image would cost more than
    # decoding a 64x64 JPEG.
    runs = [paths[i:i + 64] for i in range(0, len(paths), 64)]
    return [d for run in pool.map(_decode_run, runs) for d in run]


def find_bad_images(paths, workers, chunk=1000):
    """decode_image's messages for those of `paths` that cannot be decoded."""
    with ThreadPoolExecutor(workers) as pool:
        return [error for start in range(0, len(paths), chunk)
                for _, error in _decoded(pool, paths[start:start + chunk]) if error is not None]


def write_split(path, paths, labels, layout, args, attrs, chunk=1000):
    """Decodes `paths` in parallel and writes them with their labels.

    Returns:
        `(written, skipped)`: the number of images written and the errors of
        those skipped. The training split's mean R, G, B goes in its attributes.

    Raises:
        BadImages: without `args.skip_bad`, some images cannot be decoded. Once
            the first is found, nothing more is written (the unfinished file is
            deleted), but the rest of the split is decoded to name them all.
    """
    import numpy as np

    from pyimagesearch.io import HDF5DatasetWriter

    Progbar = startup.import_keras().utils.Progbar  # without TensorFlow's start-up notices

    size = config.IMAGE_SIZE
    errors = []
    rgb_sum = np.zeros(3, dtype=np.float64)
    progress = Progbar(len(paths), unit_name="image", verbose=1 if sys.stdout.isatty() else 2)
    with HDF5DatasetWriter((len(paths), size, size, 3), path, buf_size=chunk) as writer, \
            ThreadPoolExecutor(args.workers) as pool:
        writer.store_class_labels(layout.class_names, layout.wnids)
        for start in range(0, len(paths), chunk):
            decoded = _decoded(pool, paths[start:start + chunk])
            errors += [error for _, error in decoded if error is not None]
            keep = [i for i, (image, _) in enumerate(decoded) if image is not None]
            if keep and (args.skip_bad or not errors):
                images = np.stack([decoded[i][0] for i in keep])
                writer.add(images, labels[start:start + chunk][keep])
                # Column sums first (a contiguous reduction, 10x faster), then per channel.
                rgb_sum += images.reshape(-1, size * 3).sum(axis=0, dtype=np.int64).reshape(
                    -1, 3).sum(axis=0)
            progress.update(min(start + chunk, len(paths)))
        if errors and not args.skip_bad:
            raise BadImages(errors)  # the writer deletes the unfinished file
        written = writer.idx + writer.buffered
        if written and os.path.basename(path) == "train.hdf5":
            attrs = {**attrs, "mean_rgb": rgb_sum / (written * size * size)}
        writer.set_attributes(**attrs)
    return written, errors


def _split_settings(args, layout):
    return {"split_seed": args.seed, "test_per_class": args.test_per_class,
            "num_classes": len(layout.wnids)}


def _check_existing(args, layout):
    """Which splits still need building; refuses to redo a finished build without --force."""
    import h5py

    from pyimagesearch.errors import UserError
    from pyimagesearch.io import is_complete

    paths = {s: os.path.join(args.hdf5_dir, f"{s}.hdf5") for s in SPLITS}
    done = {s for s, p in paths.items() if is_complete(p)}
    mean_json = os.path.join(args.hdf5_dir, "mean.json")
    if args.force:
        return list(SPLITS)
    if done == set(SPLITS) and os.path.exists(mean_json):
        raise UserError(f"{args.hdf5_dir} already holds a finished build (train, val and test "
                        "HDF5 files and mean.json); pass --force to rebuild it")
    wanted = _split_settings(args, layout)
    for split in sorted(done):
        with h5py.File(paths[split], "r") as db:
            found = {k: db.attrs.get(k) for k in wanted}
        if any(found[k] != v for k, v in wanted.items()):
            raise UserError(f"{paths[split]} was built with other settings ({found}, now "
                            f"{wanted}); pass --force to rebuild everything")
    if done:
        print(f"finished earlier: {', '.join(sorted(done))}; building the rest", flush=True)
    return [s for s in SPLITS if s not in done]


@handle_user_errors(on_interrupt="interrupted; rerun the same command to finish the build")
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    import numpy as np

    from pyimagesearch import atomic
    from pyimagesearch.datasets.tinyimagenet import list_errors, parse_layout
    from pyimagesearch.errors import UserError
    from pyimagesearch.training import run

    started = time.time()
    layout = parse_layout(args.dataset_dir)
    counts = np.bincount(layout.train_labels, minlength=len(layout.wnids))
    if args.test_per_class >= counts.min():
        raise UserError(f"--test-per-class {args.test_per_class} leaves no training images for "
                        f"a class with {counts.min()}; pass a smaller --test-per-class")
    run.check_writable(args.hdf5_dir, flag="--hdf5-dir")
    todo = _check_existing(args, layout)
    for stale in glob.glob(os.path.join(args.hdf5_dir, ".*.tmp.hdf5")):
        os.remove(stale)  # left by an interrupted build
    # Once the paths are checked: a mistake in them costs no scikit-learn (1-4 s) to find.
    import h5py
    from sklearn.model_selection import train_test_split

    train_paths, test_paths, train_labels, test_labels = train_test_split(
        layout.train_paths, layout.train_labels, test_size=args.test_per_class * len(counts),
        stratify=layout.train_labels, random_state=args.seed)
    sources = {"train": (train_paths, train_labels),
               "val": (layout.val_paths, layout.val_labels),
               "test": (test_paths, test_labels)}
    print(f"{len(layout.wnids)} classes; train {len(train_paths)}, val "
          f"{len(layout.val_paths)}, test {len(test_paths)} images", flush=True)

    summary = []
    for number, split in enumerate(todo):
        paths, labels = sources[split]
        out = os.path.join(args.hdf5_dir, f"{split}.hdf5")
        print(f"[{split}] {out}", flush=True)
        t0 = time.time()
        try:
            written, skipped = write_split(out, paths, np.asarray(labels), layout, args,
                                           {"split": split, **_split_settings(args, layout)})
        except BadImages as bad:
            rest = [path for later in todo[number + 1:] for path in sources[later][0]]
            if rest:
                print(f"checking the {len(rest)} images of the other splits as well", flush=True)
            errors = bad.errors + find_bad_images(rest, args.workers)
            images, them = ("image", "it") if len(errors) == 1 else ("images", "them")
            raise UserError(f"{len(errors)} {images} cannot be used {list_errors(errors)}; "
                            f"replace or delete {them}, or rerun with --skip-bad to leave such "
                            "images out") from None
        seconds = time.time() - t0
        summary.append(f"{split}: {written} images ({len(skipped)} skipped), "
                       f"{os.path.getsize(out) / max(written, 1):,.0f} bytes per image, "
                       f"{written / seconds:,.0f} images/s")
        for error in skipped:
            print(f"  skipped {error}", file=sys.stderr)

    with h5py.File(os.path.join(args.hdf5_dir, "train.hdf5"), "r") as db:
        mean = db.attrs["mean_rgb"]
    mean_json = os.path.join(args.hdf5_dir, "mean.json")
    try:
        atomic.write_json(mean_json, {"R": float(mean[0]), "G": float(mean[1]),
                                      "B": float(mean[2])})
    except OSError as err:  # the HDF5 files are finished: a rerun only writes mean.json
        raise UserError(f"could not write {mean_json} ({err.strerror or err}); free some space "
                        "there, and run the same command again") from None
    print("\n".join(summary))
    print(f"mean R, G, B: {mean[0]:.3f}, {mean[1]:.3f}, {mean[2]:.3f}; done in "
          f"{time.time() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
