"""Run diagnosis: what a training history's curves show, with the evidence and the usual remedy.

(Its command is `python -m pyimagesearch.diagnose HISTORY`.) It answers the
practitioner's usual questions from the per-epoch curves: is the learning
rate too high (the loss diverges, oscillates or never falls)?
does the model overfit (validation loss rising, or stalled while the
training loss keeps falling)? does it underfit (it cannot fit even its
training data, validation as good as training)? has training stalled on a
plateau (an LR drop is due)? Or is the run healthy? Each finding names the
epochs and the numbers behind it. Values that are not finite numbers (NaN,
inf, missing), and values no such curve can hold (an accuracy above 100%, a
loss spike a thousand times the epochs around it), are a finding of their
own: a training loss that stays NaN is a divergence, any other bad epoch
is named, and the checks read each curve's other epochs. A run is read by
its shape, not its length: in a run of more than LONG_RUN epochs a sign
must last the same share of the run as in one of LONG_RUN. The report goes
to `<stem>_diagnosis.txt` and the curves, with the findings marked, to
`<stem>_diagnosis.png`, beside the history; the training scripts write the
same report for their runs every epoch and mark their own plot.
"""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

# The keys of training histories written by Keras, the classic monitor, CSVLogger and
# other trainers, mapped to the names used here.
ALIASES = {
    "loss": ("loss", "train_loss"),
    "val_loss": ("val_loss", "eval_loss", "valid_loss", "validation_loss"),
    "accuracy": ("accuracy", "acc", "train_acc", "train_accuracy", "categorical_accuracy",
                 "sparse_categorical_accuracy"),
    "val_accuracy": ("val_accuracy", "val_acc", "valid_acc", "val_categorical_accuracy",
                     "val_sparse_categorical_accuracy", "eval_top1"),
    "learning_rate": ("learning_rate", "lr"),
}

PATIENCE = 3          # epochs a sign must last (the validation loss rising, a stall)
# A run longer than this many epochs is read at its own scale: the epochs a sign must last
# and the rates per epoch below are those of a LONG_RUN-epoch run stretched to its length,
# so the same curve read over 70 or 200 epochs gets the same verdict.
LONG_RUN = 30
MIN_EPOCHS = 3        # fewer epochs than this tell nothing yet
RISE = 0.02           # a validation loss this much (relative) above its best has risen
IMPROVED = 0.01       # a relative fall of at least this much counts as an improvement
FLAT_PER_EPOCH = 0.005  # a training loss falling slower than this an epoch is flat
STALL_PER_EPOCH = 0.002  # a validation loss falling slower than this an epoch has stalled
FAST_PER_EPOCH = 0.01   # a training loss falling faster than this an epoch still learns
UNDERFIT_ACCURACY = 0.8  # a training accuracy below this has not fit the training data
UNDERFIT_FLAT = 0.005  # ... and its loss falls slower than this an epoch
OVERFIT_GAP = 0.15    # a training accuracy this far above the validation accuracy overfits
HELD_BACK = 0.05      # ... this far below it (and under UNDERFIT_ACCURACY) underfits
# A classifier that guesses among K >= 2 classes has accuracy 1/K and loss ln K >= ln 2:
# accuracy times exp(loss) near 1. Within these bounds for PATIENCE epochs, the loss at
# least ln 2 and flat, it is stuck at chance.
AT_CHANCE = (0.75, 1.25)
OSCILLATION = 0.06    # epoch-to-epoch swings of this size (relative) are oscillation
FINITE_SHARE = 0.5    # a curve with finite values in fewer of its epochs than this is not read
# A loss this many times the median of the epochs around it (two on each side) is not a
# measurement the checks can use (an overflow written as a number, a corrupt log line); an
# epoch of a real run, even the first one before batch-norm settles, stays far below it.
SPIKE = 1000.0
# A classifier's mean cross-entropy cannot exceed -ln of the smallest float32 (about 87) by
# much, plus a regularisation term that stays small while the weights are sane: a loss
# above this, in a history with an accuracy curve, means the weights exploded (an absurd
# learning rate), whatever the epochs around it, the first epoch included.
EXPLODED = 1000.0
# The curves that every epoch of a run records; the learning rate is an auxiliary curve.
MAIN_CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")

# The curves' names in the reports.
LABELS = {"loss": "training loss", "val_loss": "validation loss", "accuracy": "training accuracy",
          "val_accuracy": "validation accuracy", "learning_rate": "learning rate"}


@dataclass
class Finding:
    """One thing the curves show.

    Attributes:
        kind: `"lr_too_high"`, `"val_at_chance"`, `"overfitting"`, `"underfitting"`, `"plateau"`,
            `"healthy"`, `"non_finite"` (values that are NaN, inf or missing, or that no
            such curve can hold), `"too_early"` or `"unreadable"` (curves the checks cannot
            read, such as a negative loss).
        summary: the finding in one line.
        evidence: the epochs and numbers behind it.
        remedy: the usual remedy.
        span: the epochs it covers, `(first, last)`, counted from 1 (for the plot).
        mark: an epoch to mark on the plot (counted from 1), or None.
        title: the finding's name in the report, when not its kind's usual one.
    """

    kind: str
    summary: str
    evidence: str
    remedy: str
    span: tuple[int, int] | None = None
    mark: int | None = None
    title: str | None = None

    @property
    def name(self) -> str:
        """The finding's name in the report ("LR too high", "non-finite values")."""
        return self.title or _TITLES[self.kind]


