"""What a study found: `trials.csv`, Optuna's plots, and a plain-words answer to each of
the four questions (learning rate, regularisation, dropout, capacity) with its evidence:
how many trials back it, and "cannot tell yet" where they are too few, or their difference
is within the noise of the validation set's size."""

import csv
import math
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

import numpy as np
import optuna
from optuna.trial import TrialState

from pyimagesearch import atomic
from pyimagesearch.evaluation import figures
from pyimagesearch.tuning.space import QUESTIONS, Parameter

MIN_TRIALS = 4  # trials above chance before a question is answered
NEAR = 1.5      # a value within this factor of the recipe's is "near" it


@dataclass(frozen=True)
class Noise:
    """What validation accuracies measured on `images` images can tell apart.

    An accuracy p measured on n images has a standard error of sqrt(p (1 - p) / n): two
    accuracies differ when they are more than twice the standard error of their difference
    apart, and one tells something only when it is that far above chance (1 / `classes`).
    """
    images: int
    classes: int

    def _variance(self, p: float) -> float:
        p = min(max(p, 0.0), 1.0)
        return p * (1 - p) / self.images

    def margin(self, a: float, b: float) -> float:
        """How far apart accuracies `a` and `b` must be to differ."""
        return 2 * math.sqrt(self._variance(a) + self._variance(b))

    def differ(self, a: float, b: float) -> bool:
        return abs(a - b) > self.margin(a, b)

    def above_chance(self, p: float) -> bool:
        return p - 1 / self.classes > 2 * math.sqrt(self._variance(p))

    def within(self, a: float, b: float) -> str:
        return (f"within the noise, {100 * self.margin(a, b):.1f} points on "
                f"{self.images:,} validation images")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(delta: float) -> str:
    return f"{100 * delta:+.1f} points"


def _fmt(parameter: Parameter, value: float) -> str:
    return f"{value:.3g}x" if parameter.name == "width" else f"{value:.3g}"


def _trials(count: int) -> str:
    return f"{count} trial{'' if count == 1 else 's'}"


def finished(study) -> list:
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def complete(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]


def baseline(study):
    return next((t for t in complete(study) if t.user_attrs.get("baseline")), None)


def _both_sides_of_the_book(trials: list) -> bool:
    return any(t.params["width"] <= 1.0 for t in trials) and \
        any(t.params["width"] > 1.0 for t in trials)


def comparable(study, epochs: int, enough=None) -> tuple[list, int]:
    """The trials the answers compare, each with the `value` it had at one same epoch, and
    that epoch: the complete trials at the full budget once `MIN_TRIALS` are complete;
    before that (a study Hyperband prunes hard), every finished trial at the last epoch that
    `MIN_TRIALS` of them reached, as Hyperband itself compares them. `enough(trials)`, if
    given, must also hold (capacity needs trials on both sides of the book's width)."""
    full = complete(study)
    if len(full) >= MIN_TRIALS and (enough is None or enough(full)):
        return full, epochs
    done = finished(study)
    for epoch in range(epochs, 0, -1):
        reached = [SimpleNamespace(number=t.number, params=t.params,
                                   value=t.intermediate_values[epoch])
                   for t in done if epoch in t.intermediate_values]
        if len(reached) >= MIN_TRIALS and (enough is None or enough(reached)):
            return reached, epoch
    return full, epochs


def answer(parameter: Parameter, trials: list, importance: float | None,
           noise: Noise) -> str:
    """One question's answer from `trials` (each with a `value` at the same budget: see
    `comparable`): the best value, where accuracy falls off, and the verdict against the
    recipe's value, each with the trials behind it; trials at chance level are left out,
    and a difference within the `noise` is no finding."""
    question = QUESTIONS[parameter.name]
    told = [t for t in trials if noise.above_chance(t.value)]
    at_chance = len(trials) - len(told)
    chance = (f"; {at_chance} more at chance level ({_pct(1 / noise.classes)}) "
              f"tell{'s' if at_chance == 1 else ''} nothing" if at_chance else "")
    if len(told) < MIN_TRIALS:
        return (f"{question}: cannot tell yet ({_trials(len(told))} above chance, "
                f"{MIN_TRIALS} needed{chance})")
    best = max(told, key=lambda t: t.value)
    value = best.params[parameter.name]
    range_ = f"{_fmt(parameter, parameter.low)}..{_fmt(parameter, parameter.high)}"
    words = [f"{question}: best {_fmt(parameter, value)} of {range_} "
             f"(the recipe: {_fmt(parameter, parameter.default)}), from {_trials(len(told))}"
             f"{chance}"]
    low_edge, high_edge = parameter.edges()
    for third, edge, side in ((0, low_edge, "below"), (2, high_edge, "above")):
        there = [t.value for t in told if parameter.third(t.params[parameter.name]) == third]
        if third != parameter.third(value) and there and noise.differ(max(there), best.value):
            words.append(f"validation accuracy falls off {side} {_fmt(parameter, edge)} "
                         f"(best there {_pct(max(there))} vs {_pct(best.value)}, "
                         f"{_trials(len(there))} there)")
    words.append(_capacity(told, noise) if parameter.name == "width"
                 else _verdict(parameter, told, best, noise))
    if importance is not None:
        words.append(f"importance {importance:.2f}")
    return "; ".join(words)


