"""python -m pyimagesearch.tune: the search space, the shared study, the answers, and real
studies of the training script on generated data (marked slow)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from pyimagesearch import tune
from pyimagesearch.tuning import answers, space
from pyimagesearch.tuning import study as studies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1"}
# Small trials: a quarter-width network, two epochs at most, 20 images held out.
SMALL = ["--width-range", "0.25", "0.25", "--poll", "0.3"]
NOISE = answers.Noise(images=10_000, classes=10)  # CIFAR-10's test split


def _train_flags(data):
    return ["--", "--data", data, "--batch-size", "20", "--holdout", "20"]


def _one_line_error(capsys, status):
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(("error: ", "python -m pyimagesearch.tune: error: "))
    assert captured.err.count("\n") == 1
    return captured.err


@pytest.mark.parametrize("flags, said", [
    (["--lr-range", "0.5", "0.1"], "--lr-range 0.5 0.1: the first value must not be above"),
    (["--dropout-range", "0.2", "1.0"], "a dropout rate is from 0 to below 1"),
    (["--width-range", "0", "1"], "a width multiplier must be above 0"),
    (["--", "--lr", "0.1"], "--lr is set by the search on every trial"),
    (["--", "--epochs=3"], "--epochs is set by the search on every trial"),
])
def test_bad_ranges_and_flags_the_search_owns_are_one_sentence(flags, said, tmp_path, capsys):
    status = tune.main(["--dataset", "cifar10", "--output", str(tmp_path / "s"), *flags])
    assert said in _one_line_error(capsys, status)
    assert not (tmp_path / "s").exists()  # refused before anything is written


@pytest.mark.parametrize("own, script, said", [
    # the fast recipe's warm-up (1 epoch) against 1-epoch trials
    (["--epochs", "1"], [], "train_cifar10.py would refuse every trial (--warmup-epochs 1 must "
                            "be below --epochs 1); nothing was written"),
    ([], ["--batch-size", "0"], "train_cifar10.py would refuse every trial (argument "
                                "--batch-size: must be at least 1, got 0)"),
    ([], ["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--poll", "1e12"], [], "argument --poll: must be at most 60 seconds"),
    (["--width-range", "0.5", "inf"], [], "--width-range 0.5 inf: both values must be finite"),
    (["--study-name", "../elsewhere"], [], "--study-name '../elsewhere': the study's trials go "
                                           "in --output/../elsewhere/"),
])
def test_settings_that_fail_every_trial_are_refused_before_the_study(own, script, said,
                                                                      tmp_path, capsys,
                                                                      cifar_dir):
    out = tmp_path / "s"
    try:
        status = tune.main(["--dataset", "cifar10", "--output", str(out), *own, "--", "--data",
                            cifar_dir, *script])
    except SystemExit as argparse_exit:  # tune's own parser
        status = argparse_exit.code
    assert said in _one_line_error(capsys, status)
    assert os.listdir(tmp_path) == []  # no study, no trial folder, nothing


def test_without_optuna_it_says_the_pip_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    status = tune.main(["--dataset", "cifar10", "--output", str(tmp_path / "s")])
    assert "pip install -r requirements-tune.txt" in _one_line_error(capsys, status)


def test_a_rerun_with_other_settings_is_refused(tmp_path, capsys, cifar_dir):
    study = optuna.create_study(storage=studies.storage(str(tmp_path), None),
                                study_name="cifar10", direction="maximize")
    study.set_user_attr("tune:settings", {"dataset": "cifar10", "epochs": 9})
    status = tune.main(["--dataset", "cifar10", "--output", str(tmp_path), "--epochs", "2",
                        *_train_flags(cifar_dir)])
    assert "epochs 9 there, 2 here" in _one_line_error(capsys, status)


def test_a_rerun_may_give_other_data_paths_but_not_other_script_flags(tmp_path, capsys,
                                                                       cifar_dir):
    study = optuna.create_study(storage=studies.storage(str(tmp_path), None),
                                study_name="cifar10", direction="maximize")
    args = tune.get_args_parser().parse_args(["--dataset", "cifar10"])
    parameters = space.build("cifar10", "fast")
    study.set_user_attr("tune:settings", tune._settings(
        args, parameters, ["--data", "/elsewhere/cifar", "--subset", "100"]))
    status = tune.main(["--dataset", "cifar10", "--output", str(tmp_path), "--trials", "1",
                        "--", "--data", cifar_dir, "--subset", "90"])
    assert "script flags ['--data', 'PATH', '--subset', '100'] there" in \
        _one_line_error(capsys, status)


def test_space_follows_the_recipe_and_its_regulariser():
    cifar = {p.name: p for p in space.build("cifar10", "fast")}
    lr = cifar["lr"]
    assert (lr.low, lr.high, lr.default) == pytest.approx((0.01, 0.5, 0.1))
    assert cifar["regularisation"].flag == "--weight-decay"
    assert cifar["width"].step == 0.25 and cifar["width"].default == 1.0
    assert cifar["dropout"].default == 0.5
    tiny_classic = {p.name: p for p in space.build("tinyimagenet", "classic")}
    assert tiny_classic["regularisation"].flag == "--reg"  # the book's L2
    assert tiny_classic["regularisation"].default == 2e-4
    assert tiny_classic["dropout"].default == 0.4
    tiny_fast = {p.name: p for p in space.build("tinyimagenet", "fast")}
    assert tiny_fast["regularisation"].flag == "--weight-decay"
    classic = {p.name: p for p in space.build("cifar10", "classic")}  # no weight decay at all
    assert (classic["regularisation"].low, classic["regularisation"].high) == (1e-5, 1e-2)
    assert classic["regularisation"].clamp(0.0) == 1e-5


def _study(rows, baseline_value=None):
    """An in-memory study of complete trials: rows of (lr, regularisation, dropout, width,
    value); with `baseline_value`, a first trial at the recipe's settings."""
    parameters = space.build("cifar10", "fast")
    distributions = {p.name: FloatDistribution(p.low, p.high, log=p.log, step=p.step)
                     for p in parameters}
    study = optuna.create_study(direction="maximize")
    if baseline_value is not None:
        study.add_trial(optuna.trial.create_trial(
            params={p.name: p.default for p in parameters}, distributions=distributions,
            value=baseline_value, user_attrs={"baseline": True},
            intermediate_values={1: baseline_value / 2, 2: baseline_value}))
    for lr, reg, dropout, width, value in rows:
        study.add_trial(optuna.trial.create_trial(
            params={"lr": lr, "regularisation": reg, "dropout": dropout, "width": width},
            distributions=distributions, value=value,
            intermediate_values={1: value / 2, 2: value}))
    return study, parameters


