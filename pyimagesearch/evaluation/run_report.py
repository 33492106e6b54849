"""The run report: `report.html` in a run's folder, one self-contained page a user would
rather look at than read.

Built from the run's files alone (its settings, history, timeline, test-split
evaluation and learning-rate range test), so the training engine rewrites it
after every epoch and at the end, and `python -m pyimagesearch.report` rebuilds
it for any run folder, old or new. Every part is optional but the history:
the page shows what the folder holds.
"""

import datetime
import json
import os
import time

import numpy as np

from pyimagesearch import atomic
from pyimagesearch.errors import UserError
from pyimagesearch.evaluation import figures, html, metrics, questions
from pyimagesearch.evaluation.diagnosis import diagnose, plural
from pyimagesearch.evaluation.history import load_history
from pyimagesearch.evaluation.reports import short_name
from pyimagesearch.io.runfiles import RunPaths

_BADGE = {True: "fine", False: "problem", None: "unknown"}
_SHORT = {"lr": "learning rate right", "regularisation": "regularisation too strong",
          "dropout": "dropout too strong", "capacity": "enough capacity"}


def read_json(path: str, what: str) -> dict | None:
    """The JSON object in `path`, or None if there is no such file.

    Raises:
        UserError: the file exists but is not a JSON object (damaged).
    """
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path}, the run's {what}, cannot be read ({err}); restore it or "
                        "delete it, and rebuild the report") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}, the run's {what}, is not a JSON object; restore it or delete "
                        "it, and rebuild the report")
    return value