def _verdict(parameter: Parameter, trials: list, best, noise: Noise) -> str:
    """Whether a value higher or lower than the recipe's did better than the trials near it."""
    recipe = parameter.clamp(parameter.default)  # the value the recipe's trial ran
    low, high = recipe / NEAR, recipe * NEAR
    value = best.params[parameter.name]
    near = [t.value for t in trials if low <= t.params[parameter.name] <= high]
    if low <= value <= high:
        return f"the recipe's value is about right (the best trial is one of {len(near)} near it)"
    side = "higher" if value > high else "lower"
    away = [t for t in trials if (t.params[parameter.name] > high if side == "higher"
                                  else t.params[parameter.name] < low)]
    claim = f"{side} than the recipe's {_fmt(parameter, parameter.default)}"
    if not near:
        return f"cannot tell yet whether {claim} helps (no trial near it)"
    evidence = (f"{_pct(best.value)} vs {_pct(max(near))} near it; {_trials(len(away))} "
                f"{side}, {len(near)} near")
    if noise.differ(best.value, max(near)):
        return f"{claim} helps ({evidence})"
    return (f"cannot tell yet whether {claim} helps ({evidence}: "
            f"{noise.within(best.value, max(near))})")


def _capacity(trials: list, noise: Noise) -> str:
    """Whether wider networks did better than the book's width (1.0) or narrower."""
    if not _both_sides_of_the_book(trials):
        return "capacity cannot be told: the trials did not try both sides of 1.0x"
    wide = [t for t in trials if t.params["width"] > 1.0]
    best_wide = max(wide, key=lambda t: t.value)
    narrow = max(t.value for t in trials if t.params["width"] <= 1.0)
    gain = best_wide.value - narrow
    counts = f"{_trials(len(wide))} wider, {len(trials) - len(wide)} at 1.0x or narrower"
    if not noise.differ(best_wide.value, narrow):
        return (f"cannot tell yet whether capacity limits (wider {_points(gain)} at best, "
                f"{noise.within(best_wide.value, narrow)}; {counts})")
    if gain > 0:
        return (f"{best_wide.params['width']:g}x gains {100 * gain:.1f} points over the best "
                f"at 1.0x or narrower: capacity was limiting ({counts})")
    return (f"wider gains nothing ({_points(gain)} at best): capacity is not what limits "
            f"at this budget ({counts})")


