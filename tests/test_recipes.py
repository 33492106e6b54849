"""--recipe fast: its defaults, its per-batch schedule, label smoothing, decoupled weight
decay on the kernels only, and pad-and-crop."""

import argparse
import os

import keras
import numpy as np
import pytest

import train_cifar10
import train_tinyimagenet
from config import cifar10_config
from pyimagesearch.io import ArrayBatches
from pyimagesearch.nn.optimizers import SGD
from pyimagesearch.preprocessing import RandomAffine
from pyimagesearch.training import flags, recipes
from pyimagesearch.nn.schedules import PolynomialDecay


def test_fast_sets_its_defaults_and_typed_flags_still_win():
    parser = train_cifar10.get_args_parser()
    classic = flags.parse_args(parser, [], cifar10_config)
    assert (classic.recipe, classic.lr, classic.warmup_epochs, classic.label_smoothing) == (
        "classic", 1e-2, 0.0, 0.0)
    fast = flags.parse_args(parser, ["--recipe", "fast", "--lr", "0.3"], cifar10_config)
    for key, value in cifar10_config.FAST.items():
        assert getattr(fast, key) == (0.3 if key == "lr" else value), key
    assert "recipe" in parser.fixed_on_resume
    tiny = train_tinyimagenet.get_args_parser()
    assert flags.parse_args(tiny, ["--recipe", "fast"], train_tinyimagenet.config).rotation == 0


def test_warm_up_then_decay_at_chosen_steps():
    schedule = PolynomialDecay(0.2, 10, power=1.0, warmup_epochs=1.0)
    steps = 4  # batches an epoch
    assert schedule.at(0, 0, steps) == pytest.approx(0.05)  # rises from base / steps
    assert schedule.at(0, 3, steps) == pytest.approx(0.2)   # the peak at the warm-up's end
    assert schedule.at(1, 0, steps) == pytest.approx(0.2)
    assert schedule.at(5, 2, steps) == pytest.approx(0.2 * (10 - 5.5) / 9)
    assert schedule.at(9, 3, steps) == pytest.approx(0.2 * 0.25 / 9)
    assert schedule.at(10, 0, steps) == 0.0
    assert schedule(3) == pytest.approx(0.2 * 7 / 9)  # per epoch: the epoch's first batch
    restarted = PolynomialDecay(0.2, 10, warmup_epochs=1.0, restarts={"6": 0.01})
    assert restarted.at(6, 2, steps) == pytest.approx(0.01 * (10 - 6.5) / 4)
    with pytest.raises(ValueError, match="warmup_epochs"):
        PolynomialDecay(0.2, 2, warmup_epochs=2)


def test_label_smoothing_takes_effect():
    args = argparse.Namespace(label_smoothing=0.1)
    assert recipes.one_hot(args)
    loss = recipes.loss(args)
    sure = np.array([[1.0 - 1e-7, 1e-7 / 9] + [1e-7 / 9] * 8], "float32")
    target = np.eye(10, dtype="float32")[[0]]
    smoothed = float(loss(target, sure))
    assert smoothed > 1.0  # the smoothed target puts 0.01 on each wrong class
    assert float(recipes.loss(argparse.Namespace(label_smoothing=0.0))(np.array([0]), sure)) < 1e-5
    batches = ArrayBatches(np.zeros((4, 2, 2, 3), np.uint8), [0, 1, 2, 3], 4, shuffle=False,
                           binarize=True, classes=10)
    np.testing.assert_array_equal(batches[0][1], np.eye(10)[:4])


@pytest.mark.parametrize("reload", [False, True])
def test_weight_decay_shrinks_kernels_only(reload, tmp_path):
    """Also after a save and load: Keras does not save `exclude_from_weight_decay`."""
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3)(inputs)
    outputs = keras.layers.BatchNormalization()(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=SGD(0.1, weight_decay=0.5), loss="mse")
    if reload:
        model.save(tmp_path / "m.keras")
        model = keras.models.load_model(tmp_path / "m.keras")
    model.layers[-1].gamma.assign(np.full(3, 2.0, "float32"))
    model.layers[-1].beta.assign(np.full(3, 0.5, "float32"))
    model.layers[1].bias.assign(np.full(3, 0.5, "float32"))
    optimizer = model.optimizer
    before = {v.path: np.array(v.numpy()) for v in model.trainable_variables}
    variables = model.trainable_variables
    optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in variables])
    for variable in model.trainable_variables:
        after = np.array(variable.numpy())
        factor = 1 - 0.1 * 0.5 if variable.path.endswith("kernel") else 1.0
        np.testing.assert_allclose(after, before[variable.path] * factor, rtol=1e-6,
                                   err_msg=variable.path)


def test_pad_and_crop_is_a_whole_pixel_shift_with_zeros():
    image = np.arange(1, 8 * 8 * 3 + 1, dtype=np.uint8).reshape(1, 8, 8, 3)
    crop = RandomAffine(shift=2 / 8, fill_mode="constant", whole_pixels=True)
    for seed in range(20):
        out = crop(image, np.random.default_rng(seed))[0].astype(int)
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(out, _shifted(image[0].astype(int), dy, dx))]
        assert found, seed


