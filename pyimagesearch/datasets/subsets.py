"""Stratified subsets of a training split: a held-out validation set and a smaller
training set, the same for every run (scikit-learn's `train_test_split`)."""

import numpy as np

from pyimagesearch.errors import UserError

# Every run draws the same subsets, whatever its --seed: trials of a search compare on one
# validation set, and a resumed run keeps its data.
SPLIT_SEED = 0


def holdout_and_subset(labels: np.ndarray, holdout: int = 0,
                       subset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training images and of the held-out validation images.

    Args:
        labels: the training split's labels.
        holdout: images held out for validation, every class in proportion (0: none).
        subset: images kept for training after the holdout, in proportion (0: all).

    Returns:
        (train, val): sorted indices into `labels`; `val` is empty without a holdout.

    Raises:
        UserError: the holdout or the subset cannot be split in proportion: either
            side of a split would miss a class, or a class has a single image.
    """
    # Imported here, once the data are read: 1-4 s on a loaded machine, which a mistake in
    # the flags or paths found before (the scripts import this module first) must not cost.
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels).reshape(-1)
    train, val = np.arange(len(labels)), np.arange(0)
    if holdout:
        _check_split(labels, holdout, "--holdout", "held out")
        train, val = train_test_split(train, test_size=holdout, stratify=labels,
                                      random_state=SPLIT_SEED)
    if subset:
        if subset > len(train):
            raise UserError(f"--subset {subset} is more than the {len(train)} training images"
                            f"{' left by --holdout ' + str(holdout) if holdout else ''}; "
                            "lower it, or pass 0 to train on all of them")
        if subset < len(train):
            _check_split(labels[train], subset, "--subset", "kept for training",
                         f", or {len(train)} (all of them)")
            train, _ = train_test_split(train, train_size=subset, stratify=labels[train],
                                        random_state=SPLIT_SEED)
    return np.sort(train), np.sort(val)


def _check_split(labels: np.ndarray, size: int, flag: str, what: str, or_else: str = "") -> None:
    """Raises a UserError unless `size` of `labels`' images can be split off in
    proportion: both sides need an image of every class, so every class needs two."""
    names, counts = np.unique(labels, return_counts=True)
    classes, pool = len(names), len(labels)
    if pool < 2 * classes or counts.min() < 2:
        single = names[counts < 2]
        why = (f"class {single[0]} has a single image" if len(single)
               else f"{pool} images of {classes} classes are too few")
        raise UserError(f"{flag} {size} cannot split the training images in proportion "
                        f"({why}, and each side needs an image of every class); drop {flag}")
    if not classes <= size <= pool - classes:
        raise UserError(f"{flag} {size} must be from {classes} to {pool - classes}{or_else}: "
                        f"the {size} images {what} and the rest of the {pool} must each hold "
                        f"an image of every one of the {classes} classes")
