"""The run folder's life, read and decided without Keras: its files, whether a command
starts, continues or is refused there, and the settings a resumed run keeps.

Everything here runs before Keras is imported, so a mistake about the run
folder costs no TensorFlow start-up and prints one line.
"""

import glob
import json
import math
import os

from pyimagesearch import atomic
from pyimagesearch.errors import UserError
from pyimagesearch.io.checkpoints import check_keras_file
from pyimagesearch.io.runfiles import RunPaths
from pyimagesearch.training.flags import Settings

# Settings that describe this command rather than the run: never taken from a saved run.
# (A run may continue on other devices or processes: the global batch keeps it the same run.)
_NOT_INHERITED = {"resume", "force", "output", "distributed", "coordinator", "num_processes",
                  "process_id", "find_lr", "find_lr_steps", "find_lr_range"}


def check_writable(folder: str, flag: str = "--output") -> None:
    """Creates `folder` if needed and proves a file can be written in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        atomic.write_text(os.path.join(folder, ".write_test"), "")
        os.remove(os.path.join(folder, ".write_test"))
    except OSError as err:
        raise UserError(f"cannot write to {flag} {folder} ({err.strerror or err}); choose a "
                        "folder you can write to") from None


def _saved_args(paths: RunPaths) -> dict:
    if not os.path.exists(paths.args):
        return {}
    try:
        with open(paths.args, encoding="utf-8") as f:
            saved = json.load(f)["args"]
        if not isinstance(saved, dict):
            raise ValueError("'args' is not a dict")
        return saved
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"cannot read the saved settings {paths.args} ({err}); delete it to "
                        "resume with the settings on the command line") from None


# Settings that may differ when an unfinished run is continued by rerunning its command.
_FREE_ON_RERUN = {"resume", "force", "verbose", "workers", "lr_restarts", "precision",
                  "tensorboard"}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _history_epochs(paths: RunPaths) -> int:
    """How many epochs the run's history JSON lists (0 if none can be read)."""
    try:
        with open(paths.history, encoding="utf-8") as f:
            history = json.load(f)
        return max((len(v) for v in history.values() if isinstance(v, list)), default=0)
    except (OSError, ValueError, AttributeError):
        return 0


def _check_newest_checkpoint(found: list[tuple[int, str]]) -> None:
    """Raises a UserError saying what to do if the newest checkpoint is damaged."""
    epoch, path = found[-1]
    if len(found) > 1:
        advice = (f"delete it to resume from {found[-2][1]} (epoch {found[-2][0]}), or start "
                  "over with --force")
    else:
        advice = (f"it is the run's only checkpoint, so nothing can be resumed: pass --force "
                  f"to start over from epoch 1 (the {epoch} epochs trained are lost)")
    check_keras_file(path, "checkpoint", advice)


def _check_fixed_settings(args: Settings, saved: dict, paths: RunPaths) -> None:
    """Refuses typed settings that a resumed run cannot take (see `cli.FIXED_ON_RESUME`).

    The model and its optimizer come from the checkpoint, so a changed
    architecture or optimizer setting would be ignored while the run's
    settings recorded it as in effect.
    """
    differ = [f"{_flag(k)} {saved[k]} there, {getattr(args, k)} here"
              for k in sorted(args.fixed_on_resume) if k in args.typed and k in saved and saved[k] != getattr(args, k)]
    if differ:
        raise UserError(f"the run in {paths.output} was trained with other settings that a "
                        f"resumed run cannot change ({'; '.join(differ)}): they are in its "
                        "model, optimizer or data order; drop them to resume, or pass --force "
                        "(without --resume) to start over with them")


