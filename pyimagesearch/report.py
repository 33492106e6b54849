"""Rebuild the report of training runs, and compare several.

    python -m pyimagesearch.report runs/a                 # rewrites runs/a/report.html
    python -m pyimagesearch.report runs/a runs/b runs/c   # each report, and compare.html
    python -m pyimagesearch.report runs/* --compare runs/compare.html

The training scripts write `report.html` in their run folder after every
epoch and after the test split; this rebuilds it from the folder's files (for
a run made before reports existed, or after a change to the toolkit). With
several folders it also writes `compare.html`: the runs' curves overlaid, the
settings that differ and the results side by side.
"""

import os
import sys

from pyimagesearch.cli import ArgumentParser, handle_user_errors
from pyimagesearch.errors import UserError
from pyimagesearch.evaluation import comparison, run_report
from pyimagesearch.io.runfiles import RunPaths


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m pyimagesearch.report",
                            description="Rebuild the report.html of training runs; with "
                                        "several runs, also compare them in one page.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="a run folder (the --output of a training script)")
    parser.add_argument("--compare", default="compare.html", metavar="HTML_FILE",
                        help="where the comparison of several runs goes")
    return parser


def find_run(folder: str) -> RunPaths:
    """The run in `folder`.

    Raises:
        UserError: `folder` is not a folder, or holds no run.
    """
    if not os.path.isdir(folder):
        raise UserError(f"{folder} is not a folder; give the --output folder of a training run")
    try:
        return RunPaths.find(folder)
    except FileNotFoundError:
        raise UserError(f"{folder} holds no training run (no <name>_args.json); give the "
                        "--output folder of a training run") from None


@handle_user_errors
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    paths = [find_run(folder) for folder in args.runs]  # every mistake before any writing
    runs = [run_report.Run(p) for p in paths]
    written = []
    try:
        for run in runs:
            written.append(run_report.write(run.paths, run))
        if len(runs) > 1:
            written.append(comparison.write(runs, args.compare))
    except OSError as err:
        raise UserError(f"cannot write {err.filename or 'the report'} "
                        f"({err.strerror or err}); check the folder's permissions") from None
    print(f"wrote {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
