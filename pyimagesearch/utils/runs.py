"""What every training script does around `model.fit`: the output folder,
starting or resuming a run, the callbacks, and the final files."""

import argparse
import csv
import importlib.util
import io
import math
import os
import platform
import time
import zipfile

import keras
import numpy as np

from pyimagesearch.callbacks import lrfinder
from pyimagesearch.callbacks.divergence import StopOnDivergence
from pyimagesearch.callbacks.epochcheckpoint import (EpochCheckpoint, restore_rng_state,
                                                     save_checkpoint)
from pyimagesearch.callbacks.trainingmonitor import TrainingMonitor
from pyimagesearch.io.batches import ShuffledBatches
from pyimagesearch.nn import layers as _registers_nn_layers  # noqa: F401  (for loading)
from pyimagesearch.preprocessing import batch as _registers_layers_for_loading  # noqa: F401
from pyimagesearch.utils import atomic, distributed, precision, runfolder
from pyimagesearch.utils.backend import set_global_rng_state
from pyimagesearch.utils.checkpointfile import check_keras_file, read_checkpoint_state
from pyimagesearch.utils.errors import UserError
from pyimagesearch.utils.runfolder import RunPaths, check_writable, where_to_resume
from pyimagesearch.utils.schedules import PolynomialDecay


def prepare_run(parser: argparse.ArgumentParser, argv, args: argparse.Namespace,
                paths: RunPaths, settled: tuple | None = None):
    """Settles the run (`runfolder.settle`) and its precision, before any data is read.

    First joins data-parallel training if `args` ask for it (`--distributed`,
    see `pyimagesearch.utils.distributed`). With several processes, every
    process reads the run's folder but only process 0 changes it, and all must
    find the same run there (one folder that they share).

    Args:
        settled: what `runfolder.settle` returned if the script already called
            it (one process, before importing Keras); it is not called again.

    Returns:
        `(args, initial_epoch, checkpoint_path)`; `(args, 0, None)` for a new run.
    """
    replicas = distributed.start(args.distributed, args.coordinator, args.num_processes,
                                 args.process_id)
    try:
        initial_epoch, checkpoint, precision_typed = (
            settled or runfolder.settle(parser, argv, args, paths, writer=replicas.chief))
        distributed.check_batch_size(args.batch_size)
        _settle_precision(args, checkpoint, precision_typed)
    except UserError:
        if replicas.processes > 1:
            distributed.gather(np.int32(-1))  # tell the others, then stop with this error
        raise
    _agree_on_start(initial_epoch)
    return args, initial_epoch, checkpoint


def _agree_on_start(initial_epoch: int) -> None:
    """Raises a UserError unless every process starts at the same epoch (-1: failed)."""
    starts = distributed.gather(np.int32(initial_epoch))
    if (starts == initial_epoch).all():
        return
    if (starts < 0).any():
        failed = ", ".join(str(i) for i in np.flatnonzero(starts < 0))
        raise UserError(f"process {failed} could not start the run (its own message says why)")
    raise UserError(f"the processes found different runs in --output (epochs {starts.tolist()} "
                    "done, by process); --output must be one folder that every process sees")


def _settle_precision(args: argparse.Namespace, checkpoint: str | None,
                      typed: bool = False) -> None:
    """Sets `args.precision` and the Keras dtype policy: the checkpoint's, or the choice's.

    A resumed run keeps the precision its checkpoints were trained in; asking
    for another one on `--resume` is refused rather than silently ignored.
    """
    if checkpoint is None:
        args.precision, reason = precision.resolve(args.mixed_precision)
    else:
        try:
            args.precision = precision.saved_precision(checkpoint)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise UserError(f"cannot read the settings of checkpoint {checkpoint} ({err}); "
                            "delete it to resume from the one before, or start over with "
                            "--force") from None
        reason = "the precision of the run's checkpoints"
        wanted, _ = precision.resolve(args.mixed_precision)
        if typed and wanted != args.precision:
            raise UserError(f"the checkpoints in {args.output} were trained in {args.precision} "
                            f"precision, not {wanted}; resume without --mixed-precision, or "
                            "start over with --force")
    precision.use(args.precision)
    print(f"precision: {args.precision} ({reason})", flush=True)


def checkpoint_state(path: str | None) -> dict:
    """What a checkpoint saved besides the model (RNG states, the data seed); {} for none."""
    return read_checkpoint_state(path) if path else {}