def settle(args: Settings, paths: RunPaths, writer: bool = True) -> tuple[int, str | None, bool]:
    """Settles the run's settings and where it starts, from `args` and the folder alone.

    - A new folder: a new run.
    - An unfinished run (checkpoints, no final model) and the same settings:
      rerunning the command continues it from its last checkpoint, as after
      a crash or `kill -9`; other settings are refused with what differs.
    - A finished run: refused, unless `--resume` (e.g. with a larger
      `--epochs`) or `--force` (start over).
    - `--resume`: settings not typed on this command line come from the saved
      run (those the checkpoint fixed may not be typed with other values),
      and a typed `--lr` restarts the LR decay at the resumed epoch (recorded
      in `args.lr_restarts`, so it survives later resumes) while `args.lr`
      stays the run's first rate.
    - A history but no checkpoint (all deleted, or none written yet with
      `--checkpoint-every` above 1): refused unless `--force`, so a run is
      never started over without a word.

    Only a `writer` (process 0) creates, cleans or deletes anything.

    Returns:
        `(initial_epoch, checkpoint_path, precision_typed)`: `(0, None, False)`
        for a new run; `precision_typed` says that `--resume` was given a
        `--mixed-precision` the checkpoint must match.
    """
    if getattr(args, "warmup_epochs", 0.0) >= args.epochs:
        raise UserError(f"--warmup-epochs {args.warmup_epochs:g} must be below --epochs "
                        f"{args.epochs}")
    if writer:
        check_writable(args.output)
        check_writable(paths.checkpoints)
        if args.tensorboard:
            check_writable(paths.tensorboard, "--output")
        # Temporary files of writes a crash cut short (finished files are never named so).
        for stale in (glob.glob(os.path.join(paths.checkpoints,
                                             f".{paths.name}_epoch_*.tmp.keras"))
                      + glob.glob(os.path.join(paths.output, f".{paths.name}*.tmp.*"))):
            os.remove(stale)
    saved = _saved_args(paths)
    found = paths.checkpoint_list()
    finished = os.path.exists(paths.model)
    typed = args.typed
    asked_to_resume = args.resume
    if args.resume:
        _check_fixed_settings(args, saved, paths)
        for key, value in saved.items():
            if key in vars(args) and key not in typed and key not in _NOT_INHERITED:
                setattr(args, key, value)
    elif args.force:  # the old run is deleted once the data are read: `start_over`
        found, finished, saved = [], False, {}
    elif finished:
        raise UserError(f"{paths.output} holds a finished {paths.name} run; pass --resume (with a "
                        "larger --epochs) to train it further, --force to start over, or another "
                        "--output")
    elif found:
        differ = [f"{_flag(k)} {saved[k]} there, {getattr(args, k)} here" for k in sorted(saved)
                  if k in vars(args) and k not in _FREE_ON_RERUN | _NOT_INHERITED
                  and saved[k] != getattr(args, k)]
        if differ:
            raise UserError(f"{paths.output} holds an unfinished {paths.name} run with other "
                            f"settings ({'; '.join(differ)}); rerun with its settings to continue "
                            "it, add --resume to continue it with these, or pass --force to "
                            "start over")
        print(f"continuing the unfinished run in {paths.output} (rerun of the same command; "
              "--force starts over)", flush=True)
        args.resume = True

    if not args.resume or not found:
        if args.resume:
            raise UserError(f"there is no checkpoint of {paths.name} in {paths.checkpoints} to "
                            "resume from; run without --resume to start training")
        trained = 0 if args.force or finished else _history_epochs(paths)
        if trained:
            raise UserError(f"{paths.output} holds the history of {trained} epochs of an "
                            f"unfinished {paths.name} run but no checkpoint to continue from; "
                            "pass --force to start over from epoch 1, or another --output")
        args.lr_restarts = {}
        return 0, None, False
    initial_epoch, checkpoint = found[-1]
    _check_newest_checkpoint(found)
    if initial_epoch >= args.epochs and finished:
        raise UserError(f"the run in {paths.output} has already trained {initial_epoch} of "
                        f"--epochs {args.epochs}; pass a larger --epochs to train further")
    if initial_epoch > args.epochs:  # its settings would claim fewer epochs than it has
        raise UserError(f"the run in {paths.output} has already trained {initial_epoch} epochs, "
                        f"more than --epochs {args.epochs}; pass --epochs {initial_epoch} or "
                        "more")
    new_lr = args.lr if asked_to_resume and "lr" in typed else None
    args.lr_restarts = _lr_restarts(saved, initial_epoch, new_lr)
    args.lr = saved.get("lr", args.lr)
    return initial_epoch, checkpoint, asked_to_resume and "mixed_precision" in typed


def start_over(paths: RunPaths) -> None:
    """Deletes the checkpoints and final model of the run in `paths` (`--force`).

    Called once the data are read and the model is about to be built, so a
    `--force` with a wrong `--data` or another mistake found on the way costs
    nothing: the old run is still there.
    """
    for _, path in paths.checkpoint_list():
        os.remove(path)
    if os.path.exists(paths.model):
        os.remove(paths.model)


def _lr_restarts(saved: dict, initial_epoch: int, new_lr: float | None) -> dict[str, float]:
    """The saved run's LR restarts, plus one at `initial_epoch` for a new `--resume --lr`.

    Rerunning the same `--resume --lr X` after another crash adds nothing: X is
    already the rate the decay restarted from, and the curve must not move.
    """
    restarts = {int(e): float(lr) for e, lr in saved.get("lr_restarts", {}).items()
                if int(e) <= initial_epoch}
    current = restarts[max(restarts)] if restarts else saved.get("lr")
    if new_lr is not None and not (current and math.isclose(new_lr, current, rel_tol=1e-9)):
        restarts[initial_epoch] = new_lr
    return {str(e): lr for e, lr in sorted(restarts.items())}


def where_to_resume(paths: RunPaths) -> str:
    """What rerunning the run's command will do, from the checkpoints there now."""
    found = paths.checkpoint_list()
    if found:
        return (f"rerun the same command to continue from epoch {found[-1][0]} "
                f"({found[-1][1]})")
    trained = _history_epochs(paths)
    if trained:  # `settle` refuses to start such a run over without a word
        return (f"no checkpoint was written yet; rerun the same command with --force to start "
                f"over (the {trained} epochs trained are lost)")
    return "no epoch had finished; rerun the same command to start again"


def wants_distribution(args: Settings) -> bool:
    """True if `args` ask for data-parallel training (see `pyimagesearch.training.distributed`)."""
    return bool(getattr(args, "distributed", False)) or any(
        getattr(args, k, None) is not None for k in ("coordinator", "num_processes",
                                                     "process_id"))


def check_before_keras(args: Settings, paths: RunPaths) -> tuple | None:
    """Everything about the run folder that can be decided before Keras is imported.

    Returns:
        What `settle` returned, to pass on to `engine.prepare_run`; None when
        settling must wait for the other processes (data-parallel training)
        or does not apply (`--find-lr`, `--evaluate`: only `--output` is checked).
    """
    if args.find_lr:
        if wants_distribution(args):
            raise UserError("--find-lr runs in one process on one device; drop --distributed, "
                            "--coordinator, --num-processes and --process-id")
        start, end = args.find_lr_range
        if not start < end:
            raise UserError(f"--find-lr-range {start:g} {end:g} must go from a lower rate to a "
                            "higher one")
    if args.find_lr or getattr(args, "evaluate", None):
        check_writable(args.output)
        return None
    if wants_distribution(args):
        return None
    return settle(args, paths)