@dataclass
class Diagnosis:
    """The findings for one history, the most pressing first.

    `read` is False when the curves could not be read (too few finite
    epochs, before a divergence or at all): the report then lists nothing
    as not seen. `notes` say how the history was read where it was not
    whole (a cut last row, curves of different lengths).
    """

    epochs: int
    findings: list[Finding] = field(default_factory=list)
    read: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The kind of the first (most pressing) finding."""
        return self.findings[0].kind

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]

    def text(self, source: str = "") -> str:
        """The report: a verdict line, then each finding with its evidence and remedy."""
        lines = [f"Diagnosis of {source or 'the run'} after {plural(self.epochs, 'epoch')}: "
                 f"{', '.join(f.name for f in self.findings)}", ""]
        if self.notes:
            lines += [f"Read: {note}" for note in self.notes] + [""]
        for finding in self.findings:
            lines += [f"{finding.name}: {finding.summary}",
                      f"  evidence: {finding.evidence}",
                      f"  remedy: {finding.remedy}", ""]
        unseen = [_TITLES[k] for k in ORDER
                  if k not in self.kinds and k not in ("val_at_chance", "non_finite",
                                                       "too_early", "unreadable")]
        if self.read and "too_early" not in self.kinds and unseen:
            lines.append(f"Not seen: {', '.join(unseen)}.")
        return "\n".join(lines).rstrip() + "\n"


# Most pressing first: a diverging run must be fixed before anything else can be read. Bad
# values in a run that did not diverge come after what the curves show (the verdict).
ORDER = ("lr_too_high", "val_at_chance", "overfitting", "underfitting", "plateau", "healthy",
         "non_finite", "too_early", "unreadable")
_TITLES = {"lr_too_high": "LR too high", "val_at_chance": "validation at chance",
           "overfitting": "overfitting",
           "underfitting": "underfitting", "plateau": "plateau", "healthy": "healthy",
           "non_finite": "non-finite values", "too_early": "too early to tell",
           "unreadable": "cannot be read"}


def plural(count: int, noun: str) -> str:
    """`1 epoch`, `2 epochs`."""
    return f"{count} {noun}{'s' * (count != 1)}"


def normalise(history: dict) -> dict[str, np.ndarray]:
    """The history's loss, accuracy and LR curves under one set of names, as float arrays of
    one length.

    Missing values (`None`, "NA") become NaN; accuracies given in percent
    become fractions; values no such curve can hold become NaN (`_read`).
    Keys not needed here are dropped.

    Raises:
        ValueError: no training loss.
    """
    return _read(history).curves


@dataclass
class _Reading:
    """A history as the checks read it.

    Attributes:
        curves: each curve as floats, NaN where a value is not a number or was set aside.
        missing: for each curve, the epochs whose value is not a number at all (`None`,
            "NA", ""), to tell them from NaN in the report.
        odd: for each curve with values set aside, `(what, why, {epoch index: value})`:
            values that are numbers but no such curve can hold.
        notes: how the history was read where it was not whole.
    """

    curves: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    odd: dict[str, tuple[str, str, dict[int, float]]]
    notes: list[str]


def _read(history: dict) -> _Reading:
    """Reads the curves `ALIASES` names, over the epochs they all have.

    The main curves (`MAIN_CURVES`) are recorded together from the first
    epoch, so where their lengths differ the epochs they share are read and
    the lengths named. An auxiliary curve (the learning rate) that fits none
    of them cannot be placed on the epochs: it is left out, and named.
    """
    keys = {name: next((k for k in keys if k in history), None) for name, keys in ALIASES.items()}
    keys = {name: key for name, key in keys.items() if key is not None}
    if "loss" not in keys:
        raise ValueError(f"no training loss in the history (keys: {', '.join(history)})")
    lengths = {name: len(history[key]) for name, key in keys.items()}
    main = {name: lengths[name] for name in MAIN_CURVES if name in lengths}
    epochs, most = min(main.values()), max(main.values())
    notes = []
    if epochs < most:
        given = ", ".join(f"{LABELS[name]} {length}" for name, length in main.items())
        notes.append(f"the curves have different lengths ({given} values): the first "
                     f"{plural(epochs, 'epoch')}, which every curve has, are read")
    if "learning_rate" in lengths and not epochs <= lengths["learning_rate"] <= most:
        notes.append(f"the learning rate has {lengths['learning_rate']} values for "
                     f"{plural(most, 'epoch')}: which epochs they belong to is not known, so "
                     "the curves are read without it")
        del keys["learning_rate"]
    curves, missing, odd = {}, {}, {}
    for name, key in keys.items():
        given = history[key][:epochs]
        values = np.array([_number(v) for v in given], dtype=np.float64)
        missing[name] = np.array([_number(v, None) is None for v in given], dtype=bool)
        if name.endswith("accuracy"):
            values, odd[name] = _accuracy(values)
        elif name != "learning_rate":
            classifier = "accuracy" in keys or "val_accuracy" in keys
            values, odd[name] = _spikes(values, EXPLODED if classifier else math.inf)
        curves[name] = values
    return _Reading(curves, missing, {k: v for k, v in odd.items() if v[2]}, notes)


def _accuracy(values: np.ndarray) -> tuple[np.ndarray, tuple[str, str, dict[int, float]]]:
    """An accuracy curve as fractions, and the values no accuracy can be (set to NaN).

    The curve is in percent when most of its finite values are above 1
    (no fraction is): a single value above 1 among fractions is an
    impossible value, not a sign of percent.
    """
    finite = values[np.isfinite(values)]
    percent = bool(finite.size) and float(np.mean(finite > 1.0)) > 0.5
    if percent:
        values = values / 100.0
    wrong = np.flatnonzero(np.isfinite(values) & ((values < 0) | (values > 1)))
    given = {int(i): float(values[i] * 100 if percent else values[i]) for i in wrong}
    values = values.copy()
    values[wrong] = np.nan
    why = ("an accuracy in percent is between 0 and 100" if percent
           else "an accuracy is between 0 and 1")
    return values, ("impossible", why, given)


def _spikes(values: np.ndarray, ceiling: float = math.inf
            ) -> tuple[np.ndarray, tuple[str, str, dict[int, float]]]:
    """A loss curve, and its values SPIKE times the median of the finite epochs around them
    (two on each side) or more, or above `ceiling` (EXPLODED for a classifier's loss), set
    to NaN: not measurements of a model with sane weights."""
    finite = np.where(np.isfinite(values), values, np.nan)
    if not len(finite):
        return values, ("a spike", "", {})
    around = np.lib.stride_tricks.sliding_window_view(
        np.pad(finite, 2, constant_values=np.nan), 5)[:, [0, 1, 3, 4]]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch with no finite neighbour
        typical = np.nanmedian(around, axis=1)
        relative = (typical > 0) & (finite / typical > SPIKE)
        above = finite > ceiling
    spikes = np.flatnonzero(relative | above)
    given = {int(i): float(values[i]) for i in spikes}
    values = values.copy()
    values[spikes] = np.nan
    reasons = [f"over {SPIKE:g} times the epochs around it"] if relative.any() else []
    if above.any():
        reasons.append(f"above {ceiling:g}, more than a classifier's cross-entropy can be "
                       "while its weights are sane")
    return values, ("a spike", " or ".join(reasons) or f"over {SPIKE:g} times the epochs "
                    "around it", given)


def _number(value, missing=math.nan) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return missing


def _finite(curves: dict[str, np.ndarray], needed: int):
    """The curves as the checks read them: the epochs before a divergence, each value finite.

    A training loss that is not finite at its last epoch diverged where
    that last stretch of non-finite values begins: every curve is cut
    there (from then on the weights are not numbers and the other metrics
    mean nothing). In what remains, a curve's non-finite epochs are bridged
    from its finite neighbours (linearly between two, the nearest at the
    ends), so no single bad epoch disables a check or poisons a mean, a
    slope or a minimum, and the epoch numbers stay as they are. A curve
    finite in fewer than `needed` epochs or than FINITE_SHARE of them is
    dropped, as if not recorded (the training loss is then unreadable).

    Returns:
        `(curves, bad, diverged)`: the finite curves (`loss` is None when
        unreadable); for each curve with non-finite values before the
        divergence, the indices of those epochs; the index of the epoch where
        the training loss diverged, or None.
    """
    loss = curves["loss"]
    good = np.flatnonzero(np.isfinite(loss))
    diverged = None
    if len(loss) and not np.isfinite(loss[-1]):
        diverged = int(good[-1]) + 1 if len(good) else 0
    end = len(loss) if diverged is None else diverged
    finite, bad = {}, {}
    for name, values in curves.items():
        values = values[:end]
        ok = np.isfinite(values)
        if ok.all():
            finite[name] = values
            continue
        bad[name] = np.flatnonzero(~ok)
        if ok.sum() < max(needed, FINITE_SHARE * len(values)):
            finite[name] = None
            continue
        epochs = np.arange(len(values))
        finite[name] = np.interp(epochs, epochs[ok], values[ok])
    finite = {k: v for k, v in finite.items() if v is not None or k == "loss"}
    return finite, bad, diverged


def _median3(x: np.ndarray) -> np.ndarray:
    """A running median of 3 (ends kept): one-epoch spikes gone, steps kept."""
    if len(x) < 3:
        return x.copy()
    padded = np.concatenate([x[:1], x, x[-1:]])
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 3), axis=1)


def _noise(x: np.ndarray) -> float:
    """The typical epoch-to-epoch swing of `x` around its local trend (robust)."""
    return float(1.4826 * np.median(np.abs(x - _median3(x)))) if len(x) >= 3 else 0.0


def _epochs(first: int, last: int) -> str:
    return f"epoch {first}" if first == last else f"epochs {first}-{last}"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _epoch_list(indices, most: int = 8) -> str:
    """`epoch 3`, `epochs 3, 7-9`: indices counted from 0, runs as ranges (`most` of them)."""
    runs = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    words = [f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs]
    if len(words) > most:
        words = words[:most] + [f"... ({len(indices)} epochs in all)"]
    return f"epoch{'s' * (len(indices) != 1)} {', '.join(words)}"


@dataclass(frozen=True)
class _Run:
    """What the checks know of a run besides its curves.

    Attributes:
        patience: epochs a sign must last in this run (`diagnose`'s patience, stretched
            with a run longer than LONG_RUN epochs).
        scale: the run's epochs per epoch of a LONG_RUN-epoch run (1 up to LONG_RUN).
        finished: whether the run's schedule has ended (None: not known).
    """

    patience: int
    scale: float = 1.0
    finished: bool | None = None

    @classmethod
    def of(cls, epochs: int, patience: int, finished: bool | None) -> "_Run":
        scale = max(1.0, epochs / LONG_RUN)
        return cls(max(patience, round(patience * scale)), scale, finished)

    def per_epoch(self, rate: float) -> float:
        """A rate per epoch of the constants above, per epoch of this run."""
        return rate / self.scale


def diagnose(history: dict, patience: int = PATIENCE, finished: bool | None = None,
             notes: list[str] | None = None) -> Diagnosis:
    """Reads a training history's curves.

    Args:
        history: per-epoch lists (`loss`, and ideally `val_loss`, `accuracy`,
            `val_accuracy`, `learning_rate`; the classic monitor's `acc`,
            `val_acc`, `lr` and other trainers' names are understood).
        patience: epochs a sign must last to count (the validation loss
            rising, a stall), in a run of up to LONG_RUN epochs; a longer
            run needs the same share of its epochs.
        finished: whether the run's schedule has ended (its last epoch
            trained), if known: the remedies then fit a finished run.
        notes: what reading the file had to say (a cut last row), put before
            the diagnosis's own notes.

    Returns:
        A `Diagnosis`; its findings are in the order of `ORDER`, and it holds
        `healthy` when nothing else is seen. The checks read the finite part
        of each curve (`_finite`); non-finite values are a finding of their
        own (a divergence, or `non_finite`). Beside a learning rate too high,
        only what it does not explain is read (overfitting, validation at
        chance), and only in the clean epochs before a divergence; a loss
        that rises, swings or never falls shows nothing else.
    """
    reading = _read(history)
    raw, missing = reading.curves, reading.missing
    notes = [*(notes or []), *reading.notes]
    n = len(raw["loss"])
    needed = max(MIN_EPOCHS, patience)
    negative = _negative(raw)
    if negative:
        return Diagnosis(n, [negative], read=False, notes=notes)
    curves, bad, diverged = _finite(raw, needed)
    findings = []
    read = curves["loss"] is not None and len(curves["loss"]) >= needed
    if diverged is not None:
        findings.append(_diverged(raw, missing, reading.odd, diverged, read))
    if read:
        run = _Run.of(len(curves["loss"]), patience, finished)
        rate = _lr_too_high(curves, run)
        if rate and diverged is not None:
            findings[0].evidence += f"; before it, from epoch {rate.span[0]}: {rate.summary}"
        elif rate:
            findings.append(rate)
        # Beside a rate too high, underfitting and a plateau are its doing (their remedies
        # contradict or repeat its own), and a loss that rises or swings says nothing else:
        # only the clean epochs before a divergence are read, for what the rate does not
        # explain.
        checks = (() if rate else (_val_at_chance, _overfitting) if diverged is not None
                  else (_val_at_chance, _overfitting, _underfitting, _plateau))
        for check in checks:
            found = check(curves, run)
            if found:
                findings.append(found)
        if not findings:
            findings.append(_healthy(curves, run))
    elif n < needed and diverged is None:
        findings.append(Finding(
            "too_early", f"{plural(n, 'epoch')} so far",
            f"the curves need at least {needed} epochs to be read",
            "the schedule has ended: to have the curves read, train longer (--resume with a "
            f"larger --epochs, {needed} or more)" if finished else
            "train on; the report is rewritten every epoch"))
    if bad:
        rate_too_high = any(f.kind == "lr_too_high" for f in findings)
        findings.append(_non_finite(raw, missing, reading.odd, bad, curves,
                                    n if diverged is None else diverged, needed, rate_too_high))
    findings.sort(key=lambda f: ORDER.index(f.kind))
    return Diagnosis(n, findings, read, notes)


def _negative(curves):
    """The losses are negative somewhere: every check reads a loss as a share of its earlier
    values (it fell 20%), which needs a loss above zero."""
    names = [name for name in ("loss", "val_loss")
             if name in curves and np.any(curves[name] < 0)]
    if not names:
        return None
    lowest = "; ".join(f"{LABELS[name]} {_fmt(float(np.nanmin(curves[name])))} at epoch "
                       f"{int(np.nanargmin(curves[name])) + 1}" for name in names)
    which = " and the ".join(LABELS[name] for name in names)
    one = len(names) == 1
    return Finding("unreadable", f"the {which} {'is' if one else 'are'} negative: the checks "
                   f"cannot read {'it' if one else 'them'}",
                   f"{lowest}; the checks read how a loss falls as a share of its value, which "
                   "needs a loss above zero (cross-entropy, squared error)",
                   "read the curves on the plot; to have a run diagnosed, record a loss that is "
                   "positive and falls toward zero (e.g. the cross-entropy, as a metric)")


def _diverged(curves, missing, odd, start, read):
    """The training loss is not finite from index `start` to the end: the run diverged."""
    loss = curves["loss"]
    n = len(loss)
    spikes = odd.get("loss", ("", "", {}))[2]
    if start in spikes:
        what, word = f"a spike ({_fmt(spikes[start])}, {odd['loss'][1]})", "it exploded"
    else:
        what = ("infinite" if np.isinf(loss[start]) else "missing" if missing["loss"][start]
                else "NaN")
        word = "it is " + ("infinite" if what == "infinite" else "not a number")
    before = (f"training loss {_fmt(loss[start - 1])} at epoch {start}, then " if start
              else "training loss ")
    rest = (f"the other checks read epochs 1-{start}" if read else
            "too few finite epochs before it to read anything else")
    restart = (f"restart from the last good checkpoint (from before epoch {start + 1}) with a "
               "10x lower rate (--resume --lr X)" if start else
               "start again with a 10x lower rate (--force --lr X)")
    return Finding("lr_too_high", f"the training loss diverged: {word} from epoch {start + 1}",
                   f"{before}{what} in {_epochs(start + 1, n)}; {rest}",
                   f"{restart}; --find-lr shows where the loss blows up; with mixed precision, "
                   "also check that the loss is scaled and computed in float32",
                   span=(start + 1, n), mark=start + 1)


def _non_finite(curves, missing, odd, bad, finite, end, needed, rate_too_high=False):
    """NaN, inf, missing or impossible values in the first `end` epochs: which curves, which
    epochs, and why.

    `finite` is `_finite`'s curves (a curve it dropped is named as not
    read, once there are `needed` epochs to read). With `rate_too_high`
    (the training loss diverged or never fell), a validation loss that is
    not finite is the rate's doing, not the validation data's.
    """
    names = [name for name in ALIASES if name in bad]
    listed = [f"the {LABELS[name]} ({_epoch_list(bad[name])})" for name in names]
    summary = " and ".join([", ".join(listed[:-1]), listed[-1]] if len(listed) > 1 else listed)
    evidence, seen = [], {}
    for name in names:
        values, epochs = curves[name], bad[name]
        what, why, given = odd.get(name, ("", "", {}))
        set_aside = np.isin(epochs, list(given))
        parts = []
        for kind, mask in (("NaN", np.isnan(values[epochs]) & ~missing[name][epochs]
                            & ~set_aside),
                           ("infinite", np.isinf(values[epochs])),
                           ("missing", missing[name][epochs]),
                           (what, set_aside)):
            if mask.any():
                where = (f"all {end} epochs" if mask.sum() == end > 1
                         else _epoch_list(epochs[mask]))
                if kind == what:
                    where += f" ({', '.join(_fmt(given[i]) for i in epochs[mask][:3])}: {why})"
                parts.append(f"{kind} in {where}")
                seen.setdefault(name, set()).add(kind)
        note = ""
        if finite.get(name) is None and end >= needed:
            note = (" (not read)" if len(epochs) == end else
                    f" (finite in only {end - len(epochs)} of {end} epochs: not read)")
        evidence.append(f"{LABELS[name]} {', '.join(parts)}{note}")
    if any(finite.get(name) is not None for name in names) and end >= needed:
        evidence.append("the checks read the finite epochs (each gap bridged from its "
                        "neighbours)")
    trained = "" if "loss" in bad else " (the training loss was finite)"
    validation = seen.get("val_loss", set()) | seen.get("val_accuracy", set())
    remedies = []
    if seen.get("loss", set()) - {"a spike"}:
        remedies.append("the training loss was not finite but recovered: a batch overflowed "
                        "(float16 without loss scaling) or held bad values; if it recurs, lower "
                        "the rate or clip the gradients, and check the training data")
    if validation & {"NaN", "infinite"} and rate_too_high:
        remedies.append("the validation values are not finite because the weights a rate too "
                        "high made are not: fix the rate first (see above), not the data")
    elif validation & {"NaN", "infinite"}:
        remedies.append(f"a bad validation epoch, not a bad model{trained}: check the "
                        "validation data for NaN or infinite values (a corrupt or blank image) "
                        "and, with mixed precision, for a float16 overflow (compute the loss in "
                        "float32)")
    if "missing" in validation:
        remedies.append("a missing validation value is an epoch not validated "
                        "(validation_freq, or the metric added later): nothing to fix if meant")
    if any("a spike" in kinds for kinds in seen.values()):
        remedies.append(f"a loss over {SPIKE:g} times the epochs around it is not a measurement "
                        "(an overflow written as a number, a corrupt log line): check how the "
                        "log was written; the checks read past it")
    if any("impossible" in kinds for kinds in seen.values()):
        remedies.append("an accuracy outside 0-1 (or 0-100%) is not a measurement: check how "
                        "the metric is computed and written")
    if any(seen.get(name, set()) - {"impossible"} for name in ("accuracy", "learning_rate")):
        remedies.append(f"a metric not recorded as a number{trained}: check how it is computed "
                        "or logged")
    odd_kinds = {"impossible", "a spike"}
    only_non_finite = not any(kinds & odd_kinds for kinds in seen.values())
    only_odd = all(kinds <= odd_kinds for kinds in seen.values())
    verb = "is" if len(names) == 1 else "are"
    return Finding("non_finite",
                   f"{summary} {verb} not finite" if only_non_finite else
                   f"{summary} cannot be {'a measurement' if len(names) == 1 else 'measurements'}"
                   if only_odd else f"{summary} {verb} not finite or cannot be measurements",
                   "; ".join(evidence), "; ".join(remedies),
                   title=None if only_non_finite else "bad values")


def _lr_too_high(curves, run):
    patience = run.patience
    loss = curves["loss"]
    n = len(loss)
    smooth = _median3(loss)
    low = int(np.argmin(smooth))
    if n - 1 - low >= patience - 1 and smooth[-1] > smooth[low] * 1.1 + _noise(loss):
        return Finding("lr_too_high", f"the training loss is rising: diverging since epoch "
                       f"{low + 1}",
                       f"training loss {_fmt(smooth[low])} at epoch {low + 1}, "
                       f"{_fmt(smooth[-1])} at epoch {n} (+{smooth[-1] / smooth[low] - 1:.0%}); "
                       "the training loss only rises when the steps are too large",
                       "lower the rate 3-10x from the last good checkpoint (--resume --lr X); "
                       "--find-lr suggests one", span=(low + 1, n), mark=low + 1)
    if loss[-1] > 0.97 * loss[0]:
        accuracy = curves.get("accuracy")
        seen = f"; training accuracy {accuracy[-1]:.1%}" if accuracy is not None else ""
        return Finding("lr_too_high", "the training loss never fell: the network learns "
                       "nothing",
                       f"training loss {_fmt(loss[0])} at epoch 1, {_fmt(loss[-1])} at epoch "
                       f"{n}{seen}",
                       "usually a rate far too high (saturated or dead units), rarely far too "
                       "low: run --find-lr and start again with its rate; if that fails, check "
                       "the labels", span=(1, n))
    stuck = _at_chance(curves, run)
    if stuck:
        return stuck
    window = max(2 * patience, n // 3)
    recent = loss[-window:]
    # Rises that matter: 2% of the loss, and 0.5% of the first epoch's (near zero, noise
    # is large relative to the loss itself).
    rises = np.flatnonzero(np.diff(recent) > np.maximum(2 * IMPROVED * recent[:-1],
                                                        IMPROVED / 2 * loss[0]))
    if len(rises) >= max(2, len(recent) // 3):
        first = n - window + 1
        return Finding("lr_too_high", "the training loss oscillates",
                       f"in {_epochs(first, n)} the training loss rose {len(rises)} times "
                       f"(range {_fmt(recent.min())}-{_fmt(recent.max())}); with a small enough "
                       "rate it falls epoch after epoch",
                       "lower the rate 3-10x (--resume --lr X), or let it decay (--power 1)",
                       span=(first, n))
    val = curves.get("val_loss")
    if val is not None:
        recent = val[-window:]
        swing = _noise(recent) / float(np.median(recent))
        trend = (recent[0] - recent[-1]) / max(float(np.median(recent)), 1e-12)
        # Near a loss of zero, small swings are large relative to the loss: they must also
        # be large against the first epoch's training loss.
        if (swing > OSCILLATION and abs(trend) < 3 * swing
                and _noise(recent) > 2 * IMPROVED * loss[0]):
            first = n - window + 1
            return Finding("lr_too_high", "the validation loss swings from epoch to epoch",
                           f"in {_epochs(first, n)} the validation loss moved between "
                           f"{_fmt(recent.min())} and {_fmt(recent.max())}, typically "
                           f"{swing:.0%} an epoch, with no clear trend",
                           "lower the rate (--resume --lr X at a third to a tenth), or let it "
                           "decay; the validation loss settles as the rate falls",
                           span=(first, n))
    return None


def _guessing(accuracy, loss) -> bool:
    """Whether every epoch's accuracy and loss are those of a uniform guess (AT_CHANCE)."""
    guess = accuracy * np.exp(np.minimum(loss, 50.0))
    low, high = AT_CHANCE
    return bool(np.all(np.isfinite(guess)) and np.all((guess > low) & (guess < high))
                and np.all(loss > 0.95 * np.log(2)))


