"""GoogLeNet-family networks trained from scratch with Keras 3.

Subpackages: `nn.conv` (model builders), `datasets` (loaders), `preprocessing`
(batch preprocessing and augmentation layers), `callbacks` (training monitor,
checkpoints), `io` (HDF5 datasets) and `utils` (schedules, runs, CLI helpers).
"""

__version__ = "0.1.0"
