import json
import math
import os
import re
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
from synthetic_histories import KINDS, make, spoil

from pyimagesearch.diagnose import main
from pyimagesearch.evaluation.diagnosis import diagnose, normalise
from pyimagesearch.evaluation.history import load_history as load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HISTORIES = os.path.join(ROOT, "tests", "data", "histories")

# Real published logs (tests/data/histories/SOURCES.md: where each comes from, and a reading
# of its curves made by eye before the diagnosis was written) and what they show at the end.
PUBLISHED = {
    "minivggnet_cifar10_100ep_fadedillusions": "overfitting",   # val loss up from epoch 25
    "minivggnet_cifar10_29ep_sriharsha": "overfitting",         # val flat, train falling
    "tomato_leaf_cnn_aitzaz": "overfitting",
    "tweets_glove_lstm_isomorphic": "overfitting",
    "deepergooglenet_tinyimagenet_tdevh": "plateau",            # flat for 20 epochs
    "googlenet_tinyimagenet_ankit16": "plateau",
    "resnet_tinyimagenet_ankit16": "overfitting",  # train 79.6%, val 51.4%; flat at the end
    "fer2013_effnetb0_finetune_drunkmac": "underfitting",       # train acc 54%, val 78%
    "minigooglenet_cifar10_tdevh": "healthy",                   # the MiniGoogLeNet recipe
    # Its second run: lowest validation loss at epoch 28, one epoch below both neighbours;
    # over three epochs lowest at the end, the validation accuracy best at the end.
    "minigooglenet_cifar10_tdevh_14960": "healthy",
    "resnet_cifar10_100ep_hectoregm": "healthy",
    "mnist_cnn_deepender": "healthy",
    "animals100_transfer_anmol": "healthy",
}


def _published(name):
    return load(os.path.join(HISTORIES, f"{name}.json"))


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_called_right_on_synthetic_histories(kind):
    wrong = []
    for seed in range(30):
        for with_lr in (True, False):
            found = diagnose(make(kind, seed, with_lr))
            if found.verdict != kind:
                wrong.append((seed, with_lr, found.kinds))
    assert not wrong


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_logs_are_called_as_read_by_eye(name):
    assert diagnose(_published(name)).verdict == PUBLISHED[name]


def test_published_runs_part_way():
    """What the curves showed when the authors acted on them."""
    # Both Tiny ImageNet runs had their LR lowered by hand at a plateau (epochs 41 and 26).
    assert diagnose(_cut(_published("deepergooglenet_tinyimagenet_tdevh"), 39)).verdict == \
        "plateau"
    assert diagnose(_cut(_published("googlenet_tinyimagenet_ankit16"), 21)).verdict == "plateau"
    # Early epochs of a run that goes well.
    assert diagnose(_cut(_published("resnet_cifar10_100ep_hectoregm"), 10)).verdict == "healthy"
    # Overfitting is seen soon after its start, and points at the best epoch.
    found = diagnose(_cut(_published("minivggnet_cifar10_100ep_fadedillusions"), 40))
    assert found.verdict == "overfitting" and found.findings[0].mark == 25


def _cut(history, epochs):
    return {k: v[:epochs] for k, v in history.items()}


def test_findings_carry_epochs_numbers_and_a_remedy():
    found = diagnose(_published("minivggnet_cifar10_100ep_fadedillusions")).findings[0]
    assert found.span == (25, 100) and found.mark == 25
    assert "lowest 0.5719 at epoch 25" in found.evidence
    assert "0.07788" in found.evidence  # the last training loss
    assert "regularisation" in found.remedy and "epoch 25" in found.remedy
    text = diagnose(_published("minivggnet_cifar10_100ep_fadedillusions")).text("x.json")
    assert text.startswith("Diagnosis of x.json after 100 epochs: overfitting")
    assert "Not seen: LR too high, underfitting, plateau, healthy." in text


def test_the_learning_rate_decides_between_plateau_and_done():
    flat = make("plateau", 3, with_lr=False)
    n = len(flat["loss"])
    constant = diagnose({**flat, "lr": [0.01] * n}).findings[0]  # the classic key
    assert constant.kind == "plateau" and "--resume --lr 0.001" in constant.remedy
    decayed = diagnose({**flat, "learning_rate": list(0.01 * (1 - np.arange(n) / n))})
    assert decayed.verdict == "healthy" and "converged" in decayed.findings[0].summary


