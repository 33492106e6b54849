"""Batches in a seeded order that is a function of the epoch, so runs resume exactly."""

import keras
import numpy as np

# Keeps the augmentation's random stream apart from the order's ([seed, epoch]).
_AUGMENT_STREAM = 1


class ShuffledBatches(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` of `(images, labels)` whose epoch `e` has a fixed order.

    The order of epoch `e` depends only on `seed` and `e`: every sample once,
    reshuffled each epoch, the same for a resumed run as for an uninterrupted
    one (`set_epoch` jumps to an epoch). Rows are visited in blocks of `block`
    consecutive rows, so a source that reads contiguous slices fast (an HDF5
    file) serves a batch with a few reads; `block=1` is a full permutation.
    Subclasses implement `read(rows)`.

    Args:
        labels: (N,) integer labels.
        batch_size: images per batch; the last batch of an epoch may be smaller.
        shuffle: visit the data in a new order every epoch.
        seed: seed of the order (drawn at random when None; see `seed`).
        block: rows kept together in the order.
        classes: with `binarize`, the number of classes for one-hot labels.
        binarize: return one-hot float32 labels instead of integer labels.
        preprocessors: optional classic preprocessors applied to whole batches.
        augment: optional training augmentation, called as `augment(images, rng)`
            on each batch (e.g. `pyimagesearch.preprocessing.RandomAffine`), with
            a generator seeded by (seed, epoch, batch index): the same
            augmentation whatever the workers, after a resume too.
        shard: `(index, count)`: serve only part `index` of `count` equal parts
            of every batch (one process's part in data-parallel training, where
            `batch_size` is the global batch). `augment` is then called with
            `part=(start, total)`, the part's place in the batch, so that each
            image gets the transform it would get unsplit.
        multiple: cut every batch down to a multiple of this many images (the
            devices a global batch is split across); an epoch's last batch is
            dropped if it holds fewer.
        data_format: the layout of the batches served: "channels_last" (N, H,
            W, C, as stored), "channels_first" (N, C, H, W: each batch is
            transposed after its augmentation, which works on stored images),
            or None for Keras's `image_data_format()`.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of `PyDataset`.
    """

    def __init__(self, labels, batch_size: int, shuffle: bool = True, seed: int | None = None,
                 block: int = 1, classes: int | None = None, binarize: bool = False,
                 preprocessors=None, augment=None, shard: tuple[int, int] = (0, 1),
                 multiple: int = 1, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("`data_format` must be 'channels_last' or 'channels_first'. "
                             f"Received: data_format={data_format!r}")
        self.channels_first = data_format == "channels_first"
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be at least 1. Received: batch_size={batch_size}")
        if not 0 <= shard[0] < shard[1] or multiple % shard[1] or batch_size % multiple:
            raise ValueError("`batch_size` must be a multiple of `multiple`, itself a multiple of "
                             f"the shard count. Received: batch_size={batch_size}, "
                             f"multiple={multiple}, shard={shard}")
        if binarize and not classes:
            raise ValueError("`classes` is needed to one-hot encode labels (binarize=True).")
        self.labels = np.asarray(labels).astype(np.int64)
        self.num_images = len(self.labels)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
        self.block = max(1, int(block))
        self.classes = classes
        self.binarize = binarize
        self.preprocessors = preprocessors or []
        self.augment = augment
        self.shard = tuple(shard)
        self.multiple = multiple
        self._driven = False
        self.set_epoch(0)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images of `rows` (an index array), as one array."""
        raise NotImplementedError

    def _epoch_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_images)
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.block == 1:
            return rng.permutation(self.num_images)
        starts = rng.permutation(np.arange(0, self.num_images, self.block))
        return np.concatenate([np.arange(s, min(s + self.block, self.num_images))
                               for s in starts])

    def set_epoch(self, epoch: int) -> None:
        """Jumps to `epoch`'s order; the next epoch to begin uses it (for a resumed run)."""
        self.epoch = epoch
        self._order = self._epoch_order()
        self._begun = False

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback for `fit` that sets this data's epoch to Keras's own epoch number.

        Pass it to `fit` (first in the list) for an order that is exact on every
        backend and with any `workers`: Keras calls it before it starts fetching an
        epoch's batches, whereas `PyDataset.on_epoch_begin` runs after the worker
        threads have started, and Keras's first peek at the data's shapes calls
        it on some backends (JAX) and not on others (TensorFlow).
        """
        return _SetEpoch(self)

    def on_epoch_begin(self):
        if self._driven:  # the epoch is set by `epoch_callback`
            return
        # Without the callback: count the epochs. Keras calls this once per epoch (with
        # TensorFlow it also calls `on_epoch_end` once before the first epoch, so counting
        # ends would skip an order).
        if self._begun:
            self.set_epoch(self.epoch + 1)
        self._begun = True

    def __len__(self) -> int:
        full, rest = divmod(self.num_images, self.batch_size)
        return full + (rest >= self.multiple)

    def inputs(self, rows: np.ndarray) -> np.ndarray:
        """The images of `rows` as the model gets them, without augmentation."""
        images = self.read(rows)
        for preprocessor in self.preprocessors:
            images = preprocessor.preprocess(images)
        return self._layout(images)

    def _layout(self, images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2)) if self.channels_first \
            else images

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        part, parts = self.shard
        total = len(rows) - len(rows) % self.multiple
        start = part * (total // parts)
        rows = rows[start:start + total // parts]
        images = self.read(rows)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index, _AUGMENT_STREAM])
            images = (self.augment(images, rng, part=(start, total)) if parts > 1
                      else self.augment(images, rng))
        for preprocessor in self.preprocessors:
            images = preprocessor.preprocess(images)
        images = self._layout(images)
        labels = self.labels[rows]
        if self.binarize:
            labels = np.eye(self.classes, dtype="float32")[labels]
        return images, labels


class _SetEpoch(keras.callbacks.Callback):
    def __init__(self, data: ShuffledBatches):
        super().__init__()
        self.data = data
        data._driven = True

    def on_epoch_begin(self, epoch, logs=None):
        self.data.set_epoch(epoch)


class ArrayBatches(ShuffledBatches):
    """`ShuffledBatches` over in-memory arrays (a full permutation each epoch).

    Args:
        images: (N, ...) array, e.g. uint8 images.
        labels: (N,) integer labels.
        batch_size: images a batch, as for `ShuffledBatches`.
        **kwargs: as for `ShuffledBatches`.
    """

    def __init__(self, images, labels, batch_size: int, **kwargs):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.image_shape = tuple(images.shape[1:])
        super().__init__(labels, batch_size, **kwargs)

    def read(self, rows: np.ndarray) -> np.ndarray:
        return self.images[rows]