def _val_at_chance(curves, run):
    patience = run.patience
    """The training data are learnt but the validation data are scored as a guess: not
    overfitting (which still generalises some) but a model that validates broken."""
    loss, accuracy = curves["loss"], curves.get("accuracy")
    val, val_accuracy = curves.get("val_loss"), curves.get("val_accuracy")
    if accuracy is None or val is None or val_accuracy is None:
        return None
    n = len(loss)
    last = slice(n - patience, n)
    if not _guessing(val_accuracy[last], val[last]) or _guessing(accuracy[last], loss[last]):
        return None
    if np.mean(accuracy[last]) < np.mean(val_accuracy[last]) + OVERFIT_GAP:
        return None  # training barely above chance either
    return Finding("val_at_chance", "the network learns its training data but scores the "
                   "validation data as a guess",
                   f"training accuracy {np.mean(accuracy[last]):.1%}, validation "
                   f"{np.mean(val_accuracy[last]):.1%} with a validation loss of "
                   f"{_fmt(float(np.mean(val[last])))} over the last {patience} epochs, what "
                   f"guessing among about {np.exp(np.mean(val[last])):.0f} classes gives",
                   "not a question of regularisation: batch-norm moving statistics that have "
                   "not settled (too few steps, a rate or weight decay too high: train longer "
                   "or lower them), or validation images prepared unlike the training ones",
                   span=(n - patience + 1, n))