def data_seed(checkpoint: str | None, seed: int | None) -> int | None:
    """The seed of the data's order: the checkpoint's, else `seed`; with several
    processes, one drawn for all of them if both are None (alone, None lets the
    data draw one)."""
    seed = checkpoint_state(checkpoint).get("data_seed", seed)
    if seed is None and distributed.current().processes > 1:
        seed = distributed.shared_seed()
    return seed


def saved_class_names(path: str) -> list[str] | None:
    """The class names saved inside a model or checkpoint by `train`, or None."""
    return checkpoint_state(path).get("class_names")


def load_checkpoint(path: str, what: str = "checkpoint",
                    advice: str = "delete it to resume from the one before, or start over "
                                  "with --force") -> keras.Model:
    """Loads a `.keras` checkpoint in Keras's safe mode, RNG states included.

    Raises:
        UserError: it cannot be loaded; the message names it as `what` and ends
            with `advice`.
    """
    check_keras_file(path, what, advice)
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as err:
        raise UserError(f"cannot load {what} {path} ({type(err).__name__}: {err}); "
                        f"{advice}") from None
    restore_rng_state(model, checkpoint_state(path))
    return model


def check_model_fits(model: keras.Model, source: str, classes: int, image_shape) -> None:
    """Raises a UserError if `model` cannot classify images of `image_shape` into `classes`."""
    if tuple(model.input_shape[1:]) != tuple(image_shape) or model.output_shape[-1] != classes:
        raise UserError(f"{source} takes {tuple(model.input_shape[1:])} images into "
                        f"{model.output_shape[-1]} classes, but the data has "
                        f"{tuple(image_shape)} images of {classes} classes; use a model "
                        "trained on this data, or another --output")


def write_settings(paths: RunPaths, args: argparse.Namespace, **extra) -> None:
    """Writes the resolved settings and the software they ran on, atomically (process 0)."""
    if not distributed.current().chief:
        return
    atomic.write_json(paths.args, {
        "args": vars(args),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    })


def train(model: keras.Model, data: ShuffledBatches, paths: RunPaths,
          args: argparse.Namespace, initial_epoch: int, title: str,
          checkpoint: str | None = None, class_names=None,
          **fit_kwargs) -> keras.callbacks.History:
    """`model.fit` with the run's LR schedule, checkpoints and monitor; saves the final model.

    The data continue in the order of `initial_epoch`, and every checkpoint
    records the data's seed with the model's RNG states, so a resumed run
    trains exactly as an uninterrupted one.

    Args:
        model: a compiled model.
        data: the training batches.
        paths: the run's files.
        args: the run's settings (`epochs`, `checkpoint_every`, ...).
        initial_epoch: the epoch to start from (0, or the resumed checkpoint's).
        title: the plot's title.
        checkpoint: the checkpoint the run resumes from, if any.
        class_names: the classes' names, saved inside every checkpoint and the
            final model (see `saved_class_names`).
        **fit_kwargs: passed on to `fit` (`validation_data`, ...).

    Raises:
        UserError: the loss diverged, or a file could not be written.
    """
    data.set_epoch(initial_epoch)
    state = {"data_seed": data.seed}
    if class_names is not None:
        state["class_names"] = [str(name) for name in class_names]
    replicas = distributed.current()
    chief = replicas.chief  # with several processes, only process 0 writes
    # A checkpoint holds the history through its epoch and is written first: an epoch
    # whose checkpoint could not be written never reaches the history or the CSV log,
    # and a resume takes the history from the checkpoint (the files may hold more
    # epochs, or one fewer after a crash between the two writes).
    saved_history = checkpoint_state(checkpoint).get("history")
    monitor = TrainingMonitor(paths.plot, json_path=paths.history, start_at=initial_epoch,
                              title=title, diagnosis_path=paths.diagnosis,
                              initial_history=saved_history)
    files = [
        EpochCheckpoint(paths.checkpoints, prefix=paths.name, every=args.checkpoint_every,
                        keep=args.keep_checkpoints,
                        state=lambda epoch, logs: {**state,
                                                   "history": monitor.history_with(epoch, logs)}),
        monitor,
        *(log_callbacks(paths, initial_epoch, args.tensorboard, saved_history) if chief else []),
    ]
    # The backend's global RNG (torch's unseeded dropout) is put back once `fit` has
    # begun: on torch, `fit` draws from it while it sets up, before the first epoch.
    backend_rng = checkpoint_state(checkpoint).get("backend_rng")
    callbacks = [
        data.epoch_callback(),  # epoch e's order and augmentation, whatever the backend
        keras.callbacks.LambdaCallback(
            on_train_begin=lambda logs: set_global_rng_state(backend_rng)),
        keras.callbacks.LearningRateScheduler(poly_schedule(args)),
        *(files if chief else []),
        StopOnDivergence(),
    ]
    # The data own their (seeded, resumable) order: Keras must not shuffle batches again.
    try:
        history = model.fit(data, epochs=args.epochs, initial_epoch=initial_epoch,
                            callbacks=callbacks, verbose=args.verbose if chief else 0,
                            shuffle=False, **fit_kwargs)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (see cli.handle_user_errors)
        raise type(stop)(f"interrupted; {where_to_resume(paths)}") from None
    check_finite(callbacks[-1], paths)
    if replicas.processes > 1:
        digest = distributed.check_replicas_agree(model)
        print(f"process {replicas.process} of {replicas.processes}: the same weights as every "
              f"other process (SHA-256 {digest[:16]})", flush=True)
    if chief:
        save_model(model, paths.model, state)
        if monitor.diagnosis is not None:
            print(monitor.diagnosis.text(paths.history), end="", flush=True)
    return history


