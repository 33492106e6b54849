"""LRFinder: records the learning-rate range test batch by batch, and stops it when the
loss blows up (the test and its reading: `pyimagesearch.evaluation.lr_range`)."""

import math

import keras

from pyimagesearch.evaluation.lr_range import lr_schedule

# The loss has blown up once its running average exceeds this many times its lowest, or
# this many times its value at the start (a fresh model's loss, from which it only fell).
BLOWUP = 4.0
BLOWUP_FROM_START = 1.5
# Weight of the past in the running average that decides when to stop (about the last
# 1 / (1 - 0.9) = 10 batches).
STOP_SMOOTHING = 0.9


class LRFinder(keras.callbacks.Callback):
    """Records each batch's loss and learning rate; stops when the loss blows up.

    Use with a model compiled with `lr_schedule(start, end, steps)` and data
    whose batches all hold the same number of images (Keras logs the mean
    loss since the epoch began, weighted by batch size; each batch's own
    loss is recovered from it). Training stops after `steps` batches, at the
    first non-finite loss, or once the running average of the loss exceeds
    `BLOWUP` times its lowest value or `BLOWUP_FROM_START` times its value
    after the first 10 batches.

    Attributes:
        lrs, losses: one entry per batch trained.
        stopped: why the test ended (`"end of range"`, `"loss blew up"`,
            `"loss not finite"`).
    """

    def __init__(self, start: float, end: float, steps: int):
        super().__init__()
        lr_schedule(start, end, steps)  # checks the arguments
        self.start, self.end, self.steps = float(start), float(end), int(steps)

    def lr_at(self, step: int) -> float:
        """The rate of step `step` (from 0), as `lr_schedule` sets it."""
        return self.start * (self.end / self.start) ** (step / (self.steps - 1))

    def on_train_begin(self, logs=None):
        self.lrs, self.losses = [], []
        self.stopped = "end of range"
        self._average, self._best = 0.0, math.inf

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_mean = 0.0  # Keras's running mean restarts every epoch

    def on_train_batch_end(self, batch, logs=None):
        mean = float(keras.ops.convert_to_numpy((logs or {})["loss"]))
        loss = (batch + 1) * mean - batch * self._epoch_mean
        self._epoch_mean = mean
        step = len(self.losses)
        self.lrs.append(self.lr_at(step))
        self.losses.append(loss)
        if not math.isfinite(loss):
            self.stopped = "loss not finite"
        else:
            self._average = STOP_SMOOTHING * self._average + (1 - STOP_SMOOTHING) * loss
            average = self._average / (1 - STOP_SMOOTHING ** (step + 1))  # bias-corrected
            self._best = min(self._best, average)
            if step == 9:
                self._start = average
            if step >= 10 and average > min(BLOWUP * self._best,
                                            BLOWUP_FROM_START * self._start):
                self.stopped = "loss blew up"
        if self.stopped != "end of range" or step + 1 >= self.steps:
            self.model.stop_training = True
