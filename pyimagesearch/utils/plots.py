"""Plots of a run's history: loss and accuracy by epoch, the LR, the diagnosis's findings."""

from pyimagesearch.utils import atomic

# Colours of the diagnosis's findings on the plot.
_FINDING_COLOURS = {"lr_too_high": "tab:red", "overfitting": "tab:orange",
                    "underfitting": "tab:purple", "plateau": "tab:olive"}


def plot_history(history: dict[str, list], path: str, title: str = "",
                 diagnosis=None) -> None:
    """Atomically writes a PNG with a loss panel and an accuracy panel by epoch.

    The learning rate, when recorded, is drawn on a log axis of the loss panel.
    A `pyimagesearch.diagnose.Diagnosis` adds its findings: each one's epochs
    shaded on both panels, the epoch it points at (the best validation loss,
    the divergence) as a line, and the verdict in the title.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history.get("loss", [])) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
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
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _span(first: int, last: int) -> str:
    return f"epoch {first}" if first == last else f"epochs {first}-{last}"
