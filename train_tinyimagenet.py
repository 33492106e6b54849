#!/usr/bin/env python3
"""Train DeeperGoogLeNet on Tiny ImageNet-200 from the HDF5 files of build_tiny_hdf5.py.

    python train_tinyimagenet.py --hdf5-dir ~/data/tiny-hdf5 --output runs/tiny
    python train_tinyimagenet.py --output runs/tiny --resume            # after a stop or crash
    python train_tinyimagenet.py --output runs/tiny --resume --lr 1e-4  # lower the LR, continue
    python train_tinyimagenet.py --hdf5-dir ~/data/tiny-hdf5 --evaluate runs/tiny/deepergooglenet_tinyimagenet.keras

Writes to --output: deepergooglenet_tinyimagenet.keras (the final model, which
takes raw uint8 images), .json and .png (history), _eval.json (rank-1 and
rank-5 accuracy on the test split), _args.json and checkpoints/.
"""

import argparse
import json
import os
import sys

from config import tiny_imagenet_config as config
from pyimagesearch.utils import startup
from pyimagesearch.utils.cli import (RESUMABLE, ArgumentParser, add_training_arguments, degrees,
                                     fraction, handle_user_errors, non_negative_float,
                                     positive_int)
from pyimagesearch.utils.errors import UserError


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
    parser.add_argument("--evaluate", metavar="MODEL",
                        help="only evaluate this saved .keras model on the test split")
    return parser


def _check_files_exist(hdf5_dir: str, names=None) -> None:
    """Raises a UserError if `--hdf5-dir` or one of its files is missing (no HDF5 read)."""
    if not os.path.isdir(hdf5_dir):
        raise UserError(f"--hdf5-dir {hdf5_dir} does not exist; build it with "
                        f"build_tiny_hdf5.py --hdf5-dir {hdf5_dir}")
    for name in names or ("train.hdf5", "val.hdf5", "test.hdf5", "mean.json"):
        if not os.path.exists(os.path.join(hdf5_dir, name)):
            raise UserError(f"{os.path.join(hdf5_dir, name)} is missing; rerun "
                            f"build_tiny_hdf5.py --hdf5-dir {hdf5_dir}")


def _split(hdf5_dir: str, split: str) -> str:
    from pyimagesearch.io import check_hdf5

    path = os.path.join(hdf5_dir, f"{split}.hdf5")
    check_hdf5(path, image_shape=(config.IMAGE_SIZE, config.IMAGE_SIZE, 3))
    return path


def read_mean(hdf5_dir: str) -> list[float]:
    """The training split's mean R, G, B from `mean.json`."""
    path = os.path.join(hdf5_dir, "mean.json")
    try:
        with open(path, encoding="utf-8") as f:
            mean = json.load(f)
        return [float(mean[c]) for c in "RGB"]
    except FileNotFoundError:
        raise UserError(f"{path} is missing; rerun build_tiny_hdf5.py for --hdf5-dir "
                        f"{hdf5_dir}") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a mean file of build_tiny_hdf5.py ({err}); rebuild "
                        "with build_tiny_hdf5.py --force") from None


def evaluate(model, test, verbose: int = 0) -> tuple:
    """Rank-1 and rank-5 accuracy of `model` on a (non-shuffling) HDF5DatasetGenerator.

    Returns:
        `({"rank1", "rank5", "n"}, probabilities)`.
    """
    from pyimagesearch.utils.distributed import predict
    from pyimagesearch.utils.ranked import rank5_accuracy

    probs = predict(model, test, verbose=verbose)
    rank1, rank5 = rank5_accuracy(probs, test.labels)
    return {"rank1": rank1, "rank5": rank5, "n": int(len(test.labels))}, probs


def write_evaluation(paths, model_path: str, result: dict, probs, test) -> list[str]:
    """Writes `_eval.json` and the test split's confusion matrix; returns their paths."""
    from pyimagesearch.utils import atomic, reports

    eval_path, confusion_path = paths.file("_eval.json"), paths.file("_confusion.png")
    atomic.write_json(eval_path, {**result, "model": model_path})
    names = test.class_names or [str(i) for i in range(test.num_classes)]
    reports.plot_confusion_matrix(test.labels, probs.argmax(axis=1), names, confusion_path,
                                  title=f"{os.path.basename(model_path)} on the test split")
    print(f"rank-1: {result['rank1']:.2%}, rank-5: {result['rank5']:.2%} "
          f"({result['n']} test images)")
    return [eval_path, confusion_path]


