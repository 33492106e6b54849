"""Building a dataset's HDF5 files from image files, once: what `build_tiny_hdf5.py` and
`build_hdf5.py` share.

Each split's images are decoded by a pool of threads and written, uint8, with
their labels and class names, by `HDF5DatasetWriter` (under a temporary name,
renamed when complete); `mean.json` (the training split's mean R, G, B) is
written last. A rerun finishes an interrupted build: the splits already
finished with the same settings are kept. Without `skip_bad`, an image that
cannot be decoded stops the build, but only once every image left to build has
been decoded: the error names them all, and no split is written.
"""

import glob
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import h5py
import numpy as np

from pyimagesearch import atomic, startup
from pyimagesearch.datasets.tinyimagenet import list_errors
from pyimagesearch.errors import UserError
from pyimagesearch.io.hdf5datasetwriter import HDF5DatasetWriter
from pyimagesearch.io.hdf5format import is_complete

SPLITS = ("train", "val", "test")

# Images a pool thread decodes in one task: one task per image would cost more than
# decoding a 64x64 JPEG.
RUN = 64


def add_build_arguments(parser) -> None:
    """The flags every build shares: `--workers`, `--skip-bad`, `--force`."""
    from pyimagesearch.cli import positive_int

    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="threads decoding images (default: one a CPU core)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip (and count) images that cannot be decoded (unreadable, "
                             "truncated, damaged or not images) instead of stopping with an "
                             "error that names them all")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even if --hdf5-dir holds finished files")


