"""Test-set reports as text: accuracy and scikit-learn's per-class figures."""

import numpy as np


def classification_summary(labels, preds, class_names, title: str,
                           summary: str | None = None) -> str:
    """Accuracy (or the line `summary`, which states it) and scikit-learn's per-class
    precision/recall/F1 as text."""
    from sklearn.metrics import classification_report

    labels = np.asarray(labels)
    preds = np.asarray(preds)
    if summary is None:
        accuracy = float(np.mean(labels == preds))
        summary = (f"test accuracy: {accuracy:.4f} ({int(np.sum(labels == preds))} of "
                   f"{len(labels)} images)")
    report = classification_report(labels, preds, labels=list(range(len(class_names))),
                                   target_names=list(class_names), digits=4, zero_division=0)
    return f"{title}\n{summary}\n\n{report}"


def short_name(name: str) -> str:
    """A class name's first synonym ("goldfish, Carassius auratus" -> "goldfish")."""
    return str(name).split(",")[0].strip()
