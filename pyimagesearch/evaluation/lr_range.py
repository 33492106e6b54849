"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training
Neural Networks", section 3.3): train a fresh model for a few hundred batches while
the learning rate grows exponentially, and read a good rate off the loss curve.

This module reads the curve (`suggest_lr`) and gives the rates (`lr_schedule`);
`pyimagesearch.callbacks.lrfinder.LRFinder` records it during training and
`pyimagesearch.evaluation.figures.plot_lr_find` draws it.
"""

import keras
import numpy as np


def lr_schedule(start: float, end: float, steps: int):
    """`start * (end / start) ** (step / (steps - 1))`: `start` at step 0, `end` at the last.

    A Keras schedule, so the rate is set inside the compiled train step (on
    every backend) from the optimizer's own step counter.
    """
    if not 0 < start < end or steps < 2:
        raise ValueError("expected 0 < start < end and steps >= 2. Received: "
                         f"start={start}, end={end}, steps={steps}")
    return keras.optimizers.schedules.ExponentialDecay(start, steps - 1, end / start)


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
    lands on the published recipes' rates (docs/training-well.md). The rate of
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
