import numpy as np
import pytest

from pyimagesearch.utils.ranked import rank5_accuracy


def _brute_force(preds, labels):
    rank1 = rank5 = 0
    for row, label in zip(preds, labels):
        order = list(np.argsort(-row, kind="stable"))
        rank1 += order[0] == label
        rank5 += label in order[:5]
    return rank1 / len(labels), rank5 / len(labels)


@pytest.mark.parametrize("levels", [None, 3, 7])
def test_matches_brute_force_including_ties(levels):
    rng = np.random.default_rng(levels or 0)
    preds = rng.random((500, 12))
    if levels:  # few distinct values: many ties, some straddling the top-5 boundary
        preds = np.floor(preds * levels) / levels
    labels = rng.integers(0, 12, size=500)
    assert rank5_accuracy(preds, labels) == pytest.approx(_brute_force(preds, labels))


def test_known_values():
    preds = np.array([[0.1, 0.9, 0, 0, 0, 0, 0],       # true 1: rank 1
                      [0.3, 0.2, 0.1, 0.15, 0.05, 0.1, 0.1],  # true 4: last
                      [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0]])  # true 4: ties, 5th in stable order
    rank1, rank5 = rank5_accuracy(preds, [1, 4, 4])
    assert rank1 == pytest.approx(1 / 3)
    assert rank5 == pytest.approx(2 / 3)
    assert rank5_accuracy(preds[2:], [5]) == (0.0, 0.0)  # class 5 is 6th: ties go to lower indices


def test_shape_mismatch():
    with pytest.raises(ValueError):
        rank5_accuracy(np.zeros((3, 5)), [0, 1])
