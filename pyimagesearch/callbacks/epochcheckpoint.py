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
import re
import zipfile

import keras
import numpy as np

from pyimagesearch.utils import atomic, distributed
from pyimagesearch.utils.backend import global_rng_state
from pyimagesearch.utils.errors import UserError

STATE_MEMBER = "pyimagesearch_state.json"


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


def check_keras_file(path: str, what: str = "checkpoint",
                     advice: str = "pass a .keras file saved by a training script") -> None:
    """Raises a UserError naming `path` as `what` unless it is a whole `.keras` file.

    Reads every member and checks its CRC, so a file cut short or damaged
    anywhere is found here, in one sentence ending with `advice`, rather than
    by Keras (which calls a damaged file "File not found") or halfway through
    loading it.
    """
    if not os.path.exists(path):
        raise UserError(f"{what} {path} does not exist; {advice}")
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a .keras file; {advice}")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as err:
        reason = getattr(err, "strerror", None) or err
        raise UserError(f"{what} {path} is damaged or not a .keras file ({reason}); "
                        f"{advice}") from None
    if bad is not None:
        raise UserError(f"{what} {path} is damaged (its member {bad} fails its checksum); "
                        f"{advice}")
    if not {"config.json", "model.weights.h5"} <= names:
        raise UserError(f"{what} {path} is not a .keras model (no config.json and "
                        f"model.weights.h5 inside); {advice}")


def read_checkpoint_state(path: str) -> dict:
    """The extra state saved with a checkpoint ({} for a plain `.keras` file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if STATE_MEMBER not in archive.namelist():
                return {}
            return json.loads(archive.read(STATE_MEMBER))
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        raise UserError(f"cannot read checkpoint {path} ({err}); delete it to resume from the "
                        "one before, or start over with --force") from None


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


def list_checkpoints(folder: str, prefix: str = "") -> list[tuple[int, str]]:
    """`(epoch, path)` of every finished checkpoint in `folder`, oldest first.

    Finished checkpoints are named `{prefix}_epoch_NNN.keras` (`epoch_NNN.keras`
    without a prefix); temporary files of a save in progress start with a dot
    and are never listed.
    """
    if not os.path.isdir(folder):
        return []
    pattern = re.compile(rf"^{re.escape(prefix + '_' if prefix else '')}epoch_(\d+)\.keras$")
    found = []
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(folder, name)))
    return sorted(found)


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
