"""Your own images: a folder with one subfolder per class, as Keras's
`image_dataset_from_directory` and torchvision's `ImageFolder` read it.

    photos/<class>/<any/nested/folders>/<image>.{jpg,jpeg,png,bmp,webp,tif,tiff}

A class is a subfolder of the root, named after it; labels follow the sorted
names. Every image file under a class's folder (at any depth) belongs to it.
Names starting with "." (hidden files and folders, such as macOS's `.DS_Store`
and `._photo.jpg`) are ignored, and so are files whose extension is not an
image's: both are counted. A file with an image extension that cannot be
decoded is a damaged image (`decode_cropped` says why).
"""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import simplejpeg

from pyimagesearch.datasets.tinyimagenet import decode_image
from pyimagesearch.errors import UserError

# What OpenCV (and, for JPEG, simplejpeg) decodes here, lower case.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# The default --size: the smaller of the two networks' native sizes below this median
# shorter side (pixels), the larger from it.
SIZES = (32, 64)
SIZE_THRESHOLD = 48


@dataclass
class ImageFolder:
    """The images of a folder of class subfolders."""

    root: str
    class_names: list[str]                 # sorted: label i is class_names[i]
    paths: list[str] = field(repr=False)   # by class, then by path
    labels: np.ndarray = field(repr=False)
    ignored: list[str] = field(repr=False)  # files that are not images, or hidden

    def counts(self) -> np.ndarray:
        """Images per class, in label order."""
        return np.bincount(self.labels, minlength=len(self.class_names))


def _hidden(name: str) -> bool:
    return name.startswith(".")


def images_under(folder: str, ignored: list[str] | None = None) -> list[str]:
    """The image files under `folder`, at any depth, sorted (hidden ones left out); adds
    the other files and the hidden folders to `ignored`, if given."""
    found = []
    ignored = [] if ignored is None else ignored
    for top, folders, files in os.walk(folder, followlinks=True):
        ignored += [os.path.join(top, d) for d in folders if _hidden(d)]
        folders[:] = sorted(d for d in folders if not _hidden(d))
        for name in files:
            path = os.path.join(top, name)
            if not _hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(path)
            else:
                ignored.append(path)
    return sorted(found)


def scan(root: str) -> ImageFolder:
    """Finds the classes and their images.

    Raises:
        UserError: `root` is not a folder; it holds images beside the class
            folders, no class folder, or only one; a class folder holds no image.
    """
    if not os.path.isdir(root):
        raise UserError(f"--images {root} is not a folder; pass the folder that holds one "
                        "subfolder of images per class")
    entries = sorted(e for e in os.listdir(root) if not _hidden(e))
    classes = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    loose = [e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)
             and os.path.isfile(os.path.join(root, e))]
    if loose:
        images = "1 image" if len(loose) == 1 else f"{len(loose)} images"
        raise UserError(f"--images {root} holds {images} beside the class folders (such as "
                        f"{loose[0]}), which belong to no class; move each into the subfolder "
                        f"of its class, {root}/<class>/")
    if not classes:
        raise UserError(f"--images {root} holds no class folders; put the images of each class "
                        f"in a subfolder named after it, {root}/<class>/")
    if len(classes) == 1:
        raise UserError(f"--images {root} holds one class folder only ({classes[0]}); a "
                        "classifier needs at least two classes, each in its own subfolder")
    ignored = [os.path.join(root, e) for e in os.listdir(root)
               if _hidden(e) or not os.path.isdir(os.path.join(root, e))]
    paths, labels, empty = [], [], []
    for label, name in enumerate(classes):
        found = images_under(os.path.join(root, name), ignored)
        if not found:
            empty.append(name)
        paths += found
        labels += [label] * len(found)
    if empty:
        them, which = ("it", "class folder of --images {} holds") if len(empty) == 1 else (
            "them", "class folders of --images {} hold")
        raise UserError(f"{len(empty)} {which.format(root)} no images "
                        f"({', '.join(empty[:10])}{', ...' if len(empty) > 10 else ''}; images "
                        f"are {' '.join(IMAGE_EXTENSIONS)} files); add images to {them}, or "
                        f"remove {them}")
    return ImageFolder(root, classes, paths, np.asarray(labels, dtype=np.int64), sorted(ignored))


