"""StopOnDivergence: Keras's `TerminateOnNaN`, remembering where the loss diverged."""

import math

import keras


class StopOnDivergence(keras.callbacks.TerminateOnNaN):
    """Stops training at the first batch whose loss is NaN or infinite, as
    `keras.callbacks.TerminateOnNaN` does, and keeps where it happened (`epoch`
    and `batch`, counted from 1, and the `loss`) so that the training script
    can say so. `EpochCheckpoint` never saves such a model, so the last good
    checkpoint stays the newest.
    """

    def __init__(self):
        super().__init__()
        self.diverged: dict | None = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.diverged = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        if self.model.stop_training and self.diverged is None:
            loss = float(keras.ops.convert_to_numpy((logs or {})["loss"]))
            if not math.isfinite(loss):
                self.diverged = {"epoch": self._epoch + 1, "batch": batch + 1, "loss": loss}
