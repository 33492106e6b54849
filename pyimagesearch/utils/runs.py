"""What every training script does around `model.fit`: the output folder,
starting or resuming a run, the callbacks, and the final files."""

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass

import keras
import numpy as np

from pyimagesearch.callbacks.epochcheckpoint import EpochCheckpoint, list_checkpoints
from pyimagesearch.callbacks.trainingmonitor import TrainingMonitor
from pyimagesearch.utils import atomic
from pyimagesearch.utils.cli import explicit_flags
from pyimagesearch.utils.errors import UserError
from pyimagesearch.utils.schedules import PolynomialDecay

# Settings that describe the run rather than how to continue it: never taken from a saved run.
_NOT_INHERITED = {"resume", "force", "output"}


@dataclass(frozen=True)
class RunPaths:
    """The files of one run of model `name` in folder `output`."""

    output: str
    name: str

    def file(self, suffix: str) -> str:
        return os.path.join(self.output, f"{self.name}{suffix}")

    @property
    def model(self) -> str:
        return self.file(".keras")

    @property
    def history(self) -> str:
        return self.file(".json")

    @property
    def plot(self) -> str:
        return self.file(".png")

    @property
    def args(self) -> str:
        return self.file("_args.json")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.output, "checkpoints")

    def checkpoint_list(self) -> list[tuple[int, str]]:
        return list_checkpoints(self.checkpoints, self.name)


def check_writable(folder: str) -> None:
    """Creates `folder` if needed and proves a file can be written in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        atomic.write_text(os.path.join(folder, ".write_test"), "")
        os.remove(os.path.join(folder, ".write_test"))
    except OSError as err:
        raise UserError(f"cannot write to --output {folder} ({err.strerror or err}); choose a "
                        "folder you can write to") from None


def inherit_saved_args(args: argparse.Namespace, parser: argparse.ArgumentParser, argv,
                       paths: RunPaths) -> argparse.Namespace:
    """On `--resume`: settings not typed on this command line come from the saved run."""
    if not os.path.exists(paths.args):
        return args
    try:
        with open(paths.args, encoding="utf-8") as f:
            saved = json.load(f).get("args", {})
    except (OSError, ValueError, AttributeError) as err:
        raise UserError(f"cannot read the saved settings {paths.args} ({err}); delete it to "
                        "resume with the settings on the command line") from None
    typed = explicit_flags(parser, argv)
    for key, value in saved.items():
        if key in vars(args) and key not in typed and key not in _NOT_INHERITED:
            setattr(args, key, value)
    return args


def start_or_resume(paths: RunPaths, resume: bool, force: bool, epochs: int):
    """Decides where training starts.

    Returns:
        `(initial_epoch, checkpoint_path)`: `(0, None)` for a new run.

    Raises:
        UserError: resuming with nothing to resume, or a new run that would
            overwrite an existing one without `--force`.
    """
    found = paths.checkpoint_list()
    if resume:
        if not found:
            raise UserError(f"there is no checkpoint of {paths.name} in {paths.checkpoints} to "
                            "resume from; run without --resume to start training")
        epoch, path = found[-1]
        if epoch >= epochs:
            raise UserError(f"the run in {paths.output} has already trained {epoch} of "
                            f"--epochs {epochs}; pass a larger --epochs to train further")
        return epoch, path
    if (found or os.path.exists(paths.model)) and not force:
        raise UserError(f"{paths.output} already holds a {paths.name} run; pass --resume to "
                        "continue it, --force to start over, or another --output")
    for _, path in found:
        os.remove(path)
    return 0, None


def load_checkpoint(path: str) -> keras.Model:
    """Loads a `.keras` checkpoint (weights, optimizer state) in Keras's safe mode."""
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as err:
        raise UserError(f"cannot load checkpoint {path} ({type(err).__name__}: {err}); delete "
                        "it to resume from the one before, or start over with --force") from None


def write_settings(paths: RunPaths, args: argparse.Namespace, **extra) -> None:
    """Writes the resolved settings and the software they ran on, atomically."""
    atomic.write_json(paths.args, {
        "args": vars(args),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    })


def training_callbacks(paths: RunPaths, schedule, initial_epoch: int, checkpoint_every: int,
                       keep_checkpoints: int, title: str) -> list:
    """LR schedule, checkpoints and the monitor, in the order their logs depend on."""
    return [
        keras.callbacks.LearningRateScheduler(schedule),
        EpochCheckpoint(paths.checkpoints, prefix=paths.name, every=checkpoint_every,
                        keep=keep_checkpoints),
        TrainingMonitor(paths.plot, json_path=paths.history, start_at=initial_epoch,
                        title=title),
        keras.callbacks.TerminateOnNaN(),
    ]


def poly_schedule(args: argparse.Namespace) -> PolynomialDecay:
    return PolynomialDecay(args.lr, args.epochs, args.power)


def check_finite(history: keras.callbacks.History, paths: RunPaths) -> None:
    """Raises a UserError if the last epoch's loss was NaN or infinite."""
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        epoch = history.epoch[-1] + 1
        last = paths.checkpoint_list()
        keep = f"the last good checkpoint is {last[-1][1]}" if last else "no checkpoint was kept"
        raise UserError(f"training diverged: the loss became {losses[-1]} in epoch {epoch} "
                        f"({keep}); rerun with --resume and a lower --lr")


def save_model(model: keras.Model, path: str) -> None:
    """Saves `model` to `path` atomically."""
    try:
        with atomic.atomic_path(path) as tmp:
            model.save(tmp)
    except OSError as err:
        raise UserError(f"could not write {path} ({err.strerror or err}); free some disk space "
                        "or fix the folder's permissions, then rerun with --resume") from None


def classification_summary(labels, preds, class_names, title: str) -> str:
    """Accuracy and scikit-learn's per-class precision/recall/F1 as text."""
    from sklearn.metrics import classification_report

    labels = np.asarray(labels)
    preds = np.asarray(preds)
    accuracy = float(np.mean(labels == preds))
    report = classification_report(labels, preds, labels=list(range(len(class_names))),
                                   target_names=list(class_names), digits=4, zero_division=0)
    return f"{title}\ntest accuracy: {accuracy:.4f} ({int(np.sum(labels == preds))} of " \
           f"{len(labels)} images)\n\n{report}"