def log_callbacks(paths: RunPaths, initial_epoch: int, tensorboard: bool,
                  history: dict | None = None) -> list:
    """Keras's `CSVLogger` (a row an epoch) and, if asked, its `TensorBoard` logger.

    On resume, the CSV is first made to hold exactly the epochs the checkpoint
    holds: cut back (the run went on past its last checkpoint), or completed
    from the checkpoint's `history` (a crash between the checkpoint and the
    row), so the log carries on without a repeated or missing epoch.

    Raises:
        UserError: `tensorboard` without TensorFlow and TensorBoard installed (Keras's
            logger writes with their summary writer).
    """
    if initial_epoch:
        _keep_csv_rows(paths.csv_log, initial_epoch, history)
    loggers = [keras.callbacks.CSVLogger(paths.csv_log, append=initial_epoch > 0)]
    if tensorboard:
        missing = [name for name in ("tensorflow", "tensorboard")
                   if importlib.util.find_spec(name) is None]
        if missing:
            raise UserError(f"--tensorboard needs {' and '.join(missing)} (Keras writes its logs "
                            f"with them); pip install {' '.join(missing)}, or drop --tensorboard")
        # The graph can be written only from TensorFlow's own functions.
        loggers.append(keras.callbacks.TensorBoard(
            paths.tensorboard, write_graph=keras.backend.backend() == "tensorflow"))
    return loggers


def _keep_csv_rows(path: str, rows: int, history: dict | None = None) -> None:
    """Makes a CSV log its header and first `rows` rows, atomically: cut back, or
    completed from `history` (epoch -> its values by column)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines(keepends=True)
    if len(lines) > rows + 1:
        atomic.write_text(path, "".join(lines[: rows + 1]))
    elif 1 <= len(lines) < rows + 1 and history:
        columns = next(csv.reader(lines[:1]))
        out = io.StringIO()
        writer = csv.writer(out)
        for epoch in range(len(lines) - 1, rows):
            writer.writerow([epoch if column == "epoch" else
                             _at(history.get(column), epoch) for column in columns])
        atomic.write_text(path, "".join(lines) + out.getvalue())


def _at(values: list | None, epoch: int):
    return values[epoch] if values is not None and epoch < len(values) else ""


def poly_schedule(args: argparse.Namespace) -> PolynomialDecay:
    """The run's LR schedule: `--lr`, `--epochs`, `--power` and any `--resume --lr` restarts."""
    return PolynomialDecay(args.lr, args.epochs, args.power, args.lr_restarts)


def check_finite(monitor: StopOnDivergence, paths: RunPaths) -> None:
    """Raises a UserError naming the epoch and batch if the loss diverged."""
    if monitor.diverged:
        where = monitor.diverged
        last = paths.checkpoint_list()
        keep = (f"the last good checkpoint, {last[-1][1]}, is kept" if last
                else "no checkpoint was written")
        raise UserError(f"training diverged: the loss became {where['loss']} at batch "
                        f"{where['batch']} of epoch {where['epoch']} ({keep}); rerun with "
                        "--resume and a lower --lr")


