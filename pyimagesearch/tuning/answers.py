"""What a study found: `trials.csv`, Optuna's plots, and a plain-words answer to each of
the four questions (learning rate, regularisation, dropout, capacity) with its evidence."""

import csv
import os
import warnings
from datetime import datetime
from types import SimpleNamespace

import numpy as np
import optuna
from optuna.trial import TrialState

from pyimagesearch import atomic
from pyimagesearch.evaluation import figures
from pyimagesearch.tuning.space import QUESTIONS, Parameter

MIN_TRIALS = 4     # complete trials before a question is answered
FALLS_OFF = 0.02   # a third of the range whose best is this far below the best "falls off"
GAINS = 0.005      # a wider network must gain this much to say capacity was limiting


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(delta: float) -> str:
    return f"{100 * delta:+.1f} points"


def _fmt(parameter: Parameter, value: float) -> str:
    return f"{value:.3g}x" if parameter.name == "width" else f"{value:.3g}"


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


def answer(parameter: Parameter, trials: list, importance: float | None) -> str:
    """One question's answer from `trials` (each with a `value` at the same budget: see
    `comparable`): the best value, where accuracy falls off, and the verdict against the
    recipe's value."""
    question = QUESTIONS[parameter.name]
    if len(trials) < MIN_TRIALS:
        return (f"{question}: cannot tell yet ({len(trials)} complete trials; "
                f"{MIN_TRIALS} needed)")
    best = max(trials, key=lambda t: t.value)
    value = best.params[parameter.name]
    range_ = f"{_fmt(parameter, parameter.low)}..{_fmt(parameter, parameter.high)}"
    words = [f"{question}: best {_fmt(parameter, value)} of {range_} "
             f"(the recipe: {_fmt(parameter, parameter.default)})"]
    thirds = {}
    for t in trials:
        third = parameter.third(t.params[parameter.name])
        thirds[third] = max(thirds.get(third, 0.0), t.value)
    low_edge, high_edge = parameter.edges()
    best_third = parameter.third(value)
    for third, edge, side in ((0, low_edge, "below"), (2, high_edge, "above")):
        if third != best_third and third in thirds and thirds[third] < best.value - FALLS_OFF:
            words.append(f"validation accuracy falls off {side} {_fmt(parameter, edge)} "
                         f"(best there {_pct(thirds[third])} vs {_pct(best.value)})")
    if parameter.name == "width":
        words.append(_capacity(trials))
    elif parameter.default and value > parameter.default * 1.5:
        words.append(f"higher than the recipe's {_fmt(parameter, parameter.default)} helps")
    elif parameter.default and value < parameter.default / 1.5:
        words.append(f"lower than the recipe's {_fmt(parameter, parameter.default)} helps")
    else:
        words.append("the recipe's value is about right")
    if importance is not None:
        words.append(f"importance {importance:.2f}")
    return "; ".join(words)


def _capacity(trials: list) -> str:
    """Whether wider networks did better than the book's width (1.0) or narrower."""
    if not _both_sides_of_the_book(trials):
        return "capacity cannot be told: the trials did not try both sides of 1.0x"
    best_wide = max((t for t in trials if t.params["width"] > 1.0), key=lambda t: t.value)
    gain = best_wide.value - max(t.value for t in trials if t.params["width"] <= 1.0)
    if gain >= GAINS:
        return (f"{best_wide.params['width']:g}x gains {100 * gain:.1f} points over the best "
                "at 1.0x or narrower: capacity was limiting")
    return (f"wider gains nothing ({_points(gain)} at best): capacity is not what limits "
            "at this budget")


def importances(study, trials: list) -> dict:
    if len(trials) < MIN_TRIALS:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, target=None)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def summary(study, parameters: list[Parameter], total: int, epochs: int) -> str:
    """The study in plain words: progress, cost, the best trial against the recipe's
    settings at the same budget, and the four answers."""
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
            lines.append(f"the recipe's settings (trial {base.number}{note}): "
                         f"{_pct(base.value)}; the best trial gains "
                         f"{_points(best.value - base.value)} at the same budget "
                         f"({epochs} epoch(s) a trial)")
    compared, epoch = comparable(study, epochs)
    weights = importances(study, full) if epoch == epochs else {}
    lines.append("")
    if epoch < epochs:
        lines.append(f"(only {len(full)} trials are complete: the answers compare the "
                     f"{len(compared)} trials that reached epoch {epoch} of {epochs} by their "
                     f"validation accuracy then, a lower budget than the full runs)")
    for parameter in parameters:
        line = answer(parameter, compared, weights.get(parameter.name))
        if parameter.name == "width" and not _both_sides_of_the_book(compared):
            # No complete trial was wider than the book (or none narrower): compare them
            # where both sides were still running.
            wide, at = comparable(study, epochs, _both_sides_of_the_book)
            if _both_sides_of_the_book(wide):
                line = (f"{answer(parameter, wide, None)} (compared after epoch {at} of "
                        f"{epochs}, the last that trials on both sides of 1.0x reached)")
        lines.append(line)
    return "\n".join(lines) + "\n"


def write(study, folder: str, parameters: list[Parameter], total: int, epochs: int) -> str:
    """Writes trials.csv, the plots and answers.txt in `folder`; returns the answers."""
    _write_csv(study, os.path.join(folder, "trials.csv"), parameters)
    _plots(study, folder, complete(study))
    text = summary(study, parameters, total, epochs)
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
