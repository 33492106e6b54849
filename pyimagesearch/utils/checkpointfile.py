"""What a checkpoint file holds, read without Keras (so a run folder is checked before
Keras is imported).

A checkpoint is a `.keras` file (a zip of the model's config and weights)
with one more member, `STATE_MEMBER`: the RNG states, the data order's seed,
the class names and the history through its epoch (see
`pyimagesearch.callbacks.epochcheckpoint`, which writes it).
"""

import json
import os
import re
import zipfile

from pyimagesearch.utils.errors import UserError

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
