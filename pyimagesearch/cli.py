"""Command-line conventions shared by every command (the training flags themselves:
`pyimagesearch.training.flags`).

Flags are kebab-case with their defaults shown in `--help`; a mistake a user
can make prints one sentence on stderr and exits with status 2.
"""

import argparse
import functools
import gc
import os
import sys

from pyimagesearch import signals
from pyimagesearch.errors import UserError
from pyimagesearch.signals import Terminated


class HelpFormatter(argparse.HelpFormatter):
    """Help that ends each flag's text with its default, where one means something.

    Said once: not where the help already states it (`default:` in its text), not for a
    required flag or a positional, not when there is none (None, False, an empty string), and
    a flag that takes several values shows them as typed (`1e-06 10.0`, not a list).
    """

    def _get_help_string(self, action):
        text = action.help or ""
        # Python 3.9-3.11's BooleanOptionalAction appends its own; the rules below decide.
        text = text.removesuffix(" (default: %(default)s)")
        default = action.default
        if ("default:" in text or "%(default)" in text or action.required
                or not action.option_strings or default is argparse.SUPPRESS
                or default is None or default is False or default == ""):
            return text
        if isinstance(action, argparse.BooleanOptionalAction):
            shown = action.option_strings[0]  # on by default: the flag itself
        elif action.nargs == 0:
            return text  # store_true and friends: off unless typed
        elif isinstance(default, (list, tuple)):
            shown = " ".join(map(str, default))
        else:
            shown = str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


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
        kwargs.setdefault("formatter_class", HelpFormatter)
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


def at_least_2(text: str) -> int:
    """argparse type: an integer of at least 2."""
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
        signals.install()
        try:
            status = main(argv)
            signals.raise_if_pending()  # a stop that something on the way swallowed
            return status
        except UserError as err:
            _say(err)
            return 2
        except Exception as err:
            kind = signals.requested()  # an error that Ctrl-C or SIGTERM caused is that stop
            if kind is None:
                distributed = sys.modules.get("pyimagesearch.training.distributed")
                lost = distributed.lost_peer(err) if distributed else None
                if lost is None:
                    raise
                _say(lost)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(2)
                return 2  # (where os._exit is replaced, as in the tests)
            message, terminated = on_interrupt, kind is Terminated
        except KeyboardInterrupt as stop:
            message, terminated = str(stop) or on_interrupt, isinstance(stop, Terminated)
        if terminated:
            message = message.replace("interrupted", "terminated (SIGTERM)", 1)
        # The stopped run's objects (its frames, held by the exception until here) are freed
        # now, while the interpreter is whole: a tf.data pipeline freed at exit ran its Python
        # finalizer too late, and TensorFlow logged the failure after the message below.
        gc.collect()
        print(message, file=sys.stderr, flush=True)
        signals.forget()
        return 143 if terminated else 130

    return wrapper
