"""TrainingMonitor: the per-epoch history JSON and loss/accuracy plot."""

import os

import keras

from pyimagesearch import atomic
from pyimagesearch.evaluation.diagnosis import diagnose
from pyimagesearch.evaluation.figures import plot_history
from pyimagesearch.evaluation.history import RENAMED, read_history


class TrainingMonitor(keras.callbacks.Callback):
    """Writes the training history as JSON and a PNG plot at the end of every epoch.

    The JSON is a dict of lists of plain floats (`loss`, `accuracy`,
    `val_loss`, `val_accuracy`, `learning_rate`, ...), one entry per epoch,
    the shape of the classic monitor's file. Both files are written
    atomically.

    Args:
        fig_path: where the PNG goes.
        json_path: where the JSON goes (optional).
        start_at: the epoch training resumes from. With `start_at > 0` the
            existing JSON is read and cut to its first `start_at` epochs, so
            the history carries on without duplicated or stale epochs; with
            0 any old history is discarded.
        title: the plot's title.
        diagnosis_path: where the run's diagnosis goes
            (`pyimagesearch.diagnose`), rewritten every epoch and marked on
            the plot; None for neither.
        initial_history: the history of the first `start_at` epochs as a
            checkpoint saved it; taken instead of the JSON's when given.
        total_epochs: the run's `--epochs`, if known: the diagnosis of its last
            epoch gives the remedies of a run whose schedule has ended.
    """

    def __init__(self, fig_path: str, json_path: str | None = None, start_at: int = 0,
                 title: str = "", diagnosis_path: str | None = None,
                 initial_history: dict[str, list] | None = None,
                 total_epochs: int | None = None):
        super().__init__()
        self.fig_path = fig_path
        self.json_path = json_path
        self.start_at = start_at
        self.title = title
        self.diagnosis_path = diagnosis_path
        self.initial_history = initial_history
        self.total_epochs = total_epochs
        self.history: dict[str, list] = {}
        self.diagnosis = None

    def on_train_begin(self, logs=None):
        self.history = {}
        if self.start_at > 0 and self.initial_history is not None:
            old = {RENAMED.get(k, k): list(v) for k, v in self.initial_history.items()}
        elif self.start_at > 0 and self.json_path and os.path.exists(self.json_path):
            old = read_history(self.json_path)
        else:
            old = {}
        self.history = {k: v[: self.start_at] for k, v in old.items()}

    def history_with(self, epoch: int, logs=None) -> dict[str, list]:
        """The history with epoch `epoch`'s `logs` (and learning rate) added, as a new dict."""
        logs = dict(logs or {})
        if "learning_rate" not in logs and getattr(self.model, "optimizer", None) is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
        history = {k: list(v[:epoch]) for k, v in self.history.items()}
        for key, value in logs.items():
            key = RENAMED.get(key, key)
            values = history.setdefault(key, [])
            # A metric first logged after some epochs is padded so lists stay aligned.
            values.extend([None] * (epoch - len(values)))
            values.append(float(keras.ops.convert_to_numpy(value)))
        for values in history.values():  # a metric missing this epoch (validated every N)
            values.extend([None] * (epoch + 1 - len(values)))
        return history

    def on_epoch_end(self, epoch, logs=None):
        self.history = self.history_with(epoch, logs)
        if self.json_path:
            atomic.write_json(self.json_path, self.history)
        if self.diagnosis_path:
            finished = (None if self.total_epochs is None
                        else epoch + 1 >= self.total_epochs)
            self.diagnosis = diagnose(self.history, finished=finished)
            atomic.write_text(self.diagnosis_path,
                              self.diagnosis.text(self.json_path or self.fig_path))
        plot_history(self.history, self.fig_path, self.title, self.diagnosis)
