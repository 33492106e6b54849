"""Command-line conventions shared by the scripts.

Flags are kebab-case with their defaults shown in `--help`; a mistake a user
can make prints one sentence on stderr and exits with status 2.
"""

import argparse
import functools
import os
import signal
import sys
import threading

from pyimagesearch.utils.errors import UserError

# `--mixed-precision` choices (pyimagesearch.utils.precision.CHOICES, kept here so that
# `--help` need not import Keras).
PRECISIONS = ("auto", "off", "bf16", "fp16")


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line (no usage dump).

    Flags must be typed whole: argparse's prefix matching would take a typo
    (`--epoch 1`) for another flag (`--epochs 1`) without a word.

    Attributes:
        fixed_on_resume: `dest`s of the flags a resumed run cannot change
            (they shaped its model, optimizer or data order, which come from
            the checkpoint); `--resume` with another value is refused.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.fixed_on_resume: set[str] = set()

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    return _whole_number(text, 1)


def _at_least_2(text: str) -> int:
    return _whole_number(text, 2)


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    return _whole_number(text, 0)


def random_seed(text: str) -> int:
    """argparse type: a random seed, 0 to 2**32 - 1 (what NumPy and scikit-learn take)."""
    value = _whole_number(text, 0)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be below 2**32, got {value}")
    return value


def _finite_float(text: str, ok, requirement: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (abs(value) < float("inf") and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    return _finite_float(text, lambda v: v > 0, "a positive number")


def non_negative_float(text: str) -> float:
    """argparse type: a finite number of at least 0."""
    return _finite_float(text, lambda v: v >= 0, "0 or more")


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1) (a shift, zoom or shear range)."""
    return _finite_float(text, lambda v: 0 <= v < 1, "at least 0 and below 1")


def degrees(text: str) -> float:
    """argparse type: a number of degrees in [0, 180) (a rotation range)."""
    return _finite_float(text, lambda v: 0 <= v < 180, "at least 0 and below 180")


def host_port(text: str) -> str:
    """argparse type: `HOST:PORT` with a port in 1-65535."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 10.0.0.1:1234, got {text!r}")
    return text


def add_training_arguments(parser: argparse.ArgumentParser, config) -> None:
    """Adds the flags every training script shares, their defaults from `config`."""
    parser.add_argument("--output", default=config.OUTPUT, help="folder for the run's files")
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
    group.add_argument("--find-lr-steps", type=_at_least_2,
                       default=getattr(config, "FIND_LR_STEPS", 300),
                       help="batches over the whole range (fewer if the loss blows up first)")
    group.add_argument("--find-lr-range", type=positive_float, nargs=2, metavar=("MIN", "MAX"),
                       default=list(getattr(config, "FIND_LR_RANGE", (1e-6, 10.0))),
                       help="the first and the last learning rate of the test")
    group = parser.add_argument_group(
        "data-parallel training (JAX backend: KERAS_BACKEND=jax)",
        "--batch-size stays the global batch, split across every device of every process; "
        "only process 0 writes files. The README's 'More than one GPU or machine' has the "
        "commands.")
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
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="Keras progress output: 0 silent, 1 progress bar, 2 a line per epoch")


def explicit_flags(parser: argparse.ArgumentParser, argv) -> set[str]:
    """Names (`dest`) of the options that `argv` sets explicitly.

    Used on `--resume`, where what the user typed overrides the saved run's
    settings and everything else comes from the saved run.
    """
    quiet = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = action.const
            else:
                kwargs["nargs"] = action.nargs
            quiet.add_argument(*action.option_strings, **kwargs)
    known, _ = quiet.parse_known_args(argv)
    return set(vars(known))


# What the training scripts say on Ctrl-C or SIGTERM, unless they know more.
RESUMABLE = "interrupted; rerun the same command to continue from the last checkpoint"


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, job schedulers), raised like Ctrl-C's KeyboardInterrupt
    so that every cleanup on the way out runs; the command exits with status 143."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _stop_on_sigterm() -> None:
    """Makes SIGTERM raise `Terminated` in the main thread (where Python runs handlers)."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_terminated)


def _say(err: Exception) -> None:
    print("error: " + " ".join(str(err).split()), file=sys.stderr)  # one line


def handle_user_errors(main=None, *, on_interrupt: str = "interrupted"):
    """Decorates `main(argv) -> int` so a `UserError` prints one line and returns 2.

    Ctrl-C prints `on_interrupt` and returns 130; SIGTERM does the same with
    "terminated" for "interrupted" and returns 143 (128 + 15, as a shell
    reports a process that SIGTERM ended). A KeyboardInterrupt raised with a
    message (the training engine says from which epoch the run continues)
    prints that message instead. In data-parallel training, a
    failure that means another process died also prints one line, and this
    process then exits at once with status 2: a normal exit would wait for the
    lost process in JAX's shutdown barrier, then abort. Use it bare
    (`@handle_user_errors`) or with the message
    (`@handle_user_errors(on_interrupt="...")`).
    """
    if main is None:
        return functools.partial(handle_user_errors, on_interrupt=on_interrupt)

    @functools.wraps(main)
    def wrapper(argv=None):
        _stop_on_sigterm()
        try:
            return main(argv)
        except UserError as err:
            _say(err)
            return 2
        except Exception as err:
            distributed = sys.modules.get("pyimagesearch.utils.distributed")
            lost = distributed.lost_peer(err) if distributed else None
            if lost is None:
                raise
            _say(lost)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        except KeyboardInterrupt as stop:
            message = str(stop) or on_interrupt
            if isinstance(stop, Terminated):
                message = message.replace("interrupted", "terminated (SIGTERM)", 1)
            print(message, file=sys.stderr)
            return 143 if isinstance(stop, Terminated) else 130

    return wrapper
