"""GoogLeNet-family networks trained from scratch with Keras 3.

Layers, lowest first (imports only point down; `tests/test_layout.py`):
the foundation (`errors`, `atomic`, `startup`, `cli`, `backend`); `nn`
(model builders), `preprocessing` (batch preprocessing and augmentation),
`datasets` (loaders); `io` (batches, HDF5 files, the checkpoint format);
`evaluation` (metrics, reports, figures, diagnosis); `callbacks` (Keras
callbacks); `training` (flags, the run folder, the engine); `deploy` (export
formats, their runtimes, the parity check); the commands `predict`, `diagnose`,
`report`, `tune` and `export`.
"""

__version__ = "0.1.0"