def _at_chance(curves, run):
    patience = run.patience
    """A network stuck at chance after its loss fell from a first blow-up: accuracy and loss
    of a uniform guess (accuracy x exp(loss) near 1), the loss flat."""
    loss, accuracy = curves["loss"], curves.get("accuracy")
    n = len(loss)
    if accuracy is None or n < 2 * patience:
        return None
    last = slice(n - patience, n)
    if not _guessing(accuracy[last], loss[last]):
        return None
    if _trend(loss, patience) < -run.per_epoch(FLAT_PER_EPOCH) * (patience - 1):
        return None  # still falling: learning, however slowly
    classes = float(np.exp(np.mean(loss[last])))
    return Finding("lr_too_high", "the network is stuck at chance: it learns nothing",
                   f"training accuracy {np.mean(accuracy[last]):.1%} and loss "
                   f"{_fmt(float(np.mean(loss[last])))} over the last {patience} epochs, what "
                   f"guessing among about {classes:.0f} classes gives (loss {_fmt(loss[0])} at "
                   "epoch 1)",
                   "usually a rate far too high (the first steps wrecked the weights): run "
                   "--find-lr and start again with its rate (--force); if that fails, check "
                   "the labels", span=(n - patience + 1, n))


def _best_val(curves):
    val = curves.get("val_loss")
    if val is None:
        return None
    return val, _median3(val), int(np.argmin(val))


