"""Every figure the toolkit writes, and the one way they are written (`save`): a run's
history (loss, accuracy, the LR, the diagnosis's findings), the confusion matrix and
the learning-rate range test. PNG files only, so no display is needed."""

import numpy as np

from pyimagesearch import atomic
from pyimagesearch.evaluation.reports import short_name

# Colours of the diagnosis's findings on the plot.
_FINDING_COLOURS = {"lr_too_high": "tab:red", "overfitting": "tab:orange",
                    "underfitting": "tab:purple", "plateau": "tab:olive"}


def subplots(*args, **kwargs):
    """`matplotlib.pyplot.subplots` on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save(fig, path: str) -> None:
    """Lays out `fig`, writes it to `path` as a PNG atomically, and closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def plot_history(history: dict[str, list], path: str, title: str = "",
                 diagnosis=None) -> None:
    """Atomically writes a PNG with a loss panel and an accuracy panel by epoch.

    The learning rate, when recorded, is drawn on a log axis of the loss panel.
    A `pyimagesearch.evaluation.diagnosis.Diagnosis` adds its findings: each one's epochs
    shaded on both panels, the epoch it points at (the best validation loss,
    the divergence) as a line, and the verdict in the title.
    """
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history.get("loss", [])) + 1)
    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(12, 4.5))
    for ax, metric, label in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = history.get(key)
            if values:
                ax.plot(epochs[: len(values)], values, style, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    lrs = history.get("learning_rate")
    if lrs and all(v is not None and v > 0 for v in lrs):
        ax_lr = ax_loss.twinx()
        ax_lr.plot(epochs[: len(lrs)], lrs, ":", color="gray", label="learning rate")
        ax_lr.set_yscale("log")
        ax_lr.set_ylabel("learning rate")
        ax_lr.legend(loc="upper center")
    verdict = ""
    if diagnosis is not None:
        for finding in diagnosis.findings:
            colour = _FINDING_COLOURS.get(finding.kind)
            if colour is None:
                continue
            name = finding.kind.replace("_", " ")
            for ax in (ax_loss, ax_acc):
                if finding.span:
                    first, last = finding.span
                    ax.axvspan(first - 0.5, last + 0.5, color=colour, alpha=0.12,
                               label=f"{name}, {_span(first, last)}" if ax is ax_loss else None)
                if finding.mark:
                    ax.axvline(finding.mark, color=colour, ls="--", lw=1)
        verdict = f" - diagnosis: {', '.join(k.replace('_', ' ') for k in diagnosis.kinds)}"
    for ax, where in ((ax_loss, "upper right"), (ax_acc, "lower right")):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc=where, fontsize="small")
    fig.suptitle(f"{title} (epoch {len(epochs)}){verdict}".strip())
    save(fig, path)


def _span(first: int, last: int) -> str:
    return f"epoch {first}" if first == last else f"epochs {first}-{last}"


def plot_confusion_matrix(labels, preds, class_names, path: str, title: str = "") -> np.ndarray:
    """Atomically writes the confusion matrix as a PNG, rows normalised to the true class.

    Each row shows where the test images of one class went (the diagonal is
    that class's recall). With up to 20 classes every cell carries its value;
    with more (Tiny ImageNet's 200) the figure grows with the class count and
    shows colours and class names only.

    Returns:
        The matrix of counts, (classes, classes), rows true, columns predicted.
    """
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    classes = len(class_names)
    counts = confusion_matrix(labels, preds, labels=list(range(classes)))
    rows = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(rows, 1)
    few = classes <= 20
    size = 8 if few else max(8.0, 0.15 * classes)  # inches: 15 pixels a class at 100 dpi
    fig, ax = subplots(figsize=(size + 1.5, size))
    display = ConfusionMatrixDisplay(share, display_labels=[short_name(n) for n in class_names])
    display.plot(ax=ax, include_values=few, values_format=".2f", cmap="Blues",
                 xticks_rotation="vertical", colorbar=True)
    display.im_.set_clim(0, 1)
    if not few:
        ax.tick_params(labelsize=5)
    accuracy = float(np.trace(counts) / max(counts.sum(), 1))
    ax.set_title(f"{title}\naccuracy {accuracy:.2%} on {int(counts.sum())} images; each row: "
                 "where one true class went".strip())
    save(fig, path)
    return counts


def plot_lr_find(lrs, losses, suggestion: dict, path: str, title: str = "") -> None:
    """Atomically writes the loss against the learning rate (log axis), suggestion marked."""
    lrs = np.asarray(lrs)[: len(suggestion["smoothed"])]
    raw = np.asarray(losses)[: len(lrs)]
    smoothed = np.asarray(suggestion["smoothed"])
    fig, ax = subplots(figsize=(8, 5))
    ax.plot(lrs, raw, color="lightgray", lw=0.8, label="batch loss")
    ax.plot(lrs, smoothed, color="C0", lw=2, label="smoothed loss")
    ax.axvline(suggestion["min_loss_lr"], color="gray", ls=":",
               label=f"lowest loss at {suggestion['min_loss_lr']:.2g}")
    ax.axvline(suggestion["lr"], color="C3", ls="--",
               label=f"suggested lr {suggestion['lr']:.2g} ({suggestion['rule']})")
    ax.plot([suggestion["lr"]], [np.interp(np.log(suggestion["lr"]), np.log(lrs), smoothed)],
            "o", color="C3")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    # Keep the blow-up from squashing the interesting part of the curve.
    top = min(float(np.nanmax(raw)), 2 * float(smoothed[0]))
    ax.set_ylim(min(float(np.nanmin(raw)), float(smoothed.min())) * 0.95, top * 1.05)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left")
    ax.set_title(title or "learning-rate range test")
    save(fig, path)
