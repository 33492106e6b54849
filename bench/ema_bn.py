#!/usr/bin/env python3
"""Does a weight-averaged model need its own batch-norm statistics? (the --ema check)

    python -m bench.ema_bn RUN/minigooglenet_cifar10.keras --data ~/data/cifar10

A run with `--ema` ends with the averaged weights but with the running batch-norm
statistics of the trained weights (the optimizer averages trainable variables only).
This scores the saved model on the CIFAR-10 test split as it is, then again after
recomputing every batch-norm layer's statistics as the exact mean over `--batches`
training batches (forward passes in training mode; no weight changes), and prints both.
"""

import sys

import numpy as np

from pyimagesearch.cli import ArgumentParser


def recalibrate(model, batches) -> int:
    """Sets every batch-norm layer's moving mean and variance of `model` to the mean of its
    batch statistics over `batches` (images); returns the number of layers."""
    import keras

    norms = [layer for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    try:
        for i, images in enumerate(batches, 1):
            for layer in norms:  # a running mean: batch i weighs 1/i
                layer.momentum = 1.0 - 1.0 / i
            model(images, training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return len(norms)


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.ema_bn",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a .keras model trained by train_cifar10.py")
    parser.add_argument("--data", required=True, help="CIFAR-10, as train_cifar10.py --data")
    parser.add_argument("--batches", type=int, default=100, help="training batches of 256")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    from pyimagesearch import startup

    keras = startup.import_keras()
    import pyimagesearch.nn  # noqa: F401  (registers the networks' layers)
    from pyimagesearch.datasets.cifar10 import load_cifar10
    from pyimagesearch.evaluation import metrics
    from pyimagesearch.io import ArrayBatches

    (x_train, _), (x_test, y_test), _ = load_cifar10(args.data)
    model = keras.models.load_model(args.model)
    test = ArrayBatches(x_test, y_test, 500, shuffle=False)

    def rank1() -> float:
        return metrics.rank_k_accuracy(model.predict(test, verbose=0), y_test, 1)

    before = rank1()
    order = np.random.default_rng(0).permutation(len(x_train))[:args.batches * 256]
    channels_first = keras.config.image_data_format() == "channels_first"
    layers = recalibrate(model, (x.transpose(0, 3, 1, 2) if channels_first else x
                                 for x in np.split(x_train[np.sort(order)], args.batches)))
    after = rank1()
    print(f"test accuracy with the saved batch-norm statistics: {before:.2%}; with statistics "
          f"recomputed over {args.batches} x 256 training images ({layers} layers): {after:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
