"""Neural network builders, and the layers and optimizers they share.

Importing this package registers what saved models refer to
(`pyimagesearch>BatchNormalization`, `pyimagesearch>SGD`, `pyimagesearch>Adam`),
so `keras.models.load_model` finds them.
"""

from pyimagesearch.nn import layers, optimizers  # noqa: F401  (registered for loading)