class BadImages(Exception):
    """Images that cannot be decoded, without `skip_bad`: `errors`, the decoder's messages."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} images cannot be decoded")
        self.errors = errors


def _decode_or_error(decode, path):
    try:
        return decode(path), None
    except ValueError as err:
        return None, str(err)


def decoded(pool: ThreadPoolExecutor, paths: list[str], decode: Callable) -> list[tuple]:
    """`[(image or None, error or None), ...]` of `paths`, decoded by the pool's threads.

    Args:
        decode: `decode(path) -> (H, W, 3) uint8`, raising ValueError with a
            message that names the path when the file cannot be used.
    """
    runs = [paths[i:i + RUN] for i in range(0, len(paths), RUN)]
    return [d for run in pool.map(lambda r: [_decode_or_error(decode, p) for p in r], runs)
            for d in run]


def find_bad_images(paths: list[str], decode: Callable, workers: int,
                    chunk: int = 1000) -> list[str]:
    """The messages of `decode` for those of `paths` that cannot be decoded."""
    with ThreadPoolExecutor(workers) as pool:
        return [error for start in range(0, len(paths), chunk)
                for _, error in decoded(pool, paths[start:start + chunk], decode)
                if error is not None]


def write_split(path: str, paths: list[str], labels: np.ndarray, decode: Callable,
                image_size: int, class_names: list[str], wnids: list[str] | None,
                skip_bad: bool, workers: int, attrs: dict,
                chunk: int = 1000) -> tuple[int, list[str]]:
    """Decodes `paths` in parallel and writes them, `image_size` square, with their labels.

    Returns:
        `(written, skipped)`: the number of images written and the errors of
        those skipped. The training split's mean R, G, B goes in its attributes.

    Raises:
        BadImages: without `skip_bad`, some images cannot be decoded. Once
            the first is found, nothing more is written (the unfinished file is
            deleted), but the rest of the split is decoded to name them all.
    """
    Progbar = startup.import_keras().utils.Progbar  # without TensorFlow's start-up notices

    size = image_size
    errors = []
    rgb_sum = np.zeros(3, dtype=np.float64)
    progress = Progbar(len(paths), unit_name="image", verbose=1 if sys.stdout.isatty() else 2)
    with HDF5DatasetWriter((len(paths), size, size, 3), path, buf_size=chunk) as writer, \
            ThreadPoolExecutor(workers) as pool:
        writer.store_class_labels(class_names, wnids)
        for start in range(0, len(paths), chunk):
            done = decoded(pool, paths[start:start + chunk], decode)
            errors += [error for _, error in done if error is not None]
            keep = [i for i, (image, _) in enumerate(done) if image is not None]
            if keep and (skip_bad or not errors):
                images = np.stack([done[i][0] for i in keep])
                writer.add(images, labels[start:start + chunk][keep])
                # Column sums first (a contiguous reduction, 10x faster), then per channel.
                rgb_sum += images.reshape(-1, size * 3).sum(axis=0, dtype=np.int64).reshape(
                    -1, 3).sum(axis=0)
            progress.update(min(start + chunk, len(paths)))
        if errors and not skip_bad:
            raise BadImages(errors)  # the writer deletes the unfinished file
        written = writer.idx + writer.buffered
        if written and os.path.basename(path) == "train.hdf5":
            attrs = {**attrs, "mean_rgb": rgb_sum / (written * size * size)}
        writer.set_attributes(**attrs)
    return written, errors


def check_existing(hdf5_dir: str, settings: dict, force: bool) -> list[str]:
    """Which splits still need building; refuses to redo a finished build without `force`.

    A split finished earlier is kept only if it was built with the same
    `settings` (its attributes); otherwise the build is refused.
    """
    paths = {s: os.path.join(hdf5_dir, f"{s}.hdf5") for s in SPLITS}
    done = {s for s, p in paths.items() if is_complete(p)}
    mean_json = os.path.join(hdf5_dir, "mean.json")
    if force:
        return list(SPLITS)
    if done == set(SPLITS) and os.path.exists(mean_json):
        raise UserError(f"{hdf5_dir} already holds a finished build (train, val and test "
                        "HDF5 files and mean.json); pass --force to rebuild it")
    for split in sorted(done):
        with h5py.File(paths[split], "r") as db:
            found = {k: db.attrs.get(k) for k in settings}
        if any(found[k] != v for k, v in settings.items()):
            raise UserError(f"{paths[split]} was built with other settings ({found}, now "
                            f"{settings}); pass --force to rebuild everything")
    if done:
        print(f"finished earlier: {', '.join(sorted(done))}; building the rest", flush=True)
    return [s for s in SPLITS if s not in done]


def build(hdf5_dir: str, sources: dict, decode: Callable, image_size: int,
          class_names: list[str], wnids: list[str] | None, settings: dict, skip_bad: bool,
          workers: int, force: bool, started: float | None = None) -> None:
    """Writes the splits not finished earlier (`check_existing`), then `mean.json`.

    Args:
        hdf5_dir: the folder, which must exist and be writable.
        sources: split -> `(paths, labels)`, for every split.
        decode: `decode(path) -> (image_size, image_size, 3) uint8 RGB`.
        settings: what makes the build what it is, stored in every file's
            attributes (with `split`) and compared by a rerun.
        started: when the command began (`time.time()`), for the time it took.

    Raises:
        UserError: some images cannot be decoded (all named, nothing written
            for the split where the first was found and after it), or a file
            cannot be written.
    """
    startup.import_keras()  # the progress bar's, quietly, before any split's clock

    started = started or time.time()
    todo = check_existing(hdf5_dir, settings, force)
    for stale in glob.glob(os.path.join(hdf5_dir, ".*.tmp.hdf5")):
        os.remove(stale)  # left by an interrupted build
    counts = ", ".join(f"{split} {len(sources[split][0])}" for split in SPLITS)
    print(f"{len(class_names)} classes; {counts} images", flush=True)

    summary = []
    for number, split in enumerate(todo):
        paths, labels = sources[split]
        out = os.path.join(hdf5_dir, f"{split}.hdf5")
        print(f"[{split}] {out}", flush=True)
        t0 = time.time()
        try:
            written, skipped = write_split(out, paths, np.asarray(labels), decode, image_size,
                                           class_names, wnids, skip_bad, workers,
                                           {"split": split, **settings})
        except BadImages as bad:
            rest = [path for later in todo[number + 1:] for path in sources[later][0]]
            if rest:
                print(f"checking the {len(rest)} images of the other splits as well", flush=True)
            errors = bad.errors + find_bad_images(rest, decode, workers)
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

    with h5py.File(os.path.join(hdf5_dir, "train.hdf5"), "r") as db:
        mean = db.attrs["mean_rgb"]
    mean_json = os.path.join(hdf5_dir, "mean.json")
    try:
        atomic.write_json(mean_json, {"R": float(mean[0]), "G": float(mean[1]),
                                      "B": float(mean[2])})
    except OSError as err:  # the HDF5 files are finished: a rerun only writes mean.json
        raise UserError(f"could not write {mean_json} ({err.strerror or err}); free some space "
                        "there, and run the same command again") from None
    print("\n".join(summary))
    print(f"mean R, G, B: {mean[0]:.3f}, {mean[1]:.3f}, {mean[2]:.3f}; done in "
          f"{time.time() - started:.1f} s")
