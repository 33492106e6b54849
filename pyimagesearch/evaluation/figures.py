"""Every figure the toolkit writes, in one look (`subplots`) and written one way (`save`):
a run's history (loss, accuracy, the LR, the diagnosis's findings), the confusion matrix,
misclassified test images and the learning-rate range test. PNG only, so no display is
needed."""

import io

import numpy as np

from pyimagesearch import atomic
from pyimagesearch.evaluation.reports import short_name

# Colours of the diagnosis's findings on the plot.
_FINDING_COLOURS = {"lr_too_high": "tab:red", "val_at_chance": "tab:brown",
                    "overfitting": "tab:orange",
                    "underfitting": "tab:purple", "plateau": "tab:olive"}


# The one look of every figure: type that stays readable on a laptop screen and in print,
# light grids, and colours that colour-blind readers can tell apart (Okabe and Ito's).
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 9, "legend.framealpha": 0.8,
         "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.8}
DPI = 100  # pixels an inch: a 12-inch-wide figure is 1,200 pixels wide


def use_style():
    """Puts matplotlib on the file-only Agg backend, in the house STYLE; returns pyplot
    (for figures that other libraries draw, e.g. Optuna's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update(STYLE, **{"axes.prop_cycle": cycler(color=COLOURS)})
    return plt


def subplots(*args, **kwargs):
    """`matplotlib.pyplot.subplots` on the file-only Agg backend, in the house STYLE."""
    return use_style().subplots(*args, **kwargs)


def save(fig, path: str | None) -> bytes | None:
    """Lays out `fig`, writes it to `path` as a PNG atomically, and closes it.

    With `path` None, returns the PNG's bytes instead (for pages that carry their images).
    """
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        if path is None:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI)
            return buffer.getvalue()
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
        return None
    finally:
        plt.close(fig)


def plot_history(history: dict[str, list], path: str | None, title: str = "",
                 diagnosis=None, marks=()) -> bytes | None:
    """Writes a PNG of the curves by epoch (`save`): loss, accuracy and, when recorded,
    the learning rate (log axis), each in its panel; training solid, validation dashed.

    A `pyimagesearch.evaluation.diagnosis.Diagnosis` adds its findings: each one's epochs
    shaded, the epoch it points at (the best validation loss, the divergence) as a line,
    and the verdict in the title. `marks` are `(epoch, label)` pairs, epochs counted
    from 1 (where the run was resumed, where the LR was changed by hand): a dotted line
    on every panel just before that epoch, named in the learning-rate panel.
    """
    # Each curve from epoch 1 over its own length (curves of other lengths are plotted as
    # they are; the diagnosis says how it read them).
    epochs = max((len(history.get(k) or []) for k in ("loss", "val_loss", "accuracy",
                                                      "val_accuracy")), default=0)
    lrs = history.get("learning_rate")
    with_lr = bool(lrs) and all(v is not None and v > 0 for v in lrs)
    fig, axes = subplots(1, 3 if with_lr else 2, figsize=(15 if with_lr else 12, 4.5))
    ax_loss, ax_acc = axes[:2]
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = [np.nan if v is None else v for v in history.get(key) or []]
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=key.replace("_", " "),
                        **_points(len(values)))
        ax.set_ylabel(metric)
    _cut_outliers(ax_loss, [history.get("loss"), history.get("val_loss")])
    if with_lr:
        axes[2].plot(range(1, len(lrs) + 1), lrs, color="gray", label="learning rate",
                     **_points(len(lrs)))
        axes[2].set_yscale("log")
        axes[2].set_ylabel("learning rate (log scale)")
    for ax in axes:
        _epoch_axis(ax, epochs)
        for epoch, label in marks:
            ax.axvline(epoch - 0.5, color="black", ls=":", lw=1.2)
            if ax is axes[-1]:
                ax.annotate(label, (epoch - 0.5, 1), xycoords=("data", "axes fraction"),
                            xytext=(3, -3), textcoords="offset points", va="top",
                            fontsize="small", rotation=90)
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
            ax.legend(loc=where)
    fig.suptitle(f"{title} (epoch {epochs}){verdict}".strip())
    return save(fig, path)


# Curves of at most this many epochs show each epoch as a point (one epoch is a point, not a
# line of length zero); longer ones are lines only.
MARKED_EPOCHS = 30


def _points(epochs: int) -> dict:
    """`plot`'s arguments that mark each epoch of a curve of `epochs` epochs, if it is short."""
    return {"marker": "o", "markersize": 4} if epochs <= MARKED_EPOCHS else {}