def save_model(model: keras.Model, path: str, state: dict | None = None) -> None:
    """Saves `model` (and its RNG states) to `path` atomically."""
    try:
        save_checkpoint(model, path, state)
    except OSError as err:
        raise UserError(f"could not write {path} ({err.strerror or err}); free some disk space "
                        "or fix the folder's permissions, then rerun with --resume") from None


def prepare_lr_find(args: argparse.Namespace, paths: RunPaths):
    """Checks `--find-lr`'s settings and `--output`, and sets the precision.

    Returns:
        The Keras learning-rate schedule of the test, for a fresh optimizer.
    """
    if args.distributed or any(getattr(args, k) is not None
                               for k in ("coordinator", "num_processes", "process_id")):
        raise UserError("--find-lr runs in one process on one device; drop --distributed, "
                        "--coordinator, --num-processes and --process-id")
    start, end = args.find_lr_range
    if not start < end:
        raise UserError(f"--find-lr-range {start:g} {end:g} must go from a lower rate to a "
                        "higher one")
    check_writable(args.output)
    _settle_precision(args, None)
    return lrfinder.lr_schedule(start, end, args.find_lr_steps)


def find_lr(model: keras.Model, data: ShuffledBatches, paths: RunPaths,
            args: argparse.Namespace, title: str) -> dict:
    """Runs the learning-rate range test and writes `_lr_find.json` and `_lr_find.png`.

    Args:
        model: a fresh model compiled with the schedule of `prepare_lr_find`.
        data: training batches that all hold `--batch-size` images.
        paths: the run's files (only the two above are written; no model).
        args: `find_lr_range`, `find_lr_steps`, `verbose`.
        title: the plot's title.

    Returns:
        The suggestion of `lrfinder.suggest_lr`, plus `lrs`, `losses`, `stopped`.
    """
    start, end = args.find_lr_range
    if len(data) == 0:
        raise UserError(f"--batch-size {data.batch_size} is larger than the {data.num_images} "
                        "training images; lower it")
    finder = lrfinder.LRFinder(start, end, args.find_lr_steps)
    print(f"learning-rate range test: up to {args.find_lr_steps} batches of {data.batch_size}, "
          f"lr {start:g} to {end:g}", flush=True)
    per_epoch = min(len(data), args.find_lr_steps)  # more steps than batches: more epochs
    model.fit(data, epochs=math.ceil(args.find_lr_steps / per_epoch), steps_per_epoch=per_epoch,
              shuffle=False, callbacks=[data.epoch_callback(), finder], verbose=args.verbose)
    try:
        suggestion = lrfinder.suggest_lr(finder.lrs, finder.losses)
    except ValueError as err:
        raise UserError(f"the range test could not be read ({err}); raise --find-lr-steps or "
                        "lower the start of --find-lr-range") from None
    result = {"suggested_lr": suggestion["lr"], "rule": suggestion["rule"],
              "min_loss_lr": suggestion["min_loss_lr"], "min_loss": suggestion["min_loss"],
              "steepest_lr": suggestion["steepest_lr"], "stopped": finder.stopped,
              "batch_size": data.batch_size, "range": [start, end],
              "steps": args.find_lr_steps, "precision": args.precision,
              "lrs": finder.lrs, "losses": finder.losses,
              "smoothed_losses": suggestion["smoothed"]}
    json_path, plot_path = paths.file("_lr_find.json"), paths.file("_lr_find.png")
    atomic.write_json(json_path, result)
    lrfinder.plot_lr_find(finder.lrs, finder.losses, suggestion, plot_path, title)
    print(f"{len(finder.lrs)} batches, lr {finder.lrs[0]:.3g} to {finder.lrs[-1]:.3g} "
          f"({finder.stopped}); lowest smoothed loss {suggestion['min_loss']:.4g} at lr "
          f"{suggestion['min_loss_lr']:.3g}, steepest descent at lr "
          f"{suggestion['steepest_lr']:.3g}")
    print(f"suggested --lr {suggestion['lr']:.2g} ({suggestion['rule']}); wrote {plot_path}, "
          f"{json_path}")
    return result
