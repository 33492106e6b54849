"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training
Neural Networks", section 3.3): train a fresh model for a few hundred batches while
the learning rate grows exponentially, and read a good rate off the loss curve.
"""

import math

import keras
import numpy as np

from pyimagesearch.utils import atomic

# The loss has blown up once its running average exceeds this many times its lowest, or
# this many times its value at the start (a fresh model's loss, from which it only fell).
BLOWUP = 4.0
BLOWUP_FROM_START = 1.5
# Weight of the past in the running average that decides when to stop (about the last
# 1 / (1 - 0.9) = 10 batches).
STOP_SMOOTHING = 0.9


def lr_schedule(start: float, end: float, steps: int):
    """`start * (end / start) ** (step / (steps - 1))`: `start` at step 0, `end` at the last.

    A Keras schedule, so the rate is set inside the compiled train step (on
    every backend) from the optimizer's own step counter.
    """
    if not 0 < start < end or steps < 2:
        raise ValueError("expected 0 < start < end and steps >= 2. Received: "
                         f"start={start}, end={end}, steps={steps}")
    return keras.optimizers.schedules.ExponentialDecay(start, steps - 1, end / start)


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


def smooth(values, window: int) -> np.ndarray:
    """A centred moving average (no lag, unlike a running average); shorter at the ends."""
    values = np.asarray(values, dtype=np.float64)
    half = max(0, window // 2)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, len(values))
    return (sums[hi] - sums[lo]) / (hi - lo)


def suggest_lr(lrs, losses) -> dict:
    """Reads the range test: the suggested rate, with the rule behind it.

    The loss is smoothed over a quarter of a decade of rates. Its lowest
    point marks the largest rate that still lowers the loss; the suggestion
    is a third of it, Smith's rule of thumb (2017, section 3.3: the best rate
    is usually within a factor of two of the largest that converges, and a
    third to a quarter of it is a safe start). On both networks here it
    lands on the published recipes' rates (see the README). The rate of
    steepest descent of the smoothed loss is reported too.

    Returns:
        `{"lr", "rule", "min_loss_lr", "min_loss", "steepest_lr", "smoothed"}`.

    Raises:
        ValueError: too few finite losses to read (fewer than 10).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(losses))
    end = bad[0] if len(bad) else len(losses)  # up to the first non-finite loss
    lrs, losses = lrs[:end], losses[:end]
    if len(losses) < 10:
        raise ValueError(f"the range test needs at least 10 finite losses; got {len(losses)}")
    per_decade = (len(lrs) - 1) / max(np.log10(lrs[-1] / lrs[0]), 1e-12)
    smoothed = smooth(losses, int(round(per_decade / 4)) | 1)
    low = int(np.argmin(smoothed))
    slope = np.gradient(smoothed, np.log10(lrs))
    steep = int(np.argmin(slope[: low + 1]))
    return {"lr": float(lrs[low] / 3),
            "rule": "a third of the rate at the lowest smoothed loss",
            "min_loss_lr": float(lrs[low]), "min_loss": float(smoothed[low]),
            "steepest_lr": float(lrs[steep]), "smoothed": smoothed.tolist()}


def plot_lr_find(lrs, losses, suggestion: dict, path: str, title: str = "") -> None:
    """Atomically writes the loss against the learning rate (log axis), suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = np.asarray(lrs)[: len(suggestion["smoothed"])]
    raw = np.asarray(losses)[: len(lrs)]
    smoothed = np.asarray(suggestion["smoothed"])
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(lrs, raw, color="lightgray", lw=0.8, label="batch loss")
    ax.plot(lrs, smoothed, color="C0", lw=2, label="smoothed loss")
    ax.axvline(suggestion["min_loss_lr"], color="gray", ls=":",
               label=f"lowest loss at {suggestion['min_loss_lr']:.2g}")
    ax.axvline(suggestion["lr"], color="C3", ls="--",
               label=f"suggested lr {suggestion['lr']:.2g} ({suggestion['rule']})")
    ax.plot([suggestion["lr"]], [np.interp(np.log(suggestion["lr"]), np.log(lrs), smoothed)],
            "o", color="C3")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    # Keep the blow-up from squashing the interesting part of the curve.
    top = min(float(np.nanmax(raw)), 2 * float(smoothed[0]))
    ax.set_ylim(min(float(np.nanmin(raw)), float(smoothed.min())) * 0.95, top * 1.05)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left")
    ax.set_title(title or "learning-rate range test")
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
