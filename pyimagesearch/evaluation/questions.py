"""The practitioner's four questions, answered from a run: is the learning rate right? is the
regularisation too strong? is dropout too strong? does the network have enough capacity?

Each answer is "yes", "no" or "cannot tell yet", with its evidence and, when
something should change, the remedy. The answers read the diagnosis of the
curves (`pyimagesearch.evaluation.diagnosis`), the run's settings (which
regularisers it used) and, when the run has one, its learning-rate range test.
"""

from dataclasses import dataclass

import numpy as np

from pyimagesearch.evaluation.diagnosis import PATIENCE, UNDERFIT_ACCURACY, Diagnosis, normalise

YES, NO, TOO_EARLY = "yes", "no", "cannot tell yet"

QUESTIONS = {"lr": "Is the learning rate right?",
             "regularisation": "Is the regularisation too strong?",
             "dropout": "Is dropout too strong?",
             "capacity": "Does the network have enough capacity?"}
# The answer that means all is well, per question.
FINE = {"lr": YES, "regularisation": NO, "dropout": NO, "capacity": YES}

# Training accuracy (measured with dropout and augmentation on) this far below the
# validation accuracy: training is the harder task, held back by regularisation.
TRAIN_BELOW_VAL = 0.03
# A peak rate this many times the range test's lowest-loss rate is past where the loss
# blows up; one below this share of its suggestion is far too cautious.
ABOVE_RANGE, BELOW_RANGE = 1.0, 0.1
# A training loss that fell less than this share over at least SLOW_EPOCHS epochs, with a
# low training accuracy and nothing holding training back, learns too slowly.
SLOW_FALL, SLOW_EPOCHS = 0.2, 5


@dataclass
class Answer:
    """One question's answer: `answer` is YES, NO or TOO_EARLY; `summary` says it in a
    sentence, `evidence` gives the numbers, `remedy` what to change (empty if nothing).
    `problem` marks an answer that is not the one to worry about but still calls for a
    change ("regularisation too strong? no: too weak")."""

    key: str
    answer: str
    summary: str
    evidence: str
    remedy: str = ""
    problem: bool = False

    @property
    def question(self) -> str:
        return QUESTIONS[self.key]

    @property
    def fine(self) -> bool | None:
        """True if all is well on this question, False if something should change, None
        if it cannot tell yet."""
        if self.problem:
            return False
        return None if self.answer == TOO_EARLY else self.answer == FINE[self.key]


def regularisers(settings: dict | None) -> list[str]:
    """The run's regularisers named from its settings (`_args.json`'s `args`), strongest kinds
    first: weight decay or L2, label smoothing, augmentation."""
    settings = settings or {}
    found = []
    if settings.get("weight_decay"):
        found.append(f"weight decay {settings['weight_decay']:g}")
    if settings.get("reg"):
        found.append(f"L2 {settings['reg']:g}")
    if settings.get("label_smoothing"):
        found.append(f"label smoothing {settings['label_smoothing']:g}")
    warps = [name for name in ("rotation", "zoom", "shift", "shear", "pad_crop", "cutout")
             if settings.get(name)]
    if warps:
        found.append("augmentation (" + ", ".join(w.replace("_", "-") for w in warps) + ")")
    return found


def answer(history: dict, diagnosis: Diagnosis, settings: dict | None = None,
           lr_find: dict | None = None) -> list[Answer]:
    """The four answers for `history`, in the order of QUESTIONS.

    Args:
        history: the per-epoch curves (as `diagnosis.diagnose` reads them).
        diagnosis: `diagnose(history)`.
        settings: the run's settings, to name its regularisers.
        lr_find: the run's `_lr_find.json`, if it has one.
    """
    curves = normalise(history)
    findings = {f.kind: f for f in diagnosis.findings}
    if "too_early" in findings:
        early = findings["too_early"]
        return [Answer(key, TOO_EARLY, "not enough epochs to read the curves yet", early.evidence,
                       early.remedy) for key in QUESTIONS]
    if not diagnosis.read:  # diverged from the start, or curves the checks cannot read
        first = diagnosis.findings[0]
        return [Answer(key, TOO_EARLY, f"cannot tell: {first.summary}", first.evidence,
                       first.remedy) for key in QUESTIONS]
    fit = _fit(curves)
    if "lr_too_high" in findings:  # a run that diverges or learns nothing shows nothing else
        found = findings["lr_too_high"]
        return [_lr(curves, findings, settings, lr_find, fit)] + [
            Answer(key, TOO_EARLY, "cannot tell yet: the learning rate must be fixed first",
                   f"{found.summary}: {found.evidence}", "rerun with a working rate, then "
                   "look again") for key in ("regularisation", "dropout", "capacity")]
    if "val_at_chance" in findings:  # the validation curves say nothing yet
        found = findings["val_at_chance"]
        return [Answer(key, TOO_EARLY, "cannot tell yet: the validation scores are a guess",
                       f"{found.summary}: {found.evidence}", found.remedy) for key in QUESTIONS]
    return [_lr(curves, findings, settings, lr_find, fit),
            _regularisation(findings, fit, settings),
            _dropout(findings, fit),
            _capacity(findings, fit, settings)]


