"""Writes small folders of class subfolders, as users keep their own photos."""

import os

import cv2
import numpy as np
from PIL import Image
from tiny_data import write_damaged_jpeg

FORMATS = (".jpg", ".png", ".bmp", ".webp", ".jpeg")


def _image(rng, label: int, height: int, width: int) -> np.ndarray:
    """A BGR image whose colour and stripe depend on the class (learnable)."""
    image = rng.integers(0, 50, size=(height, width, 3)).astype(np.int32)
    image[:, :, label % 3] += 150
    image[(height * label) // 8:(height * label) // 8 + height // 8] = 255
    return image.clip(0, 255).astype(np.uint8)


def write_image_folder(root: str, classes=("cat", "dog", "fish"), per_class: int = 8,
                       side: int = 48, seed: int = 0, damaged: bool = False) -> str:
    """Writes `root/photos/<class>/...` and returns its path.

    Image i of a class is in FORMATS[i % 5], `side` pixels on its shorter side
    and up to half as long again on the other (landscape or portrait); every
    third is in a nested folder (`<class>/nested/deeper/`). Class 0's image 0 is a
    grayscale JPEG, its image 1 a CMYK JPEG and its image 2 an RGBA PNG. Each
    class folder also holds `notes.txt` and `.DS_Store`, which are not images.
    With `damaged`, the last class gains `broken.jpg` (damaged scan data) and
    `fake.png` (text).
    """
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "photos")
    for label, name in enumerate(classes):
        folder = os.path.join(base, name)
        os.makedirs(os.path.join(folder, "nested", "deeper"), exist_ok=True)
        for i in range(per_class):
            longer = side + int(rng.integers(0, side // 2 + 1))
            h, w = (side, longer) if i % 2 else (longer, side)
            image = _image(rng, label, h, w)
            where = os.path.join(folder, "nested", "deeper") if i % 3 == 2 else folder
            path = os.path.join(where, f"{name}_{i}{FORMATS[i % len(FORMATS)]}")
            if label == 0 and i == 0:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            if label == 0 and i == 1:
                path = os.path.join(where, f"{name}_{i}_cmyk.jpg")
                Image.fromarray(image[:, :, ::-1]).convert("CMYK").save(path, quality=95)
                continue
            if label == 0 and i == 2:
                path = os.path.join(where, f"{name}_{i}_alpha.png")
                alpha = np.full(image.shape[:2] + (1,), 128, np.uint8)
                image = np.concatenate([image, alpha], axis=2)
            assert cv2.imwrite(path, image)
        with open(os.path.join(folder, "notes.txt"), "w") as f:
            f.write("not an image\n")
        with open(os.path.join(folder, ".DS_Store"), "wb") as f:
            f.write(b"\0\0\0\1Bud1")
    if damaged:
        folder = os.path.join(base, classes[-1])
        write_damaged_jpeg(os.path.join(folder, "broken.jpg"), shape=(side, side, 3))
        with open(os.path.join(folder, "fake.png"), "w") as f:
            f.write("a text file with an image's extension\n")
    return base
