import os

import matplotlib.image
import numpy as np

from pyimagesearch.evaluation.figures import plot_confusion_matrix
from pyimagesearch.evaluation.reports import classification_summary, short_name


def test_confusion_matrix_counts_and_png(tmp_path):
    names = ["cat", "dog", "goldfish, Carassius auratus"]
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 1, 0])
    path = str(tmp_path / "confusion.png")
    counts = plot_confusion_matrix(labels, preds, names, path, "t")
    assert counts.tolist() == [[1, 2, 0], [0, 2, 0], [1, 0, 0]]
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= 700 and image.shape[1] >= 800
    assert os.listdir(tmp_path) == ["confusion.png"]  # written atomically, no temp file left


def test_confusion_matrix_of_many_classes_grows_with_them(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 200, 2000)
    preds = np.where(rng.random(2000) < 0.5, labels, rng.integers(0, 200, 2000))
    path = str(tmp_path / "c200.png")
    counts = plot_confusion_matrix(labels, preds, [f"class {i}" for i in range(200)], path)
    assert counts.shape == (200, 200) and counts.sum() == 2000
    assert np.trace(counts) == int(np.sum(labels == preds))
    image = matplotlib.image.imread(path)
    assert min(image.shape[:2]) >= 15 * 200  # room for 200 names on each axis


def test_summary_and_short_names():
    text = classification_summary([0, 1, 1], [0, 1, 0], ["a", "b"], "run")
    assert text.startswith("run\ntest accuracy: 0.6667 (2 of 3 images)")
    assert short_name("goldfish, Carassius auratus") == "goldfish" and short_name("cat") == "cat"