def test_answers_name_the_best_value_where_accuracy_falls_off_and_capacity():
    study, parameters = _study([(0.05, 5e-3, 0.3, 1.5, 0.80), (0.03, 5e-3, 0.3, 1.0, 0.77),
                                (0.4, 5e-3, 0.3, 1.0, 0.40), (0.3, 5e-3, 0.3, 0.5, 0.45),
                                (0.015, 5e-3, 0.3, 0.75, 0.70)], baseline_value=0.74)
    text = answers.summary(study, parameters, total=6, epochs=2, noise=NOISE)
    lr = next(line for line in text.splitlines() if line.startswith("learning rate:"))
    assert lr.startswith("learning rate: best 0.05 of 0.01..0.5 (the recipe: 0.1), from 6 "
                         "trials;")
    assert "falls off above 0.136 (best there 45.0% vs 80.0%, 2 trials there)" in lr
    assert "lower than the recipe's 0.1 helps (80.0% vs 74.0% near it; 3 trials lower, 1 " \
           "near)" in lr
    width = next(line for line in text.splitlines() if line.startswith("capacity"))
    assert "1.5x gains 3.0 points over the best at 1.0x or narrower: capacity was limiting " \
           "(1 trial wider, 5 at 1.0x or narrower)" in width
    assert "noise: 10,000 validation images tell apart accuracies near 80.0% only 1.1 " \
           "points or more apart" in text
    assert "the recipe's settings (trial 0): 74.0%; the best trial gains +6.0 points" in text
    assert "6 of 6 trials finished (6 complete, 0 pruned)" in text
    assert "cost: 12 epochs trained where 6 full runs take 12 (0% saved" in text


