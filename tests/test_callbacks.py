import json
import os

import keras
import matplotlib.image
import numpy as np
import pytest

from pyimagesearch import atomic
from pyimagesearch.callbacks import EpochCheckpoint, TrainingMonitor
from pyimagesearch.io.checkpoints import list_checkpoints


def _tiny_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _logs(epoch):
    return {"loss": np.float32(1.0 / (epoch + 1)), "acc": np.float64(0.5 + epoch / 100),
            "val_loss": np.float32(1.5 / (epoch + 1)), "val_acc": 0.4 + epoch / 100,
            "learning_rate": np.float32(0.01)}


def _run(monitor, epochs, model):
    monitor.set_model(model)
    monitor.on_train_begin()
    for epoch in epochs:
        monitor.on_epoch_end(epoch, _logs(epoch))


def test_monitor_writes_plain_float_json_and_a_png(tmp_path):
    fig, js = str(tmp_path / "h.png"), str(tmp_path / "h.json")
    _run(TrainingMonitor(fig, json_path=js), range(3), _tiny_model())
    with open(js) as f:
        history = json.load(f)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert history["loss"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert history["accuracy"] == pytest.approx([0.5, 0.51, 0.52])
    assert all(type(v) is float for values in history.values() for v in values)
    image = matplotlib.image.imread(fig)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temp files left


def test_monitor_resume_trims_later_epochs(tmp_path):
    fig, js = str(tmp_path / "h.png"), str(tmp_path / "h.json")
    model = _tiny_model()
    _run(TrainingMonitor(fig, json_path=js), range(5), model)
    # Training resumes from a checkpoint taken after epoch 3: epochs 4 and 5 are redone.
    _run(TrainingMonitor(fig, json_path=js, start_at=3), [3], model)
    with open(js) as f:
        history = json.load(f)
    assert len(history["loss"]) == 4
    assert history["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    # A new run (start_at=0) discards the old history.
    _run(TrainingMonitor(fig, json_path=js), [0], model)
    with open(js) as f:
        assert len(json.load(f)["loss"]) == 1


def test_monitor_records_the_optimizer_lr_when_logs_lack_it(tmp_path):
    js = str(tmp_path / "h.json")
    monitor = TrainingMonitor(str(tmp_path / "h.png"), json_path=js)
    monitor.set_model(_tiny_model())
    monitor.on_train_begin()
    monitor.on_epoch_end(0, {"loss": 1.0})
    with open(js) as f:
        assert json.load(f)["learning_rate"] == pytest.approx([0.1])


def test_monitor_rewrites_the_diagnosis_every_epoch(tmp_path):
    diagnosis = tmp_path / "h_diagnosis.txt"
    monitor = TrainingMonitor(str(tmp_path / "h.png"), json_path=str(tmp_path / "h.json"),
                              diagnosis_path=str(diagnosis))
    monitor.set_model(_tiny_model())
    monitor.on_train_begin()
    monitor.on_epoch_end(0, {"loss": 2.0, "val_loss": 2.1})
    assert "too early to tell" in diagnosis.read_text()
    # The validation loss turns up after epoch 4 while the training loss keeps falling.
    for epoch, val in enumerate([1.5, 1.2, 1.0, 1.1, 1.25, 1.4, 1.6], start=1):
        monitor.on_epoch_end(epoch, {"loss": 2.0 * 0.7 ** epoch, "val_loss": val})
    text = diagnosis.read_text()
    assert text.startswith(f"Diagnosis of {tmp_path / 'h.json'} after 8 epochs: overfitting")
    assert monitor.diagnosis.findings[0].mark == 4 and "epoch 4" in text
    assert sorted(os.listdir(tmp_path)) == ["h.json", "h.png", "h_diagnosis.txt"]


def test_epoch_checkpoint_every_keep_and_last(tmp_path):
    model = _tiny_model()
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = np.arange(16) % 2
    folder = str(tmp_path / "ckpt")
    model.fit(x, y, epochs=5, batch_size=8, verbose=0,
              callbacks=[EpochCheckpoint(folder, prefix="tiny", every=2, keep=2)])
    assert sorted(os.listdir(folder)) == ["tiny_epoch_004.keras", "tiny_epoch_005.keras"]
    epoch, path = list_checkpoints(folder, "tiny")[-1]
    assert epoch == 5
    restored = keras.models.load_model(path)
    assert int(restored.optimizer.iterations.numpy()) == 10  # 5 epochs x 2 steps
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_epoch_checkpoint_skips_a_diverged_model(tmp_path):
    model = _tiny_model()
    checkpoint = EpochCheckpoint(str(tmp_path), every=1)
    checkpoint.set_model(model)
    checkpoint.set_params({"epochs": 3})
    checkpoint.on_epoch_end(0, {"loss": 0.5})
    checkpoint.on_epoch_end(1, {"loss": float("nan")})
    assert os.listdir(tmp_path) == ["epoch_001.keras"]
    # Finite but exploded: what StopOnDivergence, called first, found.
    checkpoint.diverged = lambda: True
    checkpoint.on_epoch_end(2, {"loss": 3.8e21})  # the last epoch
    assert os.listdir(tmp_path) == ["epoch_001.keras"]


def test_a_loss_far_above_a_uniform_guess_is_a_divergence():
    """--lr 1e12 ran to the end with exit 0: a training loss of 3.8e21 is finite."""
    from pyimagesearch.callbacks.divergence import divergence

    ten_classes = 10 * np.log(10)  # ten times a uniform guess's loss: 23.0
    assert "3.8e+21" in divergence({"loss": np.float32(3.8e21)}, 10)
    assert "nan" in divergence({"loss": float("nan")}, 10)
    assert divergence({"loss": ten_classes * 1.01}, 10) and divergence({"loss": 50.0}, 200) is None
    assert divergence({"loss": ten_classes * 0.99}, 10) is None
    # A model that started above a guess (inputs far from unit scale) is measured from there.
    assert divergence({"loss": 400.0}, 4, start=59.4) is None
    assert "more than ten times the 59.4 it started from" in divergence({"loss": 600.0}, 4, 59.4)
    # A validation loss that is not finite: a divergence only beside a training loss worse
    # than a uniform guess's (a model that learnt nothing); else a bad validation epoch.
    assert "validation loss became nan" in divergence({"loss": 2.5, "val_loss": np.nan}, 10)
    assert divergence({"loss": 0.4, "val_loss": np.nan}, 10) is None
    assert divergence({"loss": 5.0}, 1) is None and divergence({}, 10) is None


def test_stop_on_divergence_stops_at_the_batch_and_remembers_where():
    from pyimagesearch.callbacks import StopOnDivergence

    model = _tiny_model()  # 2 classes: a uniform guess's loss is ln 2
    stop = StopOnDivergence()
    stop.set_model(model)
    stop.on_train_begin()
    stop.on_epoch_begin(2)
    stop.on_train_batch_end(0, {"loss": 0.5})  # where it starts
    stop.on_train_batch_end(1, {"loss": 6.9})  # ten times a guess's 0.69: not yet
    assert not model.stop_training and stop.diverged is None
    stop.on_train_batch_end(2, {"loss": 1e9})
    assert model.stop_training
    assert stop.diverged == {"epoch": 3, "batch": 3, "loss": 1e9, "lr": pytest.approx(0.1),
                             "reason": "the loss reached 1e+09, more than ten times a uniform "
                                       "guess's 0.693"}
    stop.on_epoch_end(2, {"loss": float("nan")})  # the first place is kept
    assert stop.diverged["batch"] == 3


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = str(tmp_path / "history.json")
    atomic.write_json(path, {"loss": [1.0]})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write('{"loss": [')  # half-written, then the process "crashes"
            raise RuntimeError("crash")
    with open(path) as f:
        assert json.load(f) == {"loss": [1.0]}
    assert os.listdir(tmp_path) == ["history.json"]


def test_atomic_folder_replaces_a_folder_whole_or_not_at_all(tmp_path):
    path = str(tmp_path / "model_saved_model")
    with atomic.atomic_folder(path) as tmp:
        with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
            f.write("first")
    with pytest.raises(RuntimeError):
        with atomic.atomic_folder(path) as tmp:
            with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
                f.write("half")
            raise RuntimeError("crash")
    assert os.listdir(tmp_path) == ["model_saved_model"]
    assert open(os.path.join(path, "saved_model.pb")).read() == "first"
    with atomic.atomic_folder(path) as tmp:
        with open(os.path.join(tmp, "other.pb"), "w") as f:
            f.write("second")
    assert os.listdir(tmp_path) == ["model_saved_model"]  # the old one gone, nothing beside
    assert os.listdir(path) == ["other.pb"]


def test_atomic_write_interrupted_while_creating_its_file_leaves_nothing(tmp_path, monkeypatch):
    """SIGTERM (raised as an exception) right after the temporary file was created, before
    the write began, left a hidden `.history.*.tmp.json` behind."""
    path = str(tmp_path / "history.json")
    close = os.close

    def interrupted_close(fd):
        close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_json(path, {"loss": [1.0]})
    monkeypatch.setattr(atomic.os, "close", close)
    assert os.listdir(tmp_path) == []
    atomic.write_json(path, {"loss": [1.0]})  # and the next write works, with open()'s mode
    assert os.listdir(tmp_path) == ["history.json"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_json_has_no_numpy_or_nan(tmp_path):
    path = str(tmp_path / "x.json")
    atomic.write_json(path, {"a": np.float32(1.5), "b": [np.int64(2), float("nan")],
                             "c": np.arange(2)})
    with open(path) as f:
        assert json.load(f) == {"a": 1.5, "b": [2, None], "c": [0, 1]}


def test_monitor_keeps_every_curve_one_entry_an_epoch(tmp_path):
    """A metric missing from one epoch's logs (validation every other epoch) left its list
    short, and the diagnosis of the uneven history failed."""
    monitor = TrainingMonitor(str(tmp_path / "h.png"), json_path=str(tmp_path / "h.json"),
                              diagnosis_path=str(tmp_path / "h_diagnosis.txt"))
    monitor.on_train_begin()
    for epoch in range(6):
        logs = {"loss": 2.0 - 0.1 * epoch, "accuracy": 0.2 + 0.05 * epoch}
        if epoch % 2:
            logs.update(val_loss=2.1 - 0.1 * epoch, val_accuracy=0.2 + 0.04 * epoch)
        monitor.on_epoch_end(epoch, logs)
    with open(tmp_path / "h.json") as f:
        history = json.load(f)
    assert {len(v) for v in history.values()} == {6}
    assert history["val_loss"][0] is None and history["val_loss"][1] == pytest.approx(2.0)


def test_the_monitor_gives_a_finished_run_its_remedy_at_the_last_epoch(tmp_path):
    """The diagnosis the run writes at its last epoch knows the schedule has ended: a healthy
    run is told to keep its last model, not "if the schedule has epochs left, train on"."""
    diagnosis = tmp_path / "h_diagnosis.txt"
    monitor = TrainingMonitor(str(tmp_path / "h.png"), json_path=str(tmp_path / "h.json"),
                              diagnosis_path=str(diagnosis), total_epochs=6)
    monitor.set_model(_tiny_model())
    monitor.on_train_begin()
    for epoch in range(6):
        monitor.on_epoch_end(epoch, {"loss": 2.0 * 0.8 ** epoch, "val_loss": 2.1 * 0.85 ** epoch,
                                     "learning_rate": 0.01 * (1 - epoch / 6)})
        healthy = monitor.diagnosis.findings[0]
        if epoch == 4:
            assert "train to the end of the schedule" in healthy.remedy
    assert healthy.kind == "healthy"
    assert "schedule has ended" in healthy.remedy and "if the schedule has" not in healthy.remedy
