"""Writes small Tiny ImageNet trees in the official layout, and small HDF5 sets."""

import os

import cv2
import numpy as np


def wnid(i: int) -> str:
    return f"n{1000 + i:08d}"


def _image(rng, label: int, size: int = 64) -> np.ndarray:
    """A BGR image whose colour and stripe depend on the class (learnable)."""
    image = rng.integers(0, 50, size=(size, size, 3)).astype(np.int32)
    image[:, :, label % 3] += 150
    image[4 * label: 4 * label + 4] = 255
    return image.clip(0, 255).astype(np.uint8)


def damage_jpeg(path: str) -> str:
    """Garbles 32 bytes in the middle of a JPEG's scan (entropy-coded) data, a stray
    restart marker among them, keeping its headers and its end-of-image marker: OpenCV
    still decodes it, into wrong pixels, with only a libjpeg warning ("Corrupt JPEG
    data: ...") printed on stderr. (Garbled bytes alone can decode without a warning.)"""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    sos = data.index(b"\xff\xda")
    scan = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    middle = (scan + len(data) - 2) // 2
    for i in range(middle - 16, middle + 16):
        data[i] = (data[i] * 7 + 13) & 0xFF
    data[middle:middle + 2] = b"\xff\xd3"
    assert data[-2:] == b"\xff\xd9"
    with open(path, "wb") as f:
        f.write(data)
    return path


def write_damaged_jpeg(path: str, seed: int = 0, shape=(64, 64, 3)) -> str:
    """A photo-like JPEG (smooth, quality 90) whose scan data `damage_jpeg` garbles."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (7, 7), 0)
    assert cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return damage_jpeg(path)


def write_tiny_imagenet(root: str, classes: int = 4, train_per_class: int = 10,
                        val_per_class: int = 3, corrupt: bool = False, seed: int = 0,
                        damaged: bool = False) -> str:
    """Writes `root/tiny-imagenet-200/` and returns its path.

    Class i's wnid is `wnid(i)`; `wnids.txt` lists them unsorted and
    `words.txt` also names wnids that are not classes, as the real one does.
    The first training image of class 0 is a grayscale JPEG; with `corrupt`,
    the second is truncated half-way; with `damaged`, the first training
    image of class 1 and the validation image val_0.JPEG have damaged scan
    data (`damage_jpeg`).
    """
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "tiny-imagenet-200")
    ids = [wnid(i) for i in range(classes)]
    os.makedirs(os.path.join(base, "val", "images"), exist_ok=True)
    with open(os.path.join(base, "wnids.txt"), "w") as f:
        f.write("\n".join(reversed(ids)) + "\n")
    with open(os.path.join(base, "words.txt"), "w") as f:
        f.write(f"n09999999\tunused, not a class\n")
        for i, w in enumerate(ids):
            f.write(f"{w}\tthing {i}, object {i}\n")
    for label, w in enumerate(ids):
        folder = os.path.join(base, "train", w, "images")
        os.makedirs(folder)
        with open(os.path.join(base, "train", w, f"{w}_boxes.txt"), "w") as boxes:
            for i in range(train_per_class):
                name = f"{w}_{i}.JPEG"
                image = _image(rng, label)
                if label == 0 and i == 0:
                    image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
                cv2.imwrite(os.path.join(folder, name), image)
                boxes.write(f"{name}\t0\t0\t63\t63\n")
        if corrupt and label == 0:
            path = os.path.join(folder, f"{w}_1.JPEG")
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])
        if damaged and label == 1:
            damage_jpeg(os.path.join(folder, f"{w}_0.JPEG"))
    lines = []
    order = rng.permutation(classes * val_per_class)
    for n, k in enumerate(order):
        label = int(k) % classes
        cv2.imwrite(os.path.join(base, "val", "images", f"val_{n}.JPEG"), _image(rng, label))
        lines.append(f"val_{n}.JPEG\t{ids[label]}\t0\t0\t63\t63")
    with open(os.path.join(base, "val", "val_annotations.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if damaged:
        damage_jpeg(os.path.join(base, "val", "images", "val_0.JPEG"))
    os.makedirs(os.path.join(base, "test", "images"))
    cv2.imwrite(os.path.join(base, "test", "images", "test_0.JPEG"), _image(rng, 0))
    return base


def write_hdf5_set(folder: str, classes: int = 5, per_split=(12, 5, 5), seed: int = 0) -> str:
    """Writes train/val/test.hdf5 and mean.json as build_tiny_hdf5.py would, quickly."""
    import json

    from pyimagesearch.io import HDF5DatasetWriter

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    total = np.zeros(3)
    for split, per_class in zip(("train", "val", "test"), per_split):
        labels = rng.permutation(np.repeat(np.arange(classes), per_class))
        images = np.stack([_image(rng, int(k))[:, :, ::-1] for k in labels])
        with HDF5DatasetWriter(images.shape, os.path.join(folder, f"{split}.hdf5")) as writer:
            writer.store_class_labels([f"thing {i}" for i in range(classes)],
                                      [wnid(i) for i in range(classes)])
            writer.add(images, labels)
        if split == "train":
            total = images.reshape(-1, 3).mean(axis=0)
    with open(os.path.join(folder, "mean.json"), "w") as f:
        json.dump(dict(zip("RGB", map(float, total))), f)
    return folder
