"""EpochCheckpoint: whole-model `.keras` checkpoints every N epochs, written atomically.

A checkpoint is a `.keras` file (architecture, weights, optimizer state)
with one more member, `pyimagesearch_state.json`: the model's random-number
generator states (augmentation, dropout) and the backend's global one (which
Keras's torch backend uses for unseeded dropout), which Keras does not restore
on loading, and whatever the training script adds (the data order's seed), so a
resumed run continues exactly as an uninterrupted one would.
"""

import json
import math
import os
import zipfile

import keras
import numpy as np

from pyimagesearch.utils import atomic, distributed
from pyimagesearch.utils.backend import global_rng_state
from pyimagesearch.utils.checkpointfile import (  # noqa: F401  (the format's readers)
    STATE_MEMBER, check_keras_file, list_checkpoints, read_checkpoint_state)
from pyimagesearch.utils.errors import UserError

def _rng_variables(model: keras.Model) -> list:
    return [v for v in model.variables if "seed_generator_state" in v.path]


def save_checkpoint(model: keras.Model, path: str, state: dict | None = None) -> None:
    """Saves `model` and its RNG states (plus `state`) to `path` atomically.

    Raises:
        OSError: the file could not be written; `path` is left as it was.
    """
    full = {"rng": [np.asarray(v.numpy()).tolist() for v in _rng_variables(model)],
            "backend_rng": global_rng_state(), **(state or {})}
    with atomic.atomic_path(path) as tmp, distributed.local():  # one process may save alone
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_MEMBER, json.dumps(full))


def restore_rng_state(model: keras.Model, state: dict) -> None:
    """Puts the model's RNG states saved by `save_checkpoint` back into `model`.

    (The backend's global state, `state["backend_rng"]`, is restored once `fit`
    has begun: see `pyimagesearch.utils.runs.train`.)
    """
    saved = state.get("rng", [])
    variables = _rng_variables(model)
    if len(saved) == len(variables):
        for variable, value in zip(variables, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))


def latest_checkpoint(folder: str, prefix: str = "") -> tuple[int, str] | None:
    """`(epoch, path)` of the newest checkpoint in `folder`, or None."""
    found = list_checkpoints(folder, prefix)
    return found[-1] if found else None


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights and optimizer state) every `every` epochs.

    Files are named `{prefix}_epoch_NNN.keras` after the number of epochs completed
    (Keras passes the true epoch when training resumes with `initial_epoch`),
    written under a temporary name and renamed into place, so a crash never
    leaves a torn checkpoint. The last epoch of a run is always saved.

    Args:
        folder: where the checkpoints go (created if needed).
        prefix: the file names' prefix (the model's name), so runs of
            several models can share one folder.
        every: save after every this many epochs.
        keep: how many of the newest checkpoints to keep (0 keeps all).
        state: a function of `(epoch, logs)` returning more JSON-able state
            to save (the data order's seed, the history through this epoch).
    """

    def __init__(self, folder: str, prefix: str = "", every: int = 1, keep: int = 3,
                 state=None):
        super().__init__()
        if every < 1:
            raise ValueError(f"`every` must be at least 1. Received: every={every}")
        self.folder = folder
        self.prefix = prefix
        self.every = every
        self.keep = keep
        self.state = state

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.params.get("epochs"):
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
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
