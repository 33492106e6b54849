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
        UserError: the holdout and subset ask for more images than there are.
    """
    # Imported here, once the data are read: 1-4 s on a loaded machine, which a mistake in
    # the flags or paths found before (the scripts import this module first) must not cost.
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels).reshape(-1)
    everything = np.arange(len(labels))
    classes = len(np.unique(labels))
    if holdout + subset > len(labels) or 0 < holdout < classes or 0 < subset < classes:
        raise UserError(f"--holdout {holdout} and --subset {subset} must each be at least the "
                        f"{classes} classes and together at most the {len(labels)} training "
                        "images; lower them")
    train, val = everything, everything[:0]
    if holdout:
        train, val = train_test_split(everything, test_size=holdout, stratify=labels,
                                      random_state=SPLIT_SEED)
    if subset and subset < len(train):
        train, _ = train_test_split(train, train_size=subset, stratify=labels[train],
                                    random_state=SPLIT_SEED)
    return np.sort(train), np.sort(val)
