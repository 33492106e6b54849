"""Search the learning rate, regularisation, dropout and width with Optuna, and answer the
four questions.

    python -m pyimagesearch.tune --dataset cifar10 --trials 16 --epochs 3 -- --data c10/ \
        --subset 10000
    python -m pyimagesearch.tune --dataset tinyimagenet --trials 24 --epochs 10 -- --hdf5-dir tiny/

Flags after `--` go to the training script (data, batch size, augmentation); each trial is
an ordinary run of that script in `--output`/trial_NNN (`--output`/NAME/trial_NNN for a
`--study-name` other than the dataset; resumable, with its report.html), validated on
held-out training images (CIFAR-10: `--holdout 5000` unless given; Tiny ImageNet: its val
split), never on the test split. The trials' command is checked with the script's own parser
before the study is created. Poor trials are pruned (Hyperband) from their validation
accuracy after each epoch. The study lives in `--output`/study.journal (a record cut by a
kill is set aside on the next start), or in `--storage` (a database URL) so several machines
share it: run the same command on each, or again after an interruption, and together they
finish exactly `--trials` trials. Writes trials.csv, history.png, importances.png,
parallel.png and answers.txt beside the trial folders.
"""

import argparse
import os
import sys
import time

from pyimagesearch.cli import ArgumentParser, handle_user_errors, positive_float, positive_int, \
    random_seed
from pyimagesearch.errors import UserError
from pyimagesearch.training.flags import RECIPES
from pyimagesearch.tuning import space

INSTALL = "pip install -r requirements-tune.txt"
# Flags the search sets on every trial; they cannot be given after `--`.
OWN_FLAGS = ("--output", "--lr", "--weight-decay", "--reg", "--dropout", "--width", "--epochs",
             "--recipe", "--seed", "--resume", "--force", "--evaluate", "--find-lr", "--test",
             "--no-test", "--verbose")
MAX_POLL = 60.0  # seconds; a worker whose trial is read less often looks gone after 120 s


def poll_seconds(text: str) -> float:
    """argparse type of --poll: above 0 and at most MAX_POLL seconds."""
    value = positive_float(text)
    if value > MAX_POLL:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_POLL:g} seconds (a worker that looks less often seems gone "
            f"to the others), got {text}")
    return value


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m pyimagesearch.tune",
                            description="Search the learning rate, regularisation, dropout "
                                        "and width of a training script with Optuna; flags "
                                        "after -- go to the script.")
    parser.add_argument("--dataset", choices=tuple(space.SCRIPTS), required=True,
                        help="which training script: train_cifar10.py, train_tinyimagenet.py or "
                             "train_images.py (your images: pass its --hdf5-dir after --)")
    parser.add_argument("--trials", type=positive_int, default=16,
                        help="trials the study ends with, complete or pruned, however many "
                             "processes share it")
    parser.add_argument("--epochs", type=positive_int, default=4,
                        help="each trial's budget (its LR schedule runs over these epochs)")
    parser.add_argument("--recipe", choices=RECIPES, default="fast",
                        help="the recipe every trial starts from; its settings are trial 0")
    parser.add_argument("--output", metavar="FOLDER",
                        help="the study folder (default: output/tune_DATASET)")
    parser.add_argument("--storage", metavar="URL",
                        help="a database for the study (e.g. postgresql://user@host/db) so "
                             "machines that share no folder work on one study (default: the "
                             "journal file study.journal in --output)")
    parser.add_argument("--study-name", help="the study's name in the storage (default: the "
                                             "dataset); another name keeps its trials and "
                                             "results in --output/NAME")
    parser.add_argument("--seed", type=random_seed, default=1,
                        help="the sampler's seed and every trial's --seed (one data order)")
    parser.add_argument("--pruner", choices=("hyperband", "halving", "none"),
                        default="hyperband", help="how poor trials are stopped early")
    ranges = parser.add_argument_group(
        "search ranges (default: the recipe's LR /10 to x5 and regularisation /10 to x10, "
        "both on a log scale)")
    ranges.add_argument("--lr-range", type=positive_float, nargs=2, metavar=("MIN", "MAX"),
                        help="the learning rate")
    ranges.add_argument("--regularisation-range", type=positive_float, nargs=2,
                        metavar=("MIN", "MAX"),
                        help="the recipe's regulariser: L2 --reg where it has one, else "
                             "--weight-decay")
    ranges.add_argument("--dropout-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                        default=[0.0, 0.7], help="the dropout rate before the classifier")
    ranges.add_argument("--width-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                        default=[0.5, 1.5],
                        help="the width multiplier (capacity); in steps of 0.25 when both "
                             "ends are multiples of 0.25")
    parser.add_argument("--poll", type=poll_seconds, default=2.0, metavar="SECONDS",
                        help="how often a running trial's history is read")
    return parser


def _split(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1:]
    return argv, []


def _check_passthrough(extra: list[str]) -> None:
    for word in extra:
        flag = word.split("=", 1)[0]
        if flag in OWN_FLAGS:
            raise UserError(f"{flag} is set by the search on every trial; drop it after --")


def _sampler(optuna, seed: int, number: int):
    """Optuna's TPE sampler, seeded from `--seed` and the trial's number: one worker's study
    repeats, and workers sharing a study never draw the same settings."""
    return optuna.samplers.TPESampler(seed=(seed * 100_003 + number) % 2**32)


def _pruner(optuna, args):
    return {"hyperband": lambda: optuna.pruners.HyperbandPruner(
                  min_resource=1, max_resource=args.epochs, reduction_factor=3),
              "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
                  min_resource=1, reduction_factor=3),
              "none": optuna.pruners.NopPruner}[args.pruner]()