def _shifted(image, dy, dx):
    """`image` moved by (dy, dx) pixels, zeros where nothing moved in."""
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
    h, w = image.shape[:2]
    return padded[2 - dy:2 - dy + h, 2 - dx:2 - dx + w]


def _small_model(ema: float = 0.0, seed: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    args = argparse.Namespace(weight_decay=0.0, ema=ema)
    model.compile(optimizer=SGD(0.1, momentum=0.9, **recipes.optimizer_kwargs(args)),
                  loss="sparse_categorical_crossentropy")
    return model


def _xy(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n)


def test_ema_averages_the_weights_every_step_and_the_model_ends_with_the_average():
    x, y = _xy()
    model = _small_model(ema=0.8)
    assert recipes.optimizer_kwargs(argparse.Namespace(ema=0.0))["use_ema"] is False
    raw = []

    def record(batch, logs):
        if hasattr(model, "jax_state_sync"):
            model.jax_state_sync()  # JAX's fit holds the weights outside the model
        raw.append([np.array(v.numpy()) for v in model.trainable_variables])

    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
              callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=record)])
    average = raw[0]  # the first step starts the average at the weights
    for weights in raw[1:]:
        average = [0.8 * a + 0.2 * w for a, w in zip(average, weights)]
    final = [np.array(v.numpy()) for v in model.trainable_variables]
    for got, want, last in zip(final, average, raw[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, last)  # the average, not the last step's weights


def test_training_validates_the_average_and_checkpoints_hold_both(tmp_path):
    """engine.train: validation is of the averaged weights, each checkpoint holds the trained
    weights with the average in its optimizer, and the final model is the average."""
    from pyimagesearch.io.checkpoints import load_checkpoint
    from pyimagesearch.training import engine
    from pyimagesearch.io.runfiles import RunPaths

    x, y = _xy(40)
    val = ArrayBatches(*_xy(16, seed=1), 8, shuffle=False)
    model = _small_model(ema=0.7)
    args = argparse.Namespace(epochs=2, lr=0.1, power=1.0, lr_restarts={}, warmup_epochs=0.0,
                              checkpoint_every=1, keep_checkpoints=0, tensorboard=False,
                              verbose=0, ema=0.7)
    paths = RunPaths(str(tmp_path), "m")
    os.makedirs(paths.checkpoints)
    history = engine.train(model, ArrayBatches(x, y, 8, seed=0), paths, args, 0, "t",
                           validation_data=val)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(val, verbose=0),
                                                            rel=1e-5)
    saved = keras.models.load_model(paths.model)
    checkpoint = load_checkpoint(paths.checkpoint_list()[-1][1])
    assert checkpoint.optimizer.use_ema and checkpoint.optimizer.ema_momentum == 0.7
    averages = checkpoint.optimizer._model_variables_moving_average
    for final, trained, average in zip(saved.trainable_variables,
                                       checkpoint.trainable_variables, averages):
        np.testing.assert_allclose(final.numpy(), average.numpy(), rtol=1e-6)
        assert not np.allclose(trained.numpy(), average.numpy())


def test_flip_tta_is_the_mean_of_the_two_views():
    from pyimagesearch.evaluation import tta

    keras.utils.set_random_seed(0)
    shape = (8, 6, 3) if keras.config.image_data_format() == "channels_last" else (3, 8, 6)
    inputs = keras.Input(shape, dtype="uint8")
    x = keras.layers.Flatten()(keras.ops.cast(inputs, "float32") / 255.0)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    images = np.random.default_rng(0).integers(0, 256, (5, *shape), dtype=np.uint8)
    width = 2 if keras.config.image_data_format() == "channels_last" else 3
    plain = model.predict(images, verbose=0)
    flipped = model.predict(np.flip(images, axis=width), verbose=0)
    assert not np.allclose(plain, flipped)
    got = tta.flip_average(plain, tta.mirrored(model).predict(images, verbose=0))
    np.testing.assert_allclose(got, (plain + flipped) / 2, rtol=1e-5, atol=1e-7)


def test_cutout_zeroes_one_square_per_image_and_leaves_the_rest_of_the_draw_alone():
    images = np.random.default_rng(0).integers(1, 256, (64, 16, 16, 3), dtype=np.uint8)
    stored = images.copy()
    a = RandomAffine(flip=True)(images, np.random.default_rng(5))
    b = RandomAffine(flip=True, cutout=6)(images, np.random.default_rng(5))
    np.testing.assert_array_equal(images, stored)  # the stored images are untouched
    cut = (a != b).any(axis=3)
    np.testing.assert_array_equal(cut, (b == 0).all(axis=3))  # only the square is zeroed
    sizes = []
    for mask in cut:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert 0 < len(rows) <= 6 and 0 < len(cols) <= 6  # one square, clipped at the edges
        assert mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
        sizes.append(mask.sum())
    assert 0.3 < np.mean(np.equal(sizes, 36)) < 1  # whole inside, clipped near the edges
