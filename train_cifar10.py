#!/usr/bin/env python3
"""Train MiniGoogLeNet on CIFAR-10 from scratch.

    python train_cifar10.py                          # download CIFAR-10, train 70 epochs
    python train_cifar10.py --data cifar-10-python.tar.gz --output runs/a
    python train_cifar10.py --output runs/a --resume # continue from the last checkpoint

Writes to --output: minigooglenet_cifar10.keras (the final model, which takes
raw uint8 images), .json and .png (history), _report.txt (test-set report),
_args.json (resolved settings) and checkpoints/.
"""

import argparse
import sys

from config import cifar10_config as config
from pyimagesearch.utils import startup
from pyimagesearch.utils.cli import (RESUMABLE, ArgumentParser, add_training_arguments, fraction,
                                     handle_user_errors)


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(description="Train MiniGoogLeNet on CIFAR-10 (defaults: the "
                                        "published recipe, config/cifar10_config.py).")
    parser.add_argument("--data", default=config.DATA,
                        help="cifar-10-python.tar.gz, a cifar-10-batches-py/ folder, or a folder "
                             "holding either; by default the official archive is downloaded")
    add_training_arguments(parser, config)
    parser.add_argument("--momentum", type=fraction, default=config.MOMENTUM,
                        help="SGD momentum (0 to below 1)")
    parser.fixed_on_resume.add("momentum")  # part of the checkpoint's optimizer
    parser.add_argument("--shift", type=fraction, default=config.SHIFT,
                        help="largest random shift, as a fraction of width and height (0: none)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=config.FLIP,
                        help="random horizontal flips")
    return parser


@handle_user_errors(on_interrupt=RESUMABLE)
def main(argv=None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)

    from pyimagesearch.datasets.cifar10 import load_cifar10
    from pyimagesearch.utils import runfolder

    # What needs no Keras first, so a mistake costs no TensorFlow start-up.
    paths = runfolder.RunPaths(args.output, config.MODEL_NAME)
    settled = None
    if args.find_lr:
        runfolder.check_writable(args.output)
    elif not runfolder.wants_distribution(args):
        settled = runfolder.settle(parser, argv, args, paths)
    (x_train, y_train), (x_test, y_test), class_names = load_cifar10(args.data)

    keras = startup.import_keras()
    import numpy as np

    from pyimagesearch.io import ArrayBatches
    from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
    from pyimagesearch.preprocessing import RandomAffine, with_preprocessing
    from pyimagesearch.utils import atomic, distributed, reports, runs
    from pyimagesearch.utils.backend import seed_everything

    if args.find_lr:
        lr_range = runs.prepare_lr_find(args, paths)
        initial_epoch, checkpoint = 0, None
    else:
        args, initial_epoch, checkpoint = runs.prepare_run(parser, argv, args, paths, settled)
    replicas = distributed.current()

    if keras.config.image_data_format() == "channels_first":
        x_train, x_test = x_train.transpose(0, 3, 1, 2), x_test.transpose(0, 3, 1, 2)
    print(f"CIFAR-10: {len(x_train)} training and {len(x_test)} test images", flush=True)

    if args.seed is not None:
        seed_everything(args.seed)
    def new_model(learning_rate):
        network = MiniGoogLeNet.build(width=32, height=32, depth=3, classes=len(class_names))
        # Per-pixel mean image of the training set, carried inside the model.
        mean = x_train.mean(axis=0, dtype=np.float64)
        model = with_preprocessing(network, mean, name=config.MODEL_NAME)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate,
                                                     momentum=args.momentum),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    augment = RandomAffine(shift=args.shift, flip=args.flip,
                           data_format=keras.config.image_data_format())
    if args.find_lr:  # every batch whole: the test reads each batch's loss
        train = ArrayBatches(x_train, y_train, args.batch_size, augment=augment,
                             seed=args.seed, multiple=args.batch_size)
        runs.find_lr(new_model(lr_range), train, paths, args,
                     title="MiniGoogLeNet on CIFAR-10: learning-rate range test")
        return 0

    if checkpoint:
        print(f"resuming from {checkpoint}: epoch {initial_epoch} of {args.epochs} done",
              flush=True)
        model = runs.load_checkpoint(checkpoint)
        runs.check_model_fits(model, checkpoint, len(class_names), x_train.shape[1:])
    else:
        model = new_model(args.lr)
    runs.write_settings(paths, args, class_names=class_names, initial_epoch=initial_epoch)

    train = ArrayBatches(x_train, y_train, args.batch_size, augment=augment,
                         seed=runs.data_seed(checkpoint, args.seed), **replicas.batch_kwargs())
    val = ArrayBatches(x_test, y_test, args.batch_size, shuffle=False, **replicas.batch_kwargs())
    runs.train(model, train, paths, args, initial_epoch, checkpoint=checkpoint,
               class_names=class_names,
               title=f"MiniGoogLeNet on CIFAR-10, lr {args.lr:g}", validation_data=val)

    test = ArrayBatches(x_test, y_test, max(args.batch_size, 256), shuffle=False)
    probs = distributed.predict(model, test, verbose=args.verbose if replicas.chief else 0)
    if not replicas.chief:
        return 0
    title = f"{config.MODEL_NAME} after {args.epochs} epochs"
    report = reports.classification_summary(y_test, probs.argmax(axis=1), class_names, title)
    atomic.write_text(paths.file("_report.txt"), report)
    reports.plot_confusion_matrix(y_test, probs.argmax(axis=1), class_names,
                                  paths.file("_confusion.png"), title)
    print(report)
    print(f"wrote {paths.model}, {paths.history}, {paths.plot}, "
          f"{paths.file('_report.txt')}, {paths.file('_confusion.png')}, {paths.args}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