def test_capacity_not_limiting_and_too_few_trials():
    study, parameters = _study([(0.1, 5e-3, 0.5, 1.5, 0.70), (0.1, 5e-3, 0.5, 1.0, 0.74),
                                (0.1, 5e-3, 0.5, 0.5, 0.60), (0.1, 5e-3, 0.5, 1.25, 0.71)])
    width = answers.answer(parameters[3], answers.complete(study), None, NOISE)
    assert "wider gains nothing (-3.0 points at best): capacity is not what limits at this " \
           "budget (2 trials wider, 2 at 1.0x or narrower)" in width
    few, _ = _study([(0.1, 5e-3, 0.5, 1.0, 0.7)] * 3)
    assert answers.answer(parameters[0], answers.complete(few), None, NOISE) == \
        "learning rate: cannot tell yet (3 trials above chance, 4 needed)"


def test_with_few_complete_trials_the_answers_compare_every_trial_at_an_earlier_epoch():
    """Hyperband pruned most trials after epoch 1: the answers read every trial there."""
    study, parameters = _study([(0.05, 5e-3, 0.3, 1.0, 0.80)], baseline_value=0.70)
    distributions = study.trials[0].distributions
    for lr, at_epoch_1 in ((0.4, 0.10), (0.3, 0.12), (0.02, 0.30)):
        study.add_trial(optuna.trial.create_trial(
            params={"lr": lr, "regularisation": 5e-3, "dropout": 0.3, "width": 1.0},
            distributions=distributions, state=optuna.trial.TrialState.PRUNED,
            intermediate_values={1: at_epoch_1}))
    compared, epoch = answers.comparable(study, 2)
    assert epoch == 1 and sorted(t.value for t in compared) == [0.10, 0.12, 0.30, 0.35, 0.40]
    text = answers.summary(study, parameters, total=6, epochs=2, noise=NOISE)
    assert "only 2 trials are complete: the answers compare the 5 trials that reached epoch " \
           "1 of 2" in text
    lr = next(line for line in text.splitlines() if line.startswith("learning rate:"))
    assert lr.startswith("learning rate: best 0.05 of 0.01..0.5")
    assert "from 4 trials; 1 more at chance level (10.0%) tells nothing;" in lr  # the 10%
    assert "falls off above 0.136 (best there 12.0% vs 40.0%, 1 trial there)" in lr
    # No complete trial wider than 1.0x: capacity is read where both sides still ran.
    for width, at_epoch_1 in ((1.25, 0.15), (1.5, 0.20)):
        study.add_trial(optuna.trial.create_trial(
            params={"lr": 0.1, "regularisation": 5e-3, "dropout": 0.3, "width": width},
            distributions=distributions, state=optuna.trial.TrialState.PRUNED,
            intermediate_values={1: at_epoch_1}))
    for extra in range(2):
        study.add_trial(optuna.trial.create_trial(
            params={"lr": 0.05, "regularisation": 5e-3, "dropout": 0.3, "width": 0.75},
            distributions=distributions, value=0.5 + extra / 10,
            intermediate_values={1: 0.25, 2: 0.5 + extra / 10}))
    text = answers.summary(study, parameters, total=8, epochs=2, noise=NOISE)
    width = next(line for line in text.splitlines() if line.startswith("capacity"))
    assert "wider gains nothing (-20.0 points at best)" in width
    assert width.endswith("(compared after epoch 1 of 2, the last that trials on both sides "
                          "of 1.0x reached)")
    # Four complete trials: the full budget again.
    study, _ = _study([(0.1, 5e-3, 0.5, 1.0, 0.7)] * 4)
    assert answers.comparable(study, 2)[1] == 2


def _line(text, question):
    return next(line for line in text.splitlines() if line.startswith(question + ":"))