def _trend(x: np.ndarray, window: int) -> float:
    """The relative change of `x` over its last `window` epochs (Theil-Sen: robust to spikes).

    The median of the slopes between every two epochs, times the window's
    length, over the window's median: -0.05 means it fell about 5% over it.
    """
    y = x[-window:]
    i, j = np.triu_indices(len(y), k=1)
    slope = float(np.median((y[j] - y[i]) / (j - i)))
    return slope * (len(y) - 1) / max(float(np.median(y)), 1e-12)


def _stall(x: np.ndarray, run: _Run) -> int:
    """For how many of the last epochs `x` has not really fallen: at least 2 x patience, or 0.

    The longest recent stretch of `w` epochs over which the robust trend of
    `x` falls by less than RISE or STALL_PER_EPOCH an epoch (whichever
    allows more), and which does not begin clearly above where it ends (a
    sudden drop is a fall too; clearly: by more than that allowance plus
    twice the curve's epoch-to-epoch noise). 0 if `x` still falls over its
    last 2 x patience epochs.
    """
    patience = run.patience
    end = float(np.mean(x[-patience:]))
    longest = 0
    for w in range(2 * patience, len(x) + 1):
        allowed = max(RISE, run.per_epoch(STALL_PER_EPOCH) * (w - 1))
        begins = float(np.mean(x[-w:][:patience])) / max(end, 1e-12) - 1
        if (_trend(x, w) > -allowed
                and begins < allowed + 2 * _noise(x[-w:]) / max(end, 1e-12)):
            longest = w
    return longest