def _fit(curves) -> dict:
    """The last PATIENCE epochs' mean training and validation accuracy (finite ones), and
    whether the training loss still falls fast."""
    out = {}
    for key in ("accuracy", "val_accuracy"):
        values = curves.get(key)
        if values is not None:
            recent = values[-PATIENCE:]
            recent = recent[np.isfinite(recent)]
            out[key] = float(np.mean(recent)) if len(recent) else None
    loss = curves["loss"][np.isfinite(curves["loss"])]
    out["learning"] = bool(len(loss) > PATIENCE and loss[-1] < 0.9 * loss[-PATIENCE - 1])
    return out


def _accuracies(fit: dict) -> str:
    if fit.get("accuracy") is None or fit.get("val_accuracy") is None:
        return "no accuracies recorded"
    return (f"training accuracy {fit['accuracy']:.1%} (dropout and augmentation on), "
            f"validation {fit['val_accuracy']:.1%}, over the last {PATIENCE} epochs")


def _held_back(fit: dict) -> bool:
    """Training is measurably harder than validation: the regularisers hold it back."""
    return (fit.get("accuracy") is not None and fit.get("val_accuracy") is not None
            and fit["val_accuracy"] - fit["accuracy"] > TRAIN_BELOW_VAL)


def _lr(curves, findings, settings, lr_find, fit) -> Answer:
    if "lr_too_high" in findings:
        found = findings["lr_too_high"]
        return Answer("lr", NO, f"too high: {found.summary}", found.evidence, found.remedy)
    plateau = findings.get("plateau")
    if plateau is not None and "constant rate" in plateau.summary:
        return Answer("lr", NO, "not lowered in time: the run sits on a plateau at a constant "
                      "rate", plateau.evidence, plateau.remedy)
    lrs = curves.get("learning_rate")
    peak = (float(np.nanmax(lrs)) if lrs is not None and np.isfinite(lrs).any()
            else (settings or {}).get("lr"))
    loss = curves["loss"][np.isfinite(curves["loss"])]
    fell = (f"the training loss fell from {loss[0]:.4g} to {loss[-1]:.4g} "
            f"({loss[-1] / loss[0] - 1:+.0%}) without diverging or oscillating")
    if lr_find and peak:
        blowup, suggested = lr_find.get("min_loss_lr"), lr_find.get("suggested_lr")
        test = (f"the range test's loss was lowest at lr {blowup:.2g} and it suggested "
                f"{suggested:.2g}; this run's peak rate is {peak:.2g}")
        if blowup and peak > ABOVE_RANGE * blowup:
            return Answer("lr", NO, "too high for the range test: the peak rate is past where "
                          "its loss stopped falling", f"{test}; {fell}",
                          f"start again with --lr {suggested:.2g} (--force), or lower it from "
                          "a checkpoint (--resume --lr X)")
        if suggested and peak < BELOW_RANGE * suggested:
            return Answer("lr", NO, "probably too low: far below the range test's suggestion",
                          f"{test}; {fell}", f"try --lr {suggested:.2g}")
        return Answer("lr", YES, "yes: within the range test's bounds, and the loss falls "
                      "steadily", f"{test}; {fell}")
    fall = 1 - loss[-1] / loss[0]
    if (len(loss) >= SLOW_EPOCHS and fall < SLOW_FALL and "overfitting" not in findings
            and fit.get("accuracy") is not None and fit["accuracy"] < UNDERFIT_ACCURACY
            and not _held_back(fit)):
        return Answer("lr", NO, "probably too low: the loss falls slowly, and neither "
                      "regularisation nor overfitting explains it",
                      f"the training loss fell {fall:.0%} in {len(loss)} epochs ({loss[0]:.4g} "
                      f"-> {loss[-1]:.4g}); {_accuracies(fit)}"
                      + (f"; peak rate {peak:.2g}" if peak else ""),
                      "run --find-lr, or try a 10x higher --lr (--force)")
    return Answer("lr", YES, "yes, as far as the curves show: the loss falls steadily",
                  f"{fell}" + (f"; peak rate {peak:.2g}" if peak else "")
                  + " (--find-lr would check it against a range test)")