def test_a_small_study_near_chance_cannot_tell_yet():
    """Issue 29: four 2-epoch trials at 10.5-20.5% (chance: 10%) answered all four questions,
    each from one or two trials. The one at chance tells nothing; three are too few."""
    study, parameters = _study([(0.03, 5e-3, 0.3, 1.25, 0.205), (0.3, 5e-4, 0.6, 0.75, 0.105),
                                (0.05, 2e-2, 0.2, 1.0, 0.16)], baseline_value=0.132)
    text = answers.summary(study, parameters, total=4, epochs=2,
                           noise=answers.Noise(images=5000, classes=10))
    for question in ("learning rate", "regularisation", "dropout", "capacity (width)"):
        assert _line(text, question) == (f"{question}: cannot tell yet (3 trials above chance, "
                                         "4 needed; 1 more at chance level (10.0%) tells "
                                         "nothing)")
    assert "helps" not in text and "falls off" not in text


def test_differences_within_the_noise_of_the_validation_set_are_no_finding():
    study, parameters = _study([(0.03, 5e-3, 0.5, 1.25, 0.46), (0.02, 5e-3, 0.5, 0.75, 0.44),
                                (0.4, 5e-3, 0.5, 1.0, 0.41), (0.015, 5e-3, 0.5, 0.5, 0.43)],
                               baseline_value=0.42)
    small = answers.summary(study, parameters, total=5, epochs=2,
                            noise=answers.Noise(images=300, classes=10))
    lr = _line(small, "learning rate")
    assert lr.startswith("learning rate: best 0.03 of 0.01..0.5 (the recipe: 0.1), from 5 "
                         "trials; cannot tell yet whether lower than the recipe's 0.1 helps "
                         "(46.0% vs 42.0% near it; 3 trials lower, 1 near: within the noise, "
                         "8.1 points on 300 validation images)")
    assert "falls off" not in small
    assert "cannot tell yet whether capacity limits (wider +2.0 points at best, within the " \
           "noise" in _line(small, "capacity (width)")
    assert "the best trial gains +4.0 points at the same budget (2 epoch(s) a trial), within " \
           "the noise, 8.1 points on 300 validation images" in small
    assert "regularisation: best 0.005 of 0.0005..0.05 (the recipe: 0.005), from 5 trials; " \
           "the recipe's value is about right (the best trial is one of 5 near it)" in small
    # The same trials on 50,000 validation images: the differences are findings.
    large = answers.summary(study, parameters, total=5, epochs=2,
                            noise=answers.Noise(images=50_000, classes=10))
    lr = _line(large, "learning rate")
    assert "falls off above 0.136 (best there 41.0% vs 46.0%, 1 trial there)" in lr
    assert "lower than the recipe's 0.1 helps (46.0% vs 42.0% near it; 3 trials lower, 1 " \
           "near)" in lr
    assert "1.25x gains 2.0 points over the best at 1.0x or narrower: capacity was limiting " \
           "(1 trial wider, 4 at 1.0x or narrower)" in _line(large, "capacity (width)")


def test_the_validation_set_is_the_holdout_or_the_split():
    assert space.validation("cifar10", ["--data", "x"]) == (5000, 10)  # tune's --holdout
    assert space.validation("cifar10", ["--holdout", "300"]) == (300, 10)
    assert space.validation("cifar10", ["--holdout=0"]) == (10_000, 10)  # the test split
    assert space.validation("tinyimagenet", ["--hdf5-dir", "x"]) == (10_000, 200)