def _overfitting(curves, run):
    patience = run.patience
    found = _best_val(curves)
    if found is None:
        return None
    val, smooth, best = found
    loss = curves["loss"]
    n = len(loss)
    recent = float(np.mean(val[-patience:]))
    remedy = ("more regularisation (augmentation, dropout, weight decay) or more data; the "
              f"model of epoch {best + 1} generalised best: keep its checkpoint if one was saved, "
              "and stop there (early stopping) rather than train on")

    def trend(since: int) -> str:
        then = slice(since, since + patience)
        gap_then = float(np.mean(val[then]) - np.mean(loss[then]))
        gap_now = recent - float(np.mean(loss[-patience:]))
        return (f"training loss {_fmt(loss[since])} -> {_fmt(loss[-1])} since epoch {since + 1} "
                f"(-{1 - loss[-1] / loss[since]:.0%}); the train/validation loss gap "
                f"{_fmt(gap_then)} -> {_fmt(gap_now)}")

    # Rising: the validation loss is clearly above its best, and the training loss fell since.
    rise = recent / smooth[best] - 1
    if (n - 1 - best >= patience and rise > RISE and recent - smooth[best] > 2 * _noise(val)
            and loss[-1] < 0.95 * loss[best]):
        return Finding("overfitting", f"the validation loss has risen for {n - 1 - best} epochs "
                       "while the training loss falls",
                       f"validation loss lowest {_fmt(val[best])} at epoch {best + 1}, "
                       f"{_fmt(recent)} over the last {patience} epochs (+{rise:.0%}); "
                       f"{trend(best)}", remedy, span=(best + 1, n), mark=best + 1)
    # Stalled: the validation loss no longer falls, but the training loss still falls fast.
    window = _stall(val, run)
    if window >= 3 * patience:
        start = n - window
        gap_then = float(np.mean(val[start:start + patience])
                         - np.mean(loss[start:start + patience]))
        gap_now = recent - float(np.mean(loss[-patience:]))
        if (_trend(loss, window) < -run.per_epoch(FAST_PER_EPOCH) * (window - 1)
                and gap_now > 1.1 * gap_then):
            return Finding("overfitting", "the validation loss has stopped falling while the "
                           "training loss keeps falling (overfitting begins)",
                           f"in {_epochs(start + 1, n)} the validation loss changed "
                           f"{_trend(val, window):+.0%} ({_fmt(val[start])} -> "
                           f"{_fmt(val[-1])}, lowest {_fmt(val[best])} at epoch {best + 1}); "
                           f"{trend(start)}", remedy, span=(start + 1, n), mark=best + 1)
    return _accuracy_gap(curves, patience, remedy)


