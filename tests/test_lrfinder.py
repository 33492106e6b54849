import os

import keras
import matplotlib.image
import numpy as np
import pytest

from pyimagesearch.callbacks.lrfinder import LRFinder
from pyimagesearch.evaluation.figures import plot_lr_find
from pyimagesearch.evaluation.lr_range import lr_schedule, smooth, suggest_lr


def _curve(lrs, best=0.1, seed=0):
    """A range test's loss: flat at 2.3, falling to 0.5 at `best`, then blowing up."""
    x = np.log10(lrs / best)
    loss = np.where(x < 0, 0.5 + 1.8 / (1 + np.exp(-3 * (-x - 1.5))), 0.5 + 20 * x ** 2)
    return loss + np.random.default_rng(seed).normal(0, 0.05, len(lrs))


def test_suggestion_is_a_third_of_the_lowest_loss():
    lrs = np.geomspace(1e-6, 10, 300)
    for best in (1e-3, 1e-1):
        result = suggest_lr(lrs, _curve(lrs, best))
        # The curve's floor is flat from a third of `best` to `best`: the minimum lies there.
        assert best / 2.5 < result["min_loss_lr"] < best * 1.2
        assert result["lr"] == pytest.approx(result["min_loss_lr"] / 3)
        assert "third" in result["rule"]
        # The loss falls fastest half-way down the slope, 1.5 decades below the best rate.
        assert best / 300 < result["steepest_lr"] < best / 3


def test_suggestion_ignores_the_blow_up_and_needs_ten_finite_losses():
    lrs = np.geomspace(1e-5, 1, 50)
    losses = _curve(lrs, 1e-2)
    losses[40:] = np.nan
    result = suggest_lr(lrs, losses)
    assert len(result["smoothed"]) == 40 and np.isfinite(result["smoothed"]).all()
    with pytest.raises(ValueError, match="at least 10"):
        suggest_lr(lrs[:9], losses[:9])


def test_centred_smoothing_has_no_lag():
    bump = np.exp(-0.5 * ((np.arange(101) - 60) / 5.0) ** 2)
    smoothed = smooth(bump + np.random.default_rng(1).normal(0, 0.02, 101), 11)
    assert int(np.argmax(smoothed)) == 60
    assert smooth([1.0, 2.0, 3.0], 3).tolist() == pytest.approx([1.5, 2.0, 2.5])


def _model(learning_rate):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate, momentum=0.9),
                  "sparse_categorical_crossentropy")
    return model


def test_finder_records_each_batch_loss_at_its_rate_and_stops_when_the_loss_blows_up():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * 5, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    finder = LRFinder(1e-3, 1e3, 60)
    model = _model(lr_schedule(1e-3, 1e3, 60))
    model.fit(x, y, batch_size=32, epochs=12, shuffle=False, callbacks=[finder], verbose=0)
    assert finder.stopped in ("loss blew up", "loss not finite")
    steps = len(finder.losses)
    assert 10 < steps < 60  # 5 batches an epoch: it ran over several epochs, then stopped
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == steps
    schedule = lr_schedule(1e-3, 1e3, 60)
    assert finder.lrs == pytest.approx([float(schedule(i)) for i in range(steps)], rel=1e-5)
    # Each recorded loss is that batch's own loss (Keras logs the epoch's running mean).
    replay = _model(lr_schedule(1e-3, 1e3, 60))
    for step in range(min(steps, 12)):
        batch = slice(step % 5 * 32, step % 5 * 32 + 32)
        loss = float(replay.train_on_batch(x[batch], y[batch]))
        assert finder.losses[step] == pytest.approx(loss, rel=1e-4, abs=1e-5)


def test_finder_runs_the_whole_range_when_the_loss_stays_low():
    x = np.zeros((64, 8), "float32")
    finder = LRFinder(1e-6, 1e-4, 20)
    _model(lr_schedule(1e-6, 1e-4, 20)).fit(x, np.zeros(64, "int32"), batch_size=16, epochs=10,
                                             callbacks=[finder], verbose=0)
    assert finder.stopped == "end of range" and len(finder.losses) == 20
    assert finder.lrs[0] == pytest.approx(1e-6) and finder.lrs[-1] == pytest.approx(1e-4)


def test_bad_ranges_are_refused():
    for start, end, steps in ((1e-2, 1e-3, 100), (0, 1, 100), (1e-3, 1, 1)):
        with pytest.raises(ValueError):
            LRFinder(start, end, steps)


def test_plot_marks_the_suggestion(tmp_path):
    lrs = np.geomspace(1e-6, 10, 200)
    losses = _curve(lrs, 0.1)
    path = str(tmp_path / "lr_find.png")
    plot_lr_find(lrs, losses, suggest_lr(lrs, losses), path, "t")
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert os.listdir(tmp_path) == ["lr_find.png"]


def test_finder_stops_once_the_loss_is_half_again_above_its_start():
    """A loss that never reaches 4x its lowest (softmax saturates) still counts as blown up."""

    class Model:
        stop_training = False

    finder = LRFinder(1e-6, 10, 300)
    finder.set_model(Model())
    finder.on_train_begin()
    finder.on_epoch_begin(0)
    losses = [2.3] * 20 + [1.8] * 20 + list(np.linspace(1.8, 4.0, 60))
    mean = 0.0
    for batch, loss in enumerate(losses):  # Keras logs the running mean of the epoch
        mean += (loss - mean) / (batch + 1)
        finder.on_train_batch_end(batch, {"loss": mean})
        if finder.model.stop_training:
            break
    assert finder.stopped == "loss blew up"
    assert finder.losses[-1] == pytest.approx(losses[len(finder.losses) - 1], rel=1e-6)
    assert 1.5 * 2.3 < finder.losses[-1] < 4 * 1.8  # above 1.5x the start, below 4x the lowest
