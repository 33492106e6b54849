"""Dataset input/output (HDF5 writer and batch generator)."""
