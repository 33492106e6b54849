"""HDF5DatasetWriter: buffered, uint8, crash-safe HDF5 image datasets."""

import os

import h5py
import numpy as np

from pyimagesearch.utils import atomic

FORMAT = "pyimagesearch-hdf5"   # attribute `format` of every file this project writes
FORMAT_VERSION = 1


class HDF5DatasetWriter:
    """Writes images and labels to an HDF5 file in buffered batches.

    The file holds `images` (N, *image shape) uint8 by default, `labels` (N,)
    int32, and, when given, the `class_names` and `wnids` as UTF-8 strings.
    It is written under a hidden temporary name and renamed to `output_path`
    by `close()`, after the completion mark (`complete = True`) is set: a
    build that dies half-way leaves no file that passes as finished.

    Images are stored in chunks of `chunk` whole images, uncompressed (decoded
    photos barely compress, and decompression would slow every epoch), so a
    batch read is a few contiguous chunk reads.

    Args:
        dims: `(N, *image shape)`: the most rows the file will take, and each
            image's shape. `close()` trims the file to the rows written.
        output_path: the final file name.
        data_key: name of the image dataset.
        buf_size: rows buffered in memory between writes.
        dtype: the image dtype (uint8: 12,288 bytes per 64x64x3 image).
        chunk: images per HDF5 chunk (also the generator's read block).
    """

    def __init__(self, dims, output_path: str, data_key: str = "images", buf_size: int = 1000,
                 dtype="uint8", chunk: int = 16):
        dims = tuple(int(d) for d in dims)
        if len(dims) < 2 or dims[0] < 1:
            raise ValueError(f"`dims` must be (rows, *shape) with rows >= 1. Received: dims={dims}")
        self.output_path = output_path
        self.dims = dims
        self.buf_size = buf_size
        self._atomic = atomic.atomic_path(output_path)
        self._tmp = self._atomic.__enter__()
        self.db = h5py.File(self._tmp, "w")
        self.data = self.db.create_dataset(data_key, dims, dtype=dtype,
                                           maxshape=(None, *dims[1:]),
                                           chunks=(min(chunk, dims[0]), *dims[1:]))
        self.labels = self.db.create_dataset("labels", (dims[0],), dtype="int32",
                                             maxshape=(None,))
        self.db.attrs["format"] = FORMAT
        self.db.attrs["version"] = FORMAT_VERSION
        self.db.attrs["complete"] = False
        self.buffer_images: list[np.ndarray] = []
        self.buffer_labels: list[np.ndarray] = []
        self.buffered = 0
        self.idx = 0

    def add(self, rows, labels) -> None:
        """Appends rows (a batch of images) and their labels."""
        rows = np.asarray(rows)
        labels = np.asarray(labels)
        if rows.shape[1:] != self.dims[1:] or len(labels) != len(rows):
            raise ValueError(f"expected images of shape {self.dims[1:]} and one label each. "
                             f"Received: rows.shape={rows.shape}, {len(labels)} labels")
        if self.idx + self.buffered + len(rows) > self.dims[0]:
            raise ValueError(f"more rows than the {self.dims[0]} the file was made for")
        self.buffer_images.append(rows)
        self.buffer_labels.append(labels)
        self.buffered += len(rows)
        if self.buffered >= self.buf_size:
            self.flush()

    def flush(self) -> None:
        """Writes the buffered rows to the file."""
        if not self.buffered:
            return
        end = self.idx + self.buffered
        self.data[self.idx:end] = np.concatenate(self.buffer_images)
        self.labels[self.idx:end] = np.concatenate(self.buffer_labels)
        self.idx = end
        self.buffer_images, self.buffer_labels, self.buffered = [], [], 0

    def store_class_labels(self, class_names, wnids=None) -> None:
        """Stores the class names (and Tiny ImageNet wnids) in the file."""
        strings = h5py.string_dtype("utf-8")
        self.db.create_dataset("class_names", data=[str(c) for c in class_names], dtype=strings)
        if wnids is not None:
            self.db.create_dataset("wnids", data=[str(w) for w in wnids], dtype=strings)

    storeClassLabels = store_class_labels  # the classic name

    def close(self) -> None:
        """Flushes, trims to the rows written, marks the file complete and renames it."""
        self.flush()
        if self.idx < self.dims[0]:
            self.data.resize(self.idx, axis=0)
            self.labels.resize(self.idx, axis=0)
        self.db.attrs["complete"] = True
        self.db.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Closes and deletes the unfinished file; `output_path` is left untouched."""
        if self.db:
            self.db.close()
        # Handing the context manager an exception makes it delete the temporary file.
        aborted = RuntimeError("aborted")
        self._atomic.__exit__(RuntimeError, aborted, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def is_complete(path: str) -> bool:
    """Whether `path` is a finished HDF5 file written by this project."""
    if not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as db:
            return db.attrs.get("format") == FORMAT and bool(db.attrs.get("complete"))
    except OSError:
        return False
