"""The training engine: the one loop both scripts hand their data and model to.

`prepare_run` settles the run (its folder: `pyimagesearch.training.run`) and
its precision; `train` runs `model.fit` with the run's LR schedule,
checkpoints, history, logs and diagnosis, and saves the final model;
`evaluate` scores a model on a test split and writes its report; `find_lr`
runs the learning-rate range test.
"""

import contextlib
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

from pyimagesearch import atomic, signals
from pyimagesearch.backend import (accelerator, describe_hardware, seed_everything,
                                   set_global_rng_state)
from pyimagesearch.callbacks import (EpochCheckpoint, LRFinder, RunReport, StopOnDivergence,
                                     StopWhenAsked, TrainingMonitor)
from pyimagesearch.errors import UserError
from pyimagesearch.evaluation import figures, lr_range, metrics, reports, run_report, tta
from pyimagesearch.io.batches import ShuffledBatches
from pyimagesearch.io.checkpoints import checkpoint_state, load_checkpoint, save_model
from pyimagesearch.training import distributed, memory, precision, recipes, run
from pyimagesearch.io.runfiles import RunPaths
from pyimagesearch.nn.schedules import PolynomialDecay, PolynomialDecaySchedule
from pyimagesearch.training.flags import Settings, verbosity
from pyimagesearch.training.run import where_to_resume


def prepare(args: Settings, paths: RunPaths, settled: tuple | None = None,
            network=None, images: int = 0):
    """`prepare_run` for training; for `--find-lr`, the precision and the test's LR schedule.
    Then checks that a training step fits in memory (`check_memory`, with `network` and
    the number of training `images` (0: at least a batch), if given), and seeds everything
    with `--seed`, if given, before any model is built.

    Returns:
        `(args, initial_epoch, checkpoint_path, learning_rate)`: the rate (or
        schedule) a new model is compiled with.
    """
    if args.find_lr:
        _settle_precision(args, None)
        start, end = args.find_lr_range
        initial_epoch, checkpoint = 0, None
        learning_rate = lr_range.lr_schedule(start, end, args.find_lr_steps)
    else:
        args, initial_epoch, checkpoint = prepare_run(args, paths, settled)
        learning_rate = args.lr
    if network is not None:
        check_memory(network, args, images)  # before the seed: it builds a network
    if args.seed is not None:
        seed_everything(args.seed)
    return args, initial_epoch, checkpoint, learning_rate


def check_memory(network, args: Settings, images: int) -> None:
    """Raises a UserError if a training step of this process at `--width` and
    `--batch-size` (at most `images`) would not fit in the memory left
    (`memory.check_fits`); only on a CPU, whose memory the step shares with the host.

    Args:
        network: builds the network at a width multiplier.
    """
    if accelerator()["kind"] != "cpu":
        return
    batch = math.ceil(min(args.batch_size, images or args.batch_size)
                      / distributed.current().processes)
    memory.check_fits(network, args.width, batch)


def batch_kwargs(args: Settings) -> dict:
    """The training batches' `shard`/`multiple`: this process's part of every global batch;
    for `--find-lr`, every batch whole (the test reads each batch's loss)."""
    return {"multiple": args.batch_size} if args.find_lr else distributed.current().batch_kwargs()


def prepare_run(args: Settings, paths: RunPaths, settled: tuple | None = None):
    """Settles the run (`run.settle`) and its precision, before any data is read.

    First joins data-parallel training if `args` ask for it (`--distributed`,
    see `pyimagesearch.training.distributed`). With several processes, every
    process reads the run's folder but only process 0 changes it, and all must
    find the same run there (one folder that they share).

    Args:
        settled: what `run.settle` returned if the script already called
            it (one process, before importing Keras); it is not called again.

    Returns:
        `(args, initial_epoch, checkpoint_path)`; `(args, 0, None)` for a new run.
    """
    replicas = distributed.start(args.distributed, args.coordinator, args.num_processes,
                                 args.process_id)
    try:
        initial_epoch, checkpoint, precision_typed = (
            settled or run.settle(args, paths, writer=replicas.chief))
        distributed.check_batch_size(args.batch_size)
        _settle_precision(args, checkpoint, precision_typed)
        if args.force and not args.resume and replicas.chief:
            run.start_over(paths)
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


