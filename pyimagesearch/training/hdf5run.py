"""A training script's run on the HDF5 files of a build (`build_tiny_hdf5.py`,
`build_hdf5.py`): what `train_tinyimagenet.py` and `train_images.py` share.

The script parses its flags and chooses the network and its optimizer; `main`
does the rest through the engine: checks the data and the run folder before
Keras is imported, then `--evaluate`, `--find-lr`, or training (new, rerun or
`--resume`d) on train.hdf5, validated on val.hdf5 and evaluated on test.hdf5.
The model takes raw uint8 images: the training split's mean R, G, B
(`mean.json`) is subtracted inside it.
"""

import argparse
import os

from pyimagesearch import startup
from pyimagesearch.cli import degrees, fraction, non_negative_int, positive_int
from pyimagesearch.io.hdf5format import check_hdf5, check_hdf5_dir, read_mean
from pyimagesearch.io.runfiles import RunPaths
from pyimagesearch.training import networks, run
from pyimagesearch.training.flags import Settings

SPLITS = ("train", "val", "test")
IN_MEMORY = {"auto": "auto", "yes": True, "no": False}  # --in-memory


def add_augmentation_arguments(parser: argparse.ArgumentParser, config) -> None:
    """The augmentation flags (`augmentation` reads them), their defaults from `config`
    (ROTATION, ZOOM, SHIFT, SHEAR, FLIP, PAD_CROP, CUTOUT; absent: off)."""
    parser.add_argument("--rotation", type=degrees, default=getattr(config, "ROTATION", 0.0),
                        help="largest random rotation, degrees")
    parser.add_argument("--zoom", type=fraction, default=getattr(config, "ZOOM", 0.0),
                        help="largest random zoom, fraction")
    parser.add_argument("--shift", type=fraction, default=getattr(config, "SHIFT", 0.0),
                        help="largest random shift, fraction of width and height")
    parser.add_argument("--shear", type=fraction, default=getattr(config, "SHEAR", 0.0),
                        help="largest random shear coefficient (x + s * y)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction,
                        default=getattr(config, "FLIP", False), help="random horizontal flips")
    parser.add_argument("--pad-crop", type=non_negative_int,
                        default=getattr(config, "PAD_CROP", 0), metavar="PIXELS",
                        help="random crops of the image padded with this many zero pixels a "
                             "side, instead of --shift (0: none)")
    parser.add_argument("--cutout", type=non_negative_int, default=getattr(config, "CUTOUT", 0),
                        metavar="PIXELS", help="zero a random square of this side in every "
                                               "training image (cutout; 0: none)")


def add_data_arguments(parser: argparse.ArgumentParser, config) -> None:
    """The flags of the HDF5 input pipeline: `--in-memory` and `--workers`."""
    parser.add_argument("--in-memory", choices=("auto", "yes", "no"), default="auto",
                        help="hold train.hdf5 in memory (auto: when it takes at most a quarter "
                             "of the free memory); otherwise batches stream from disk")
    parser.add_argument("--workers", type=positive_int, default=config.WORKERS,
                        help="threads preparing batches (reading and augmenting; PyDataset "
                             "workers)")


def augmentation(args: Settings, size: int):
    """The run's `RandomAffine`, from `add_augmentation_arguments`'s flags. `--pad-crop
    PIXELS` crops the image padded with zeros instead of `--shift`. (A run saved before a
    flag existed has it off.)"""
    from pyimagesearch.preprocessing import RandomAffine

    pad = getattr(args, "pad_crop", 0)
    crop = ({"shift": pad / size, "fill_mode": "constant", "whole_pixels": True} if pad
            else {"shift": args.shift})
    return RandomAffine(rotation=args.rotation, zoom=args.zoom, shear=args.shear, flip=args.flip,
                        cutout=getattr(args, "cutout", 0), **crop)


