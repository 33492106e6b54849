"""HDF5 image datasets: the writer, the batch generator and the file checks."""

from pyimagesearch.io.hdf5datasetgenerator import (HDF5DatasetGenerator, check_hdf5,
                                                   read_class_names)
from pyimagesearch.io.hdf5datasetwriter import HDF5DatasetWriter, is_complete

__all__ = ["HDF5DatasetGenerator", "HDF5DatasetWriter", "check_hdf5", "is_complete",
           "read_class_names"]
