import json
import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
from synthetic_histories import KINDS, make

from pyimagesearch.diagnose import diagnose, load, main, normalise

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
    "resnet_tinyimagenet_ankit16": "plateau",
    "fer2013_effnetb0_finetune_drunkmac": "underfitting",       # train acc 54%, val 78%
    "minigooglenet_cifar10_tdevh": "healthy",                   # the MiniGoogLeNet recipe
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
    with pytest.raises(ValueError, match="different lengths"):
        normalise({"loss": [1.0, 0.9], "val_loss": [1.0]})


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