def _epoch_axis(ax, epochs: int) -> None:
    """An x axis of whole epochs from the first to the last (after one epoch: epoch 1)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_xlim(0.5, max(epochs, 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _cut_outliers(ax, curves, factor: float = 3.0) -> None:
    """Cuts the loss axis above the values more than `factor` times the median loss (an
    early epoch's spike would flatten every other epoch), and names what is off the chart."""
    points = [(e, float(v)) for values in curves if values
              for e, v in enumerate(values, 1) if v is not None and np.isfinite(v)]
    if len(points) < 4:
        return
    values = np.array([v for _, v in points])
    cap = factor * float(np.median(values))
    above = [(e, v) for e, v in points if v > cap]
    if not above or cap <= 0:
        return
    kept = values[values <= cap]
    low, top = float(kept.min()), float(kept.max())
    top += 0.15 * (top - low) or 0.1 * abs(top) or 1.0
    ax.set_ylim(low - 0.05 * (top - low), top)
    epoch, value = max(above, key=lambda p: p[1])
    ax.annotate(f"off the chart: {value:.3g} at epoch {epoch}", (epoch, top),
                xytext=(0, -12), textcoords="offset points", ha="center", fontsize="small")


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


def plot_misclassified(images, labels, probs, class_names, path: str | None,
                       title: str = "", columns: int = 6) -> bytes | None:
    """Writes a grid of test images with their true class and their top-5 classes and
    probabilities (`save`); the true class is marked where it is among the five.

    Args:
        images: `(n, height, width, 3)` uint8 RGB images, in the grid's order.
        labels: their true classes.
        probs: `(n, classes)` their predicted probabilities.
    """
    images, probs = np.asarray(images), np.asarray(probs)
    rows = max(1, -(-len(images) // columns))
    fig, axes = subplots(rows, columns, figsize=(2.4 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label, p in zip(axes.flat, images, labels, probs):
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.imshow(image, interpolation="nearest")
        ax.set_title(f"true: {short_name(class_names[label])}", fontsize=10)
        top = np.argsort(-p, kind="stable")[:5]
        # The top five as the axis label, so the layout makes room for them.
        ax.set_xlabel("\n".join(f"{'>' if k == label else ' '}{p[k]:4.0%} "
                                f"{short_name(class_names[k])[:16]}" for k in top),
                      loc="left", fontsize=8.5, family="monospace")
    if title:
        fig.suptitle(title)
    return save(fig, path)


def plot_comparison(histories: list[dict], labels: list[str], path: str | None = None
                    ) -> bytes | None:
    """Writes the curves of several runs overlaid (`save`): validation accuracy, validation
    loss and training loss by epoch, one colour a run."""
    fig, axes = subplots(1, 3, figsize=(15, 4.5))
    panels = (("val_accuracy", "validation accuracy"), ("val_loss", "validation loss"),
              ("loss", "training loss"))
    for ax, (key, name) in zip(axes, panels):
        for history, label in zip(histories, labels):
            values = [np.nan if v is None else v for v in history.get(key, [])]
            if values:
                ax.plot(range(1, len(values) + 1), values, label=label, **_points(len(values)))
        values = np.array([v for h in histories for v in h.get(key, [])
                           if v is not None and np.isfinite(v)], dtype=float)
        if key != "val_accuracy" and len(values) and values.min() > 0 and (
                values.max() > 100 * values.min()):
            ax.set_yscale("log")  # a run whose loss blew up beside ones that learn
            name += " (log scale)"
        _epoch_axis(ax, max((len(h.get("loss", [])) for h in histories), default=1))
        ax.set_ylabel(name)
    if any(ax.get_legend_handles_labels()[0] for ax in axes):
        axes[0].legend(loc="lower right")
    return save(fig, path)
