"""A training history: one list of per-epoch values for each metric, read from a file.

One reader for every history the toolkit meets: its own JSON (TrainingMonitor),
the classic monitor's (`acc`, `val_acc`, `lr`), Keras's `History.history`
dumped as JSON, and CSV logs (Keras's CSVLogger, one row an epoch). Metric
names of older Keras versions become today's.
"""

import csv
import io
import json

from pyimagesearch.errors import UserError

# Metric names older Keras versions used, mapped to today's.
RENAMED = {"acc": "accuracy", "val_acc": "val_accuracy", "lr": "learning_rate"}


def read_history(path: str, notes: list[str] | None = None) -> dict[str, list]:
    """Reads a history JSON (a dict of per-epoch lists) or CSV log, names normalised.

    A CSV log whose last line has no line end was cut mid-row (a write
    interrupted by a kill or a full disk; CSVLogger ends every row it
    writes): that row is left out, and said in `notes` if given.

    Raises:
        UserError: the file is missing or is not a training history.
    """
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if path.lower().endswith(".csv"):
                history = _read_csv(path, f.read(), notes)
            else:
                history = json.load(f)
        if not isinstance(history, dict) or not all(isinstance(v, list)
                                                    for v in history.values()):
            raise ValueError("not a dict of per-epoch lists")
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; give a history JSON (e.g. "
                        "output/minigooglenet_cifar10.json) or a CSV log") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a training history ({err}); give the JSON of "
                        "TrainingMonitor or Keras's History.history, or a CSVLogger file") from None
    return {RENAMED.get(k, k): v for k, v in history.items()}


def _read_csv(path: str, text: str, notes: list[str] | None) -> dict[str, list]:
    """The columns of a CSV log's whole rows (one an epoch), by header name."""
    cut = None
    if text and not text.endswith(("\n", "\r")):
        whole = max(text.rfind("\n"), text.rfind("\r")) + 1
        cut, text = text[whole:], text[:whole]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if cut is not None and notes is not None:
        notes.append(f"the last row of {path} was cut mid-line ({cut[:40]!r}): an interrupted "
                     f"write; the {len(rows)} whole rows before it are read")
    return {k: [row[k] for row in rows] for k in (rows[0] if rows else {})}


def load_history(path: str, notes: list[str] | None = None) -> dict[str, list]:
    """`read_history`, checked to be one the diagnosis can read (a training loss).

    Raises:
        UserError: the file is missing or is not a training history.
    """
    from pyimagesearch.evaluation.diagnosis import normalise

    history = read_history(path, notes)
    try:
        normalise(history)
    except ValueError as err:
        raise UserError(f"{path} is not a training history ({err}); give the JSON of "
                        "TrainingMonitor or Keras's History.history, or a CSVLogger file") from None
    return history