# Flags after `--` whose value is a path: it may differ between the machines of a study.
PATH_FLAGS = ("--data", "--hdf5-dir")


def _without_paths(extra: list[str]) -> list[str]:
    """The script's flags with the values of PATH_FLAGS written PATH."""
    words = []
    for i, word in enumerate(extra):
        flag, equals, _ = word.partition("=")
        if equals and flag in PATH_FLAGS:
            word = f"{flag}=PATH"
        elif i and extra[i - 1] in PATH_FLAGS:
            word = "PATH"
        words.append(word)
    return words


def _settings(args, parameters, extra: list[str]) -> dict:
    """What makes a study what it is: a rerun, or another worker, must give the same."""
    return {"dataset": args.dataset, "epochs": args.epochs, "recipe": args.recipe,
            "seed": args.seed, "pruner": args.pruner,
            "ranges": {p.name: [p.low, p.high] for p in parameters},
            "script flags": _without_paths(extra)}


def _check_same_study(study, settings: dict, where: str) -> None:
    saved = study.user_attrs.get("tune:settings")
    if saved is None:
        study.set_user_attr("tune:settings", settings)
        return
    differ = [f"{k} {saved[k]} there, {settings[k]} here" for k in settings
              if k in saved and saved[k] != settings[k]]
    if differ:
        raise UserError(f"the study in {where} was made with other settings "
                        f"({'; '.join(differ)}); give the same, or another --output or "
                        "--study-name for a new study")
    if saved.keys() != settings.keys():  # a study begun before a setting was recorded
        study.set_user_attr("tune:settings", settings)


def _fixed(args, extra: list[str]) -> list[str]:
    """The flags every trial gives its training script, besides the searched ones."""
    fixed = [*extra, "--epochs", str(args.epochs), "--recipe", args.recipe,
             "--seed", str(args.seed), "--no-test", "--verbose", "2"]
    if args.dataset == "cifar10" and space.flag_value(extra, "--holdout") is None:
        fixed += ["--holdout", str(space.HOLDOUT)]
    return fixed


def _trial_argv(fixed: list[str], parameters, values: dict) -> list[str]:
    """A trial's flags: `fixed` and the searched `values` (without --output)."""
    return fixed + [a for p in parameters for a in (p.flag, f"{values[p.name]:.6g}")]


@handle_user_errors(on_interrupt="interrupted; rerun the same command to continue the study "
                                 "(the running trial resumes from its last checkpoint)")