def main(args: Settings, model_name: str, builder: str, network: str,
         data_title: str | None = None, image_size: int | None = None) -> int:
    """Evaluates, tests the learning rate, or trains, as `args` say.

    Args:
        args: the script's resolved settings (`flags.parse_args`).
        model_name: the run's files are named after it.
        builder: the script that writes `--hdf5-dir`, named in the messages.
        network: "minigooglenet" or "deepergooglenet", trained with the optimizer
            of its recipe (`networks.build`, `networks.optimizer`).
        data_title: the data's name in titles (default: the --hdf5-dir folder's).
        image_size: the side every split's images must have; None: the training
            split's (the test split's with `--evaluate`), which all must share.
    """
    # What needs no Keras first, so a mistake costs no TensorFlow start-up.
    paths = RunPaths(args.output, model_name)
    settled = run.check_before_keras(args, paths)  # --resume: the run's --hdf5-dir
    split = {name: os.path.join(args.hdf5_dir, f"{name}.hdf5") for name in SPLITS}
    needed = ["test"] if args.evaluate else list(SPLITS)
    check_hdf5_dir(args.hdf5_dir, builder)
    shape = None if image_size is None else (image_size, image_size, 3)
    for name in needed:
        check_hdf5(split[name], image_shape=shape, builder=builder)
        if shape is None:  # the first split checked sets the shape of the others
            size = networks.stored_size(args.hdf5_dir, name)
            shape = (size, size, 3)
    if not args.evaluate:
        networks.check(network, shape[0], args.hdf5_dir)
    mean = None if args.evaluate else read_mean(args.hdf5_dir, builder)
    data_title = data_title or os.path.basename(os.path.abspath(args.hdf5_dir))
    title = f"{networks.TITLES[network]} on {data_title}"

    startup.import_keras()
    from pyimagesearch.io import HDF5DatasetGenerator
    from pyimagesearch.preprocessing import with_preprocessing
    from pyimagesearch.training import distributed, engine, recipes

    test = HDF5DatasetGenerator(split["test"], args.batch_size, shuffle=False, in_memory=False)
    class_names = test.class_names or [str(i) for i in range(test.num_classes)]
    if args.evaluate:
        engine.evaluate_saved(args.evaluate, test, class_names, paths, args.verbose)
        return 0

    def build(width_multiplier):
        return networks.build(network, args, shape, len(class_names), width_multiplier)

    args, initial_epoch, checkpoint, lr = engine.prepare(args, paths, settled, build)
    labels = {"binarize": recipes.one_hot(args), "classes": len(class_names)}
    train = HDF5DatasetGenerator(split["train"], args.batch_size,
                                 augment=augmentation(args, shape[0]), **labels,
                                 in_memory=IN_MEMORY[args.in_memory],
                                 seed=engine.data_seed(checkpoint, args.seed),
                                 workers=args.workers, **engine.batch_kwargs(args))
    where = "held in memory" if train.in_memory else "streamed from disk"
    print(f"{data_title}: {train.num_images} training images of {len(class_names)} classes; "
          f"train.hdf5 ({train.nbytes / 2**20:,.0f} MiB) {where}", flush=True)

    def new_model(learning_rate):
        model = with_preprocessing(networks.build(network, args, train.image_shape,
                                                  len(class_names)), mean, name=model_name)
        model.compile(optimizer=networks.optimizer(network, learning_rate, args),
                      loss=recipes.loss(args), metrics=["accuracy"])
        return model

    model = engine.model_for(checkpoint, initial_epoch, args.epochs, new_model, lr,
                             len(class_names), train.image_shape)
    if args.find_lr:
        engine.find_lr(model, train, paths, args, title)
        return 0
    val = HDF5DatasetGenerator(split["val"], args.batch_size, shuffle=False, in_memory=False,
                               workers=args.workers, **labels,
                               **distributed.current().batch_kwargs())
    engine.train(model, train, paths, args, initial_epoch, checkpoint=checkpoint,
                 class_names=class_names,
                 title=f"{title}, lr {args.lr:g}", validation_data=val)
    train.close()
    val.close()
    if args.test:
        engine.evaluate(model, test, class_names, paths, paths.model, args.verbose)
    return 0
