"""What a recipe's settings mean when the model is compiled and trained.

`--recipe classic` is the published recipe; `--recipe fast` sets other
defaults (each script's `config.FAST`, see `flags.parse_args`). Either way the
settings below take effect the same: label smoothing needs one-hot labels
and Keras's `CategoricalCrossentropy`; weight decay is the optimizer's
decoupled one, on the kernels only (`pyimagesearch.nn.optimizers`); a warm-up
sets the rate every batch.
"""

import argparse

import keras


def one_hot(args: argparse.Namespace) -> bool:
    """Whether the labels go one-hot (label smoothing needs them)."""
    return getattr(args, "label_smoothing", 0.0) > 0


def loss(args: argparse.Namespace) -> keras.losses.Loss:
    """The cross-entropy, with `--label-smoothing` (on one-hot labels) if asked."""
    if one_hot(args):
        return keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def per_batch(args: argparse.Namespace) -> bool:
    """Whether the learning rate is set every batch (a warm-up) rather than every epoch."""
    return getattr(args, "warmup_epochs", 0.0) > 0
