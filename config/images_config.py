"""Defaults of `build_hdf5.py` and `train_images.py`: your own images, a folder of class
subfolders.

The build's default image size follows the images (the median of their shorter sides:
below 48 pixels, 32; else 64: see `pyimagesearch/datasets/imagefolder.py`). Training picks
the network by that size (`pyimagesearch/training/networks.py`) and trains it with the
recipe it was published with, read from that dataset's config (the one place it is kept).
"""

# Building the HDF5 files
HDF5_DIR = "datasets/images/hdf5"
VAL_FRACTION = 0.1      # of each class's images, for validation (at least one a class)
TEST_FRACTION = 0.1     # of each class's images, for the test split (at least one a class)
SPLIT_SEED = 42         # seed of the stratified split

# Training
MODEL_NAME = "googlenet_images"
WORKERS = 2             # threads preparing training batches (raw HDF5 reads + OpenCV warps)

# Each network's recipe (--recipe classic and fast, and every default of the training flags):
# the config module of the dataset it was published on.
RECIPES = {"minigooglenet": "cifar10_config",          # SGD, 70 epochs (Zhang et al. 2017)
           "deepergooglenet": "tiny_imagenet_config"}  # Adam and L2, 70 epochs (57.3% rank-1)
