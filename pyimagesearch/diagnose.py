"""Diagnose a training run from its history: LR too high, overfitting, underfitting,
plateau or healthy, with the evidence and the usual remedy.

    python -m pyimagesearch.diagnose output/minigooglenet_cifar10.json
    python -m pyimagesearch.diagnose old_run/12345.json --patience 5   # the classic monitor's JSON
    python -m pyimagesearch.diagnose runs/a/minigooglenet_cifar10_log.csv  # a CSVLogger file

Writes `<stem>_diagnosis.txt` and `<stem>_diagnosis.png` (the curves with the
findings marked) beside the history, or in `--output`. The checks themselves
are in `pyimagesearch.evaluation.diagnosis`.
"""

import os
import sys

from pyimagesearch import atomic
from pyimagesearch.cli import ArgumentParser, handle_user_errors, positive_int
from pyimagesearch.errors import UserError
from pyimagesearch.evaluation.diagnosis import LONG_RUN, PATIENCE, diagnose, normalise
from pyimagesearch.evaluation.figures import plot_history
from pyimagesearch.evaluation.history import load_history


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m pyimagesearch.diagnose",
                            description="Diagnose a training run from its history: LR too "
                                        "high, overfitting, underfitting, plateau or healthy.")
    parser.add_argument("history", help="a history JSON (this toolkit's, the classic "
                                        "TrainingMonitor's, Keras's History.history) or a CSV log")
    parser.add_argument("--patience", type=positive_int, default=PATIENCE,
                        help="epochs a sign must last (the validation loss rising, a stall) "
                             f"in a run of up to {LONG_RUN} epochs; a longer run needs the "
                             "same share of its epochs")
    parser.add_argument("--output", metavar="FOLDER",
                        help="folder for <stem>_diagnosis.txt and .png (default: the history's "
                             "folder)")
    return parser


@handle_user_errors
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    notes = []
    history = load_history(args.history, notes)
    diagnosis = diagnose(history, args.patience, notes=notes)
    folder = args.output or os.path.dirname(os.path.abspath(args.history))
    stem = os.path.join(folder, os.path.splitext(os.path.basename(args.history))[0])
    report = diagnosis.text(args.history)
    try:
        os.makedirs(folder, exist_ok=True)
        atomic.write_text(f"{stem}_diagnosis.txt", report)
        curves = {k: v.tolist() for k, v in normalise(history).items()}
        plot_history(curves, f"{stem}_diagnosis.png", os.path.basename(args.history),
                     diagnosis=diagnosis)
    except OSError as err:
        raise UserError(f"cannot write to {folder} ({err.strerror or err}); pass --output with "
                        "a folder you can write to") from None
    print(report, end="")
    print(f"wrote {stem}_diagnosis.txt, {stem}_diagnosis.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
