"""Command-line conventions shared by the scripts.

Flags are kebab-case with their defaults shown in `--help`; a mistake a user
can make prints one sentence on stderr and exits with status 2.
"""

import argparse
import functools
import sys

from pyimagesearch.utils.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line (no usage dump)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def explicit_flags(parser: argparse.ArgumentParser, argv) -> set[str]:
    """Names (`dest`) of the options that `argv` sets explicitly.

    Used on `--resume`, where what the user typed overrides the saved run's
    settings and everything else comes from the saved run.
    """
    quiet = argparse.ArgumentParser(add_help=False)
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


def handle_user_errors(main):
    """Decorates `main(argv) -> int` so a `UserError` prints one line and returns 2."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except UserError as err:
            print("error: " + " ".join(str(err).split()), file=sys.stderr)  # one line
            return 2
        except KeyboardInterrupt:
            print("interrupted; rerun with --resume to continue from the last checkpoint",
                  file=sys.stderr)
            return 130

    return wrapper
