"""Test-set reports: scikit-learn's per-class figures as text, the confusion matrix as a PNG."""

import numpy as np

from pyimagesearch.utils import atomic


def classification_summary(labels, preds, class_names, title: str) -> str:
    """Accuracy and scikit-learn's per-class precision/recall/F1 as text."""
    from sklearn.metrics import classification_report

    labels = np.asarray(labels)
    preds = np.asarray(preds)
    accuracy = float(np.mean(labels == preds))
    report = classification_report(labels, preds, labels=list(range(len(class_names))),
                                   target_names=list(class_names), digits=4, zero_division=0)
    return f"{title}\ntest accuracy: {accuracy:.4f} ({int(np.sum(labels == preds))} of " \
           f"{len(labels)} images)\n\n{report}"


def short_name(name: str) -> str:
    """A class name's first synonym ("goldfish, Carassius auratus" -> "goldfish")."""
    return str(name).split(",")[0].strip()


def plot_confusion_matrix(labels, preds, class_names, path: str, title: str = "") -> np.ndarray:
    """Atomically writes the confusion matrix as a PNG, rows normalised to the true class.

    Each row shows where the test images of one class went (the diagonal is
    that class's recall). With up to 20 classes every cell carries its value;
    with more (Tiny ImageNet's 200) the figure grows with the class count and
    shows colours and class names only.

    Returns:
        The matrix of counts, (classes, classes), rows true, columns predicted.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    classes = len(class_names)
    counts = confusion_matrix(labels, preds, labels=list(range(classes)))
    rows = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(rows, 1)
    few = classes <= 20
    size = 8 if few else max(8.0, 0.15 * classes)  # inches: 15 pixels a class at 100 dpi
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    display = ConfusionMatrixDisplay(share, display_labels=[short_name(n) for n in class_names])
    display.plot(ax=ax, include_values=few, values_format=".2f", cmap="Blues",
                 xticks_rotation="vertical", colorbar=True)
    display.im_.set_clim(0, 1)
    if not few:
        ax.tick_params(labelsize=5)
    accuracy = float(np.trace(counts) / max(counts.sum(), 1))
    ax.set_title(f"{title}\naccuracy {accuracy:.2%} on {int(counts.sum())} images; each row: "
                 "where one true class went".strip())
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return counts
