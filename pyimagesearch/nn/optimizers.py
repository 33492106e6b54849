"""Keras's SGD and Adam whose decoupled weight decay skips batch-norm parameters and biases,
also after a checkpoint is loaded.

Keras's `exclude_from_weight_decay` must be called before the optimizer is
built, and is not saved with it: a loaded checkpoint's optimizer would decay
every variable, and a resumed run would differ from an uninterrupted one.
These subclasses set the exclusion in their constructor, which loading
calls again. Without `weight_decay` they are Keras's own.
"""

import keras

# Variables that weight decay leaves alone: batch norm's scale and offset, and biases.
NO_DECAY = ["gamma", "beta", "bias"]


class _DecayKernelsOnly:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.weight_decay:
            self.exclude_from_weight_decay(var_names=NO_DECAY)


@keras.saving.register_keras_serializable(package="pyimagesearch")
class SGD(_DecayKernelsOnly, keras.optimizers.SGD):
    """`keras.optimizers.SGD`; its `weight_decay` applies to kernels only."""


@keras.saving.register_keras_serializable(package="pyimagesearch")
class Adam(_DecayKernelsOnly, keras.optimizers.Adam):
    """`keras.optimizers.Adam`; its `weight_decay` (decoupled, as AdamW's) applies to
    kernels only."""
