"""One trial: an ordinary run of a training script in its own folder, watched from its
history file, reported to Optuna after every epoch and stopped (SIGTERM) when pruned."""

import os
import signal
import subprocess
import sys
import time

import optuna

from pyimagesearch.errors import UserError
from pyimagesearch.evaluation.history import read_history
from pyimagesearch.io.runfiles import RunPaths

METRIC = "val_accuracy"  # what the study maximises: the last epoch's validation accuracy


def _die_with_parent() -> None:
    """In the child: SIGTERM when the `tune` process dies (even by SIGKILL), on Linux."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def folder_of(study_dir: str, number: int) -> str:
    return os.path.join(study_dir, f"trial_{number:03d}")


def command(script: str, argv: list[str], folder: str, paths: RunPaths) -> list[str]:
    """The training command of a trial: `--resume` when its folder holds a checkpoint (a
    trial taken over from a worker that is gone), else `--force` (start clean)."""
    again = ["--resume"] if os.path.isdir(paths.checkpoints) and paths.checkpoint_list() \
        else ["--force"]
    return [sys.executable, script, *argv, "--output", folder, *again]


def _values(paths: RunPaths) -> list[float]:
    try:
        history = read_history(paths.history)
    except UserError:
        return []  # not written yet (it is written atomically, whole, after each epoch)
    return [float(v) for v in history.get(METRIC, [])]


def report(trial: optuna.Trial, values: list[float]) -> None:
    """Reports each epoch's value (step = epoch number) that the study does not hold yet
    (a trial taken over holds its first epochs)."""
    known = trial.storage.get_trial(trial._trial_id).intermediate_values
    for epoch, value in enumerate(values, start=1):
        if epoch not in known:
            trial.report(value, epoch)


def finished(paths: RunPaths, epochs: int) -> list[float] | None:
    """The per-epoch values of a run that already trained all its `epochs` (its worker died
    before telling the study), else None."""
    values = _values(paths)
    return values if len(values) >= epochs and os.path.exists(paths.model) else None


def run(trial: optuna.Trial, cmd: list[str], paths: RunPaths, epochs: int, beat,
        prune: bool = True, poll: float = 1.0) -> tuple[str, list[float], int]:
    """Runs `cmd` (writing `train.log` in the trial's folder) and reports each epoch's
    validation accuracy as step = epoch number; pruned before its last (`epochs`) only.

    Returns:
        ("complete" | "pruned" | "failed", the per-epoch values, the exit status).
    """
    os.makedirs(paths.output, exist_ok=True)
    with open(os.path.join(paths.output, "train.log"), "a") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent if os.name == "posix" else None)
        try:
            while True:
                done = process.poll() is not None
                beat()
                values = _values(paths)
                report(trial, values)
                if values and not done and len(values) < epochs and prune and \
                        trial.should_prune():  # never once the budget is trained
                    process.send_signal(signal.SIGTERM)  # the run stops at its next batch
                    process.wait()
                    return "pruned", values, process.returncode
                if done:
                    break
                time.sleep(poll)
        except BaseException:
            if process.poll() is None:  # Ctrl-C reached it too; SIGTERM for anything else
                process.send_signal(signal.SIGTERM)
                process.wait()
            raise
    status = "complete" if process.returncode == 0 and values else "failed"
    return status, values, process.returncode


def last_lines(paths: RunPaths, count: int = 1) -> str:
    """The last `count` lines of the trial's train.log (its error, when it failed)."""
    try:
        with open(os.path.join(paths.output, "train.log"), encoding="utf-8",
                  errors="replace") as f:
            return "\n".join(f.read().strip().splitlines()[-count:])
    except OSError:
        return ""
