"""Neural network builders, and the layers they share.

Importing this package registers the layers that saved models refer to
(`pyimagesearch>BatchNormalization`), so `keras.models.load_model` finds them.
"""

from pyimagesearch.nn import layers  # noqa: F401  (registers the layers for loading)
