"""StopOnDivergence: stop at the first NaN or infinite loss, remembering where."""

import math

import keras


class StopOnDivergence(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite.

    Like `keras.callbacks.TerminateOnNaN`, but it keeps where it happened
    (`epoch` and `batch`, counted from 1, and the `loss`), so the training
    script can say so. `EpochCheckpoint` never saves such a model, so the
    last good checkpoint stays the newest.
    """

    def __init__(self):
        super().__init__()
        self.diverged: dict | None = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.diverged = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(keras.ops.convert_to_numpy(loss))):
            self.diverged = {"epoch": self._epoch + 1, "batch": batch + 1, "loss": float(loss)}
            self.model.stop_training = True
