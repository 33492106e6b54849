"""Test-set reports as text: accuracy and scikit-learn's per-class figures."""

import numpy as np


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