@handle_user_errors(on_interrupt=RESUMABLE)
def main(argv=None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)

    from pyimagesearch.utils import runfolder

    # What needs no Keras first, so a mistake costs no TensorFlow start-up.
    paths = runfolder.RunPaths(args.output, config.MODEL_NAME)
    settled = None
    if args.evaluate or args.find_lr:
        runfolder.check_writable(args.output)
    elif not runfolder.wants_distribution(args):
        settled = runfolder.settle(parser, argv, args, paths)  # --resume: the run's --hdf5-dir
    _check_files_exist(args.hdf5_dir, ("test.hdf5",) if args.evaluate else None)

    keras = startup.import_keras()

    from pyimagesearch.io import HDF5DatasetGenerator
    from pyimagesearch.nn.conv.deepergooglenet import DeeperGoogLeNet
    from pyimagesearch.preprocessing import RandomAffine, with_preprocessing
    from pyimagesearch.utils import distributed, runs
    from pyimagesearch.utils.backend import seed_everything

    if args.evaluate:
        test = HDF5DatasetGenerator(_split(args.hdf5_dir, "test"), args.batch_size,
                                    shuffle=False, in_memory=False)
        model = runs.load_checkpoint(args.evaluate)
        runs.check_model_fits(model, args.evaluate, test.num_classes, test.image_shape)
        runs.check_writable(args.output)
        result, probs = evaluate(model, test, args.verbose)
        written = write_evaluation(paths, args.evaluate, result, probs, test)
        print(f"wrote {', '.join(written)}")
        return 0

    if args.find_lr:
        lr_range = runs.prepare_lr_find(args, paths)
        initial_epoch, checkpoint = 0, None
    else:
        args, initial_epoch, checkpoint = runs.prepare_run(parser, argv, args, paths, settled)
    replicas = distributed.current()
    train_path, val_path, test_path = (_split(args.hdf5_dir, s) for s in ("train", "val", "test"))
    mean = read_mean(args.hdf5_dir)

    if args.seed is not None:
        seed_everything(args.seed)
    in_memory = {"auto": "auto", "yes": True, "no": False}[args.in_memory]
    augment = RandomAffine(rotation=args.rotation, zoom=args.zoom, shift=args.shift,
                           shear=args.shear, flip=args.flip)
    # For --find-lr, every batch whole: the test reads each batch's loss.
    batch_kwargs = {"multiple": args.batch_size} if args.find_lr else replicas.batch_kwargs()
    train = HDF5DatasetGenerator(train_path, args.batch_size, in_memory=in_memory,
                                 seed=runs.data_seed(checkpoint, args.seed), augment=augment,
                                 workers=args.workers, **batch_kwargs)
    val = HDF5DatasetGenerator(val_path, args.batch_size, shuffle=False, in_memory=False,
                               workers=args.workers, **replicas.batch_kwargs())
    class_names = train.class_names or [str(i) for i in range(train.num_classes)]
    where = "held in memory" if train.in_memory else "streamed from disk"
    print(f"Tiny ImageNet: {train.num_images} training, {val.num_images} validation images of "
          f"{len(class_names)} classes; train.hdf5 ({train.nbytes / 2**20:,.0f} MiB) {where}",
          flush=True)

    def new_model(learning_rate):
        height, width, depth = train.image_shape
        network = DeeperGoogLeNet.build(width, height, depth, len(class_names), reg=args.reg,
                                        bn_before_relu=args.bn_before_relu)
        model = with_preprocessing(network, mean, name=config.MODEL_NAME)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    if args.find_lr:
        runs.find_lr(new_model(lr_range), train, paths, args,
                     title="DeeperGoogLeNet on Tiny ImageNet: learning-rate range test")
        train.close()
        val.close()
        return 0

    if checkpoint:
        print(f"resuming from {checkpoint}: epoch {initial_epoch} of {args.epochs} done",
              flush=True)
        model = runs.load_checkpoint(checkpoint)
        runs.check_model_fits(model, checkpoint, len(class_names), train.image_shape)
    else:
        model = new_model(args.lr)
    runs.write_settings(paths, args, class_names=class_names, initial_epoch=initial_epoch)

    runs.train(model, train, paths, args, initial_epoch, checkpoint=checkpoint,
               class_names=class_names,
               title=f"DeeperGoogLeNet on Tiny ImageNet, lr {args.lr:g}",
               validation_data=val)
    train.close()
    val.close()

    test = HDF5DatasetGenerator(test_path, args.batch_size, shuffle=False, in_memory=False)
    result, probs = evaluate(model, test, args.verbose if replicas.chief else 0)
    if not replicas.chief:
        return 0
    written = write_evaluation(paths, paths.model, result, probs, test)
    print(f"wrote {paths.model}, {paths.history}, {paths.plot}, {', '.join(written)}, "
          f"{paths.args}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
