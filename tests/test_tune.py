"""python -m pyimagesearch.tune: the search space, the shared study, the answers, and real
studies of the training script on generated data (marked slow)."""

import csv
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


def _train_flags(data):
    return ["--", "--data", data, "--batch-size", "20", "--holdout", "20"]


def _one_line_error(capsys, status):
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
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
    text = answers.summary(study, parameters, total=6, epochs=2)
    lr = next(line for line in text.splitlines() if line.startswith("learning rate:"))
    assert lr.startswith("learning rate: best 0.05 of 0.01..0.5 (the recipe: 0.1)")
    assert "falls off above 0.136 (best there 45.0% vs 80.0%)" in lr
    assert "lower than the recipe's 0.1 helps" in lr
    width = next(line for line in text.splitlines() if line.startswith("capacity"))
    assert "1.5x gains 3.0 points over the best at 1.0x or narrower: capacity was limiting" \
        in width
    assert "the recipe's settings (trial 0): 74.0%; the best trial gains +6.0 points" in text
    assert "6 of 6 trials finished (6 complete, 0 pruned)" in text
    assert "cost: 12 epochs trained where 6 full runs take 12 (0% saved" in text


def test_capacity_not_limiting_and_too_few_trials():
    study, parameters = _study([(0.1, 5e-3, 0.5, 1.5, 0.70), (0.1, 5e-3, 0.5, 1.0, 0.72),
                                (0.1, 5e-3, 0.5, 0.5, 0.60), (0.1, 5e-3, 0.5, 1.25, 0.71)])
    width = answers.answer(parameters[3], answers.complete(study), None)
    assert "wider gains nothing (-1.0 points at best): capacity is not what limits" in width
    few, _ = _study([(0.1, 5e-3, 0.5, 1.0, 0.7)] * 3)
    assert answers.answer(parameters[0], answers.complete(few), None) == \
        "learning rate: cannot tell yet (3 complete trials; 4 needed)"


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
    text = answers.summary(study, parameters, total=6, epochs=2)
    assert "only 2 trials are complete: the answers compare the 5 trials that reached epoch " \
           "1 of 2" in text
    lr = next(line for line in text.splitlines() if line.startswith("learning rate:"))
    assert lr.startswith("learning rate: best 0.05 of 0.01..0.5")
    assert "falls off above 0.136 (best there 12.0% vs 40.0%)" in lr
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
    text = answers.summary(study, parameters, total=8, epochs=2)
    width = next(line for line in text.splitlines() if line.startswith("capacity"))
    assert "wider gains nothing (-20.0 points at best)" in width
    assert width.endswith("(compared after epoch 1 of 2, the last that trials on both sides "
                          "of 1.0x reached)")
    # Four complete trials: the full budget again.
    study, _ = _study([(0.1, 5e-3, 0.5, 1.0, 0.7)] * 4)
    assert answers.comparable(study, 2)[1] == 2


def test_results_files(tmp_path):
    study, parameters = _study([(0.05, 5e-3, 0.3, 1.5, 0.8), (0.03, 1e-3, 0.1, 1.0, 0.7),
                                (0.2, 2e-2, 0.6, 0.5, 0.5), (0.01, 1e-2, 0.2, 0.75, 0.6)],
                               baseline_value=0.74)
    text = answers.write(study, str(tmp_path), parameters, total=5, epochs=2)
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