def _accuracy_gap(curves, patience, remedy):
    """Overfitting read from the accuracies: far better on the training data than on the
    validation data, whatever the absolute accuracy and whether or not the validation
    loss still falls."""
    accuracy, val_accuracy = curves.get("accuracy"), curves.get("val_accuracy")
    if accuracy is None or val_accuracy is None:
        return None
    n = len(accuracy)
    gaps = accuracy - val_accuracy
    recent = gaps[-patience:][np.isfinite(gaps[-patience:])]
    if not len(recent) or np.mean(recent) < OVERFIT_GAP:
        return None
    gap = float(np.mean(recent))
    below = np.flatnonzero(_median3(gaps) < OVERFIT_GAP)
    # Where the gap last opened past the line (its last epoch if it is closing again).
    first = min(int(below[-1]) + 1, n - 1) if len(below) else 0
    return Finding("overfitting", f"the training accuracy is {_points(gap)} above the "
                   "validation accuracy: the model learns its training images more than the task",
                   f"training accuracy {np.nanmean(accuracy[-patience:]):.1%}, validation "
                   f"{np.nanmean(val_accuracy[-patience:]):.1%} over the last {patience} epochs; "
                   f"the gap {_points(gaps[first])} at epoch {first + 1}, {_points(gaps[-1])} at "
                   f"epoch {n} ({_points(OVERFIT_GAP)} or more is overfitting)",
                   remedy, span=(first + 1, n))


def _points(fraction: float) -> str:
    """A difference of two accuracies, in percentage points."""
    return f"{fraction * 100:.0f} points" if np.isfinite(fraction) else "not known"


def _underfitting(curves, run):
    patience = run.patience
    loss = curves["loss"]
    n = len(loss)
    last = slice(n - patience, n)
    accuracy, val_accuracy = curves.get("accuracy"), curves.get("val_accuracy")
    val = curves.get("val_loss")
    train_fit = None
    if accuracy is not None:
        train_fit = float(np.mean(accuracy[last]))
        if train_fit >= UNDERFIT_ACCURACY:
            return None
        fit = f"training accuracy {train_fit:.1%} over the last {patience} epochs"
    elif loss[-1] > 0.5 * loss[0]:
        fit = (f"training loss {_fmt(loss[-1])}, still {loss[-1] / loss[0]:.0%} of its first "
               f"value {_fmt(loss[0])}")
    else:
        return None
    held_back = False
    if val_accuracy is not None and train_fit is not None:
        val_fit = float(np.mean(val_accuracy[last]))
        if val_fit < train_fit - 0.03:
            return None
        gap = f"validation accuracy {val_fit:.1%}, as high or higher"
        # Training measurably harder than validation: the regularisers hold it back, whether
        # or not its loss still falls.
        held_back = val_fit > train_fit + HELD_BACK
    elif val is not None:
        if np.mean(val[last]) > 1.1 * np.mean(loss[last]):
            return None
        gap = f"validation loss {_fmt(float(np.mean(val[last])))}, no higher than training"
    else:
        return None
    # Still learning fast is not underfitting yet (early epochs fit poorly too).
    window = min(n, max(patience + 2, round(5 * run.scale)))
    rate = -_trend(loss, window) / (window - 1)  # a share of the loss an epoch (robust)
    if rate > run.per_epoch(UNDERFIT_FLAT) and not held_back:
        return None
    lower = ""
    if val is not None:
        below = int(np.sum(val < loss))
        if below > n / 2:
            lower = (f"; the validation loss is below the training loss in {below} of {n} "
                     "epochs (training is the harder task: strong regularisation)")
    return Finding("underfitting", "the model does not fit even its training data, and "
                   + ("training is harder than validation" if held_back
                      else "it has nearly stopped learning"),
                   f"{fit}; {gap}{lower}; the training loss falls {max(rate, 0):.1%} an epoch",
                   "more capacity (a wider or deeper network), less regularisation (dropout, "
                   "weight decay, augmentation), or a higher rate if it is low",
                   span=(n - window + 1, n))


