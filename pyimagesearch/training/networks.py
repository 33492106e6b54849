"""Which network trains on which image size, and which one a run of `train_images.py` uses.

MiniGoogLeNet takes square images from 32x32 (at 32, its 7x7 average pool
covers the whole feature map, as published); DeeperGoogLeNet from 64x64 with
sides a multiple of 16 (four stride-2 pools, then a 4x4 average pool). By
default a size gets DeeperGoogLeNet when it can take it, else MiniGoogLeNet:
32x32 images get MiniGoogLeNet, 64x64 ones DeeperGoogLeNet. Nothing here
imports Keras.
"""

import os

import h5py

from pyimagesearch.cli import ArgumentParser
from pyimagesearch.errors import UserError

NETWORKS = ("minigooglenet", "deepergooglenet")
TITLES = {"minigooglenet": "MiniGoogLeNet", "deepergooglenet": "DeeperGoogLeNet"}
WHAT_IT_TAKES = {"minigooglenet": "images of at least 32x32",
                 "deepergooglenet": "images of at least 64x64 whose sides are multiples of 16"}


def takes(network: str, size: int) -> bool:
    """Whether `network` can be built for `size` x `size` images."""
    if network == "deepergooglenet":
        return size >= 64 and size % 16 == 0
    return size >= 32


def default_network(size: int) -> str:
    """DeeperGoogLeNet for the sizes it takes (64, 80, 96...), else MiniGoogLeNet."""
    return "deepergooglenet" if takes("deepergooglenet", size) else "minigooglenet"


def check(network: str, size: int, hdf5_dir: str) -> None:
    """Raises a UserError if `network` cannot take the `size` x `size` images of `hdf5_dir`."""
    if takes(network, size):
        return
    other = [n for n in NETWORKS if n != network and takes(n, size)]
    instead = f"pass --network {other[0]}, or " if other else ""
    raise UserError(f"--network {network} takes {WHAT_IT_TAKES[network]}, but --hdf5-dir "
                    f"{hdf5_dir} holds {size}x{size} images; {instead}rebuild them with "
                    f"build_hdf5.py --size {64 if network == 'deepergooglenet' else 32} --force")


def stored_size(hdf5_dir: str, split: str = "train") -> int | None:
    """The side of the images in `hdf5_dir`/`split`.hdf5, or None if it cannot be read
    (the script's checks then say what is wrong with the folder)."""
    try:
        with h5py.File(os.path.join(hdf5_dir, f"{split}.hdf5"), "r") as db:
            shape = db["images"].shape
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return int(shape[1]) if len(shape) == 4 else None


def choose(argv, default_hdf5_dir: str, saved: dict | None = None) -> tuple[str, str | None]:
    """The network a training command asks for, before its flags are parsed (their
    defaults are the network's recipe), and why; reads only `--network`, `--hdf5-dir`
    and `--evaluate` from `argv`.

    In order: `--network`; the network of `saved` (the settings of the run that
    `--resume` continues); the default for the size of the images in `--hdf5-dir`
    (else `saved`'s, else `default_hdf5_dir`). If none of these can be read,
    MiniGoogLeNet, with no reason (the data's own check will refuse them).
    """
    pre = ArgumentParser(add_help=False)
    for flag in ("--network", "--hdf5-dir", "--evaluate"):
        pre.add_argument(flag)
    known, _ = pre.parse_known_args(argv)
    saved = saved or {}
    if known.network in NETWORKS:
        return known.network, "--network"
    if saved.get("network") in NETWORKS:
        return saved["network"], "the network of the run resumed"
    hdf5_dir = known.hdf5_dir or saved.get("hdf5_dir") or default_hdf5_dir
    size = stored_size(hdf5_dir, "test" if known.evaluate else "train")
    if size is None:
        return NETWORKS[0], None
    return default_network(size), f"the default for {size}x{size} images"


def build(network: str, args, image_shape, classes: int,
          width_multiplier: float | None = None):
    """The network for float images of `image_shape` (height, width, channels), not
    compiled: `--width` (or `width_multiplier`) and `--dropout`, and DeeperGoogLeNet's
    `--reg` and `--bn-before-relu`."""
    height, width, depth = image_shape
    multiplier = args.width if width_multiplier is None else width_multiplier
    if network == "deepergooglenet":
        from pyimagesearch.nn.conv.deepergooglenet import DeeperGoogLeNet

        return DeeperGoogLeNet.build(width, height, depth, classes, reg=args.reg,
                                     bn_before_relu=args.bn_before_relu,
                                     width_multiplier=multiplier, dropout=args.dropout)
    from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet

    return MiniGoogLeNet.build(width, height, depth, classes, width_multiplier=multiplier,
                               dropout=args.dropout)


def optimizer(network: str, learning_rate, args):
    """The optimizer of the network's published recipe: SGD with `--momentum` and
    `--nesterov` for MiniGoogLeNet (CIFAR-10's), Adam for DeeperGoogLeNet (Tiny
    ImageNet's); either with the recipe's `--weight-decay` and `--ema`."""
    from pyimagesearch.nn.optimizers import SGD, Adam
    from pyimagesearch.training import recipes

    if network == "deepergooglenet":
        return Adam(learning_rate, **recipes.optimizer_kwargs(args))
    return SGD(learning_rate, momentum=args.momentum, nesterov=args.nesterov,
               **recipes.optimizer_kwargs(args))
