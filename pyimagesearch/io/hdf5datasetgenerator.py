"""HDF5DatasetGenerator: whole batches from an HDF5 file, as a `keras.utils.PyDataset`."""

import os
import threading

import h5py
import numpy as np

from pyimagesearch.io.batches import ShuffledBatches
from pyimagesearch.io.hdf5format import check_hdf5

try:  # the lock h5py's own high-level calls hold, so raw reads never run beside them
    from h5py._objects import phil as _H5_LOCK
except ImportError:  # pragma: no cover - a future h5py
    _H5_LOCK = threading.RLock()

# Hold a file in memory only if it takes at most this share of the memory available now.
IN_MEMORY_SHARE = 0.25


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux: assume 4 GiB free
        return 4 << 30


def _class_names(db: h5py.File) -> list[str]:
    if "class_names" not in db:
        return []
    return [n.decode() if isinstance(n, bytes) else str(n) for n in db["class_names"][:]]


class HDF5DatasetGenerator(ShuffledBatches):
    """Batches of `(images, labels)` read from an HDF5 file written by `HDF5DatasetWriter`.

    Batches are read as a few contiguous slices, never image by image: the
    file is cut into blocks of `block` rows (its chunk length), and each epoch
    visits the blocks in a new seeded random order, so every image is seen
    exactly once an epoch and batches differ from epoch to epoch. Epoch `e`
    (counted by `on_epoch_begin`, or set with `set_epoch`) always has the same
    order for the same seed, so a resumed run sees the data as an
    uninterrupted one would. Files written by `build_tiny_hdf5.py` are already
    in random order. When the images are held in memory, the order is a full
    permutation instead.

    Images stay uint8 (the model does its own normalisation). Each worker
    process opens its own h5py handle.

    Args:
        db_path: the HDF5 file.
        batch_size: images per batch; the last batch of an epoch may be smaller.
        classes: with `binarize`, the number of classes for one-hot labels.
        binarize: return one-hot float32 labels instead of integer labels.
        shuffle: visit the data in a new random order every epoch.
        seed: seed of the order.
        in_memory: `True`, `False`, or "auto" (hold the images in memory when
            they take at most a quarter of the memory available now).
        preprocessors: optional classic preprocessors applied to whole batches.
        augment: optional training augmentation of whole batches (see `ShuffledBatches`).
        data_key: the image dataset's name.
        block: rows read as one contiguous slice (default: the file's chunk length).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of `PyDataset`.
    """

    def __init__(self, db_path: str, batch_size: int, classes: int | None = None,
                 binarize: bool = False, shuffle: bool = True, seed: int | None = None,
                 in_memory="auto", preprocessors=None, data_key: str = "images",
                 block: int | None = None, augment=None, **kwargs):
        check_hdf5(db_path, data_key)
        self.db_path = db_path
        self.data_key = data_key
        with h5py.File(db_path, "r") as db:
            images = db[data_key]
            self.image_shape = tuple(images.shape[1:])
            chunk = images.chunks[0] if images.chunks else batch_size
            labels = db["labels"][:]
            self.class_names = _class_names(db)
            self.nbytes = images.size * images.dtype.itemsize
            if in_memory == "auto":
                in_memory = self.nbytes <= IN_MEMORY_SHARE * _available_memory()
            self.images = images[:] if in_memory else None
            # Unfiltered chunks spanning whole images can be read raw (see `read`).
            self._raw_chunks = (images.chunks, images.dtype) if (
                images.chunks and images.chunks[1:] == images.shape[1:]
                and images.id.get_create_plist().get_nfilters() == 0) else None
        self.in_memory = bool(in_memory)
        self._db = self._images = None
        self._pid = None
        super().__init__(labels, batch_size, shuffle=shuffle, seed=seed,
                         block=1 if self.in_memory else (block or chunk), classes=classes,
                         binarize=binarize, preprocessors=preprocessors, augment=augment,
                         **kwargs)

    @property
    def num_classes(self) -> int:
        """The stored class names' count, or the largest label + 1 without names."""
        if self.class_names:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def _file(self):
        if self._db is None or self._pid != os.getpid():  # one handle per worker process
            self._db = h5py.File(self.db_path, "r")
            self._pid = os.getpid()
            self._images = self._db[self.data_key]
        return self._images

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Reads `rows` (runs of consecutive indices) as one uint8 array."""
        if self.in_memory:
            return self.images[rows]
        images = self._file()
        if self._raw_chunks:
            # Whole stored chunks, copied straight from the file: no selection machinery.
            chunks, dtype = self._raw_chunks
            ids = rows // chunks[0]
            out = np.empty((len(rows),) + self.image_shape, dtype)
            read_chunk = images.id.read_direct_chunk
            zeros = (0,) * len(self.image_shape)
            for run in np.split(np.arange(len(rows)), np.flatnonzero(np.diff(ids)) + 1):
                start = int(ids[run[0]]) * chunks[0]
                with _H5_LOCK:  # h5py's low-level calls are not thread-safe on their own
                    raw = read_chunk((start,) + zeros)[1]
                out[run] = np.frombuffer(raw, dtype).reshape(chunks)[rows[run] - start]
            return out
        # One contiguous slice read per run of consecutive rows.
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        return np.concatenate([images[run[0]:run[-1] + 1] for run in np.split(rows, breaks)])

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_db"] = state["_images"] = None  # h5py handles do not cross processes
        return state

    def close(self) -> None:
        """Closes this process's file handle."""
        if self._db is not None:
            self._db.close()
            self._db = None
