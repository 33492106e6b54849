"""Neural network builders, and the layers and optimizers they share.

Importing this package registers what saved models refer to
(`pyimagesearch>BatchNormalization`, `pyimagesearch>SGD`, `pyimagesearch>Adam`,
`pyimagesearch>PolynomialDecaySchedule`),
so `keras.models.load_model` finds them.
"""

from pyimagesearch.nn import layers, optimizers, schedules  # noqa: F401  (registered for loading)
