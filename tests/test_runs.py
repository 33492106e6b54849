import csv
import json
import os

import pytest

from pyimagesearch.training.run import _lr_restarts


def test_resume_with_a_new_lr_adds_a_restart():
    assert _lr_restarts({"lr": 1e-3}, 1, 5e-4) == {"1": 5e-4}
    assert _lr_restarts({"lr": 1e-3, "lr_restarts": {"1": 5e-4}}, 4, 1e-4) == {"1": 5e-4,
                                                                               "4": 1e-4}


def test_rerunning_the_same_resume_command_after_a_crash_keeps_the_curve():
    saved = {"lr": 1e-3, "lr_restarts": {"1": 5e-4}}
    assert _lr_restarts(saved, 3, 5e-4) == {"1": 5e-4}


def test_plain_resume_keeps_restarts_up_to_the_checkpoint():
    saved = {"lr": 1e-3, "lr_restarts": {"1": 5e-4, "6": 1e-4}}
    assert _lr_restarts(saved, 8, None) == {"1": 5e-4, "6": 1e-4}
    assert _lr_restarts(saved, 4, None) == {"1": 5e-4}  # resumed from before the later restart
    assert _lr_restarts({}, 2, None) == {}


def _dropout_model():
    import keras

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(3,
                                                                           activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("warmup", [0.0, 1.5])  # the rate every epoch, or every batch
def test_a_resumed_run_trains_exactly_as_an_uninterrupted_one_on_every_backend(
        tmp_path, warmup, monkeypatch):
    """Dropout draws from the model's seed state (TensorFlow, JAX) or from torch's global
    generator (Keras's torch backend, unseeded dropout): both come back with a checkpoint.
    So does the step counter the learning rate is computed from."""
    import argparse

    import keras
    import numpy as np

    from pyimagesearch.callbacks import StopWhenAsked
    from pyimagesearch.io import ArrayBatches
    from pyimagesearch.training import engine

    class StopInEpoch2(StopWhenAsked):  # a Ctrl-C after batch 3 of epoch 2
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:
                raise KeyboardInterrupt

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)

    def run(folder, epochs, initial_epoch=0, checkpoint=None):
        args = argparse.Namespace(epochs=epochs, checkpoint_every=1, keep_checkpoints=0, lr=0.1,
                                  power=1.0, lr_restarts={}, verbose=0,
                                  tensorboard=False, warmup_epochs=warmup)
        keras.utils.set_random_seed(1)  # as the scripts do, before building or loading
        model = engine.load_checkpoint(checkpoint) if checkpoint else _dropout_model()
        folder.mkdir(exist_ok=True)
        paths = engine.RunPaths(str(folder), "m")
        engine.train(model, ArrayBatches(x, y, 8, seed=2), paths, args, initial_epoch,
                   title="t", checkpoint=checkpoint)
        return model, paths

    straight, straight_paths = run(tmp_path / "a", 3)
    with monkeypatch.context() as patch:
        patch.setattr(engine, "StopWhenAsked", StopInEpoch2)
        with pytest.raises(KeyboardInterrupt, match="interrupted"):
            run(tmp_path / "b", 3)
    paths = engine.RunPaths(str(tmp_path / "b"), "m")
    assert [epoch for epoch, _ in paths.checkpoint_list()] == [1]
    with open(paths.csv_log, "a") as f:  # as if killed after epoch 2's row, before its checkpoint
        f.write("1,9.9,0.05\r\n")
    resumed, _ = run(tmp_path / "b", 3, 1, paths.checkpoint_list()[-1][1])
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    # The CSV log carries on from the checkpoint: one header, one row an epoch, as unbroken.
    def rows(paths):
        with open(paths.csv_log, newline="") as f:
            return list(csv.DictReader(f))

    straight_rows, resumed_rows = rows(straight_paths), rows(paths)
    assert [r["epoch"] for r in resumed_rows] == ["0", "1", "2"]
    assert list(resumed_rows[0])[:3] == ["epoch", "learning_rate", "loss"]
    for a, b in zip(straight_rows, resumed_rows):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert float(a["learning_rate"]) == pytest.approx(float(b["learning_rate"]))


def _old_run(folder, name="minigooglenet_cifar10"):
    (folder / "checkpoints").mkdir()
    (folder / f"{name}.keras").write_bytes(b"the old model")
    (folder / "checkpoints" / f"{name}_epoch_003.keras").write_bytes(b"its checkpoint")
    (folder / f"{name}_args.json").write_text(json.dumps({"args": {"epochs": 3}}))
    return sorted(p.name for p in folder.rglob("*"))


