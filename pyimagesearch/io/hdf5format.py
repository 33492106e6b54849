"""The HDF5 files of this project: how a finished one is marked, and how one is checked
before it is read (without Keras, so that a bad `--hdf5-dir` is found at once); the folder
a build writes them to, and its `mean.json`."""

import json
import os

import h5py
import numpy as np

from pyimagesearch.errors import UserError

FORMAT = "pyimagesearch-hdf5"   # attribute `format` of every file this project writes


def check_hdf5(path: str, data_key: str = "images", image_shape=None,
               builder: str = "build_tiny_hdf5.py") -> None:
    """Raises a UserError unless `path` is a complete dataset file of this project.

    Checks, in order: the file exists and is HDF5, it carries this project's
    format mark and completion mark, it holds `data_key` (uint8, 4-D, of
    `image_shape` if given) and `labels` of the same length. The messages tell
    how to rebuild it with `builder`, the script that writes it.
    """
    hint = f"rebuild it with {builder} --force"
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist; build it with {builder} or point "
                        "--hdf5-dir at the folder that holds it")
    try:
        db = h5py.File(path, "r")
    except OSError:
        raise UserError(f"{path} is not a readable HDF5 file (truncated or damaged); "
                        f"{hint}") from None
    with db:
        if db.attrs.get("format") != FORMAT:
            raise UserError(f"{path} was not written by this project's HDF5DatasetWriter; "
                            f"{hint}")
        if not db.attrs.get("complete"):
            raise UserError(f"{path} was never finished (its build was interrupted); {hint}")
        images, labels = db.get(data_key), db.get("labels")
        if not isinstance(images, h5py.Dataset) or not isinstance(labels, h5py.Dataset):
            raise UserError(f"{path} lacks its '{data_key}' or 'labels' dataset; {hint}")
        if images.dtype != np.uint8 or images.ndim != 4 or (
                image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape)):
            raise UserError(f"{path} holds {images.dtype} images of shape "
                            f"{tuple(images.shape[1:])}, not uint8 "
                            f"{tuple(image_shape or ('H', 'W', 'C'))}; {hint}")
        if labels.shape != (images.shape[0],):
            raise UserError(f"{path} has {labels.shape[0]} labels for {images.shape[0]} images; "
                            f"{hint}")
        try:  # reading the last chunk finds a file cut short after its header was written
            images[-1]
            labels[-1]
        except OSError:
            raise UserError(f"{path} is truncated; {hint}") from None


def is_complete(path: str) -> bool:
    """Whether `path` is a finished HDF5 file written by this project."""
    if not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as db:
            return db.attrs.get("format") == FORMAT and bool(db.attrs.get("complete"))
    except OSError:
        return False


def check_hdf5_dir(hdf5_dir: str, builder: str = "build_tiny_hdf5.py") -> None:
    """Raises a UserError if `hdf5_dir`, the folder of `builder`'s files, is missing."""
    if not os.path.isdir(hdf5_dir):
        raise UserError(f"--hdf5-dir {hdf5_dir} does not exist; build it with "
                        f"{builder} --hdf5-dir {hdf5_dir}")


def read_mean(hdf5_dir: str, builder: str = "build_tiny_hdf5.py") -> list[float]:
    """The training split's mean R, G, B, from the `mean.json` that `builder` wrote."""
    path = os.path.join(hdf5_dir, "mean.json")
    try:
        with open(path, encoding="utf-8") as f:
            mean = json.load(f)
        return [float(mean[c]) for c in "RGB"]
    except FileNotFoundError:
        raise UserError(f"{path} is missing; rerun {builder} for --hdf5-dir "
                        f"{hdf5_dir}") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a mean file of {builder} ({err}); rebuild "
                        f"with {builder} --force") from None
