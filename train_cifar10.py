#!/usr/bin/env python3
"""Train MiniGoogLeNet on CIFAR-10 from scratch.

    python train_cifar10.py                          # download CIFAR-10, train 70 epochs
    python train_cifar10.py --data cifar-10-python.tar.gz --output runs/a
    python train_cifar10.py --output runs/a --resume # continue from the last checkpoint
    python train_cifar10.py --data cifar-10-python.tar.gz --evaluate runs/a/minigooglenet_cifar10.keras

Writes to --output: minigooglenet_cifar10.keras (the final model, which takes
raw uint8 images), .json and .png (history), _eval.json, _report.txt and
_confusion.png (the test split), _args.json (resolved settings) and checkpoints/.
"""

import argparse
import sys

from config import cifar10_config as config
from pyimagesearch import startup
from pyimagesearch.cli import ArgumentParser, fraction, handle_user_errors, non_negative_int
from pyimagesearch.training import flags
from pyimagesearch.training.flags import RESUMABLE, add_training_arguments


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(description="Train MiniGoogLeNet on CIFAR-10 (defaults: the "
                                        "published recipe, config/cifar10_config.py).")
    parser.add_argument("--data", default=config.DATA, metavar="PATH",
                        help="cifar-10-python.tar.gz, a cifar-10-batches-py/ folder, or a folder "
                             "holding either (default: the official archive, downloaded once "
                             "into ~/.keras/datasets)")
    add_training_arguments(parser, config)
    parser.add_argument("--momentum", type=fraction, default=config.MOMENTUM,
                        help="SGD momentum (0 to below 1)")
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction,
                        default=config.NESTEROV, help="Nesterov momentum")
    parser.fixed_on_resume.update({"momentum", "nesterov"})  # in the checkpoint's optimizer
    parser.add_argument("--shift", type=fraction, default=config.SHIFT,
                        help="largest random shift, as a fraction of width and height (0: none)")
    parser.add_argument("--pad-crop", type=non_negative_int, default=config.PAD_CROP,
                        metavar="PIXELS", help="random crops of the image padded with this many "
                                               "zero pixels a side, instead of --shift (0: none)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=config.FLIP,
                        help="random horizontal flips")
    parser.add_argument("--holdout", type=non_negative_int, default=0, metavar="IMAGES",
                        help="validate on this many training images held out (every class in "
                             "proportion, the same for every run) instead of the test split")
    parser.add_argument("--subset", type=non_negative_int, default=0, metavar="IMAGES",
                        help="train on this many of the training images (after --holdout; "
                             "every class in proportion, the same for every run; 0: all)")
    parser.fixed_on_resume.update({"holdout", "subset"})  # the data the run learns from
    parser.add_argument("--cutout", type=non_negative_int, default=config.CUTOUT,
                        metavar="PIXELS", help="zero a random square of this side in every "
                                               "training image (cutout; 0: none)")
    return parser


@handle_user_errors(on_interrupt=RESUMABLE)
def main(argv=None) -> int:
    parser = get_args_parser()
    args = flags.parse_args(parser, argv, config)
    from pyimagesearch.datasets.cifar10 import load_cifar10
    from pyimagesearch.datasets.subsets import holdout_and_subset
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training import run

    # What needs no Keras first, so a mistake costs no TensorFlow start-up.
    paths = RunPaths(args.output, config.MODEL_NAME)
    settled = run.check_before_keras(args, paths)
    (x_train, y_train), (x_test, y_test), class_names = load_cifar10(args.data)
    kept, held_out = holdout_and_subset(y_train, args.holdout, args.subset)
    (x_val, y_val) = (x_train[held_out], y_train[held_out]) if args.holdout else (x_test, y_test)
    x_train, y_train = x_train[kept], y_train[kept]

    startup.import_keras()
    from pyimagesearch.io import ArrayBatches
    from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
    from pyimagesearch.nn.optimizers import SGD
    from pyimagesearch.preprocessing import RandomAffine, with_preprocessing
    from pyimagesearch.training import distributed, engine, recipes

    test = ArrayBatches(x_test, y_test, max(args.batch_size, 256), shuffle=False)
    if args.evaluate:
        engine.evaluate_saved(args.evaluate, test, class_names, paths, args.verbose)
        return 0

    def network(width_multiplier):
        return MiniGoogLeNet.build(width=32, height=32, depth=3, classes=len(class_names),
                                   width_multiplier=width_multiplier, dropout=args.dropout)

    args, initial_epoch, checkpoint, lr = engine.prepare(args, paths, settled, network,
                                                         len(x_train))
    validation = f"{len(x_val)} held out for validation, " if args.holdout else ""
    print(f"CIFAR-10: {len(x_train)} training, {validation}{len(x_test)} test images",
          flush=True)

    def new_model(learning_rate):
        # Per-pixel mean image of the training set, carried inside the model.
        model = with_preprocessing(network(args.width), x_train.mean(axis=0, dtype="float64"),
                                   name=config.MODEL_NAME)
        optimizer = SGD(learning_rate, momentum=args.momentum, nesterov=args.nesterov,
                        **recipes.optimizer_kwargs(args))
        model.compile(optimizer=optimizer, loss=recipes.loss(args), metrics=["accuracy"])
        return model

    crop = ({"shift": args.pad_crop / 32, "fill_mode": "constant", "whole_pixels": True}
            if args.pad_crop else {"shift": args.shift})
    augment = RandomAffine(flip=args.flip, cutout=args.cutout, **crop)
    labels = {"binarize": recipes.one_hot(args), "classes": len(class_names)}
    train = ArrayBatches(x_train, y_train, args.batch_size, augment=augment, **labels,
                         seed=engine.data_seed(checkpoint, args.seed), **engine.batch_kwargs(args))
    model = engine.model_for(checkpoint, initial_epoch, args.epochs, new_model, lr,
                             len(class_names), x_train.shape[1:])
    if args.find_lr:
        engine.find_lr(model, train, paths, args, "MiniGoogLeNet on CIFAR-10")
        return 0
    val = ArrayBatches(x_val, y_val, args.batch_size, shuffle=False, **labels,
                       **distributed.current().batch_kwargs())
    engine.train(model, train, paths, args, initial_epoch, checkpoint=checkpoint,
                 class_names=class_names, title=f"MiniGoogLeNet on CIFAR-10, lr {args.lr:g}",
                 validation_data=val)
    if args.test:
        engine.evaluate(model, test, class_names, paths, paths.model, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
