import re

import numpy as np
import pytest

from pyimagesearch.datasets.subsets import holdout_and_subset
from pyimagesearch.errors import UserError

LABELS = np.arange(100) % 10  # 10 images of each of 10 classes


def test_holdout_and_subset_keep_every_class_in_proportion():
    train, val = holdout_and_subset(LABELS, holdout=20, subset=40)
    assert len(val) == 20 and len(train) == 40 and not set(train) & set(val)
    assert np.bincount(LABELS[val]).tolist() == [2] * 10
    assert np.bincount(LABELS[train]).tolist() == [4] * 10
    train, val = holdout_and_subset(LABELS, holdout=90)  # the most it can hold out
    assert len(train) == 10 and len(val) == 90
    everything = holdout_and_subset(LABELS, 20, 80)[0]  # a subset of all: all of them
    assert everything.tolist() == holdout_and_subset(LABELS, 20)[0].tolist()


@pytest.mark.parametrize("holdout, subset, said", [
    (100, 0, "--holdout 100 must be from 10 to 90"),  # holds out every image
    (95, 0, "--holdout 95 must be from 10 to 90"),  # leaves fewer images than classes
    (5, 0, "--holdout 5 must be from 10 to 90"),  # holds out fewer images than classes
    (20, 75, "--subset 75 must be from 10 to 70, or 80 (all of them)"),
    (20, 81, "--subset 81 is more than the 80 training images left by --holdout 20"),
    (0, 4, "--subset 4 must be from 10 to 90"),
])
def test_a_split_that_cannot_hold_every_class_is_one_sentence(holdout, subset, said):
    """A holdout that left fewer training images than classes, or held out all of them,
    was a scikit-learn traceback."""
    with pytest.raises(UserError, match=re.escape(said)):
        holdout_and_subset(LABELS, holdout, subset)


def test_a_class_with_one_image_cannot_be_split():
    labels = np.concatenate([LABELS, [10]])
    with pytest.raises(UserError, match="class 10 has a single image"):
        holdout_and_subset(labels, holdout=30)


@pytest.mark.parametrize("holdout", ["100", "95"])
def test_the_training_script_says_it_in_one_line(holdout, cifar_dir, tmp_path, capsys):
    import train_cifar10

    argv = ["--data", cifar_dir, "--output", str(tmp_path), "--holdout", holdout]
    assert train_cifar10.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --holdout {holdout} must be from 10 to 90")
    assert err.count("\n") == 1