class Run:
    """What a run folder holds, read once: `settings` (`_args.json`), `args` (its flags),
    `history`, `timeline`, `evaluation` (`_eval.json`), `lr_find` (`_lr_find.json`).

    Raises:
        UserError: the folder holds no history, or a file is damaged.
    """

    def __init__(self, paths: RunPaths):
        self.paths = paths
        if not os.path.exists(paths.history):
            raise UserError(f"{paths.output} holds no training history ({paths.history}); "
                            "give a run folder that a training script wrote")
        notes = []
        self.history = load_history(paths.history, notes)
        self.settings = read_json(paths.args, "settings") or {}
        self.args = self.settings.get("args") or {}
        total = self.epochs_total
        if total and self.epochs_done > total:
            raise UserError(f"{paths.history} holds {self.epochs_done} epochs but the run's "
                            f"settings ({paths.args}) say --epochs {total}: the history is not "
                            "this run's; put the files of one run together in its folder")
        self.timeline = read_json(paths.timeline, "timeline") or {}
        self.evaluation = read_json(paths.eval, "test-split evaluation")
        self.lr_find = read_json(paths.file("_lr_find.json"), "learning-rate range test")
        self.diagnosis = diagnose(self.history, notes=notes,
                                  finished=self.epochs_done >= total if total else None)
        self.answers = questions.answer(self.history, self.diagnosis, self.args, self.lr_find)

    @property
    def title(self) -> str:
        return self.settings.get("title") or self.paths.name

    @property
    def epochs_done(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def epochs_total(self) -> int | None:
        return self.args.get("epochs")

    @property
    def seconds(self) -> list[float]:
        """Each recorded epoch's duration (None where not recorded)."""
        return list(self.timeline.get("seconds") or [])

    def marks(self) -> list[tuple[int, str]]:
        """`(epoch, label)` where the run was resumed or its LR was changed by hand, the
        epoch counted from 1 (the first epoch after it)."""
        labels: dict[int, list[str]] = {}
        sessions = self.timeline.get("sessions") or []
        starts = [s.get("initial_epoch", 0) for s in sessions[1:]]
        if not sessions and self.settings.get("initial_epoch"):
            starts = [self.settings["initial_epoch"]]  # an older run: its last start only
        for start in starts:
            if 0 < start < self.epochs_done:
                labels.setdefault(start + 1, []).append("resumed")
        for epoch, lr in self.lr_changes():
            if 0 < epoch < self.epochs_done:
                labels.setdefault(epoch + 1, []).append(f"lr {lr:g}")
        return [(epoch, ", ".join(names)) for epoch, names in sorted(labels.items())]

    def lr_changes(self) -> list[tuple[int, float]]:
        """`(epoch, lr)` for each rate set by hand on resume (`--resume --lr`), in order: the
        rate restarted after that many epochs."""
        return sorted((int(e), v) for e, v in (self.args.get("lr_restarts") or {}).items())

    def best(self) -> tuple[float, int] | None:
        values = np.array([np.nan if v is None else float(v)
                           for v in self.history.get("val_accuracy", [])], dtype=float)
        if not np.isfinite(values).any():
            return None
        best = int(np.nanargmax(values))
        return float(values[best]), best + 1


def write(paths: RunPaths, run: Run | None = None) -> str:
    """Builds the run's report (of `run`, if already read) and writes it atomically to
    `paths.report`; returns the path."""
    atomic.write_text(paths.report, build(run or Run(paths)))
    return paths.report


def build(run: Run) -> str:
    """The report's HTML."""
    sections = [_header(run), _curves(run), _questions(run)]
    if run.evaluation:
        sections.append(_evaluation(run))
    if run.lr_find:
        sections.append(_lr_find(run))
    sections.append(_settings(run))
    return html.page(f"{run.title}: run report", "\n".join(sections))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _when(iso: str | None) -> str:
    if not iso:
        return "not recorded"
    try:
        return datetime.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return iso


def _header(run: Run) -> str:
    args, settings = run.args, run.settings
    done, total = run.epochs_done, run.epochs_total
    seconds = [s for s in run.seconds if s is not None]
    rows = [("network and data", run.title),
            ("recipe", args.get("recipe", "not recorded")),
            ("backend", f"{settings.get('backend', 'not recorded')} (Keras "
                        f"{settings.get('keras', '?')})"),
            ("precision", {"off": "float32", "bf16": "bf16 (mixed)", "fp16": "fp16 (mixed)"}
             .get(args.get("precision"), args.get("precision", "not recorded"))),
            ("hardware", settings.get("hardware", "not recorded"))]
    sessions = run.timeline.get("sessions") or []
    rows.append(("started", _when(sessions[0].get("started") if sessions
                                  else settings.get("written"))))
    rows.append(("epochs", f"{done} of {total}" if total else str(done)))
    if seconds:
        rows.append(("training time", f"{_duration(sum(seconds))} ({np.mean(seconds):.0f} s "
                                      "an epoch)"))
    finished = bool(total) and done >= total
    if total and not finished and seconds:
        recent = float(np.mean(seconds[-3:]))
        rows.append(("time left", f"about {_duration(recent * (total - done))} for "
                                  f"{total - done} epochs (at {recent:.0f} s an epoch)"))
    elif finished:
        rows.append(("status", "finished"))
    for session in sessions[1:]:
        rows.append(("resumed", f"after epoch {session.get('initial_epoch')}, "
                                f"{_when(session.get('started'))}"))
    if not sessions and settings.get("initial_epoch"):
        rows.append(("resumed", f"after epoch {settings['initial_epoch']} (last start)"))
    for epoch, lr in run.lr_changes():
        rows.append(("learning rate changed", f"to {lr:g} after epoch {epoch}"))
    best = run.best()
    headline = []
    if best:
        headline.append(f"best validation accuracy <b>{best[0]:.2%}</b> (epoch {best[1]})")
    if run.evaluation:
        headline.append(f"test rank-1 <b>{run.evaluation['rank1']:.2%}</b>, rank-5 "
                        f"{run.evaluation['rank5']:.2%}")
    return (f'<h1>{html.escape(run.title)}</h1>\n<p class="sub">{html.escape(run.paths.output)}'
            f" &middot; report written {html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}"
            + (f"<br>{'; '.join(headline)}" if headline else "") + "</p>\n"
            + _at_a_glance(run) + html.table(rows) + "\n")


def _said(a: questions.Answer) -> str:
    """The answer as a badge says it: with its reason when the answer is not the worry
    ("no, too weak")."""
    return a.summary.split(":")[0] if a.problem else a.answer


def _at_a_glance(run: Run) -> str:
    """The diagnosis's verdict and the four answers as badges, linked to their evidence: what
    a reader sees first."""
    badges = "".join(f'<a class="badge {_BADGE[a.fine]}" href="#diagnosis" title="'
                     f'{html.escape(a.summary)}">{html.escape(_SHORT[a.key])}: '
                     f"{html.escape(_said(a))}</a> " for a in run.answers)
    verdict = (run.diagnosis.verdict.replace("_", " ") if run.diagnosis.findings
               else "not read yet")
    return (f'<p class="glance">after {plural(run.epochs_done, "epoch")}: '
            f"<b>{html.escape(verdict)}</b><br>{badges}</p>\n")


def _curves(run: Run) -> str:
    marks = run.marks()
    png = figures.plot_history(run.history, None, run.title, run.diagnosis, marks=marks)
    note = ("Dotted lines: where the run was resumed or its learning rate changed by hand. "
            if marks else "")
    return ("<h2 id=\"curves\">Curves</h2>\n"
            + html.image(png, "loss, accuracy and learning rate by epoch")
            + f'<p class="note">{note}Training solid, validation dashed; shaded: the epochs '
              "behind the diagnosis's findings.</p>")


def _questions(run: Run) -> str:
    rows = []
    for a in run.answers:
        badge = f'<span class="badge {_BADGE[a.fine]}">{html.escape(_said(a))}</span>'
        remedy = f"<br><b>What to do:</b> {html.escape(a.remedy)}" if a.remedy else ""
        rows.append(f"<tr><th>{html.escape(a.question)}</th><td>{badge}</td>"
                    f"<td>{html.escape(a.summary)}<br><span class=\"note\">Evidence: "
                    f"{html.escape(a.evidence)}</span>{remedy}</td></tr>")
    findings = "".join(f"<li><b>{html.escape(f.name)}</b>: "
                       f"{html.escape(f.summary)}<br><span class=\"note\">Evidence: "
                       f"{html.escape(f.evidence)}</span><br>What to do: "
                       f"{html.escape(f.remedy)}</li>" for f in run.diagnosis.findings)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in run.diagnosis.notes)
    return ("<h2 id=\"diagnosis\">Diagnosis: the four questions</h2>\n<table>"
            + "".join(rows) + "</table>\n"
            + (f"<p>How the history was read:</p><ul>{notes}</ul>" if notes else "")
            + f"<p>What the curves show after {plural(run.epochs_done, 'epoch')}:</p>"
              f"<ul>{findings}</ul>")


