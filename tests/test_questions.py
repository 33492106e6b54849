"""The four questions answered on real runs of this toolkit, each made to have one shape
(tests/data/histories/runs/README.md: the commands), and on the range test's evidence."""

import json
import os

import pytest

from pyimagesearch.evaluation import questions
from pyimagesearch.evaluation.diagnosis import diagnose
from pyimagesearch.evaluation.questions import NO, TOO_EARLY, YES

RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "histories", "runs")

# What each run was made to show, known from how it was made (not read off the code): the
# diagnosis's verdict, and the answers to the four questions ("lr": is the learning rate
# right? "regularisation"/"dropout": too strong? "capacity": enough?). None: either answer
# is defensible for that run.
EXPECTED = {
    # The issue's case: 1,000 training images of 10 classes, the classic recipe.
    "tiny10_classic": ("overfitting", {"lr": YES, "regularisation": NO, "dropout": NO,
                                       "capacity": YES}),
    # 1,000 CIFAR-10 images, no augmentation at all.
    "c1k_noaug": ("overfitting", {"lr": YES, "regularisation": NO, "dropout": NO,
                                  "capacity": YES}),
    # A rate 150x the recipe's.
    "c1k_lr1.5": ("lr_too_high", {"lr": NO, "regularisation": TOO_EARLY, "dropout": TOO_EARLY,
                                  "capacity": TOO_EARLY}),
    # Decoupled weight decay 40x the fast recipe's, 80 steps: the batch-norm statistics never
    # settle and the validation images are scored as a guess (10%) while training learns.
    "c1k_wd0.2": ("val_at_chance", {key: TOO_EARLY for key in questions.QUESTIONS}),
    # Heavy augmentation (shifts up to 40%, a 16-pixel cutout in every 32-pixel image) for 8
    # epochs of 16 steps: still learning, the validation accuracy at its best at the end.
    "c1k_heavyaug": ("healthy", {"lr": YES, "capacity": TOO_EARLY}),
    # Heavier (a 20-pixel cutout) with batch 32 for 10 epochs: the network cannot fit the
    # training images, which are harder than the validation ones.
    "c1k_b32_heavyaug": ("underfitting", {"lr": YES, "regularisation": YES,
                                          "capacity": TOO_EARLY}),
    # The classic recipe with batch 32: enough steps for 1,000 images in 8 epochs.
    "c1k_b32": ("healthy", {"lr": YES, "regularisation": NO, "dropout": NO,
                            "capacity": None}),
    # A rate 100x below the recipe's.
    "c1k_lr1e-4": (None, {"lr": NO}),
}


def _run(name):
    with open(os.path.join(RUNS, f"{name}.json")) as f:
        history = json.load(f)
    with open(os.path.join(RUNS, f"{name}_args.json")) as f:
        settings = json.load(f)["args"]
    return history, settings


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_runs_get_the_answers_they_were_made_to_show(name):
    history, settings = _run(name)
    found = diagnose(history)
    verdict, answers = EXPECTED[name]
    if verdict is not None:
        assert found.verdict == verdict, found.text()
    got = {a.key: a for a in questions.answer(history, found, settings)}
    for key, expected in answers.items():
        if expected is not None:
            assert got[key].answer == expected, (key, got[key])
    for a in got.values():  # every answer carries its numbers
        assert a.summary and a.evidence and any(c.isdigit() for c in a.evidence)


def test_the_issue_case_is_overfitting_and_says_what_to_do():
    """58%/30% in the issue, 70%/19% here: a large gap is overfitting at any accuracy."""
    history, settings = _run("tiny10_classic")
    reg = {a.key: a for a in questions.answer(history, diagnose(history), settings)}[
        "regularisation"]
    assert reg.fine is False and "too weak" in reg.summary and "regularisation" in reg.remedy


def test_the_range_test_decides_when_the_curves_cannot():
    history, settings = _run("c1k_b32")
    found = diagnose(history)
    peak = max(history["learning_rate"])

    def lr_answer(min_loss_lr, suggested):
        return questions.answer(history, found, settings, {"min_loss_lr": min_loss_lr,
                                                           "suggested_lr": suggested})[0]

    above = lr_answer(peak / 2, peak / 6)      # the peak is past where the loss blew up
    assert above.answer == NO and "too high" in above.summary
    assert f"--lr {peak / 6:.2g}" in above.remedy
    below = lr_answer(peak * 300, peak * 100)  # the peak is a hundredth of the suggestion
    assert below.answer == NO and "too low" in below.summary
    within = lr_answer(peak * 3, peak)
    assert within.answer == YES and "range test" in within.evidence


def test_too_few_epochs_cannot_tell_yet():
    history, settings = _run("c1k_noaug")
    short = {k: v[:2] for k, v in history.items()}
    answers = questions.answer(short, diagnose(short), settings)
    assert [a.answer for a in answers] == [TOO_EARLY] * 4
    assert all(a.fine is None for a in answers)