def main(argv=None) -> int:
    own, extra = _split(argv)
    args = get_args_parser().parse_args(own)
    _check_passthrough(extra)
    try:
        import optuna
    except ImportError:
        raise UserError(f"tune needs Optuna; install it with: {INSTALL}") from None
    from pyimagesearch.tuning import answers, precheck, study as studies

    # Everything that can be checked before anything is written.
    script = space.script(args.dataset)
    parameters = space.build(args.dataset, args.recipe, args.lr_range,
                             args.regularisation_range, args.dropout_range, args.width_range,
                             script_flags=extra)
    folder = args.output or os.path.join("output", f"tune_{args.dataset}")
    home = studies.folder_of(folder, args.study_name or args.dataset, args.dataset)
    fixed = _fixed(args, extra)
    precheck.check(script, [_trial_argv(fixed, parameters, {p.name: getattr(p, end)
                                                              for p in parameters})
                            for end in ("low", "high")])
    noise = answers.Noise(*space.validation(args.dataset, extra))

    os.makedirs(home, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = _pruner(optuna, args)
    if not args.storage:
        cut = studies.set_aside_cut_records(os.path.join(folder, studies.JOURNAL))
        if cut:
            print(f"{studies.JOURNAL} ended in a record cut mid-line (a write interrupted by a "
                  f"kill or a full disk): its {cut[1]} bytes are set aside in {cut[0]}, and the "
                  "study continues from the whole records", flush=True)
    storage = studies.storage(folder, args.storage)
    baseline = {p.name: p.clamp(p.default) for p in parameters}
    study = studies.open_study(storage, args.study_name or args.dataset,
                               _sampler(optuna, args.seed, 0), pruner, baseline)
    _check_same_study(study, _settings(args, parameters, extra), args.storage or folder)
    worker = studies.Worker(study, args.trials,
                            None if args.storage else os.path.join(folder, studies.CLAIM_LOCK))
    trials_in = "" if home == folder else f" (its trials and results in {home})"
    print(f"study {study.study_name} in {args.storage or folder}{trials_in}: {args.trials} "
          f"trials of {args.epochs} epoch(s), {args.pruner} pruning", flush=True)
    failures, text = 0, None
    while True:
        trial, resumed = worker.next_trial()
        if trial is None:
            break
        study.sampler = _sampler(optuna, args.seed, trial.number)
        status = _run_trial(study, trial, resumed, worker, parameters, fixed, home, args)
        failures = failures + 1 if status == "failed" else 0
        if failures == 3:
            raise UserError(f"three trials in a row failed; see the train.log of the last, in "
                            f"{home}/trial_{trial.number:03d}")
        text = answers.write(study, home, parameters, args.trials, args.epochs, noise)
    if text is None:  # nothing left to run here: the results as they stand
        text = answers.write(study, home, parameters, args.trials, args.epochs, noise)
    print(text, end="")
    print(f"wrote {home}/trials.csv, answers.txt and the plots", flush=True)
    return 0


def _run_trial(study, trial, resumed: bool, worker, parameters, fixed: list[str], home: str,
               args) -> str:
    """Runs one trial (or counts one whose run finished before its worker died), tells the
    study how it ended, says so in a line, and returns "complete", "pruned" or "failed".

    Raises:
        UserError: the training script refused the trial's flags (every trial would be).
    """
    from optuna.trial import TrialState

    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.tuning import trial as trials

    values = {p.name: p.suggest(trial) for p in parameters}
    argv = _trial_argv(fixed, parameters, values)
    paths = RunPaths(trials.folder_of(home, trial.number), space.model_name(args.dataset))
    setting = ", ".join(f"{p.name} {values[p.name]:.3g}" for p in parameters)
    print(f"trial {trial.number}{' (resumed)' if resumed else ''}: {setting}", flush=True)
    began = time.time()
    history = trials.finished(paths, args.epochs) if resumed else None
    if history:  # trained to the end; its worker died before saying so
        status, code = "complete", 0
        trials.report(trial, history)
    else:
        script = space.script(args.dataset)
        status, history, code = trials.run(
            trial, trials.command(script, argv, paths.output, paths), paths, args.epochs,
            beat=lambda: worker.heartbeat(trial),
            prune=not trial.user_attrs.get("baseline"), poll=args.poll)
    took = f"{time.time() - began:.0f} s"
    if status == "complete":
        study.tell(trial, history[-1])
        print(f"trial {trial.number}: validation accuracy {100 * history[-1]:.1f}% after "
              f"{len(history)} epoch(s) ({took})", flush=True)
    elif status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
        print(f"trial {trial.number}: pruned after epoch {len(history)} at "
              f"{100 * history[-1]:.1f}% ({took})", flush=True)
    else:
        study.tell(trial, state=TrialState.FAIL)
        said = trials.last_lines(paths)
        if code == 2:
            raise UserError(f"trial {trial.number} was refused by "
                            f"{space.SCRIPTS[args.dataset][0]}: {said.removeprefix('error: ')}")
        print(f"trial {trial.number} failed (exit {code}): {said}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
