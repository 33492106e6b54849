"""Rank-k accuracy: scikit-learn's `top_k_accuracy_score`."""

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


def rank5_accuracy(probs, labels) -> tuple[float, float]:
    """`(rank1, rank5)`: the share of rows whose true class is first, or among the top five."""
    return rank_k_accuracy(probs, labels, 1), rank_k_accuracy(probs, labels, 5)
