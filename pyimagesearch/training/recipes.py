"""What a recipe's settings mean when the model is compiled and trained.

`--recipe classic` is the published recipe; `--recipe fast` sets other
defaults (each script's `config.FAST`, see `flags.parse_args`). Either way the
settings below take effect the same: label smoothing needs one-hot labels
and Keras's `CategoricalCrossentropy`; weight decay is the optimizer's
decoupled one, on the kernels only (`pyimagesearch.nn.optimizers`); the
moving average of the weights is the optimizer's (`use_ema`); a warm-up sets
the rate every batch.
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


def optimizer_kwargs(args: argparse.Namespace) -> dict:
    """The optimizer's `--weight-decay` and `--ema` settings (None and off when 0)."""
    ema = getattr(args, "ema", 0.0)
    return {"weight_decay": getattr(args, "weight_decay", 0.0) or None,
            "use_ema": ema > 0, "ema_momentum": ema or 0.99}