def test_force_with_a_wrong_data_path_keeps_the_old_run(tmp_path, capsys):
    """--force deleted the old run's model and checkpoints before the data were read: a typo
    in --data lost the run, then failed."""
    import train_cifar10

    before = _old_run(tmp_path)
    code = train_cifar10.main(["--data", str(tmp_path / "typo"), "--output", str(tmp_path),
                               "--force"])
    assert code == 2 and "--data" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_start_over_deletes_the_model_and_every_checkpoint(tmp_path):
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training.run import start_over

    _old_run(tmp_path)
    start_over(RunPaths(str(tmp_path), "minigooglenet_cifar10"))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["checkpoints",
                                                            "minigooglenet_cifar10_args.json"]


def test_parsed_settings_know_which_flags_were_typed():
    """The engine learns what was typed from the settings, not from the parser and argv."""
    import train_cifar10
    from config import cifar10_config
    from pyimagesearch.training import flags

    args = flags.parse_args(train_cifar10.get_args_parser(),
                            ["--recipe", "fast", "--lr", "0.3", "--output", "o"], cifar10_config)
    assert args.typed == {"recipe", "lr", "output"}
    assert {"momentum", "seed", "recipe", "holdout"} <= args.fixed_on_resume
    assert args.lr == 0.3 and args.epochs == cifar10_config.FAST["epochs"]
    # What _args.json records is the flags' values only.
    assert "typed" not in vars(args) and "fixed_on_resume" not in vars(args)
    assert json.loads(json.dumps(vars(args)))["lr"] == 0.3


def _keras_zip(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"")


def test_settle_resumes_from_settings_alone(tmp_path):
    """run.settle takes the resolved settings: on --resume the typed flags win, the others
    come from the saved run, and a typed fixed flag with another value is refused."""
    from pyimagesearch.errors import UserError
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training import run
    from pyimagesearch.training.flags import Settings

    paths = RunPaths(str(tmp_path), "m")
    (tmp_path / "checkpoints").mkdir()
    _keras_zip(tmp_path / "checkpoints" / "m_epoch_002.keras")
    saved = {"epochs": 4, "lr": 0.1, "batch_size": 32, "seed": 1, "warmup_epochs": 0.0,
             "tensorboard": False, "lr_restarts": {}}
    (tmp_path / "m_args.json").write_text(json.dumps({"args": saved}))

    def settings(typed, **values):
        return Settings(typed=typed, fixed_on_resume={"seed"}, **{
            **saved, "output": str(tmp_path), "resume": True, "force": False, **values})

    args = settings({"resume", "epochs", "lr"}, epochs=6, lr=0.01, batch_size=64)
    assert run.settle(args, paths) == (2, str(tmp_path / "checkpoints" / "m_epoch_002.keras"),
                                       False)
    assert args.epochs == 6  # typed: wins
    assert args.batch_size == 32  # not typed: the saved run's
    assert args.lr == 0.1 and args.lr_restarts == {"2": 0.01}  # the decay restarts at 0.01
    with pytest.raises(UserError, match="--seed 1 there, 2 here"):
        run.settle(settings({"resume", "seed"}, seed=2), paths)
    # The same value untyped is not a change: it comes from the saved run.
    assert run.settle(settings({"resume"}, seed=2), paths)[0] == 2


