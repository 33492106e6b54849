#!/usr/bin/env python3
"""Train DeeperGoogLeNet on Tiny ImageNet-200 from the HDF5 files of build_tiny_hdf5.py.

    python train_tinyimagenet.py --hdf5-dir ~/data/tiny-hdf5 --output runs/tiny
    python train_tinyimagenet.py --output runs/tiny --resume            # after a stop or crash
    python train_tinyimagenet.py --output runs/tiny --resume --lr 1e-4  # lower the LR, continue
    python train_tinyimagenet.py --hdf5-dir ~/data/tiny-hdf5 --evaluate runs/tiny/deepergooglenet_tinyimagenet.keras

Writes to --output: deepergooglenet_tinyimagenet.keras (the final model, which
takes raw uint8 images), .json and .png (history), _eval.json (rank-1 and
rank-5 accuracy on the test split), _report.txt and _confusion.png, _args.json
and checkpoints/.
"""

import argparse
import os
import sys

from config import tiny_imagenet_config as config
from pyimagesearch import startup
from pyimagesearch.cli import (
    ArgumentParser,
    degrees,
    fraction,
    handle_user_errors,
    non_negative_float,
    positive_int,
)
from pyimagesearch.training import flags
from pyimagesearch.training.flags import RESUMABLE, add_training_arguments

IN_MEMORY = {"auto": "auto", "yes": True, "no": False}  # --in-memory


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(description="Train DeeperGoogLeNet on Tiny ImageNet-200 (defaults: "
                                        "the public 57.3% rank-1 recipe, "
                                        "config/tiny_imagenet_config.py).")
    parser.add_argument("--hdf5-dir", default=config.HDF5_DIR,
                        help="folder with train.hdf5, val.hdf5, test.hdf5 and mean.json")
    add_training_arguments(parser, config)
    parser.add_argument("--reg", type=non_negative_float, default=config.REG,
                        help="L2 regularisation of every kernel")
    parser.add_argument("--bn-before-relu", action="store_true",
                        help="CONV => BN => RELU modules instead of CONV => RELU => BN")
    parser.fixed_on_resume.update({"reg", "bn_before_relu"})  # parts of the checkpoint's model
    parser.add_argument("--rotation", type=degrees, default=config.ROTATION,
                        help="largest random rotation, degrees")
    parser.add_argument("--zoom", type=fraction, default=config.ZOOM,
                        help="largest random zoom, fraction")
    parser.add_argument("--shift", type=fraction, default=config.SHIFT,
                        help="largest random shift, fraction of width and height")
    parser.add_argument("--shear", type=fraction, default=config.SHEAR,
                        help="largest random shear coefficient (x + s * y)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=config.FLIP,
                        help="random horizontal flips")
    parser.add_argument("--in-memory", choices=("auto", "yes", "no"), default="auto",
                        help="hold train.hdf5 in memory (auto: when it takes at most a quarter "
                             "of the free memory); otherwise batches stream from disk")
    parser.add_argument("--workers", type=positive_int, default=config.WORKERS,
                        help="threads preparing batches (reading and augmenting; PyDataset "
                             "workers)")
    return parser


@handle_user_errors(on_interrupt=RESUMABLE)
def main(argv=None) -> int:
    parser = get_args_parser()
    args = flags.parse_args(parser, argv, config)
    from pyimagesearch.io.hdf5format import check_hdf5, check_hdf5_dir, read_mean
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training import run

    # What needs no Keras first, so a mistake costs no TensorFlow start-up.
    paths = RunPaths(args.output, config.MODEL_NAME)
    settled = run.check_before_keras(parser, argv, args, paths)  # --resume: the run's --hdf5-dir
    split = {name: os.path.join(args.hdf5_dir, f"{name}.hdf5") for name in ("train", "val", "test")}
    needed = ["test"] if args.evaluate else ["train", "val", "test"]
    check_hdf5_dir(args.hdf5_dir)
    for name in needed:
        check_hdf5(split[name], image_shape=(config.IMAGE_SIZE, config.IMAGE_SIZE, 3))
    mean = None if args.evaluate else read_mean(args.hdf5_dir)

    startup.import_keras()
    from pyimagesearch.io import HDF5DatasetGenerator
    from pyimagesearch.nn.conv.deepergooglenet import DeeperGoogLeNet
    from pyimagesearch.nn.optimizers import Adam
    from pyimagesearch.preprocessing import RandomAffine, with_preprocessing
    from pyimagesearch.training import distributed, engine, recipes

    test = HDF5DatasetGenerator(split["test"], args.batch_size, shuffle=False, in_memory=False)
    class_names = test.class_names or [str(i) for i in range(test.num_classes)]
    if args.evaluate:
        engine.evaluate_saved(args.evaluate, test, class_names, paths, args.verbose)
        return 0
    args, initial_epoch, checkpoint, lr = engine.prepare(parser, argv, args, paths, settled)
    augment = RandomAffine(rotation=args.rotation, zoom=args.zoom, shift=args.shift,
                           shear=args.shear, flip=args.flip)
    labels = {"binarize": recipes.one_hot(args), "classes": len(class_names)}
    train = HDF5DatasetGenerator(split["train"], args.batch_size, augment=augment, **labels,
                                 in_memory=IN_MEMORY[args.in_memory],
                                 seed=engine.data_seed(checkpoint, args.seed),
                                 workers=args.workers, **engine.batch_kwargs(args))
    where = "held in memory" if train.in_memory else "streamed from disk"
    print(f"Tiny ImageNet: {train.num_images} training images of {len(class_names)} classes; "
          f"train.hdf5 ({train.nbytes / 2**20:,.0f} MiB) {where}", flush=True)

    def new_model(learning_rate):
        height, width, depth = train.image_shape
        network = DeeperGoogLeNet.build(width, height, depth, len(class_names), reg=args.reg,
                                        bn_before_relu=args.bn_before_relu,
                                        width_multiplier=args.width, dropout=args.dropout)
        model = with_preprocessing(network, mean, name=config.MODEL_NAME)
        optimizer = Adam(learning_rate, **recipes.optimizer_kwargs(args))
        model.compile(optimizer=optimizer, loss=recipes.loss(args), metrics=["accuracy"])
        return model

    model = engine.model_for(checkpoint, initial_epoch, args.epochs, new_model, lr,
                             len(class_names), train.image_shape)
    if args.find_lr:
        engine.find_lr(model, train, paths, args, "DeeperGoogLeNet on Tiny ImageNet")
        return 0
    val = HDF5DatasetGenerator(split["val"], args.batch_size, shuffle=False, in_memory=False,
                               workers=args.workers, **labels,
                               **distributed.current().batch_kwargs())
    engine.train(model, train, paths, args, initial_epoch, checkpoint=checkpoint,
                 class_names=class_names,
                 title=f"DeeperGoogLeNet on Tiny ImageNet, lr {args.lr:g}", validation_data=val)
    train.close()
    val.close()
    if args.test:
        engine.evaluate(model, test, class_names, paths, paths.model, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
