"""Rank-1 and rank-5 accuracy, vectorised."""

import numpy as np


def rank_of_true_class(preds, labels) -> np.ndarray:
    """Each row's rank (0 = top) of its true class under a stable descending sort.

    A class outranks the true class if its score is higher, or equal with a
    lower class index: the order `np.argsort(-row, kind="stable")` gives, so
    ties are broken the same way every time.
    """
    preds = np.asarray(preds)
    labels = np.asarray(labels).astype(np.int64)
    if preds.ndim != 2 or labels.shape != (len(preds),):
        raise ValueError(f"expected preds (N, classes) and labels (N,). Received: "
                         f"preds.shape={preds.shape}, labels.shape={labels.shape}")
    true = preds[np.arange(len(preds)), labels][:, None]
    lower_index = np.arange(preds.shape[1])[None, :] < labels[:, None]
    return (preds > true).sum(axis=1) + ((preds == true) & lower_index).sum(axis=1)


def rank5_accuracy(preds, labels) -> tuple[float, float]:
    """`(rank1, rank5)`: the share of rows whose true class is first, or among the top five."""
    ranks = rank_of_true_class(preds, labels)
    return float(np.mean(ranks < 1)), float(np.mean(ranks < 5))