def _logits_model():
    """A classifier whose loss is computed from logits: not clipped on any backend, so an
    absurd learning rate gives a huge but finite loss (as TensorFlow gives MiniGoogLeNet's)."""
    import keras

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_an_exploding_loss_stops_the_run_which_resumes_from_its_last_good_checkpoint(
        tmp_path, capsys):
    """--lr 1e12 ran to the end with exit 0 (training loss 3.8e21, finite)."""
    import argparse

    import keras
    import numpy as np

    from pyimagesearch.cli import handle_user_errors
    from pyimagesearch.io import ArrayBatches
    from pyimagesearch.training import engine

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    paths = engine.RunPaths(str(tmp_path), "m")

    @handle_user_errors
    def train(argv):  # as a script's main: epoch 2 (index 1) runs at `second`
        second, resume = argv
        args = argparse.Namespace(epochs=3, checkpoint_every=1, keep_checkpoints=0, lr=0.1,
                                  power=1.0, lr_restarts={"1": second}, verbose=0,
                                  tensorboard=False)
        keras.utils.set_random_seed(1)
        start, checkpoint = paths.checkpoint_list()[-1] if resume else (0, None)
        model = engine.load_checkpoint(checkpoint) if checkpoint else _logits_model()
        engine.train(model, ArrayBatches(x, y, 16, seed=2), paths, args, start, title="t",
                     checkpoint=checkpoint)
        return 0

    assert train((1e12, False)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged at batch " in err
    assert " of epoch 2 (the loss reached " in err and ", more than ten times " in err
    assert "the learning rate, 1e+12, is too high" in err
    assert "m_epoch_001.keras (epoch 1), is kept" in err and "--resume --lr 1e+11" in err
    # The diverged epoch is never checkpointed, and no final model is saved.
    assert [epoch for epoch, _ in paths.checkpoint_list()] == [1]
    assert not os.path.exists(paths.model)
    # Resumable from the last good checkpoint with a lower rate, to the end.
    assert train((0.01, True)) == 0
    assert [epoch for epoch, _ in paths.checkpoint_list()] == [1, 2, 3]
    assert os.path.exists(paths.model)


def test_verbose_follows_where_the_output_goes_on_resume_unless_typed(tmp_path, monkeypatch):
    """A run started on a terminal (a progress bar) and resumed with its output redirected
    kept writing the bar into the log: the resolved --verbose was saved as if typed."""
    import zipfile

    import train_cifar10
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training import flags, run
    from pyimagesearch.training.engine import write_settings

    def command(folder, argv, tty: bool):
        monkeypatch.setattr("sys.stdout.isatty", lambda: tty)
        parser = train_cifar10.get_args_parser()
        argv = ["--output", str(folder), "--epochs", "3", *argv]
        args = flags.parse_args(parser, argv, train_cifar10.config)
        paths = RunPaths(str(folder), "minigooglenet_cifar10")
        run.settle(args, paths)
        return args, paths

    def killed_after_epoch_1(args, paths):
        write_settings(paths, args)
        os.makedirs(paths.checkpoints, exist_ok=True)
        with zipfile.ZipFile(os.path.join(paths.checkpoints,
                                          "minigooglenet_cifar10_epoch_001.keras"), "w") as z:
            z.writestr("config.json", "{}")
            z.writestr("model.weights.h5", "")

    args, paths = command(tmp_path / "a", [], tty=True)
    assert flags.verbosity(args.verbose) == 1  # a progress bar on the terminal
    killed_after_epoch_1(args, paths)
    args, _ = command(tmp_path / "a", ["--resume"], tty=False)
    assert flags.verbosity(args.verbose) == 2  # a line an epoch in the log
    args, _ = command(tmp_path / "a", ["--resume"], tty=True)
    assert flags.verbosity(args.verbose) == 1

    # A typed --verbose is the run's setting: kept on --resume, wherever the output goes.
    args, paths = command(tmp_path / "b", ["--verbose", "1"], tty=True)
    killed_after_epoch_1(args, paths)
    args, _ = command(tmp_path / "b", ["--resume"], tty=False)
    assert flags.verbosity(args.verbose) == 1
    args, _ = command(tmp_path / "b", ["--resume", "--verbose", "0"], tty=False)
    assert flags.verbosity(args.verbose) == 0


def test_the_test_split_is_scored_with_one_figure(tmp_path, capsys):
    """The end of a run printed "test accuracy: 0.3525" (argmax's predictions) and then
    "rank-1: 35.10%" (scikit-learn's ranking, which the eval JSON records) for one model:
    they differ where scores tie, as a saturated softmax's do."""
    import keras
    import numpy as np

    from pyimagesearch.io import ArrayBatches
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training import engine

    labels = np.array([0] * 18 + [1] * 6 + [2, 3, 4, 5, 6, 7, 8, 9] * 2)
    images = np.zeros((len(labels), 4, 4, 3), np.uint8)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Rescaling(0.0),
                              keras.layers.Flatten(), keras.layers.Dense(10),
                              keras.layers.Softmax()])
    model.layers[-2].set_weights([np.zeros((48, 10), "float32"),
                                  np.array([5, 5] + [0] * 8, "float32")])  # 0 and 1 tie
    paths = RunPaths(str(tmp_path), "m")
    names = [f"class {i}" for i in range(10)]
    result = engine.evaluate(model, ArrayBatches(images, labels, 16, shuffle=False), names,
                             paths, "m.keras")
    printed = capsys.readouterr().out
    assert result["rank1"] == pytest.approx(6 / 40)  # the tie ranks class 1 first
    line = "rank-1: 15.00% (6 of 40 test images), rank-5: 75.00%"
    assert printed.count(line) == 1 and "test accuracy" not in printed and "0.45" not in printed
    with open(paths.file("_report.txt")) as f:
        assert f.read().splitlines()[1].startswith(line)
    with open(paths.eval) as f:
        confusion = np.array(json.load(f)["confusion"])
    assert np.trace(confusion) == 6 and confusion[:, 1].sum() == 40  # every image: class 1
