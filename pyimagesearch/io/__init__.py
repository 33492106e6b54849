"""Datasets of batches: seeded, resumable orders over arrays and HDF5 files."""

from pyimagesearch.io.batches import ArrayBatches, ShuffledBatches
from pyimagesearch.io.hdf5datasetgenerator import (HDF5DatasetGenerator, check_hdf5,
                                                   read_class_names)
from pyimagesearch.io.hdf5datasetwriter import HDF5DatasetWriter, is_complete

__all__ = ["ArrayBatches", "HDF5DatasetGenerator", "ShuffledBatches", "HDF5DatasetWriter", "check_hdf5", "is_complete",
           "read_class_names"]