def _plateau(curves, run):
    patience = run.patience
    loss = curves["loss"]
    n = len(loss)
    val = curves.get("val_loss")
    watched = val if val is not None else loss
    window = _stall(watched, run)
    if not window:
        return None
    start = n - window
    train = _trend(loss, window)
    if watched is val:
        # The validation loss no longer falls; the training loss creeps down at most.
        if train < -run.per_epoch(FAST_PER_EPOCH) * (window - 1):
            return None
        evidence = (f"in {_epochs(start + 1, n)} the validation loss changed "
                    f"{_trend(val, window):+.1%} (between {_fmt(val[start:].min())} and "
                    f"{_fmt(val[start:].max())}) and the training loss {train:+.1%}")
    else:
        if train < -run.per_epoch(FLAT_PER_EPOCH) * (window - 1):
            return None
        evidence = (f"in {_epochs(start + 1, n)} the training loss changed {train:+.1%} "
                    f"(between {_fmt(loss[start:].min())} and {_fmt(loss[start:].max())})")
    lrs = curves.get("learning_rate")
    if lrs is not None:
        if _decayed(lrs):
            return None  # converged at the end of the schedule: healthy
        if not lrs[-1] < 0.9 * lrs[start]:
            return Finding("plateau", "a plateau at a constant rate: an LR drop is due",
                           f"{evidence}; learning rate {_fmt(lrs[-1])} throughout",
                           f"lower the rate 10x from here ({_resume(run, f'{lrs[-1] / 10:.2g}')})",
                           span=(start + 1, n))
        return Finding("plateau", "a plateau, though the rate has been lowered",
                       f"{evidence}; learning rate {_fmt(lrs[start])} -> {_fmt(lrs[-1])}",
                       "another 10x drop may help; if not, stop: more epochs will not help",
                       span=(start + 1, n))
    return Finding("plateau", "a plateau: an LR drop is due, unless the rate is already low",
                   evidence, f"lower the rate 10x ({_resume(run, 'X')}); if it is already low, "
                   "stop: more epochs will not help", span=(start + 1, n))


def _resume(run: _Run, lr: str) -> str:
    """The flags that continue a run at rate `lr`, for a run whose schedule may have ended."""
    if run.finished is None:
        return f"--resume --lr {lr}, with a larger --epochs if the schedule has ended"
    return f"--resume --lr {lr}" + (" and a larger --epochs: the schedule has ended"
                                    if run.finished else "")


def _decayed(lrs: np.ndarray) -> bool:
    """Whether the rate has decayed to a twentieth of its largest or less."""
    return bool(lrs.max() > 0 and lrs[-1] <= 0.05 * lrs.max())


def _healthy(curves, run):
    """Nothing else seen. The remedy fits where the run stands: schedule ended, epochs left,
    or not known (the command-line diagnosis of a history file)."""
    patience = run.patience
    loss = curves["loss"]
    parts = [f"training loss {_fmt(loss[0])} -> {_fmt(loss[-1])}"]
    found = _best_val(curves)
    if found is not None:
        val, smooth, best = found
        lowest = int(np.argmin(smooth))
        # A lone low epoch (both neighbours higher) is noise the checks smooth away.
        dip = (f" (one epoch below both its neighbours; over three epochs lowest at epoch "
               f"{lowest + 1})" if lowest != best and smooth[best] > val[best] else "")
        parts.append(f"validation loss {_fmt(val[0])} -> {_fmt(val[-1])}, lowest at epoch "
                     f"{best + 1}{dip}")
        parts.append(f"gap {_fmt(val[-1] - loss[-1])}")
    accuracy = curves.get("val_accuracy")
    if accuracy is not None:
        parts.append(f"validation accuracy {accuracy[-1]:.2%}")
    watched = "validation loss" if found is not None else "training loss"
    unseen = ("" if found is not None else "; record a validation loss (validation data) to "
              "see whether the model generalises or overfits")
    better = "for a better result change the model, the regularisation or the data"
    lrs = curves.get("learning_rate")
    if lrs is not None and _decayed(lrs):
        parts.append(f"learning rate decayed to {_fmt(lrs[-1])} "
                     f"({lrs[-1] / lrs.max():.1%} of its largest)")
        losses = "the losses" if found is not None else "the training loss"
        return Finding("healthy", f"converged: {losses} fell and flattened as the rate decayed",
                       "; ".join(parts), f"nothing to fix: training is done; {better}{unseen}")
    still = 1 - loss[-1] / loss[-patience]
    if still > run.per_epoch(IMPROVED) * patience:
        parts.append(f"the training loss still falls ({still:.0%} over the last {patience} "
                     "epochs)")
    summary = ("both losses fell together and the validation loss is at or near its best"
               if found is not None else "the training loss fell; with no validation loss "
               "recorded, how well the model generalises is not known")
    train_on = f"more epochs help while the {watched} still falls"
    remedy = {False: f"nothing to fix; train to the end of the schedule ({train_on})",
              True: f"nothing to fix: the schedule has ended and its last model is the one to "
                    f"keep; {better}",
              None: f"nothing to fix; if the schedule has epochs left, train on ({train_on}); "
                    f"if it has ended, keep its last model; {better}"}
    return Finding("healthy", summary, "; ".join(parts), remedy[run.finished] + unseen)
