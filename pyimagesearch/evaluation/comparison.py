"""The comparison of several runs: `compare.html`, one self-contained page with their curves
overlaid, the settings that differ and their results side by side."""

import json
import os

import numpy as np

from pyimagesearch import atomic
from pyimagesearch.evaluation import figures, html
from pyimagesearch.evaluation.run_report import Run

# Settings that name where a run lives or how it was launched, not what it trained.
_NOT_COMPARED = {"output", "resume", "force", "verbose", "evaluate", "coordinator",
                 "process_id", "num_processes", "distributed", "workers"}


def labels_for(runs: list[Run]) -> list[str]:
    """A short, distinct label per run: its folder's name, with the parent folder when
    two share a name."""
    names = [os.path.basename(os.path.normpath(r.paths.output)) for r in runs]
    if len(set(names)) == len(names):
        return names
    return [os.path.join(os.path.basename(os.path.dirname(os.path.normpath(r.paths.output))),
                         n) for r, n in zip(runs, names)]


def differing_settings(runs: list[Run]) -> list[str]:
    """The settings whose values are not the same in every run, sorted."""
    keys = sorted(set().union(*(r.args for r in runs)) - _NOT_COMPARED)
    return [k for k in keys if len({json.dumps(r.args.get(k), sort_keys=True)
                                    for r in runs}) > 1]


def _value(value) -> str:
    if value is None:
        return "-"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def build(runs: list[Run], folder: str) -> str:
    """The comparison's HTML; links to each run's report are relative to `folder`."""
    labels = labels_for(runs)
    png = figures.plot_comparison([r.history for r in runs], labels)
    keys = differing_settings(runs)
    results = []
    for label, run in zip(labels, runs):
        best = run.best()
        seconds = [s for s in run.seconds if s is not None]
        evaluation = run.evaluation or {}
        tta = evaluation.get("flip_tta") or {}
        results.append([
            label, f"{run.epochs_done} of {run.epochs_total}" if run.epochs_total
            else run.epochs_done,
            f"{best[0]:.2%} (epoch {best[1]})" if best else "-",
            f"{evaluation['rank1']:.2%}" if evaluation else "-",
            f"{evaluation['rank5']:.2%}" if evaluation else "-",
            f"{tta['rank1']:.2%}" if tta else "-",
            f"{np.mean(seconds):.0f}" if seconds else "-",
            ", ".join(k.replace("_", " ") for k in run.diagnosis.kinds)])
    links = "".join(
        f'<li><a href="{html.escape(os.path.relpath(r.paths.report, folder))}">'
        f"{html.escape(label)}</a>: {html.escape(r.title)}</li>"
        for label, r in zip(labels, runs) if os.path.exists(r.paths.report))
    body = [f"<h1>{len(runs)} runs compared</h1>",
            f'<p class="sub">{", ".join(html.escape(label) for label in labels)}</p>',
            "<h2 id=\"results\">Results</h2>",
            html.table(results, ["run", "epochs", "best validation accuracy", "test rank-1",
                                 "test rank-5", "rank-1 with flip TTA", "s an epoch",
                                 "diagnosis"], (3, 4, 5, 6)),
            "<h2 id=\"curves\">Curves</h2>",
            html.image(png, "validation accuracy and loss and training loss of every run"),
            "<h2 id=\"settings\">Settings that differ</h2>",
            html.table([[k] + [_value(r.args.get(k)) for r in runs] for k in keys],
                       ["setting", *labels]) if keys else
            "<p>Every setting is the same.</p>"]
    if links:
        body.append(f"<h2 id=\"reports\">Each run's report</h2><ul>{links}</ul>")
    return html.page(f"{len(runs)} runs compared", "\n".join(body))


def write(runs: list[Run], path: str) -> str:
    """Writes the comparison to `path` atomically; returns the path."""
    folder = os.path.dirname(os.path.abspath(path))
    atomic.write_text(path, build(runs, folder))
    return path
