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

import sys

from config import tiny_imagenet_config as config
from pyimagesearch.cli import ArgumentParser, handle_user_errors, non_negative_float
from pyimagesearch.training import flags, hdf5run
from pyimagesearch.training.flags import RESUMABLE, add_training_arguments


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(description="Train DeeperGoogLeNet on Tiny ImageNet-200 (defaults: "
                                        "the public 57.3% rank-1 recipe, "
                                        "config/tiny_imagenet_config.py).")
    parser.add_argument("--hdf5-dir", default=config.HDF5_DIR, metavar="FOLDER",
                        help="folder with train.hdf5, val.hdf5, test.hdf5 and mean.json")
    add_training_arguments(parser, config)
    parser.add_argument("--reg", type=non_negative_float, default=config.REG,
                        help="L2 regularisation of every kernel")
    parser.add_argument("--bn-before-relu", action="store_true",
                        help="CONV => BN => RELU modules instead of CONV => RELU => BN")
    parser.fixed_on_resume.update({"reg", "bn_before_relu"})  # parts of the checkpoint's model
    hdf5run.add_augmentation_arguments(parser, config)
    hdf5run.add_data_arguments(parser, config)
    return parser


@handle_user_errors(on_interrupt=RESUMABLE)
def main(argv=None) -> int:
    parser = get_args_parser()
    args = flags.parse_args(parser, argv, config)
    return hdf5run.main(args, config.MODEL_NAME, "build_tiny_hdf5.py", "deepergooglenet",
                        "Tiny ImageNet", image_size=config.IMAGE_SIZE)


if __name__ == "__main__":
    sys.exit(main())
