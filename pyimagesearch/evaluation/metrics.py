"""Rank-k accuracy (scikit-learn's `top_k_accuracy_score`), and what a confusion matrix says
per class and per pair of classes."""

import numpy as np
from sklearn.metrics import top_k_accuracy_score


def rank_k_accuracy(probs, labels, k: int = 5) -> float:
    """The share of rows whose true class is among the `k` highest scores (of tied
    scores, the higher class index ranks first: scikit-learn's order)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (len(probs),):
        raise ValueError(f"expected probs (N, classes) and labels (N,). Received: "
                         f"probs.shape={probs.shape}, labels.shape={labels.shape}")
    if k >= probs.shape[1]:
        return 1.0  # every class is in the top k
    return float(top_k_accuracy_score(labels, probs, k=k, labels=np.arange(probs.shape[1])))


def top_class(probs) -> np.ndarray:
    """Each row's predicted class as rank-1 counts it: the highest score, of tied scores
    the higher class index (scikit-learn's order, not `argmax`'s), so that the accuracy
    of these predictions, their confusion matrix and `rank_k_accuracy(probs, labels, 1)`
    are one figure."""
    probs = np.asarray(probs)
    return probs.shape[1] - 1 - probs[:, ::-1].argmax(axis=1)


def rank5_accuracy(probs, labels) -> tuple[float, float]:
    """`(rank1, rank5)`: the share of rows whose true class is first, or among the top five."""
    return rank_k_accuracy(probs, labels, 1), rank_k_accuracy(probs, labels, 5)


def per_class_accuracy(counts) -> np.ndarray:
    """Each class's accuracy (recall) from a confusion matrix of counts (rows: true class);
    NaN for a class with no test images."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / totals, np.nan)


def most_confused(counts, most: int = 10) -> list[tuple[int, int, int]]:
    """The pairs of classes most often taken for each other: `(a, b, images)` with
    `images` the count of a taken for b plus b taken for a, largest first (ties: by `a`,
    then `b`), pairs never confused left out."""
    counts = np.asarray(counts)
    both = counts + counts.T
    a, b = np.triu_indices(len(counts), k=1)
    order = np.lexsort((b, a, -both[a, b]))[:most]
    return [(int(a[i]), int(b[i]), int(both[a[i], b[i]])) for i in order if both[a[i], b[i]] > 0]
