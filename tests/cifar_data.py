"""Writes small CIFAR-10 datasets in the official "python version" layout."""

import os
import pickle
import tarfile

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` learnable 32x32 RGB images: each class has its own colour and stripe."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    base = rng.integers(0, 60, size=(n, 32, 32, 3))
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30],
                        [200, 30, 200], [30, 200, 200], [220, 220, 220], [120, 60, 0],
                        [0, 120, 60], [60, 0, 120]])
    images = base + palette[labels][:, None, None, :] * 0.7
    for i, label in enumerate(labels):  # a class-dependent horizontal stripe
        images[i, 3 * label: 3 * label + 3] = 255
    return images.clip(0, 255).astype(np.uint8), labels


def _dump(path: str, images: np.ndarray, labels: np.ndarray, protocol: int) -> None:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # R, G, B planes
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"generated", b"labels": [int(x) for x in labels],
                     b"data": np.ascontiguousarray(data),
                     b"filenames": [f"{i}.png".encode() for i in range(len(images))]},
                    f, protocol=protocol)


def write_cifar(root: str, per_batch: int = 20, test: int = 40, tar: bool = False,
                protocol: int = 2, seed: int = 0) -> str:
    """Writes `root/cifar-10-batches-py/` (and with `tar` the .tar.gz); returns its path."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    images, labels = make_images(5 * per_batch + test, seed)
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        _dump(os.path.join(folder, f"data_batch_{i + 1}"), images[part], labels[part], protocol)
    _dump(os.path.join(folder, "test_batch"), images[5 * per_batch:], labels[5 * per_batch:],
          protocol)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CLASSES],
                     b"num_cases_per_batch": per_batch, b"num_vis": 3072}, f, protocol=protocol)
    if tar:
        tarball = os.path.join(root, "cifar-10-python.tar.gz")
        with tarfile.open(tarball, "w:gz") as t:
            t.add(folder, arcname="cifar-10-batches-py")
        return tarball
    return folder