def test_results_files(tmp_path):
    study, parameters = _study([(0.05, 5e-3, 0.3, 1.5, 0.8), (0.03, 1e-3, 0.1, 1.0, 0.7),
                                (0.2, 2e-2, 0.6, 0.5, 0.5), (0.01, 1e-2, 0.2, 0.75, 0.6)],
                               baseline_value=0.74)
    text = answers.write(study, str(tmp_path), parameters, total=5, epochs=2, noise=NOISE)
    for name in ("history.png", "importances.png", "parallel.png"):
        assert (tmp_path / name).stat().st_size > 5000, name
    with open(tmp_path / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["number"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[0]["baseline"] == "True" and rows[1]["width"] == "1.5"
    assert rows[1]["val_accuracy_by_epoch"] == "0.4000 0.8000"
    assert rows[1]["folder"] == "trial_001" and rows[1]["state"] == "COMPLETE"
    assert (tmp_path / "answers.txt").read_text().startswith(text)
    assert "importance" in text  # Optuna's importances, once 4 trials are complete


def test_worker_takes_trials_up_to_the_total_and_takes_over_one_whose_worker_is_gone(tmp_path):
    storage = studies.storage(str(tmp_path), None)
    study = studies.open_study(storage, "s", None, None, baseline={"lr": 0.1})
    worker = studies.Worker(study, 3, str(tmp_path / ".claim.lock"))
    first, resumed = worker.next_trial()
    assert first.number == 0 and not resumed
    assert first.user_attrs["baseline"] and first.suggest_float("lr", 0.01, 1) == 0.1
    # A trial of a worker that is alive on this machine (this test's parent) is left alone.
    alive, _ = worker.next_trial()
    storage.set_trial_system_attr(alive._trial_id, "tune:worker",
                                  {**studies.me(), "pid": os.getppid(),
                                   "start": studies._start_time(os.getppid())})
    # One of a process that has exited is taken over.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    storage.set_trial_system_attr(first._trial_id, "tune:worker",
                                  {**studies.me(), "pid": dead.pid, "start": "1"})
    again, resumed = worker.next_trial()
    assert (again.number, resumed) == (0, True)
    study.tell(again, 0.5)
    third, resumed = worker.next_trial()
    assert (third.number, resumed) == (2, False)
    study.tell(third, 0.6)
    assert worker.next_trial() == (None, False)  # 3 held: 2 complete, 1 running elsewhere
    # A worker on another machine is gone when its heartbeat is old.
    storage.set_trial_system_attr(alive._trial_id, "tune:worker", {"host": "elsewhere"})
    storage.set_trial_system_attr(alive._trial_id, "tune:heartbeat",
                                  time.time() - studies.STALE_AFTER - 1)
    taken, resumed = worker.next_trial()
    assert (taken.number, resumed) == (1, True)


def test_a_study_of_one_trial_runs_the_recipes_settings(tmp_path):
    """The queued trial of the recipe's settings was counted as taken: nothing ran."""
    study = studies.open_study(studies.storage(str(tmp_path), None), "s", None, None,
                               baseline={"lr": 0.1})
    worker = studies.Worker(study, 1, str(tmp_path / ".claim.lock"))
    trial, resumed = worker.next_trial()
    assert (trial.number, resumed, trial.user_attrs["baseline"]) == (0, False, True)
    study.tell(trial, 0.5)
    assert worker.next_trial() == (None, False)
    assert len(study.get_trials()) == 1


def test_a_trial_taken_over_after_its_run_finished_is_not_trained_again(tmp_path):
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.tuning import trial as trials

    paths = RunPaths(str(tmp_path), "minigooglenet_cifar10")
    (tmp_path / "minigooglenet_cifar10.json").write_text('{"val_accuracy": [0.2, 0.3]}')
    assert trials.finished(paths, 2) is None  # no final model: it stopped before the end
    (tmp_path / "minigooglenet_cifar10.keras").write_bytes(b"model")
    assert trials.finished(paths, 2) == [0.2, 0.3]
    assert trials.finished(paths, 3) is None
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.report(0.2, 1)
    trials.report(trial, [0.2, 0.3])  # the first epoch was reported before the worker died
    assert study.get_trials()[0].intermediate_values == {1: 0.2, 2: 0.3}


def test_workers_without_a_shared_lock_never_keep_a_trial_too_many(tmp_path):
    storage = studies.storage(str(tmp_path), None)
    here = studies.Worker(studies.open_study(storage, "s", None, None, None), 1, None)
    there = studies.Worker(optuna.load_study(study_name="s", storage=storage), 1, None)
    counted = there.study.get_trials
    seen = []

    def counted_before_the_other_took_one(**kwargs):  # the race of two machines
        seen.append(1)
        return [] if len(seen) == 1 else counted(**kwargs)

    there.study.get_trials = counted_before_the_other_took_one
    trial, _ = here.next_trial()
    assert there.next_trial() == (None, False)
    here.study.tell(trial, 0.5)
    trials = here.study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert trials[1].system_attrs["tune:surplus"]


def _fake_run(trial, cmd, paths, epochs, beat, prune=True, poll=1.0):
    """`trial.run` without training: writes its command into the trial's train.log and
    reports a made-up validation accuracy for each epoch."""
    from pyimagesearch.tuning import trial as trials

    os.makedirs(paths.output, exist_ok=True)
    with open(os.path.join(paths.output, "train.log"), "a") as log:
        log.write(" ".join(cmd) + "\n")
    values = [0.3 + 0.01 * trial.number + 0.1 * epoch for epoch in range(epochs)]
    trials.report(trial, values)
    return "complete", values, 0


def _tune_with_fake_trials(argv) -> int:
    """tune's main with `_fake_run` and no plots, for a process of its own (python -c)."""
    from pyimagesearch.tuning import trial as trials

    trials.run, answers._plots = _fake_run, lambda *args: None
    return tune.main(argv)


def _fake_trials(monkeypatch):
    """Trials that train nothing (`_fake_run`), and results without the plots (seconds)."""
    from pyimagesearch.tuning import trial as trials

    monkeypatch.setattr(trials, "run", _fake_run)
    monkeypatch.setattr(answers, "_plots", lambda *args: None)


def test_a_second_study_in_the_same_output_has_its_own_trial_folders(tmp_path, cifar_dir,
                                                                      monkeypatch, capsys):
    """Issue 29: a second --study-name in the same --output (as the README suggests) took the
    first study's trial_000 and wrote into its log."""
    _fake_trials(monkeypatch)
    out = tmp_path / "tune"
    argv = ["--dataset", "cifar10", "--epochs", "2", "--trials", "1", "--output", str(out),
            *SMALL, *_train_flags(cifar_dir)]
    assert tune.main(argv) == 0
    first = (out / "trial_000" / "train.log").read_text()
    assert tune.main(["--study-name", "other", *argv]) == 0
    assert (out / "trial_000" / "train.log").read_text() == first  # untouched
    assert f"--output {out / 'other' / 'trial_000'} " in \
        (out / "other" / "trial_000" / "train.log").read_text()
    assert "its trials and results in " + str(out / "other") in capsys.readouterr().out
    assert (out / "answers.txt").read_text().startswith("study cifar10: 1 of 1")
    assert (out / "other" / "answers.txt").read_text().startswith("study other: 1 of 1")
    with open(out / "other" / "trials.csv") as f:
        assert [r["folder"] for r in csv.DictReader(f)] == ["trial_000"]
    storage = studies.storage(str(out), None)  # one journal holds both
    assert sorted(s.study_name for s in storage.get_all_studies()) == ["cifar10", "other"]


def test_the_same_command_continues_a_study_whose_journal_was_cut(tmp_path, cifar_dir,
                                                                   monkeypatch, capsys):
    """Issue 29: a journal whose last record was cut mid-line (kill -9 or a full disk during
    an append) failed every later run with a JSONDecodeError traceback."""
    out = tmp_path / "study"
    argv = ["--dataset", "cifar10", "--epochs", "2", "--trials", "2", "--output", str(out),
            *SMALL, *_train_flags(cifar_dir)]
    first = subprocess.run(
        [sys.executable, "-c", "import sys, test_tune\n"
                               "sys.exit(test_tune._tune_with_fake_trials(sys.argv[1:]))", *argv],
        env={**ENV, "PYTHONPATH": os.pathsep.join((ROOT, os.path.join(ROOT, "tests")))},
        cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    journal = out / "study.journal"
    whole = journal.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]  # trial 1 told complete, by a process gone
    kept = len(whole) - 1 - len(last)
    # What kill -9 mid-append leaves: half a record, and Optuna's lock of the journal held.
    journal.write_bytes(whole[:kept + len(last) // 2])
    lock = out / "study.journal.lock"
    lock.touch()
    os.utime(lock, (time.time() - 60, time.time() - 60))
    _fake_trials(monkeypatch)
    began = time.time()
    assert tune.main(argv) == 0
    assert time.time() - began < studies.STALE_LOCK  # not Optuna's 30 s wait for the lock
    assert not lock.exists()
    printed = capsys.readouterr().out
    cut = list(out.glob("study.journal.cut-*"))
    assert len(cut) == 1 and cut[0].read_bytes() == last[:len(last) // 2] + b"\n"
    assert f"study.journal ended in a record cut mid-line (a write interrupted by a kill or a " \
           f"full disk): its {len(last) // 2 + 1} bytes are set aside in {cut[0]}" in printed
    assert "trial 1 (resumed)" in printed
    assert journal.read_bytes().startswith(whole[:kept])  # every whole record kept
    trials = _load(str(out)).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert trials[1].intermediate_values == {1: 0.31, 2: pytest.approx(0.41)}


def test_a_record_glued_onto_a_cut_one_is_kept(tmp_path):
    """A worker that went on appending glued its next record onto the cut one: that record
    and every later one are kept, the cut bytes set aside."""
    path = tmp_path / "study.journal"
    study = studies.open_study(studies.storage(str(tmp_path), None), "s", None, None, None)
    for value in (0.1, 0.2):
        study.tell(study.ask(), value)
    whole = path.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]
    path.write_bytes(whole[:len(whole) - 1 - len(last) // 2])
    other = optuna.load_study(study_name="s", storage=studies.storage(str(tmp_path), None))
    other.set_user_attr("glued", 1)  # onto the cut record's line
    glued = path.read_bytes().rsplit(b"\n", 2)[-2]
    record = json.loads(glued[glued.rindex(b'{"op_code"'):])
    with open(path, "ab") as f:  # the worker's next record, a line of its own
        f.write(json.dumps({**record, "user_attr": {"after": 2}}).encode() + b"\n")
    with pytest.raises(ValueError):  # what every run met before: JSONDecodeError
        optuna.load_study(study_name="s", storage=studies.storage(str(tmp_path), None))
    aside, size = studies.set_aside_cut_records(str(path))
    cut = last[:len(last) - len(last) // 2] + b"\n"
    assert open(aside, "rb").read() == cut and size == len(cut)
    repaired = optuna.load_study(study_name="s", storage=studies.storage(str(tmp_path), None))
    assert repaired.user_attrs == {"glued": 1, "after": 2}
    assert [t.state for t in repaired.trials] == [TrialState.COMPLETE, TrialState.RUNNING]
    assert studies.set_aside_cut_records(str(path)) is None  # a whole journal is left alone


def test_a_sqlite_study_killed_while_it_writes_continues(tmp_path):
    """A database's transaction is atomic, so a worker killed mid-write leaves no half
    record: its trial is taken over with every epoch it reported."""
    url = f"sqlite:///{tmp_path}/study.db"
    code = ("import sys\n"
            "from pyimagesearch.tuning import study as studies\n"
            "study = studies.open_study(studies.storage('', sys.argv[1]), 's', None, None, None)\n"
            "trial, _ = studies.Worker(study, 2, None).next_trial()\n"
            "print('writing', flush=True)\n"
            "step = 0\n"
            "while True:\n"
            "    step += 1\n"
            "    trial.report(step / 1e6, step)\n")
    writer = subprocess.Popen([sys.executable, "-c", code, url], env=ENV, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)  # somewhere in a write
    writer.communicate()
    study = optuna.load_study(study_name="s", storage=studies.storage(str(tmp_path), url))
    trial, resumed = studies.Worker(study, 2, None).next_trial()
    assert (trial.number, resumed) == (0, True)
    steps = sorted(study.trials[0].intermediate_values)
    assert len(steps) > 10 and steps == list(range(1, len(steps) + 1))
    study.tell(trial, 0.5)
    assert study.trials[0].state == TrialState.COMPLETE


# Real studies: each trial runs train_cifar10.py on generated data.

def _tune(*argv):
    return subprocess.Popen([sys.executable, "-m", "pyimagesearch.tune", *argv], env=ENV,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _load(folder):
    return optuna.load_study(study_name="cifar10", storage=studies.storage(folder, None))


@pytest.mark.slow
def test_a_small_study_runs_prunes_and_writes_its_results(tmp_path, cifar_dir, monkeypatch,
                                                           capsys):
    # A pruner that stops every trial after its first epoch (the recipe's trial is never
    # pruned), so pruning is certain on data this small.
    monkeypatch.setattr(tune, "_pruner",
                        lambda optuna, args: optuna.pruners.ThresholdPruner(lower=1.01))
    out = tmp_path / "study"
    assert tune.main(["--dataset", "cifar10", "--trials", "3", "--epochs", "2", "--output",
                      str(out), *SMALL, *_train_flags(cifar_dir)]) == 0
    printed = capsys.readouterr().out
    study = _load(str(out))
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    assert "trial 1: pruned after epoch 1" in printed
    assert "4 epochs trained where 3 full runs take 6 (33% saved by pruning)" in printed
    for number, epochs in ((0, 2), (1, 1), (2, 1)):
        folder = out / f"trial_{number:03d}"
        checkpoints = sorted(os.listdir(folder / "checkpoints"))
        assert checkpoints[-1] == f"minigooglenet_cifar10_epoch_{epochs:03d}.keras"
        assert (folder / "report.html").exists()  # an ordinary run folder
        assert not (folder / "minigooglenet_cifar10_eval.json").exists()  # no test split
        assert "20 held out for validation" in (folder / "train.log").read_text()
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["state"] for r in rows] == ["COMPLETE", "PRUNED", "PRUNED"]
    assert rows[0]["baseline"] == "True" and rows[0]["lr"] == "0.1"
    assert (out / "history.png").stat().st_size > 5000
    assert (out / "answers.txt").read_text().startswith("study cifar10: 3 of 3 trials")


@pytest.mark.slow
def test_a_trial_that_trained_its_whole_budget_is_never_pruned(tmp_path, cifar_dir,
                                                                monkeypatch, capsys):
    """A real study pruned a trial after its last epoch, while it saved its model."""
    monkeypatch.setattr(tune, "_pruner",
                        lambda optuna, args: optuna.pruners.ThresholdPruner(lower=1.01))
    out = tmp_path / "study"
    assert tune.main(["--dataset", "cifar10", "--trials", "2", "--epochs", "1", "--recipe",
                      "classic", "--output", str(out), *SMALL, *_train_flags(cifar_dir)]) == 0
    assert [t.state for t in _load(str(out)).get_trials()] == [TrialState.COMPLETE] * 2
    assert (out / "trial_001" / "minigooglenet_cifar10.keras").exists()


@pytest.mark.slow
def test_two_processes_share_one_study_and_finish_exactly_n_trials(tmp_path, cifar_dir):
    out = str(tmp_path / "study")
    argv = ["--dataset", "cifar10", "--trials", "4", "--epochs", "1", "--output", out,
            "--recipe", "classic", "--pruner", "none", *SMALL, *_train_flags(cifar_dir)]
    workers = [_tune(*argv), _tune(*argv)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = _load(out).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4  # none lost, none extra
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    ran = [line.split(":")[0] for text in outputs for line in text.splitlines()
           if "validation accuracy" in line and line.startswith("trial ")]
    assert sorted(ran) == ["trial 0", "trial 1", "trial 2", "trial 3"]  # each ran once
    assert all(o.count("validation accuracy") >= 1 for o in outputs)  # both worked


@pytest.mark.slow
def test_a_study_killed_with_sigkill_continues_where_it_stopped(tmp_path, cifar_dir):
    out = tmp_path / "study"
    argv = ["--dataset", "cifar10", "--trials", "3", "--epochs", "2", "--output", str(out),
            "--pruner", "none", *SMALL, *_train_flags(cifar_dir)]
    process = _tune(*argv)
    checkpoint = out / "trial_001" / "checkpoints" / "minigooglenet_cifar10_epoch_001.keras"
    deadline = time.time() + 400
    while not checkpoint.exists():
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    time.sleep(3)  # the trial's own process, told by the kernel, stops at its next batch
    rerun = _tune(*argv)
    printed = rerun.communicate(timeout=600)[0]
    assert rerun.returncode == 0, printed
    assert "trial 1 (resumed)" in printed
    trials = _load(str(out)).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert sorted(trials[1].intermediate_values) == [1, 2]
    log = (out / "trial_001" / "train.log").read_text()
    assert "resuming from" in log and "epoch 1 of 2 done" in log
