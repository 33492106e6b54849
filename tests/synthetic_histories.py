"""Synthetic training histories of each kind the diagnosis names, with random shapes and noise.

`make(kind, seed)` draws one: the speeds, levels, epochs, noise and the
epoch where things change all vary with the seed, as in real runs.
"""

import numpy as np

KINDS = ("healthy", "overfitting", "underfitting", "lr_too_high", "plateau")


def _decay(t, start, floor, tau):
    return floor + (start - floor) * np.exp(-t / tau)


def _accuracy(loss, classes=10):
    """An accuracy that rises as the cross-entropy falls (chance at log(classes))."""
    return np.clip(1 - (1 - 1 / classes) * (loss / np.log(classes)) ** 0.8, 0, 1)


def make(kind: str, seed: int, with_lr: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(25, 90))
    t = np.arange(n, dtype=float)
    noise = rng.uniform(0.005, 0.03)
    lr0 = float(rng.choice([1e-2, 1e-3, 0.1]))
    lr = lr0 * (1 - t / n)  # polynomial decay to zero, as the recipes
    start = np.log(10) * rng.uniform(0.8, 1.0)
    if kind == "healthy":
        tau = rng.uniform(0.3, 0.6) * n  # still improving at the end
        loss = _decay(t, start, rng.uniform(0.05, 0.4), tau)
        val = loss * rng.uniform(1.05, 1.3) + rng.uniform(0.02, 0.15)
    elif kind == "overfitting":
        turn = int(n * rng.uniform(0.3, 0.6))
        loss = _decay(t, start, 0.02, rng.uniform(0.15, 0.3) * n)
        val = _decay(t, start, rng.uniform(0.4, 0.7), n * 0.1)
        val[turn:] += rng.uniform(0.004, 0.02) * (t[turn:] - turn)  # rises after `turn`
        lr = np.full(n, lr0)
    elif kind == "underfitting":
        floor = rng.uniform(1.3, 1.8)
        loss = _decay(t, start, floor, rng.uniform(2, 5))
        val = loss * rng.uniform(0.9, 1.02)
    elif kind == "lr_too_high":
        way = seed % 4
        loss = _decay(t, start, 0.5, n * 0.2)
        val = loss * 1.15
        lr = np.full(n, lr0)
        if way == 0:  # diverges: the loss turns and rises
            turn = int(n * rng.uniform(0.3, 0.6))
            loss[turn:] += rng.uniform(0.02, 0.06) * (t[turn:] - turn)
            val = loss * 1.15
        elif way == 1:  # NaN
            loss[int(n * rng.uniform(0.3, 0.8)):] = np.nan
            val = loss * 1.15
        elif way == 2:  # oscillates
            level = rng.uniform(1.0, 1.8)
            swing = rng.uniform(0.15, 0.35)
            loss = level + swing * rng.uniform(-1, 1, n) + 0.3 * np.exp(-t / 3)
            val = level * 1.1 + 1.5 * swing * rng.uniform(-1, 1, n)
        else:  # never learns: stuck at chance
            loss = np.full(n, np.log(10))
            val = np.full(n, np.log(10))
    elif kind == "plateau":
        tau = rng.uniform(0.05, 0.1) * n  # flat for most of the run
        loss = _decay(t, start, rng.uniform(0.6, 1.2), tau)
        val = loss * rng.uniform(1.05, 1.2) + 0.05
        lr = np.full(n, lr0)
    else:
        raise ValueError(kind)
    loss = loss * (1 + rng.normal(0, noise / 3, n))  # the training loss is an epoch's mean
    val = val * (1 + rng.normal(0, noise, n))
    history = {"loss": loss.tolist(), "val_loss": val.tolist(),
               "accuracy": _accuracy(np.nan_to_num(loss, nan=5.0)).tolist(),
               "val_accuracy": _accuracy(np.nan_to_num(val, nan=5.0)).tolist()}
    if with_lr:
        history["learning_rate"] = lr.tolist()
    return history


def spoil(history: dict, key: str, epochs, value: float = float("nan")) -> dict:
    """A copy of `history` with `key`'s values at `epochs` (counted from 0) set to `value`.

    A bad epoch as real logs hold them: NaN or inf (a float16 overflow, a
    corrupt batch), or None (a value not recorded, or NaN written as null).
    """
    spoiled = {k: list(v) for k, v in history.items()}
    for epoch in epochs:
        spoiled[key][epoch] = value
    return spoiled