def _regularisation(findings, fit, settings) -> Answer:
    used = regularisers(settings)
    named = ", ".join(used) if used else "none named in the settings"
    if "overfitting" in findings:
        found = findings["overfitting"]
        return Answer("regularisation", NO, "no, too weak: the model overfits",
                      found.evidence, found.remedy, problem=True)
    if "underfitting" in findings:
        found = findings["underfitting"]
        if used or _held_back(fit):
            return Answer("regularisation", YES, "probably: the network does not fit its "
                          f"training data under its regularisers ({named})",
                          f"{found.evidence}; {_accuracies(fit)}",
                          "lower them one at a time: weight decay or L2 by 3-10x, then the "
                          "augmentation's strength; if the training accuracy does not rise, "
                          "capacity is the limit")
        return Answer("regularisation", NO, "no: the network underfits with no regularisation "
                      "to blame", found.evidence, "see capacity")
    if _held_back(fit) and fit["accuracy"] < UNDERFIT_ACCURACY:
        return Answer("regularisation", YES, "probably: the network learns its training images "
                      "(as the regularisers change them) worse than it scores the validation "
                      f"images, far from fitting them ({named})", _accuracies(fit),
                      "lower them one at a time: weight decay or L2 by 3-10x, then the "
                      "augmentation's strength")
    return Answer("regularisation", NO, "no: it does not keep the network from fitting",
                  f"{_accuracies(fit)}; regularisers: {named}")


def _dropout(findings, fit) -> Answer:
    if "overfitting" in findings:
        return Answer("dropout", NO, "no: the model overfits, so dropout is not too strong "
                      "(if anything too weak)", findings["overfitting"].evidence,
                      "keep it, or raise it as one of the regularisers")
    if "underfitting" in findings and _held_back(fit):
        return Answer("dropout", YES, "probably: the training accuracy, measured with dropout "
                      "on, stays below the validation accuracy while the network underfits",
                      f"{findings['underfitting'].evidence}; {_accuracies(fit)}",
                      "lower the dropout rate (e.g. 0.5 to 0.3) before other regularisers: it "
                      "is the one that only acts in training")
    if fit.get("accuracy") is None:
        return Answer("dropout", TOO_EARLY, "cannot tell: no training accuracy recorded",
                      "dropout shows as a training accuracy below the validation accuracy")
    return Answer("dropout", NO, "no: it does not hold training back",
                  _accuracies(fit) + ("" if _held_back(fit) else
                                      "; training keeps up with validation"))


def _capacity(findings, fit, settings) -> Answer:
    train = fit.get("accuracy")
    if "overfitting" in findings or (train is not None and train >= UNDERFIT_ACCURACY):
        return Answer("capacity", YES, "yes: the network fits its training data",
                      _accuracies(fit) if train is not None else
                      findings["overfitting"].evidence)
    if "underfitting" in findings:
        found = findings["underfitting"]
        if regularisers(settings) or _held_back(fit):
            return Answer("capacity", TOO_EARLY, "cannot tell yet: regularisation holds "
                          "training back; lower it first, then look again",
                          f"{found.evidence}; {_accuracies(fit)}",
                          "rerun with less regularisation; if the training accuracy still "
                          "stays low, widen or deepen the network")
        return Answer("capacity", NO, "no: the network cannot fit its training data, with "
                      "nothing holding it back", found.evidence,
                      "a wider or deeper network")
    if fit["learning"]:
        return Answer("capacity", TOO_EARLY, "cannot tell yet: still learning fast",
                      f"{_accuracies(fit)}; the training loss fell more than 10% over the last "
                      f"{PATIENCE} epochs", "train on")
    return Answer("capacity", TOO_EARLY, "cannot tell yet: the network has not fit its "
                  "training data, and nothing says why yet (a learning rate too low?)",
                  _accuracies(fit), "train on, or fix the learning rate first")