def test_divergence_names_the_epoch():
    history = make("healthy", 1)
    history["loss"][7:] = [None] * (len(history["loss"]) - 7)  # NaN written as null
    found = diagnose(history).findings[0]
    assert found.kind == "lr_too_high" and found.mark == 8 and "epoch 8" in found.summary


def test_names_percentages_and_gaps_are_understood():
    curves = normalise({"train_loss": [2.0, 1.0, None], "val_acc": [40, 50, 60],
                        "acc": [0.3, 0.4, 0.5], "lr": [0.1, 0.1, 0.01], "other": ["x"]})
    assert sorted(curves) == ["accuracy", "learning_rate", "loss", "val_accuracy"]
    assert curves["val_accuracy"].tolist() == pytest.approx([0.4, 0.5, 0.6])
    assert np.isnan(curves["loss"][2])
    with pytest.raises(ValueError, match="no training loss"):
        normalise({"val_loss": [1.0]})
    # Curves of different lengths: the epochs they all have (test_curves_of_other_lengths).
    assert normalise({"loss": [1.0, 0.9], "val_loss": [1.0]})["loss"].tolist() == [1.0]


def test_too_few_epochs():
    assert diagnose({"loss": [2.3, 1.9]}).verdict == "too_early"
    assert diagnose({"loss": [2.3, 1.9, 1.6, 1.4]}, patience=5).verdict == "too_early"