def _evaluation(run: Run) -> str:
    result = run.evaluation
    parts = ["<h2 id=\"test\">Test split</h2>",
             f"<p><span class=\"big\">rank-1 {result['rank1']:.2%}</span> &nbsp; rank-5 "
             f"{result['rank5']:.2%} on {result.get('n', '?')} images"
             + (f"; with flip TTA: rank-1 {result['flip_tta']['rank1']:.2%}, rank-5 "
                f"{result['flip_tta']['rank5']:.2%}" if result.get("flip_tta") else "")
             + f"<br><span class=\"note\">model: {html.escape(result.get('model', ''))}"
               "</span></p>"]
    names, counts = result.get("class_names"), result.get("confusion")
    if names and counts:
        counts = np.asarray(counts)
        accuracy = metrics.per_class_accuracy(counts)
        order = np.argsort(np.nan_to_num(accuracy, nan=2.0), kind="stable")
        rows = [(short_name(names[i]), f"{accuracy[i]:.1%}", int(counts[i, i]),
                 int(counts[i].sum())) for i in order]
        parts.append("<h3>Accuracy per class, worst first</h3><div class=\"scroll\">"
                     + html.table(rows, ["class", "accuracy", "right", "images"], (1, 2, 3))
                     + "</div>")
        pairs = [(f"{short_name(names[a])} / {short_name(names[b])}", n,
                  int(counts[a, b]), int(counts[b, a]))
                 for a, b, n in metrics.most_confused(counts)]
        if pairs:
            parts.append("<h3>Most-confused pairs of classes</h3>" + html.table(
                pairs, ["classes a / b", "images", "a taken for b", "b taken for a"],
                (1, 2, 3)))
    for suffix, heading, alt in (("_confusion.png", "Confusion matrix", "confusion matrix"),
                                 ("_misclassified.png", "Misclassified test images, most "
                                  "confident first", "misclassified test images")):
        path = run.paths.file(suffix)
        if os.path.exists(path):
            with open(path, "rb") as f:
                parts.append(f"<h3>{heading}</h3>" + html.image(f.read(), alt))
    return "\n".join(parts)


def _lr_find(run: Run) -> str:
    found = run.lr_find
    parts = ["<h2 id=\"lr-find\">Learning-rate range test</h2>",
             f"<p>Suggested <b>--lr {found['suggested_lr']:.2g}</b> ({html.escape(found['rule'])}"
             f"); lowest smoothed loss at lr {found['min_loss_lr']:.3g}, steepest descent at "
             f"lr {found['steepest_lr']:.3g}; {len(found.get('lrs', []))} batches of "
             f"{found.get('batch_size', '?')} ({html.escape(found.get('stopped', ''))}).</p>"]
    path = run.paths.file("_lr_find.png")
    if os.path.exists(path):
        with open(path, "rb") as f:
            parts.append(html.image(f.read(), "loss against the learning rate"))
    return "\n".join(parts)


def _settings(run: Run) -> str:
    rows = [(k, json.dumps(v) if isinstance(v, (dict, list)) else v)
            for k, v in sorted(run.args.items())]
    software = [(k, run.settings[k]) for k in ("keras", "backend", "numpy", "python", "written")
                if k in run.settings]
    return ("<h2 id=\"settings\">Every setting</h2>\n<details open><summary>"
            f"{len(rows)} settings (<code>{html.escape(os.path.basename(run.paths.args))}"
            "</code>)</summary>" + html.table(rows, ["setting", "value"]) + "</details>"
            + html.table(software))
