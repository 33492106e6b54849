"""Tiny ImageNet-200 in its official on-disk layout.

    tiny-imagenet-200/wnids.txt              one wnid a line (the classes)
    tiny-imagenet-200/words.txt              wnid TAB comma-separated names (all of ImageNet)
    tiny-imagenet-200/train/<wnid>/images/<wnid>_<i>.JPEG
    tiny-imagenet-200/val/images/val_<i>.JPEG
    tiny-imagenet-200/val/val_annotations.txt   file TAB wnid TAB x1 TAB y1 TAB x2 TAB y2

A class's label is the position of its wnid in the sorted `wnids.txt`.
"""

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from pyimagesearch.utils.errors import UserError

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")


@dataclass
class TinyImageNetLayout:
    """The files and labels of a Tiny ImageNet folder."""

    root: str
    wnids: list[str]                       # sorted: label i is wnids[i]
    class_names: list[str]                 # human-readable names, one per wnid
    train_paths: list[str] = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    val_paths: list[str] = field(repr=False)
    val_labels: np.ndarray = field(repr=False)


def _read_lines(path: str, what: str) -> list[str]:
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing, so this is not a complete Tiny ImageNet folder "
                        f"({what}); unzip tiny-imagenet-200.zip again or fix --dataset-dir")
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path} ({err}); unzip the dataset again") from None


def parse_layout(root: str) -> TinyImageNetLayout:
    """Reads the class list, human names, training files and validation labels.

    Raises:
        UserError: the folder or a file of the layout is missing, an
            annotation names an unknown wnid or a missing image, or a class
            has no training images.
    """
    if not os.path.isdir(root):
        raise UserError(f"--dataset-dir {root} is not a folder; pass the tiny-imagenet-200 "
                        "folder of the unzipped download")
    wnids = sorted(set(_read_lines(os.path.join(root, "wnids.txt"), "the class list")))
    if not wnids:
        raise UserError(f"{os.path.join(root, 'wnids.txt')} lists no classes; unzip the dataset "
                        "again")
    index = {w: i for i, w in enumerate(wnids)}

    names = {}
    words = os.path.join(root, "words.txt")
    if os.path.isfile(words):
        for line in _read_lines(words, "the class names"):
            wnid, _, text = line.partition("\t")
            if wnid in index:
                names[wnid] = text.strip()
    class_names = [names.get(w) or w for w in wnids]

    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        if not os.path.isdir(folder):
            raise UserError(f"{folder} is missing (class {wnid} of wnids.txt has no training "
                            "images); unzip the dataset again or fix --dataset-dir")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise UserError(f"{folder} holds no images; unzip the dataset again")
        train_paths += [os.path.join(folder, f) for f in files]
        train_labels += [index[wnid]] * len(files)

    val_dir = os.path.join(root, "val")
    val_paths, val_labels = [], []
    annotations = os.path.join(val_dir, "val_annotations.txt")
    for number, line in enumerate(_read_lines(annotations, "the validation labels"), 1):
        parts = line.split("\t")
        if len(parts) < 2:
            raise UserError(f"{annotations} line {number} is not 'file<TAB>wnid...'; unzip the "
                            "dataset again")
        name, wnid = parts[0].strip(), parts[1].strip()
        if wnid not in index:
            raise UserError(f"{annotations} line {number} names wnid {wnid}, which wnids.txt "
                            "does not list; use the matching wnids.txt")
        path = os.path.join(val_dir, "images", name)
        if not os.path.isfile(path):
            raise UserError(f"{annotations} line {number} names {path}, which does not exist; "
                            "unzip the dataset again")
        val_paths.append(path)
        val_labels.append(index[wnid])
    return TinyImageNetLayout(root, wnids, class_names, train_paths, np.array(train_labels),
                              val_paths, np.array(val_labels))


def decode_image(path: str, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """Reads an image file as (height, width, 3) uint8 RGB of `size` (width, height).

    Grayscale images become 3 equal channels; other sizes are resized with
    area interpolation. A truncated JPEG (no end-of-image marker), which
    OpenCV would silently fill with grey, is refused.

    Raises:
        ValueError: the file cannot be read or decoded, or is truncated; the
            message names the path.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror})") from None
    if not data:
        raise ValueError(f"{path}: is empty")
    # A complete JPEG ends its last scan with the end-of-image marker FF D9, which scan
    # data never holds (FF is byte-stuffed there); bytes appended after it are harmless.
    if data[:2] == b"\xff\xd8" and data.find(b"\xff\xd9", max(2, data.rfind(b"\xff\xda"))) < 0:
        raise ValueError(f"{path}: is a truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: is not an image (OpenCV cannot decode it)")
    if (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
