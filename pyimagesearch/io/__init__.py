"""Reading and writing: seeded, resumable batches over arrays and HDF5 files, the HDF5
writer, and the checkpoint format (`pyimagesearch.io.checkpoints`).

Names are loaded on first use, so reading a checkpoint's or HDF5 file's
header does not import Keras.
"""

import importlib

_WHERE = {"ArrayBatches": "batches", "ShuffledBatches": "batches",
          "HDF5DatasetGenerator": "hdf5datasetgenerator", "check_hdf5": "hdf5format",
          "HDF5DatasetWriter": "hdf5datasetwriter", "is_complete": "hdf5format"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