def _settle_precision(args: Settings, checkpoint: str | None,
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


def data_seed(checkpoint: str | None, seed: int | None) -> int | None:
    """The seed of the data's order: the checkpoint's, else `seed`; with several
    processes, one drawn for all of them if both are None (alone, None lets the
    data draw one)."""
    seed = checkpoint_state(checkpoint).get("data_seed", seed)
    if seed is None and distributed.current().processes > 1:
        seed = distributed.shared_seed()
    return seed


def check_model_fits(model: keras.Model, source: str, classes: int, image_shape) -> None:
    """Raises a UserError if `model` cannot classify images of `image_shape` (height, width,
    channels, as stored) into `classes`."""
    shape = tuple(image_shape)
    if keras.config.image_data_format() == "channels_first":
        shape = (shape[2], shape[0], shape[1])
    if tuple(model.input_shape[1:]) != shape or model.output_shape[-1] != classes:
        raise UserError(f"{source} takes {tuple(model.input_shape[1:])} images into "
                        f"{model.output_shape[-1]} classes, but the data has "
                        f"{shape} images of {classes} classes; use a model "
                        "trained on this data, or another --output")


def model_for(checkpoint: str | None, initial_epoch: int, epochs: int, new_model, lr: float,
              classes: int, image_shape) -> keras.Model:
    """The checkpoint's model (checked to fit the data) when resuming, else `new_model(lr)`."""
    if checkpoint is None:
        return new_model(lr)
    print(f"resuming from {checkpoint}: epoch {initial_epoch} of {epochs} done", flush=True)
    model = load_checkpoint(checkpoint)
    check_model_fits(model, checkpoint, classes, image_shape)
    return model


def evaluate(model: keras.Model, data, class_names: list[str], paths: RunPaths,
             model_path: str, verbose: int | str = 0) -> dict | None:
    """Scores `model` on a test split, alone and with flip TTA (`evaluation.tta`), and
    writes `_eval.json` (with the confusion matrix's counts), `_report.txt` and
    `_confusion.png` (of the model alone) to the run's folder (process 0).

    Args:
        data: the test split's batches (`shuffle=False`), its `labels` in order.
        model_path: the model's file, named in the files.

    Also writes `_misclassified.png`, and rewrites the run's `report.html` when the
    folder holds a run.

    Returns:
        `{"rank1", "rank5", "n", "model", "flip_tta": {"rank1", "rank5"}}` (None on
        processes other than 0).
    """
    verbose = verbosity(verbose)
    probs = distributed.predict(model, data, verbose=verbose)
    flipped = distributed.predict(tta.mirrored(model), data, verbose=verbose)
    if not distributed.current().chief:
        return None
    labels = np.asarray(data.labels)
    preds = metrics.top_class(probs)  # rank-1's own predictions: one figure everywhere
    rank1, rank5 = metrics.rank5_accuracy(probs, labels)
    tta1, tta5 = metrics.rank5_accuracy(tta.flip_average(probs, flipped), labels)
    title = f"{os.path.basename(model_path)} on the test split"
    summary = (f"rank-1: {rank1:.2%} ({int(np.sum(preds == labels))} of {len(labels)} test "
               f"images), rank-5: {rank5:.2%}; with flip TTA: rank-1 {tta1:.2%}, rank-5 "
               f"{tta5:.2%}")
    report = reports.classification_summary(labels, preds, class_names, title, summary)
    counts = figures.plot_confusion_matrix(labels, preds, class_names,
                                           paths.file("_confusion.png"), title)
    _plot_misclassified(data, labels, preds, probs, class_names,
                        paths.file("_misclassified.png"))
    result = {"rank1": rank1, "rank5": rank5, "n": int(len(labels)), "model": model_path,
              "flip_tta": {"rank1": tta1, "rank5": tta5},
              "class_names": [str(name) for name in class_names], "confusion": counts}
    atomic.write_json(paths.eval, result)
    atomic.write_text(paths.file("_report.txt"), report)
    print(report if len(class_names) <= 20 else summary)  # the summary once, either way
    written = [paths.eval, paths.file("_report.txt"), paths.file("_confusion.png"),
               paths.file("_misclassified.png")]
    if os.path.exists(paths.history):  # a run's folder: its report gains the test split
        written.append(run_report.write(paths))
    print(f"wrote {', '.join(written)}")
    return {k: result[k] for k in ("rank1", "rank5", "n", "model", "flip_tta")}


def _plot_misclassified(data, labels, preds, probs, class_names, path: str,
                        most: int = 24) -> None:
    """The `most` misclassified test images the model was surest of, as a grid."""
    misclassified = np.flatnonzero(preds != labels)
    wrong = misclassified[np.argsort(-probs[misclassified].max(axis=1), kind="stable")][:most]
    rows = np.sort(wrong)  # HDF5 reads rows in increasing order
    images = data.read(rows)[np.searchsorted(rows, wrong)] if len(rows) else []
    figures.plot_misclassified(images, labels[wrong], probs[wrong], class_names, path,
                               f"{len(wrong)} misclassified test images, the surest first "
                               f"(of {len(misclassified)})")


def evaluate_saved(model_path: str, data, class_names: list[str], paths: RunPaths,
                   verbose: int | str = 0) -> dict | None:
    """`evaluate` for a saved model (`--evaluate MODEL`), checked to fit the data first."""
    model = load_checkpoint(model_path, "--evaluate",
                            "pass a .keras model saved by a training script")
    check_model_fits(model, model_path, len(class_names), data.image_shape)
    return evaluate(model, data, class_names, paths, model_path, verbose)


def write_settings(paths: RunPaths, args: Settings, **extra) -> None:
    """Writes the resolved settings and the software they ran on, atomically (process 0)."""
    if not distributed.current().chief:
        return
    atomic.write_json(paths.args, {
        "args": vars(args),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "hardware": describe_hardware(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    })


def train(model: keras.Model, data: ShuffledBatches, paths: RunPaths,
          args: Settings, initial_epoch: int, title: str,
          checkpoint: str | None = None, class_names=None,
          **fit_kwargs) -> keras.callbacks.History:
    """`model.fit` with the run's LR schedule, checkpoints and monitor; saves the final model.

    First records the run's settings (`_args.json`). The data continue in the
    order of `initial_epoch`, and every checkpoint
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
    write_settings(paths, args, class_names=class_names, initial_epoch=initial_epoch,
                   title=title)
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
                              initial_history=saved_history, total_epochs=args.epochs)
    report = RunReport(paths, initial_epoch, args.epochs)  # reads the history the monitor wrote
    rate = run_schedule(args, len(data), initial_epoch, model.optimizer)
    model.optimizer.learning_rate = rate  # computed in the train step from its step counter
    divergence = StopOnDivergence(rate.at)  # judges each epoch before its checkpoint is saved
    files = [
        EpochCheckpoint(paths.checkpoints, prefix=paths.name, every=args.checkpoint_every,
                        keep=args.keep_checkpoints,
                        state=lambda epoch, logs: {**state,
                                                   "history": monitor.history_with(epoch, logs)},
                        diverged=lambda: divergence.diverged is not None),
        monitor,
        report,
        *(log_callbacks(paths, initial_epoch, args.tensorboard, saved_history) if chief else []),
    ]
    # The backend's global RNG (torch's unseeded dropout) is put back once `fit` has
    # begun: on torch, `fit` draws from it while it sets up, before the first epoch.
    backend_rng = checkpoint_state(checkpoint).get("backend_rng")
    callbacks = [
        data.epoch_callback(),  # epoch e's order and augmentation, whatever the backend
        keras.callbacks.LambdaCallback(
            on_train_begin=lambda logs: set_global_rng_state(backend_rng)),
        # The epoch's rate in its logs, for the history (the optimizer's own reading is
        # the next step's, and on JAX the step counter is synced only between epochs).
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: logs.update(learning_rate=rate.at(epoch))),
        divergence,
        *(files if chief else []),
        # --ema: validation sees the averaged weights, checkpoints the trained ones (with the
        # average in the optimizer), and `fit` ends by putting the average in the model.
        *([keras.callbacks.SwapEMAWeights()] if getattr(model.optimizer, "use_ema", False)
          else []),
        StopWhenAsked(),  # a Ctrl-C or SIGTERM that Keras swallowed
    ]
    # The data own their (seeded, resumable) order: Keras must not shuffle batches again.
    try:
        history = model.fit(data, epochs=args.epochs, initial_epoch=initial_epoch,
                            callbacks=callbacks, verbose=verbosity(args.verbose) if chief else 0,
                            shuffle=False, **fit_kwargs)
    except (KeyboardInterrupt, Exception) as stop:  # Ctrl-C or SIGTERM, or an error it caused
        kind = type(stop) if isinstance(stop, KeyboardInterrupt) else signals.requested()
        if kind is None:
            raise
        # The stop may have come between an epoch's history and its report (and before the
        # first epoch's there is nothing to report).
        if chief and os.path.exists(paths.history):
            with contextlib.suppress(Exception):  # nothing may hide the stop
                report.write_report()
        # Keras's fit drops the validation data's cached iterator only when it ends normally.
        if getattr(model, "_eval_epoch_iterator", None) is not None:
            model._eval_epoch_iterator = None
        raise kind(f"interrupted; {where_to_resume(paths)}") from None
    check_diverged(divergence, paths)
    if replicas.processes > 1:
        digest = distributed.check_replicas_agree(model)
        print(f"process {replicas.process} of {replicas.processes}: the same weights as every "
              f"other process (SHA-256 {digest[:16]})", flush=True)
    if chief:
        save_model(model, paths.model, state)
        if monitor.diagnosis is not None:
            print(monitor.diagnosis.text(paths.history), end="", flush=True)
        print(f"wrote {paths.model}, {paths.history}, {paths.plot}, {paths.args}, "
              f"{paths.report}", flush=True)
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


def run_schedule(args: Settings, steps: int, initial_epoch: int,
                 optimizer: keras.optimizers.Optimizer) -> PolynomialDecaySchedule:
    """The run's LR schedule: `--lr`, `--epochs`, `--power`, `--warmup-epochs` and any
    `--resume --lr` restarts, every batch or every epoch (`recipes.per_batch`), from
    `initial_epoch` at the step `optimizer` has reached (`steps` batches an epoch)."""
    decay = PolynomialDecay(args.lr, args.epochs, args.power, args.lr_restarts,
                            getattr(args, "warmup_epochs", 0.0))
    return PolynomialDecaySchedule(decay, steps, recipes.per_batch(args), initial_epoch,
                                   int(keras.ops.convert_to_numpy(optimizer.iterations)))


def check_diverged(monitor: StopOnDivergence, paths: RunPaths) -> None:
    """Raises a UserError if the loss diverged (`StopOnDivergence`): one sentence naming
    the epoch, saying the learning rate is too high, and how to continue with a lower one
    (a tenth of the rate it diverged at) from the last good checkpoint."""
    if not monitor.diverged:
        return
    where = monitor.diverged
    at = (f"at batch {where['batch']} of epoch {where['epoch']}" if where["batch"]
          else f"in epoch {where['epoch']}")
    lower = f"{where['lr'] / 10:.2g}"
    last = paths.checkpoint_list()
    if last:
        then = (f"the last good checkpoint, {last[-1][1]} (epoch {last[-1][0]}), is kept: "
                f"continue from it with a lower rate, e.g. --resume --lr {lower}")
    else:
        then = ("no checkpoint was written: start over with a lower rate, e.g. --force --lr "
                f"{lower}")
    raise UserError(f"training diverged {at} ({where['reason']}): the learning rate, "
                    f"{where['lr']:.3g}, is too high; {then}")


def find_lr(model: keras.Model, data: ShuffledBatches, paths: RunPaths,
            args: Settings, title: str) -> dict:
    """Runs the learning-rate range test and writes `_lr_find.json` and `_lr_find.png`.

    Args:
        model: a fresh model compiled with the schedule `prepare` returned.
        data: training batches that all hold `--batch-size` images.
        paths: the run's files (only the two above are written; no model).
        args: `find_lr_range`, `find_lr_steps`, `verbose`.
        title: what the plot's title names (the network and the data).

    Returns:
        The suggestion of `lr_range.suggest_lr`, plus `lrs`, `losses`, `stopped`.
    """
    start, end = args.find_lr_range
    if len(data) == 0:
        raise UserError(f"--batch-size {data.batch_size} is larger than the {data.num_images} "
                        "training images; lower it")
    finder = LRFinder(start, end, args.find_lr_steps)
    print(f"learning-rate range test: up to {args.find_lr_steps} batches of {data.batch_size}, "
          f"lr {start:g} to {end:g}", flush=True)
    per_epoch = min(len(data), args.find_lr_steps)  # more steps than batches: more epochs
    model.fit(data, epochs=math.ceil(args.find_lr_steps / per_epoch), steps_per_epoch=per_epoch,
              shuffle=False, callbacks=[data.epoch_callback(), finder, StopWhenAsked()],
              verbose=verbosity(args.verbose))
    try:
        suggestion = lr_range.suggest_lr(finder.lrs, finder.losses)
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
    figures.plot_lr_find(finder.lrs, finder.losses, suggestion, plot_path,
                         f"{title}: learning-rate range test")
    print(f"{len(finder.lrs)} batches, lr {finder.lrs[0]:.3g} to {finder.lrs[-1]:.3g} "
          f"({finder.stopped}); lowest smoothed loss {suggestion['min_loss']:.4g} at lr "
          f"{suggestion['min_loss_lr']:.3g}, steepest descent at lr "
          f"{suggestion['steepest_lr']:.3g}")
    print(f"suggested --lr {suggestion['lr']:.2g} ({suggestion['rule']}); wrote {plot_path}, "
          f"{json_path}")
    return result
