#!/usr/bin/env python3
"""Train MiniGoogLeNet or DeeperGoogLeNet on your own images, from the HDF5 files of
build_hdf5.py.

    python train_images.py --hdf5-dir ~/data/photos-hdf5 --output runs/photos
    python train_images.py --hdf5-dir ~/data/photos-hdf5 --output runs/fast --recipe fast
    python train_images.py --output runs/photos --resume            # after a stop or crash
    python train_images.py --hdf5-dir ~/data/photos-hdf5 --evaluate runs/photos/googlenet_images.keras

The network follows the images' size unless --network says otherwise:
MiniGoogLeNet for 32x32 (and any size from 32 that DeeperGoogLeNet cannot take),
DeeperGoogLeNet for 64x64 (and 80, 96...: multiples of 16). Each trains with the
recipe it was published with, whose defaults --help shows for the network it
would choose: MiniGoogLeNet CIFAR-10's (SGD; config/cifar10_config.py),
DeeperGoogLeNet Tiny ImageNet's (Adam and L2; config/tiny_imagenet_config.py);
--recipe fast is each one's modern recipe.

Writes to --output what the other training scripts write: googlenet_images.keras
(the final model, which takes raw uint8 images and holds the class names), .json
and .png (history), _eval.json, _report.txt and _confusion.png (the test split),
_args.json, report.html and checkpoints/.
"""

import argparse
import sys
from importlib import import_module

from config import images_config as config
from pyimagesearch.cli import (
    ArgumentParser,
    fraction,
    handle_user_errors,
    non_negative_float,
)
from pyimagesearch.errors import UserError
from pyimagesearch.training import flags, hdf5run, networks
from pyimagesearch.training.flags import RESUMABLE, add_training_arguments

# Flags of one network's optimizer or architecture only: None for the other network.
ONLY = {"momentum": "minigooglenet", "nesterov": "minigooglenet",
        "reg": "deepergooglenet", "bn_before_relu": "deepergooglenet"}


def recipe(network: str):
    """The config module of the network's recipe (config/images_config.py RECIPES)."""
    return import_module(f"config.{config.RECIPES[network]}")


def get_args_parser(network: str = networks.NETWORKS[0]) -> ArgumentParser:
    """The flags, their defaults those of `network`'s recipe."""
    defaults = recipe(network)
    mine = {key: getattr(defaults, key.upper(), False) if owner == network else None
            for key, owner in ONLY.items()}  # (no --bn-before-relu is False)
    parser = ArgumentParser(description="Train MiniGoogLeNet or DeeperGoogLeNet on the HDF5 "
                                        "files of build_hdf5.py (defaults shown: the recipe of "
                                        f"{networks.TITLES[network]}, the network for the "
                                        "images of --hdf5-dir; --network NAME --help shows "
                                        "the other's; config/images_config.py).")
    parser.add_argument("--hdf5-dir", default=config.HDF5_DIR, metavar="FOLDER",
                        help="folder with train.hdf5, val.hdf5, test.hdf5 and mean.json")
    parser.add_argument("--network", choices=networks.NETWORKS,
                        help="the network (default: DeeperGoogLeNet for images of 64x64 and "
                             "up whose side is a multiple of 16, else MiniGoogLeNet)")
    add_training_arguments(parser, defaults)
    parser.add_argument("--momentum", type=fraction, default=mine["momentum"],
                        help="SGD momentum (minigooglenet)")
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction,
                        default=mine["nesterov"], help="Nesterov momentum (minigooglenet)")
    parser.add_argument("--reg", type=non_negative_float, default=mine["reg"],
                        help="L2 regularisation of every kernel (deepergooglenet)")
    parser.add_argument("--bn-before-relu", action=argparse.BooleanOptionalAction,
                        default=mine["bn_before_relu"],
                        help="CONV => BN => RELU modules instead of CONV => RELU => BN "
                             "(deepergooglenet)")
    # The network, its optimizer and their settings are the checkpoint's.
    parser.fixed_on_resume.update({"network", *ONLY})
    hdf5run.add_augmentation_arguments(parser, defaults)
    hdf5run.add_data_arguments(parser, config)
    return parser


def _saved_settings(argv) -> dict:
    """The settings of the run `--resume` continues ({} without --resume, or none saved)."""
    from pyimagesearch.io.runfiles import RunPaths, read_settings

    pre = ArgumentParser(add_help=False)
    pre.add_argument("--output", default=recipe(networks.NETWORKS[0]).OUTPUT)
    pre.add_argument("--resume", action="store_true")
    known, _ = pre.parse_known_args(argv)
    if not known.resume:
        return {}
    model = RunPaths(known.output, config.MODEL_NAME).model
    try:
        return (read_settings(model)[0] or {}).get("args", {})
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the saved settings of the run in {known.output} ({err}); "
                        "delete its _args.json to resume with the settings on the command "
                        "line") from None


@handle_user_errors(on_interrupt=RESUMABLE)
def main(argv=None) -> int:
    # The network first: the flags' defaults are its recipe's.
    network, why = networks.choose(argv, config.HDF5_DIR, _saved_settings(argv))
    parser = get_args_parser(network)
    args = flags.parse_args(parser, argv, recipe(network))
    wrong = sorted(f"--{k.replace('_', '-')}" for k, owner in ONLY.items()
                   if k in args.typed and owner != network)
    if wrong:
        other = next(n for n in networks.NETWORKS if n != network)
        optimizer = "SGD" if network == "minigooglenet" else "Adam"
        raise UserError(f"{' and '.join(wrong)} {'applies' if len(wrong) == 1 else 'apply'} "
                        f"to {other} only, not to {network} (which trains with {optimizer}); "
                        f"drop {'it' if len(wrong) == 1 else 'them'}, or pass --network {other}")
    args.network = network
    if why and not args.evaluate:
        print(f"network: {network} ({why})", flush=True)
    return hdf5run.main(args, config.MODEL_NAME, "build_hdf5.py", network)


if __name__ == "__main__":
    sys.exit(main())
