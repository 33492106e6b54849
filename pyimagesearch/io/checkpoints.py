"""The checkpoint format: what is saved with a model, and how it is checked, read and restored.

A checkpoint (and a run's final model) is a `.keras` file: Keras's zip of the
architecture, the weights and the optimizer state, with one more member,
`STATE_MEMBER`, holding what Keras does not restore and a resumed run needs
to continue exactly as an uninterrupted one: the model's random-number
generator states (augmentation, dropout), the backend's global one (Keras's
torch backend draws unseeded dropout from it), the data order's seed, the
class names, and the history through the checkpoint's epoch.

Reading and checking need no Keras (a run folder is checked before Keras is
imported); saving and loading import it.
"""

import json
import os
import re
import zipfile

import numpy as np

from pyimagesearch import atomic
from pyimagesearch.errors import UserError
from pyimagesearch.io.dataformat import in_data_format

STATE_MEMBER = "pyimagesearch_state.json"


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


def _rng_variables(model) -> list:
    return [v for v in model.variables if "seed_generator_state" in v.path]


def save_checkpoint(model, path: str, state: dict | None = None) -> None:
    """Saves `model` and its RNG states (plus `state`) to `path` atomically.

    Raises:
        OSError: the file could not be written; `path` is left as it was.
    """
    from pyimagesearch.backend import global_rng_state, no_distribution

    full = {"rng": [np.asarray(v.numpy()).tolist() for v in _rng_variables(model)],
            "backend_rng": global_rng_state(), **(state or {})}
    with atomic.atomic_path(path) as tmp, no_distribution():  # one process may save alone
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_MEMBER, json.dumps(full))


def restore_rng_state(model, state: dict) -> None:
    """Puts the model's RNG states saved by `save_checkpoint` back into `model`.

    (The backend's global state, `state["backend_rng"]`, is restored once `fit`
    has begun: see `pyimagesearch.training.engine.train`.)
    """
    saved = state.get("rng", [])
    variables = _rng_variables(model)
    if len(saved) == len(variables):
        for variable, value in zip(variables, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))


def checkpoint_state(path: str | None) -> dict:
    """What a checkpoint saved besides the model (RNG states, the data seed); {} for none."""
    return read_checkpoint_state(path) if path else {}


def saved_class_names(path: str) -> list[str] | None:
    """The class names saved inside a model or checkpoint by the training engine, or None."""
    return checkpoint_state(path).get("class_names")


def load_checkpoint(path: str, what: str = "checkpoint",
                    advice: str = "delete it to resume from the one before, or start over "
                                  "with --force"):
    """Loads a `.keras` checkpoint in Keras's safe mode, RNG states included, in
    Keras's image data format wherever it was saved (`pyimagesearch.io.dataformat`):
    a model trained channels_first takes (N, H, W, 3) images where Keras is set to
    channels_last, as a model built there does.

    Raises:
        UserError: it cannot be loaded; the message names it as `what` and ends
            with `advice`.
    """
    import keras

    import pyimagesearch.nn  # noqa: F401  (registers the layers and optimizers, for loading)
    from pyimagesearch.preprocessing import batch as _registers_preprocessing  # noqa: F401

    check_keras_file(path, what, advice)
    data_format = keras.config.image_data_format()
    try:
        with in_data_format(path, data_format) as moved:
            model = keras.models.load_model(moved, safe_mode=True)
    except Exception as err:
        raise UserError(f"cannot load {what} {path} in Keras's {data_format} image data "
                        f"format ({type(err).__name__}: {err}); {advice}") from None
    restore_rng_state(model, checkpoint_state(path))
    return model


def save_model(model, path: str, state: dict | None = None) -> None:
    """Saves `model` (and its RNG states) to `path` atomically."""
    try:
        save_checkpoint(model, path, state)
    except OSError as err:
        raise UserError(f"could not write {path} ({err.strerror or err}); free some disk space "
                        "or fix the folder's permissions, then rerun with --resume") from None