def importances(study, trials: list) -> dict:
    if len(trials) < MIN_TRIALS:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, target=None)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def summary(study, parameters: list[Parameter], total: int, epochs: int, noise: Noise) -> str:
    """The study in plain words: progress, cost, the best trial against the recipe's
    settings at the same budget, the noise of the validation set, and the four answers."""
    done, full = finished(study), complete(study)
    lines = [f"study {study.study_name}: {len(done)} of {total} trials finished "
             f"({len(full)} complete, {len(done) - len(full)} pruned)"]
    trained = sum(len(t.intermediate_values) for t in done)
    if done:
        lines.append(f"cost: {trained} epochs trained where {len(done)} full runs take "
                     f"{len(done) * epochs} ({100 * (1 - trained / (len(done) * epochs)):.0f}% "
                     "saved by pruning)")
        starts = [t.datetime_start for t in done if t.datetime_start]
        ends = [t.datetime_complete for t in done if t.datetime_complete]
        if starts and ends:
            lines.append(f"wall time: {(max(ends) - min(starts)).total_seconds() / 60:.0f} min "
                         "from the first trial's start to the last one's end")
    if full:
        best = max(full, key=lambda t: t.value)
        settings = ", ".join(f"{p.name} {_fmt(p, best.params[p.name])}" for p in parameters)
        lines.append(f"best: trial {best.number}, validation accuracy {_pct(best.value)} "
                     f"({settings})")
        base = baseline(study)
        if base is not None:
            moved = [p.name for p in parameters if p.clamp(p.default) != p.default]
            note = f", with {', '.join(moved)} moved into the searched range" if moved else ""
            same = "" if noise.differ(best.value, base.value) else \
                f", {noise.within(best.value, base.value)}"
            lines.append(f"the recipe's settings (trial {base.number}{note}): "
                         f"{_pct(base.value)}; the best trial gains "
                         f"{_points(best.value - base.value)} at the same budget "
                         f"({epochs} epoch(s) a trial){same}")
    compared, epoch = comparable(study, epochs)
    weights = importances(study, full) if epoch == epochs else {}
    lines.append("")
    p = max((t.value for t in compared), default=0.5)
    lines.append(f"noise: {noise.images:,} validation images tell apart accuracies near "
                 f"{_pct(p)} only {100 * noise.margin(p, p):.1f} points or more apart (twice the "
                 f"standard error of a difference); chance is {_pct(1 / noise.classes)}")
    if epoch < epochs:
        lines.append(f"(only {len(full)} trials are complete: the answers compare the "
                     f"{len(compared)} trials that reached epoch {epoch} of {epochs} by their "
                     f"validation accuracy then, a lower budget than the full runs)")
    for parameter in parameters:
        line = answer(parameter, compared, weights.get(parameter.name), noise)
        if parameter.name == "width" and not _both_sides_of_the_book(compared):
            # No complete trial was wider than the book (or none narrower): compare them
            # where both sides were still running.
            wide, at = comparable(study, epochs, _both_sides_of_the_book)
            if _both_sides_of_the_book(wide):
                line = (f"{answer(parameter, wide, None, noise)} (compared after epoch {at} of "
                        f"{epochs}, the last that trials on both sides of 1.0x reached)")
        lines.append(line)
    return "\n".join(lines) + "\n"


def write(study, folder: str, parameters: list[Parameter], total: int, epochs: int,
          noise: Noise) -> str:
    """Writes trials.csv, the plots and answers.txt in `folder`; returns the answers."""
    _write_csv(study, os.path.join(folder, "trials.csv"), parameters)
    _plots(study, folder, complete(study))
    text = summary(study, parameters, total, epochs, noise)
    atomic.write_text(os.path.join(folder, "answers.txt"),
                      f"{text}\nwritten {datetime.now():%Y-%m-%d %H:%M}\n")
    return text


def _write_csv(study, path: str, parameters: list[Parameter]) -> None:
    """One row a trial: its number, folder, state, value, settings, epochs trained, each
    epoch's validation accuracy, whether it is the recipe's settings, and its times."""
    names = [p.name for p in parameters]
    rows = [["number", "folder", "state", "value", *names, "epochs_trained",
             "val_accuracy_by_epoch", "baseline", "started", "ended", "seconds"]]
    for t in study.get_trials(deepcopy=False):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else ""
        steps = sorted(t.intermediate_values)
        rows.append([t.number, f"trial_{t.number:03d}", t.state.name,
                     "" if t.value is None else round(t.value, 6),
                     *(t.params.get(n, "") for n in names), len(steps),
                     " ".join(f"{t.intermediate_values[s]:.4f}" for s in steps),
                     bool(t.user_attrs.get("baseline")),
                     t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else "",
                     t.datetime_complete.isoformat(timespec="seconds")
                     if t.datetime_complete else "", seconds and round(seconds, 1)])
    with atomic.atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def _plots(study, folder: str, full: list) -> None:
    """Optuna's matplotlib views, in the house style: the optimisation history, parameter
    importances and parallel coordinates (each once it can be drawn)."""
    from optuna.visualization import matplotlib as views

    plt = figures.use_style()
    wanted = [("history.png", views.plot_optimization_history, 1),
              ("importances.png", views.plot_param_importances, MIN_TRIALS),
              ("parallel.png", views.plot_parallel_coordinate, 2)]
    for name, view, needed in wanted:
        if len(full) < needed:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's matplotlib views are "experimental"
            try:
                axes = view(study)
            except (RuntimeError, ValueError, ZeroDivisionError):
                continue
        figure = np.ravel(axes)[0].figure
        figure.set_size_inches(10, 5)
        figures.save(figure, os.path.join(folder, name))
    plt.close("all")
