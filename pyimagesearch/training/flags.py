"""The one definition of every flag the training scripts share, with its default.

The defaults come from the script's `config` module; each script adds its own
flags (data, augmentation, optimizer) to the same parser. Nothing here imports
Keras, so `--help` and every flag mistake cost no TensorFlow start-up.
"""

import argparse
import sys

from pyimagesearch.cli import (
    ArgumentParser,
    at_least_2,
    explicit_flags,
    fraction,
    host_port,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    random_seed,
)

# `--mixed-precision` choices (`pyimagesearch.training.precision.CHOICES`).
PRECISIONS = ("auto", "off", "bf16", "fp16")

# `--recipe` choices: the published recipe, and a modern one for the same networks.
RECIPES = ("classic", "fast")

# What the training scripts say on Ctrl-C or SIGTERM, unless the engine knows more.
RESUMABLE = "interrupted; rerun the same command to continue from the last checkpoint"


def add_training_arguments(parser: ArgumentParser, config) -> None:
    """Adds the flags every training script shares, their defaults from `config`."""
    parser.add_argument("--output", default=config.OUTPUT, metavar="FOLDER",
                        help="folder for the run's files")
    parser.add_argument("--recipe", choices=RECIPES, default=getattr(config, "RECIPE", "classic"),
                        help="classic: the published recipe (the defaults shown); fast: a modern "
                             "recipe for the same network (warm-up and decay per batch, label "
                             "smoothing, decoupled weight decay; its defaults are the script's "
                             "config FAST, and every flag still overrides them)")
    parser.fixed_on_resume.add("recipe")
    parser.add_argument("--epochs", type=positive_int, default=config.EPOCHS,
                        help="the run's total epochs (a resumed run continues up to it); the LR "
                             "decays to zero over them")
    parser.add_argument("--batch-size", type=positive_int, default=config.BATCH_SIZE,
                        help="images per training step")
    parser.add_argument("--lr", type=positive_float, default=config.LR,
                        help="initial learning rate of the polynomial decay; with --resume, "
                             "the decay restarts from this rate at the resumed epoch")
    parser.add_argument("--power", type=non_negative_float, default=config.POWER,
                        help="power of the polynomial LR decay (1: linear, 0: constant)")
    parser.add_argument("--warmup-epochs", type=non_negative_float, default=0.0,
                        help="epochs of linear LR warm-up (may be fractional); above 0, the LR "
                             "is set every batch instead of every epoch")
    parser.add_argument("--label-smoothing", type=fraction, default=0.0,
                        help="label smoothing of the cross-entropy (one-hot labels)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                        help="decoupled weight decay of the kernels (not of batch-norm "
                             "parameters or biases), in the optimizer")
    parser.add_argument("--ema", type=fraction, default=0.0, metavar="MOMENTUM",
                        help="keep an exponential moving average of the weights with this "
                             "momentum per step (e.g. 0.999; 0: none): validation and the "
                             "final model use the averaged weights, checkpoints hold both")
    parser.fixed_on_resume.update({"label_smoothing", "weight_decay", "ema"})  # in the compile
    parser.add_argument("--width", type=positive_float, default=1.0, metavar="MULTIPLIER",
                        help="every layer's filter count times this (1.0: the published "
                             "network; 1.5 has about 2.25x the parameters)")
    parser.add_argument("--dropout", type=fraction, default=config.DROPOUT,
                        help="dropout rate before the classifier")
    parser.fixed_on_resume.update({"width", "dropout"})  # the checkpoint's model
    parser.add_argument("--seed", type=random_seed, default=None,
                        help="seed for a repeatable run (also makes TensorFlow deterministic)")
    parser.fixed_on_resume.add("seed")  # the data order's seed is the checkpoint's
    parser.add_argument("--checkpoint-every", type=positive_int, default=config.CHECKPOINT_EVERY,
                        help="save a checkpoint every this many epochs")
    parser.add_argument("--keep-checkpoints", type=non_negative_int,
                        default=config.KEEP_CHECKPOINTS,
                        help="how many of the newest checkpoints to keep (0: all)")
    parser.add_argument("--mixed-precision", choices=PRECISIONS,
                        default=getattr(config, "MIXED_PRECISION", "auto"),
                        help="bf16 or fp16 (with loss scaling) activations and float32 weights, "
                             "or off; auto: bf16 on CPUs with bf16 units and on GPUs of compute "
                             "capability 8.0+, fp16 on 7.x, else off (a resumed run keeps its "
                             "checkpoints' precision)")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard logs to --output/tensorboard (a CSV log, "
                             "<model>_log.csv, is always written)")
    group = parser.add_argument_group(
        "learning-rate range test (Smith 2017)",
        "--find-lr trains a fresh model for up to --find-lr-steps batches while the rate "
        "grows exponentially over --find-lr-range, stops when the loss blows up, and writes "
        "<model>_lr_find.png and .json to --output with a suggested --lr; it trains nothing "
        "else and leaves any run in --output as it was.")
    group.add_argument("--find-lr", action="store_true",
                       help="run the range test instead of training")
    group.add_argument("--find-lr-steps", type=at_least_2,
                       default=getattr(config, "FIND_LR_STEPS", 300),
                       help="batches over the whole range (fewer if the loss blows up first)")
    group.add_argument("--find-lr-range", type=positive_float, nargs=2, metavar=("MIN", "MAX"),
                       default=list(getattr(config, "FIND_LR_RANGE", (1e-6, 10.0))),
                       help="the first and the last learning rate of the test")
    group = parser.add_argument_group(
        "data-parallel training (JAX backend: KERAS_BACKEND=jax)",
        "--batch-size stays the global batch, split across every device of every process; "
        "only process 0 writes files. docs/backends.md has the commands.")
    group.add_argument("--distributed", action="store_true",
                       help="train on every device of this process (and of the other "
                            "processes, with the flags below or Keras's/JAX's environment "
                            "variables)")
    group.add_argument("--coordinator", type=host_port, metavar="HOST:PORT",
                       help="where process 0 listens, the same on every process (implies "
                            "--distributed)")
    group.add_argument("--num-processes", type=positive_int, metavar="N",
                       help="how many processes train together (implies --distributed)")
    group.add_argument("--process-id", type=non_negative_int, metavar="I",
                       help="this process's index, 0 to N-1; 0 writes the run's files "
                            "(implies --distributed)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in --output (weights, "
                             "optimizer, epoch, history); settings not given again are the "
                             "saved run's")
    parser.add_argument("--force", action="store_true",
                        help="start a new run even if --output holds one (its checkpoints are "
                             "deleted)")
    parser.add_argument("--verbose", type=verbose_flag, default="auto", metavar="{0,1,2,auto}",
                        help="Keras progress output: 0 silent, 1 a progress bar with ETA, 2 a "
                             "line per epoch; auto: 1 when the output is a terminal, 2 when "
                             "it is not (e.g. redirected to a log), decided by every command, "
                             "a resumed run's too (only a typed 0, 1 or 2 is kept on --resume)")
    parser.add_argument("--test", action=argparse.BooleanOptionalAction, default=True,
                        help="evaluate the final model on the test split (--no-test: leave the "
                             "test split unseen, as a hyperparameter search must)")
    parser.add_argument("--evaluate", metavar="MODEL",
                        help="only evaluate this saved .keras model on the test split (rank-1, "
                             "rank-5, report and confusion matrix in --output)")


def verbose_flag(text: str) -> str | int:
    """argparse type of `--verbose`: 0, 1, 2 or auto."""
    if text == "auto":
        return text
    if text not in ("0", "1", "2"):
        raise argparse.ArgumentTypeError(f"expected 0, 1, 2 or auto, got {text!r}")
    return int(text)


def verbosity(verbose: str | int) -> int:
    """Keras's `verbose` for `--verbose`: as typed, or for auto 1 (a progress bar) when the
    output is a terminal now and 2 (a line an epoch) when it goes elsewhere.

    auto stays auto in the run's saved settings, so a run started on a terminal and
    resumed into a log writes lines, not a progress bar, into the log.
    """
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


class Settings(argparse.Namespace):
    """A training run's resolved settings, what the engine below the scripts reads.

    Every flag's value is an attribute, as in the `argparse.Namespace` it extends
    (`vars(settings)` is what the run's `_args.json` records). Two more attributes,
    kept out of `vars`, say what the command line alone can tell, so that nothing
    below the script needs the parser or `argv`:

    Attributes:
        typed: `dest`s of the flags typed on the command line (on `--resume` they
            override the saved run's settings; the others come from the saved run).
        fixed_on_resume: `dest`s of the flags a resumed run cannot change (they
            shaped its model, optimizer or data order, which the checkpoint holds).
    """

    __slots__ = ("typed", "fixed_on_resume")

    def __init__(self, typed=(), fixed_on_resume=(), **values):
        super().__init__(**values)
        self.typed = frozenset(typed)
        self.fixed_on_resume = frozenset(fixed_on_resume)


def parse_args(parser: ArgumentParser, argv, config) -> Settings:
    """Parses `argv` into the run's `Settings`; with `--recipe fast`, the flags not typed
    take the values of the script's `config.FAST` (every typed flag still wins)."""
    args = parser.parse_args(argv, namespace=Settings())
    args.typed = frozenset(explicit_flags(parser, argv))
    args.fixed_on_resume = frozenset(parser.fixed_on_resume)
    if args.recipe == "fast":
        for key, value in config.FAST.items():
            if key not in args.typed:
                setattr(args, key, value)
    return args
