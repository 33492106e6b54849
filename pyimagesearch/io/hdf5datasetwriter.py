"""HDF5DatasetWriter: buffered, uint8, crash-safe HDF5 image datasets."""

import contextlib
import errno
import os
import re

import h5py
import numpy as np

from pyimagesearch import atomic
from pyimagesearch.errors import UserError
from pyimagesearch.io.hdf5format import FORMAT


class HDF5DatasetWriter:
    """Writes images and labels to an HDF5 file in buffered batches.

    The file holds `images` (N, *image shape) uint8 by default, `labels` (N,)
    int32, and, when given, the `class_names` and `wnids` as UTF-8 strings.
    It is written under a hidden temporary name and renamed to `output_path`
    by `close()`, after the completion mark (`complete = True`) is set: a
    build that dies half-way leaves no file that passes as finished. A write
    that fails (a full disk) deletes the unfinished file and raises a
    `UserError` naming `output_path` and the cause.

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
        self.buffer_images: list[np.ndarray] = []
        self.buffer_labels: list[np.ndarray] = []
        self.buffered = 0
        self.idx = 0
        self.db = None
        self._atomic = atomic.atomic_path(output_path)
        try:
            self._tmp = self._atomic.__enter__()
        except OSError as err:
            raise UserError(_failed_write(output_path, err.errno, err.strerror)) from None
        self._open = True
        with self._writing():
            self.db = h5py.File(_create_unbuffered(self._tmp))
            self.data = self.db.create_dataset(data_key, dims, dtype=dtype,
                                               maxshape=(None, *dims[1:]),
                                               chunks=(min(chunk, dims[0]), *dims[1:]))
            self.labels = self.db.create_dataset("labels", (dims[0],), dtype="int32",
                                                 maxshape=(None,))
            self.db.attrs["format"] = FORMAT
            self.db.attrs["complete"] = False

    @contextlib.contextmanager
    def _writing(self):
        """Around HDF5 writes: if one fails, deletes the unfinished file; a failed write
        (a full disk, a file size limit, an I/O error) becomes a one-sentence UserError."""
        if not self._open:
            raise ValueError(f"{self.output_path} was already closed or aborted")
        try:
            yield
        except Exception as err:
            self.abort()
            code = _errno(err)
            if code is None:
                raise
            raise UserError(_failed_write(self.output_path, code)) from None

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
        with self._writing():
            self.data[self.idx:end] = np.concatenate(self.buffer_images)
            self.labels[self.idx:end] = np.concatenate(self.buffer_labels)
        self.idx = end
        self.buffer_images, self.buffer_labels, self.buffered = [], [], 0

    def store_class_labels(self, class_names, wnids=None) -> None:
        """Stores the class names (and Tiny ImageNet wnids) in the file."""
        strings = h5py.string_dtype("utf-8")
        with self._writing():
            self.db.create_dataset("class_names", data=[str(c) for c in class_names],
                                   dtype=strings)
            if wnids is not None:
                self.db.create_dataset("wnids", data=[str(w) for w in wnids], dtype=strings)

    storeClassLabels = store_class_labels  # the classic name

    def set_attributes(self, **attrs) -> None:
        """Stores `attrs` as attributes of the file (not `complete`: close() sets it)."""
        with self._writing():
            for key, value in attrs.items():
                self.db.attrs[key] = value

    def close(self) -> None:
        """Flushes, trims to the rows written, marks the file complete and renames it."""
        self.flush()
        with self._writing():
            if self.idx < self.dims[0]:
                self.data.resize(self.idx, axis=0)
                self.labels.resize(self.idx, axis=0)
            self.db.attrs["complete"] = True
            self.db.close()
        self._open = False
        try:
            self._atomic.__exit__(None, None, None)  # fsync, rename
        except OSError as err:  # the temporary file is gone
            raise UserError(_failed_write(self.output_path, err.errno, err.strerror)) from None

    def abort(self) -> None:
        """Closes and deletes the unfinished file; `output_path` is left untouched.

        Never raises, even for a file whose last writes failed.
        """
        if not self._open:
            return
        self._open = False
        if self.db is not None:
            # Emptied first, the file gives its disk space back, so that HDF5 can write
            # what it still holds (metadata) and close it; its first close after a failed
            # write can fail all the same, and a second one succeeds.
            with contextlib.suppress(OSError):
                os.truncate(self._tmp, 0)
            for _ in range(2):
                try:
                    self.db.close()
                    break
                except Exception:  # noqa: BLE001 (the file is being thrown away)
                    pass
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


def _create_unbuffered(path: str) -> h5py.h5f.FileID:
    """Creates an HDF5 file that holds back no raw data: every write reaches the file
    at once, so a full disk fails that write, with an exception, and the file can
    still be closed.

    By default HDF5 keeps up to 1 MiB of each dataset's chunks (the chunk cache) and
    64 KiB of a contiguous dataset (the sieve buffer) and writes them later: when the
    disk is full, a close or an h5py object's deallocation does, and fails half-way,
    leaving objects that HDF5 can no longer close: every later close, and the
    interpreter's exit, then crash (a segmentation fault). Metadata is still cached;
    its writes fail cleanly (see `abort`).
    """
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)  # h5py's default
    cache = list(fapl.get_cache())
    cache[2] = 0  # rdcc_nbytes: no chunk cache
    fapl.set_cache(*cache)
    fapl.set_sieve_buf_size(0)
    return h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fapl=fapl)


def _errno(err: Exception) -> int | None:
    """The system error number behind an h5py exception (a failed write), else None."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    found = re.search(r"\berrno = (\d+)", str(err))  # h5py's RuntimeErrors quote HDF5's
    if found and int(found.group(1)):
        return int(found.group(1))
    return None


def _failed_write(path: str, code: int | None, reason: str | None = None) -> str:
    reason = reason or (os.strerror(code) if code else "write failed")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"could not write {path}: the disk is full ({reason}); free some space there, "
                "or write to another disk, and run the same command again")
    return (f"could not write {path} ({reason}); check that disk, or write to another one, and "
            "run the same command again")
