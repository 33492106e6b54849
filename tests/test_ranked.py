import numpy as np
import pytest

from pyimagesearch.evaluation.metrics import rank5_accuracy, rank_k_accuracy


def _brute_force(preds, labels, k):
    """A hit when the true class is among the first k of a descending sort in which tied
    scores go to the higher class index first (scikit-learn's order)."""
    hits = []
    for row, label in zip(preds, labels):
        order = sorted(range(len(row)), key=lambda c: (-row[c], -c))
        hits.append(label in order[:k])
    return np.mean(hits)


@pytest.mark.parametrize("levels", [None, 3, 7])
def test_matches_brute_force_including_ties(levels):
    rng = np.random.default_rng(levels or 0)
    preds = rng.random((500, 12))
    if levels:  # few distinct values: many ties, some straddling the top-5 boundary
        preds = np.floor(preds * levels) / levels
    labels = rng.integers(0, 12, size=500)
    assert rank5_accuracy(preds, labels) == pytest.approx(
        (_brute_force(preds, labels, 1), _brute_force(preds, labels, 5)))
    assert rank_k_accuracy(preds, labels, 3) == pytest.approx(_brute_force(preds, labels, 3))


def test_known_values():
    preds = np.array([[0.1, 0.9, 0, 0, 0, 0, 0],       # true 1: rank 1
                      [0.3, 0.2, 0.1, 0.15, 0.05, 0.1, 0.1],  # true 4: last
                      [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0]])  # true 4: 3rd (ties: 5, 4, ...)
    rank1, rank5 = rank5_accuracy(preds, [1, 4, 4])
    assert rank1 == pytest.approx(1 / 3)
    assert rank5 == pytest.approx(2 / 3)
    assert rank5_accuracy(preds[2:], [1]) == (0.0, 0.0)  # class 1 is 6th: ties go to higher
    assert rank5_accuracy(preds[2:], [5]) == (0.0, 1.0)  # indices first
    assert rank_k_accuracy(np.eye(3)[:1], [2], k=10) == 1.0  # k beyond the classes: a hit


def test_shape_mismatch():
    with pytest.raises(ValueError):
        rank5_accuracy(np.zeros((3, 5)), [0, 1])