def test_cli_on_the_classic_monitor_json_and_on_a_csv_log(tmp_path, capsys):
    source = os.path.join(HISTORIES, "tweets_glove_lstm_isomorphic.json")
    assert main([source, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "after 10 epochs: overfitting" in out
    with open(tmp_path / "tweets_glove_lstm_isomorphic_diagnosis.txt") as f:
        assert f.read() in out
    image = matplotlib.image.imread(tmp_path / "tweets_glove_lstm_isomorphic_diagnosis.png")
    assert image.shape[0] > 300

    history = make("plateau", 5)  # as CSVLogger writes it: an epoch column, one row an epoch
    rows = ["epoch,learning_rate,loss,val_loss"] + [
        f"{e},{lr},{loss},{val}" for e, (lr, loss, val) in enumerate(
            zip(history["learning_rate"], history["loss"], history["val_loss"]))]
    (tmp_path / "run_log.csv").write_text("\r\n".join(rows) + "\r\n")
    assert main([str(tmp_path / "run_log.csv")]) == 0
    assert ": plateau" in capsys.readouterr().out
    assert os.path.exists(tmp_path / "run_log_diagnosis.txt")


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.json").write_text(json.dumps({"loss": 3}))
    (tmp_path / "nokeys.json").write_text(json.dumps({"val_loss": [1.0, 0.9, 0.8]}))
    for argv, words in (([str(tmp_path / "none.json")], "does not exist"),
                        ([str(tmp_path / "bad.json")], "not a training history"),
                        ([str(tmp_path / "nokeys.json")], "no training loss")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and words in err


def test_cli_from_the_shell_needs_no_keras():
    code = ("import sys, pyimagesearch.diagnose; "
            "sys.exit(int('keras' in sys.modules or 'tensorflow' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0
    result = subprocess.run([sys.executable, "-m", "pyimagesearch.diagnose", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--patience" in result.stdout


# How Python prints a NaN or an infinity (as a number, or a percentage): never in a report.
PRINTED_NON_FINITE = re.compile(r"\b-?(nan|inf)\b|(nan|inf)%")


def _clean_part(history):
    """The epochs before the training loss diverged (all of them if it did not)."""
    loss = np.array(history["loss"], dtype=float)
    bad = np.flatnonzero(~np.isfinite(loss))
    return int(bad[0]) if len(bad) else len(loss)


@pytest.mark.parametrize("key,value", [("val_loss", math.nan), ("val_loss", math.inf),
                                       ("val_accuracy", math.nan), ("accuracy", math.inf),
                                       ("loss", math.nan), ("learning_rate", math.nan),
                                       ("val_loss", None)])
@pytest.mark.parametrize("kind", KINDS)
def test_one_bad_epoch_changes_no_verdict_and_is_named(kind, key, value):
    """A NaN/inf/null at a random epoch of 30 seeds of each kind: the same verdict, and named."""
    wrong = []
    for seed in range(30):
        history = make(kind, seed, with_lr=True)
        rng = np.random.default_rng(1000 + seed)
        good = _clean_part(history)
        # A non-finite training loss at the last epoch is a divergence, not one bad epoch.
        epoch = int(rng.integers(0, good - 1 if key == "loss" else good))
        spoiled = spoil(history, key, [epoch], value)
        clean, found = diagnose(history), diagnose(spoiled)
        bad = [f for f in found.findings if f.kind == "non_finite"]
        text = found.text()
        # All findings the same, but beside a divergence (those are read from the few epochs
        # before it, where one epoch less can tip a borderline one).
        same = (found.verdict == clean.verdict if good < len(history["loss"]) else
                [k for k in found.kinds if k != "non_finite"] == clean.kinds)
        if (not same or len(bad) != 1 or f"epoch {epoch + 1}" not in bad[0].summary
                or PRINTED_NON_FINITE.search(text)):
            wrong.append((seed, epoch, clean.kinds, found.kinds, bad and bad[0].summary))
        # Overfitting still points at the best epoch: the lowest finite validation loss.
        elif kind == "overfitting":
            val = np.array([math.nan if v is None else v for v in spoiled["val_loss"]])
            best = int(np.nanargmin(np.where(np.isfinite(val), val, math.nan))) + 1
            if found.findings[0].mark != best:
                wrong.append((seed, epoch, "mark", best, found.findings[0].mark))
    assert not wrong


def test_an_overfitting_run_with_one_nan_validation_epoch_is_overfitting():
    """The issue's case: one NaN in the validation loss read as healthy."""
    history = make("overfitting", 0)
    clean = diagnose(history).findings[0]
    found = diagnose(spoil(history, "val_loss", [40]))
    assert found.kinds == ["overfitting", "non_finite"]
    assert found.findings[0].span == clean.span and found.findings[0].mark == clean.mark
    bad = found.findings[1]
    assert "validation loss" in bad.summary and "epoch 41" in bad.summary
    assert "NaN in epoch 41" in bad.evidence and "finite epochs" in bad.evidence
    assert "validation data" in bad.remedy and "float16" in bad.remedy
    text = found.text("run.json")
    assert text.startswith("Diagnosis of run.json after 80 epochs: overfitting, non-finite values")
    assert "Not seen: LR too high, underfitting, plateau, healthy." in text


def test_bad_values_in_several_curves_are_named_with_their_epochs():
    history = spoil(make("healthy", 2), "val_loss", [9, 20, 21, 22], math.inf)
    history = spoil(history, "val_accuracy", [9, 30], None)
    found = diagnose(history)
    assert found.verdict == "healthy"
    bad = found.findings[-1]
    assert bad.kind == "non_finite"
    assert "validation loss (epochs 10, 21-23)" in bad.summary
    assert "validation accuracy (epochs 10, 31)" in bad.summary
    assert "validation loss infinite in epochs 10, 21-23" in bad.evidence
    assert "validation accuracy missing in epochs 10, 31" in bad.evidence
    assert not PRINTED_NON_FINITE.search(found.text())


def test_a_diverged_run_is_not_also_underfitting_and_prints_no_nan():
    """The issue's case: 'falls nan% an epoch', and underfitting read from the NaN epochs.

    The epochs before the divergence are still read, for what the rate does not explain
    (overfitting, validation at chance): what they show of it (and only that) is reported
    beside the divergence; underfitting and a plateau are the rate's doing.
    """
    wrong = []
    for seed in range(1, 120, 4):  # the 30 seeds of the synthetic runs that turn NaN
        history = make("lr_too_high", seed)
        first = _clean_part(history) + 1
        before = diagnose(_cut(history, first - 1))
        expected = [f for f in before.findings if f.kind in ("val_at_chance", "overfitting")]
        for value in (math.nan, math.inf, None):
            spoiled = spoil(history, "loss", range(first - 1, len(history["loss"])), value)
            found = diagnose(spoiled)
            diverged = found.findings[0]
            text = found.text()
            if (diverged.kind != "lr_too_high" or diverged.mark != first
                    or f"epoch {first}" not in diverged.summary
                    or found.findings[1:] != expected or "non_finite" in found.kinds
                    or PRINTED_NON_FINITE.search(text) or "0.0%" in text):
                wrong.append((seed, value, found.kinds, text))
    assert not wrong


def test_a_run_that_is_not_a_number_from_the_start():
    history = {"loss": [math.nan] * 6, "val_loss": [math.nan] * 6, "accuracy": [0.1] * 6}
    found = diagnose(history)
    assert found.kinds == ["lr_too_high"] and found.findings[0].mark == 1
    assert "epoch 1" in found.findings[0].summary
    assert not PRINTED_NON_FINITE.search(found.text())
    assert "Not seen" not in found.text()  # nothing could be read before it


def test_non_finite_values_in_the_first_epochs():
    # A training loss of NaN at epoch 1 that recovers is a bad epoch, not a divergence.
    history = make("healthy", 5)
    found = diagnose(spoil(history, "loss", [0]))
    assert found.kinds == ["healthy", "non_finite"]
    assert "training loss (epoch 1)" in found.findings[1].summary
    # Every curve missing at epoch 1 (metrics first logged at epoch 2).
    history = make("overfitting", 5)
    spoiled = history
    for key in history:
        spoiled = spoil(spoiled, key, [0], None)
    found = diagnose(spoiled)
    assert found.kinds == [*diagnose(history).kinds, "non_finite"]
    assert found.findings[0].mark == diagnose(history).findings[0].mark
    # Too early to tell, but a bad value is named, and a divergence is a verdict at once.
    found = diagnose({"loss": [2.3, 1.9], "val_loss": [math.nan, 2.0]})
    assert found.kinds == ["non_finite", "too_early"] and "Not seen" not in found.text()
    found = diagnose({"loss": [2.3, math.nan]})
    assert found.verdict == "lr_too_high" and "epoch 2" in found.findings[0].summary
    assert not PRINTED_NON_FINITE.search(found.text())


@pytest.mark.parametrize("kind", ["healthy", "overfitting", "plateau", "underfitting"])
def test_a_curve_without_a_finite_value_is_read_as_absent(kind):
    for seed in range(5):
        history = make(kind, seed)
        n = len(history["loss"])
        for key, value in (("val_loss", math.nan), ("val_accuracy", math.inf),
                           ("learning_rate", None), ("accuracy", math.nan)):
            without = {k: v for k, v in history.items() if k != key}
            found = diagnose({**history, key: [value] * n})
            assert found.kinds == [*diagnose(without).kinds, "non_finite"], (seed, key)
            assert f"in all {n} epochs" in found.findings[-1].evidence


def test_an_infinite_accuracy_does_not_read_as_percent():
    curves = normalise({"loss": [2.0, 1.5, 1.2], "accuracy": [0.5, math.inf, 0.7],
                        "val_accuracy": [45.0, math.inf, 62.0]})
    assert curves["accuracy"][[0, 2]].tolist() == pytest.approx([0.5, 0.7])
    assert curves["val_accuracy"][[0, 2]].tolist() == pytest.approx([0.45, 0.62])
    # A run that fits its training data is not called underfitting because of it.
    history = make("healthy", 7)
    found = diagnose(spoil(history, "accuracy", [30], math.inf))
    assert found.kinds == [*diagnose(history).kinds, "non_finite"]


def test_a_bad_learning_rate_epoch_still_decides_between_plateau_and_done():
    flat = make("plateau", 3, with_lr=False)
    n = len(flat["loss"])
    constant = diagnose(spoil({**flat, "lr": [0.01] * n}, "lr", [n - 1]))
    assert constant.verdict == "plateau"
    assert "--resume --lr 0.001" in constant.findings[0].remedy
    decayed = {**flat, "learning_rate": list(0.01 * (1 - np.arange(n) / n))}
    found = diagnose(spoil(decayed, "learning_rate", [n // 2], math.inf))
    assert found.verdict == "healthy" and "converged" in found.findings[0].summary
    assert "learning rate" in found.findings[-1].summary


def test_cli_on_histories_with_non_finite_values(tmp_path, capsys):
    # JSON as json.dump writes NaN and Infinity.
    (tmp_path / "bad_val.json").write_text(json.dumps(spoil(make("overfitting", 0), "val_loss",
                                                             [40])))
    assert main([str(tmp_path / "bad_val.json")]) == 0
    out = capsys.readouterr().out
    assert "after 80 epochs: overfitting, non-finite values" in out
    assert "non-finite values: the validation loss (epoch 41) is not finite" in out
    assert not PRINTED_NON_FINITE.search(out.replace(str(tmp_path), ""))
    # A diverged run, as CSVLogger writes it ("nan", "inf", "NA").
    history = make("lr_too_high", 1)
    first = _clean_part(history) + 1
    rows = ["epoch,loss,val_loss,accuracy"] + [
        f"{e},{'nan' if e >= first else loss},{'inf' if e >= first else val},"
        f"{'NA' if e >= first else acc}" for e, (loss, val, acc) in enumerate(
            zip(history["loss"], history["val_loss"], history["accuracy"]))]
    (tmp_path / "diverged_log.csv").write_text("\n".join(rows) + "\n")
    assert main([str(tmp_path / "diverged_log.csv")]) == 0
    out = capsys.readouterr().out
    assert ": LR too high" in out and f"not a number from epoch {first}" in out
    assert "underfitting:" not in out and not PRINTED_NON_FINITE.search(
        out.replace(str(tmp_path), ""))
    assert os.path.exists(tmp_path / "diverged_log_diagnosis.png")


# --- a run read whole: other lengths, impossible values, a cut log, a long run ------------

def _stretch(history, epochs):
    """The same curves over `epochs` epochs (linear interpolation): a run of the same shape,
    longer."""
    n = len(next(iter(history.values())))
    at = np.linspace(0, n - 1, epochs)
    return {k: np.interp(at, np.arange(n), np.asarray(v, dtype=float)).tolist()
            for k, v in history.items()}


def _poly_lr(epochs, lr=0.01):
    """The recipe's learning rate, decayed linearly to 0 over `epochs`, one value an epoch."""
    return [lr * (1 - e / epochs) for e in range(epochs)]


def test_curves_of_other_lengths_are_read_and_named(tmp_path, capsys):
    """The issue's case: 70-epoch logs of the original code whose learning rate is one short."""
    history = _published("minigooglenet_cifar10_tdevh_14960")
    short_lr = {**history, "lr": _poly_lr(70)[1:]}  # 69 values: which epoch lacks one?
    found = diagnose(short_lr)
    assert found.kinds == diagnose(history).kinds and found.epochs == 70
    assert found.notes == ["the learning rate has 69 values for 70 epochs: which epochs they "
                           "belong to is not known, so the curves are read without it"]
    (tmp_path / "run.json").write_text(json.dumps(short_lr))
    assert main([str(tmp_path / "run.json")]) == 0
    out = capsys.readouterr().out
    assert "after 70 epochs: healthy" in out and "Read: the learning rate has 69 values" in out
    # A main curve one short (a monitor cut between two appends): the epochs all curves have.
    cut = {**history, "val_loss": history["val_loss"][:69]}
    found = diagnose(cut)
    assert found.epochs == 69 and found.verdict == diagnose(_cut(history, 69)).verdict
    assert "validation loss 69" in found.notes[0] and "training loss 70" in found.notes[0]
    assert "the first 69 epochs, which every curve has, are read" in found.notes[0]


def test_a_long_run_is_read_by_its_shape_not_its_length():
    """The issue's case: a healthy curve stretched to 200 epochs was 'overfitting: the
    validation loss has stopped falling', lowest at its last epoch. Every published log read
    over twice and three times its epochs gets the verdict of its own length."""
    found = diagnose(_stretch(_published("minigooglenet_cifar10_tdevh"), 200))
    assert found.kinds == ["healthy"], found.text()
    assert "lowest at epoch 200" in found.findings[0].evidence
    wrong = []
    for name, verdict in PUBLISHED.items():
        history = _published(name)
        for factor in (2, 3):
            longer = diagnose(_stretch(history, factor * len(next(iter(history.values()))))
                              ).verdict
            if longer != verdict and name != "minigooglenet_cifar10_tdevh_14960":
                wrong.append((name, factor, longer))
    assert not wrong
    # Only stretched twice: three times, its one-epoch dip lasts three epochs (no longer a
    # lone epoch that a running median of three smooths away).
    assert diagnose(_stretch(_published("minigooglenet_cifar10_tdevh_14960"), 140)).verdict \
        == "healthy"


def test_a_finished_run_gets_a_remedy_for_a_finished_run():
    """The issue's case: a real 70-epoch run, its schedule ended, was told 'train to the end
    of the schedule'. Its lowest validation loss is one epoch's dip, which the evidence says."""
    history = _published("minigooglenet_cifar10_tdevh_14960")
    ended = diagnose(history, finished=True).findings[0]
    assert ended.kind == "healthy" and "train" not in ended.remedy
    assert "the schedule has ended and its last model is the one to keep" in ended.remedy
    assert ("lowest at epoch 28 (one epoch below both its neighbours; over three epochs lowest "
            "at epoch 70)") in ended.evidence
    going = diagnose(_cut(history, 25), finished=False).findings[0]
    assert "train to the end of the schedule" in going.remedy
    unknown = diagnose(history).findings[0].remedy  # a history file alone: either may hold
    assert "if the schedule has epochs left, train on" in unknown and "if it has ended" in unknown
    # A plateau at a constant rate in a finished run: continue it with more epochs.
    flat = make("plateau", 3, with_lr=False)
    flat["lr"] = [0.01] * len(flat["loss"])
    assert "--resume --lr 0.001 and a larger --epochs" in diagnose(flat, finished=True
                                                                   ).findings[0].remedy


def test_a_finished_run_that_overfits_is_overfitting():
    """The shape the issue describes, with a real rise: lowest validation loss at epoch 28,
    6% above it at the end of a 70-epoch schedule while the training loss falls."""
    history = _published("minigooglenet_cifar10_tdevh_14960")
    rng = np.random.default_rng(0)
    t = np.arange(70)
    val = np.where(t < 27, 0.348 + 1.6 * np.exp(-t / 5), 0.348 * (1 + 0.06 * (t - 27) / 42))
    history = {**history, "val_loss": (val * (1 + rng.normal(0, 0.005, 70))).tolist(),
               "learning_rate": _poly_lr(70)}
    found = diagnose(history, finished=True).findings[0]
    assert found.kind == "overfitting" and found.mark in (28, 29)
    assert "keep its checkpoint" in found.remedy and "regularisation" in found.remedy


def test_one_accuracy_above_1_is_named_impossible_not_read_as_percent():
    history = make("healthy", 3)
    clean = diagnose(history)
    found = diagnose(spoil(history, "accuracy", [10], 1.5))
    assert found.kinds == [*clean.kinds, "non_finite"]
    bad = found.findings[-1]
    assert bad.name == "bad values" and "training accuracy (epoch 11)" in bad.summary
    assert "impossible in epoch 11 (1.5: an accuracy is between 0 and 1)" in bad.evidence
    assert "0.9%" not in found.text()
    curves = normalise(spoil(history, "accuracy", [10], 1.5))
    assert np.nanmax(curves["accuracy"]) <= 1 and np.isnan(curves["accuracy"][10])
    # In percent (most values above 1), from a first epoch below 1%; 130% is impossible.
    percent = [0.5, 0.8, *np.linspace(2, 60, 28)]
    curves = normalise({"loss": list(np.linspace(5, 2, 30)), "val_accuracy": percent})
    assert curves["val_accuracy"][:3].tolist() == pytest.approx([0.005, 0.008, 0.02])
    found = diagnose({"loss": list(np.linspace(5, 2, 30)),
                      "val_accuracy": percent[:-1] + [130.0]})
    assert ("impossible in epoch 30 (130: an accuracy in percent is between 0 and 100)"
            in found.findings[-1].evidence)


def test_a_csv_log_cut_mid_row_is_read_to_its_last_whole_row(tmp_path, capsys):
    """The issue's case: a cut last row read as a divergence ('missing in epoch 30')."""
    history = make("plateau", 5)
    rows = ["epoch,learning_rate,loss,val_loss"] + [
        f"{e},{lr},{loss},{val}" for e, (lr, loss, val) in enumerate(
            zip(history["learning_rate"], history["loss"], history["val_loss"]))]
    whole = len(rows) - 1
    (tmp_path / "run_log.csv").write_text("\n".join(rows) + "\n" + f"{whole},0.01,1.2")
    assert main([str(tmp_path / "run_log.csv")]) == 0
    out = capsys.readouterr().out
    assert f"after {whole} epochs: plateau" in out and "LR too high:" not in out
    assert "missing" not in out
    assert (f"Read: the last row of {tmp_path / 'run_log.csv'} was cut mid-line ('{whole},0.01,"
            f"1.2'): an interrupted write; the {whole} whole rows before it are read") in out


def test_a_history_without_a_validation_loss_says_so():
    found = diagnose({"loss": make("healthy", 3)["loss"]}).findings[0]
    assert found.kind == "healthy" and "no validation loss recorded" in found.summary
    assert "validation loss is at or near" not in found.summary
    assert "record a validation loss" in found.remedy


def test_a_loss_spike_no_run_produces_is_named():
    history = make("healthy", 2)
    for epoch in (20, len(history["loss"]) - 1):  # inside, and at the last epoch
        found = diagnose(spoil(history, "val_loss", [epoch], 1e308))
        assert found.kinds == [*diagnose(history).kinds, "non_finite"]
        bad = found.findings[-1]
        assert f"validation loss (epoch {epoch + 1}) cannot be a measurement" in bad.summary
        assert f"a spike in epoch {epoch + 1} (1e+308: over 1000 times" in bad.evidence
        assert "e+307" not in found.findings[0].evidence  # no mean or gap carries it


def test_negative_losses_are_named_not_read():
    history = make("healthy", 3)
    negative = {**history, "loss": [-v for v in history["loss"]],
                "val_loss": [-v for v in history["val_loss"]]}
    found = diagnose(negative)
    assert found.kinds == ["unreadable"] and not found.read
    assert "negative" in found.findings[0].summary and "+-" not in found.text()
    assert "Not seen" not in found.text()


def test_beside_a_rate_too_high_no_plateau_or_underfitting():
    """The issue's case: a diverged history also got 'plateau ... an LR drop is due' and
    'underfitting'. Beside the rate, only what it does not explain is read: overfitting or
    validation at chance, before a divergence."""
    wrong = []
    for seed in range(30):
        history = make("lr_too_high", seed)
        n = len(history["loss"])
        # The loss falls to a plateau at a constant rate, then turns NaN.
        flat = make("plateau", seed, with_lr=False)
        m = len(flat["loss"])
        flat["learning_rate"] = [0.01] * m
        spoiled = spoil(flat, "loss", range(m - 3, m))
        for found in (diagnose(history), diagnose(spoiled)):
            if found.verdict != "lr_too_high" or {"underfitting", "plateau"} & set(found.kinds):
                wrong.append((seed, n, found.kinds))
    assert not wrong


def test_a_rate_too_high_is_not_blamed_on_the_validation_data():
    """Issue 29's --lr 1e12 run: training loss 3.8e21, validation loss NaN, was 'a bad
    validation epoch, not a bad model'."""
    for loss in ([3.8e21] * 6, [2.4, 2.3, 2.2, 2.2, 1e8, 3.8e21]):
        found = diagnose({"loss": loss, "val_loss": [math.nan] * 6, "accuracy": [0.1] * 6})
        assert found.verdict == "lr_too_high", found.text()
        assert "not a bad model" not in found.text()
        bad = [f for f in found.findings if f.kind == "non_finite"]
        assert all("fix the rate first" in f.remedy for f in bad)


def test_a_training_loss_that_exploded_is_a_rate_too_high_not_bad_validation_data():
    """`--lr 1e12`: the first epoch's training loss is finite but absurd (3.8e21) and the
    validation loss NaN. It was read as "a bad validation epoch, not a bad model"."""
    first = {"loss": [3.8e21], "accuracy": [0.1], "val_loss": [math.nan],
             "val_accuracy": [0.1], "learning_rate": [1e12]}
    found = diagnose(first)
    assert found.kinds == ["lr_too_high"]
    assert "exploded from epoch 1" in found.findings[0].summary
    assert "--force --lr" in found.findings[0].remedy
    assert "validation data" not in found.text()
    # Later in a run: the epochs before it are read, the restart is from a checkpoint.
    history = make("healthy", 1)
    n = len(history["loss"])
    later = {k: [*v[:-1], 2.5e5 if k == "loss" else v[-1]] for k, v in history.items()}
    found = diagnose(later)
    assert found.kinds[0] == "lr_too_high" and f"from epoch {n}" in found.findings[0].summary
    assert "--resume --lr" in found.findings[0].remedy
    # Without an accuracy curve the loss may be anything (a regression's squared error).
    regression = {"loss": [5e6, 4e6, 3e6, 2.5e6], "val_loss": [5.1e6, 4.2e6, 3.3e6, 2.8e6]}
    assert diagnose(regression).kinds == ["healthy"]
