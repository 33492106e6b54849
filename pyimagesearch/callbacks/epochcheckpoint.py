"""EpochCheckpoint: whole-model `.keras` checkpoints every N epochs, written atomically
(the format: `pyimagesearch.io.checkpoints`)."""

import math
import os

import keras

from pyimagesearch.errors import UserError
from pyimagesearch.io.checkpoints import list_checkpoints, save_checkpoint


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights and optimizer state) every `every` epochs.

    Files are named `{prefix}_epoch_NNN.keras` after the number of epochs completed
    (Keras passes the true epoch when training resumes with `initial_epoch`),
    written under a temporary name and renamed into place, so a crash never
    leaves a torn checkpoint. The last epoch of a run is always saved, unless its
    loss is not finite or `diverged` says so: a diverged model never replaces the
    last good checkpoint.

    Args:
        folder: where the checkpoints go (created if needed).
        prefix: the file names' prefix (the model's name), so runs of
            several models can share one folder.
        every: save after every this many epochs.
        keep: how many of the newest checkpoints to keep (0 keeps all).
        state: a function of `(epoch, logs)` returning more JSON-able state
            to save (the data order's seed, the history through this epoch).
        diverged: a function saying whether the model diverged (e.g. that
            `StopOnDivergence` did, called before this at an epoch's end).
    """

    def __init__(self, folder: str, prefix: str = "", every: int = 1, keep: int = 3,
                 state=None, diverged=None):
        super().__init__()
        if every < 1:
            raise ValueError(f"`every` must be at least 1. Received: every={every}")
        self.folder = folder
        self.prefix = prefix
        self.every = every
        self.keep = keep
        self.state = state
        self.diverged = diverged

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.params.get("epochs"):
            return
        loss = (logs or {}).get("loss")
        if (loss is not None and not math.isfinite(float(loss))) or (
                self.diverged is not None and self.diverged()):
            return  # never let a diverged model replace the last good checkpoint
        stem = f"{self.prefix}_epoch" if self.prefix else "epoch"
        path = os.path.join(self.folder, f"{stem}_{done:03d}.keras")
        try:
            os.makedirs(self.folder, exist_ok=True)
            save_checkpoint(self.model, path, self.state(epoch, logs) if self.state else None)
        except OSError as err:
            last = list_checkpoints(self.folder, self.prefix)
            then = (f"rerun the same command to continue from epoch {last[-1][0]}, its last "
                    "checkpoint" if last else "rerun the same command with --force to start "
                    "over (the run has no checkpoint yet)")
            raise UserError(f"could not write checkpoint {path} ({err.strerror or err}); free "
                            f"some disk space or fix the folder's permissions, then {then}"
                            ) from None
        if self.keep:
            for _, old in list_checkpoints(self.folder, self.prefix)[: -self.keep]:
                os.remove(old)
