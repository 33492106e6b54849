"""The classic baseline, rebuilt as the original "GoogLeNet from scratch" code did it.

- HDF5 build: one `cv2.imread` and one write per image into a float64
  dataset (the classic `HDF5DatasetWriter` used `dtype="float"`).
- Input pipeline: batches sliced in file order from the float64 file, then
  per image in a Python loop: `SimplePreprocessor` (`cv2.resize`, INTER_AREA),
  `MeanPreprocessor` (`cv2.split`, subtract, `cv2.merge`) and
  `ImageToArrayPreprocessor`; then Keras's `ImageDataGenerator.flow` draws and
  applies one random affine transform per image (SciPy's
  `ndimage.affine_transform`, per channel) with the recipe's ranges.
- Model: the same architecture in float32 with Keras's own (unfused)
  `BatchNormalization`, fed float32 mean-subtracted images.

Only `bench/` uses this module.
"""

import math
import os

import cv2
import h5py
import keras
import numpy as np

from pyimagesearch.nn.layers import BatchNormalization


def build_hdf5(paths, labels, out_path: str, size: int = 64) -> dict:
    """Writes `paths` image by image into a float64 HDF5 file; returns counts."""
    with h5py.File(out_path, "w") as db:
        images = db.create_dataset("images", (len(paths), size, size, 3), dtype="float")
        db.create_dataset("labels", data=np.asarray(labels, dtype="int"))
        total = np.zeros(3)
        for i, path in enumerate(paths):
            image = cv2.imread(path)
            if image.shape[:2] != (size, size):
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            (b, g, r) = cv2.mean(image)[:3]
            total += (r, g, b)
            images[i] = image
    return {"images": len(paths), "mean_rgb": (total / max(len(paths), 1)).tolist()}


def image_data_generator(rotation, zoom, shift, shear, flip):
    """Keras's classic `ImageDataGenerator` with the recipe's ranges (per-image warps)."""
    try:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator
    except ImportError as err:  # pragma: no cover - depends on the Keras version
        raise SystemExit(f"the classic baseline needs Keras's legacy ImageDataGenerator ({err})")
    # The classic scripts gave `shear_range` in degrees.
    return ImageDataGenerator(rotation_range=rotation, zoom_range=zoom, width_shift_range=shift,
                              height_shift_range=shift, shear_range=math.degrees(shear),
                              horizontal_flip=flip, fill_mode="nearest")


class ClassicBatches(keras.utils.PyDataset):
    """The classic `HDF5DatasetGenerator`: per-image preprocessors, then per-image augmentation.

    Args:
        db_path: a float64 file from `build_hdf5`.
        batch_size: images per batch.
        mean_rgb: the training set's mean R, G, B.
        augmentation: an `ImageDataGenerator`, or None.
        size: the SimplePreprocessor's output size.
    """

    def __init__(self, db_path: str, batch_size: int, mean_rgb, augmentation=None,
                 size: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.db = h5py.File(db_path, "r")
        self.num_images = self.db["labels"].shape[0]
        self.batch_size = batch_size
        self.mean = mean_rgb
        self.augmentation = augmentation
        self.size = size

    def __len__(self):
        return math.ceil(self.num_images / self.batch_size)

    def _preprocess(self, image):
        image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        (b, g, r) = cv2.split(image.astype("float32"))
        r -= self.mean[0]
        g -= self.mean[1]
        b -= self.mean[2]
        return keras.utils.img_to_array(cv2.merge([b, g, r]))

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        images = self.db["images"][rows]
        labels = self.db["labels"][rows]
        images = np.array([self._preprocess(image) for image in images])
        if self.augmentation is not None:
            images, labels = next(self.augmentation.flow(images, labels,
                                                         batch_size=self.batch_size))
        return images, labels


class ClassicArrayBatches(keras.utils.PyDataset):
    """CIFAR-10 the classic way: float32 mean-subtracted arrays, `ImageDataGenerator.flow`."""

    def __init__(self, images, labels, batch_size: int, mean, augmentation=None, **kwargs):
        super().__init__(**kwargs)
        self.images = images.astype("float32") - mean.astype("float32")
        self.labels = labels
        self.batch_size = batch_size
        self.augmentation = augmentation

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        images, labels = self.images[rows], self.labels[rows]
        if self.augmentation is not None:
            images, labels = next(self.augmentation.flow(images, labels,
                                                         batch_size=self.batch_size))
        return images, labels


def classic_network(network: keras.Model) -> keras.Model:
    """`network` rebuilt in float32 with Keras's unfused BatchNormalization (fresh weights)."""
    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32"
        if isinstance(layer, BatchNormalization):
            return keras.layers.BatchNormalization.from_config(config)
        return layer.__class__.from_config(config)

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        return keras.models.clone_model(network, clone_function=clone)
    finally:
        keras.config.set_dtype_policy(previous)


def file_bytes_per_image(path: str) -> float:
    """The file's size over its image count."""
    with h5py.File(path, "r") as db:
        n = db["labels"].shape[0]
    return os.path.getsize(path) / n