def digest(folder: ImageFolder) -> str:
    """A fingerprint of the images (relative paths, sizes in bytes, labels): a rerun of an
    interrupted build must find the same images to keep the splits already written."""
    h = hashlib.sha256()
    for path, label in zip(folder.paths, folder.labels):
        h.update(f"{os.path.relpath(path, folder.root)}\t{os.path.getsize(path)}\t{label}\n"
                 .encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


# Bytes read to find a JPEG's size: its headers (an EXIF block, a thumbnail) come first.
HEADER_BYTES = 1 << 16


def _shorter_side(path: str) -> int | None:
    """An image's shorter side from its header: a JPEG's by libjpeg-turbo (3x faster than
    Pillow), any other's (or a JPEG whose headers run longer) by Pillow."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
        if head[:2] == b"\xff\xd8":
            try:
                height, width, _, _ = simplejpeg.decode_jpeg_header(head)
                return min(height, width)
            except ValueError:
                pass
        with Image.open(path) as image:  # reads the header only
            return min(image.size)
    except (OSError, UnidentifiedImageError, ValueError):
        return None  # the build names it when it decodes it


def shorter_sides(paths: list[str], workers: int, run: int = 256) -> np.ndarray:
    """Each image's shorter side in pixels, read from its header (-1 where it cannot be)."""
    runs = [paths[i:i + run] for i in range(0, len(paths), run)]
    with ThreadPoolExecutor(workers) as pool:
        sides = [s for part in pool.map(lambda r: [_shorter_side(p) for p in r], runs)
                 for s in part]
    return np.array([-1 if s is None else s for s in sides], dtype=np.int64)


def default_size(sides: np.ndarray) -> tuple[int, float]:
    """`(size, median)`: 32 when the median shorter side is below 48 pixels, else 64 (the
    native sizes of MiniGoogLeNet and DeeperGoogLeNet), and that median."""
    known = sides[sides > 0]
    median = float(np.median(known)) if len(known) else float(SIZES[-1])
    return (SIZES[0] if median < SIZE_THRESHOLD else SIZES[1]), median


def split(labels: np.ndarray, class_names: list[str], val_fraction: float,
          test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Indices of the train, val and test splits: every class in proportion, seeded.

    A class of n images gives round(n * fraction) to val and to test, at least
    one each, and keeps the rest (at least one) for training; each split is then
    shuffled (HDF5 batches are read in blocks of neighbouring images).

    Raises:
        UserError: some classes have too few images for the three splits.
    """
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels, minlength=len(class_names))
    n_val = np.maximum(1, np.floor(counts * val_fraction + 0.5).astype(np.int64))
    n_test = np.maximum(1, np.floor(counts * test_fraction + 0.5).astype(np.int64))
    short = np.flatnonzero(counts - n_val - n_test < 1)
    if len(short):
        listed = ", ".join(f"{class_names[c]} ({counts[c]})" for c in short[:10])
        classes = "1 class has" if len(short) == 1 else f"{len(short)} classes have"
        raise UserError(f"{classes} too few images for a train, val and test "
                        f"split with --val-fraction {val_fraction:g} and --test-fraction "
                        f"{test_fraction:g} (each needs one image in each split, so at least "
                        f"{int(np.max(n_val[short] + n_test[short])) + 1}): {listed}"
                        f"{', ...' if len(short) > 10 else ''}; add images, or remove the "
                        "folders of those classes")
    parts = {"train": [], "val": [], "test": []}
    for c in range(len(class_names)):
        members = rng.permutation(np.flatnonzero(labels == c))
        parts["val"].append(members[:n_val[c]])
        parts["test"].append(members[n_val[c]:n_val[c] + n_test[c]])
        parts["train"].append(members[n_val[c] + n_test[c]:])
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


def decode_cropped(path: str, size: tuple[int, int]) -> np.ndarray:
    """An image file as (height, width, 3) uint8 RGB of `size` (width, height): scaled to
    cover it, the rest centre-cropped (the classic `AspectAwarePreprocessor`: for a square
    size, the shorter side is scaled to it; area interpolation).

    Grayscale, CMYK and images with an alpha channel become RGB as `decode_image` makes
    them (the alpha channel is dropped).

    Raises:
        ValueError: the file cannot be read or decoded; the message names it.
    """
    from pyimagesearch.preprocessing.classic import AspectAwarePreprocessor  # OpenCV: here

    image = decode_image(path, None)
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return AspectAwarePreprocessor(*size).preprocess(image)
