import keras
import numpy as np
import pytest

from pyimagesearch.nn.schedules import PolynomialDecay, PolynomialDecaySchedule


def test_linear_decay_of_the_recipe():
    schedule = PolynomialDecay(1e-2, 70, power=1.0)
    assert schedule(0) == pytest.approx(1e-2)
    assert schedule(35) == pytest.approx(5e-3)
    assert schedule(69) == pytest.approx(1e-2 / 70)
    assert schedule(70) == 0.0
    values = [schedule(e) for e in range(70)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_power_two():
    schedule = PolynomialDecay(0.1, 10, power=2.0)
    assert schedule(5) == pytest.approx(0.1 * 0.25)
    assert schedule(12) == 0.0  # past the end: zero, never negative or complex


def test_keras_scheduler_signature():
    assert PolynomialDecay(1.0, 4)(1, 0.5) == pytest.approx(0.75)


@pytest.mark.parametrize("args", [(0.0, 10), (0.1, 0)])
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        PolynomialDecay(*args)


def test_power_zero_is_constant():
    schedule = PolynomialDecay(1e-3, 10, power=0.0)
    assert [schedule(e) for e in (0, 5, 9)] == [1e-3] * 3


def test_restart_continues_the_decay_from_the_new_rate():
    # 10 epochs from 1e-2; after epoch 6 the user resumes with --lr 1e-3.
    schedule = PolynomialDecay(1e-2, 10, power=1.0, restarts={"6": 1e-3})
    assert [schedule(e) for e in range(6)] == pytest.approx([1e-2 * (1 - e / 10)
                                                             for e in range(6)])
    assert [schedule(e) for e in (6, 7, 8, 9)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    constant = PolynomialDecay(1e-3, 70, power=0.0, restarts={40: 1e-4, 60: 1e-5})
    assert [constant(e) for e in (0, 39, 40, 59, 60, 69)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])  # the classic hand-made drops


def _rate(schedule, step) -> float:
    return float(keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(step, "int32"))))


def test_the_compiled_schedule_gives_the_rules_rate_at_chosen_steps():
    decay = PolynomialDecay(0.2, 10, power=1.0, warmup_epochs=1.5, restarts={"6": 0.01})
    batches = PolynomialDecaySchedule(decay, steps=4)
    for epoch, batch in [(0, 0), (0, 3), (1, 1), (1, 2), (5, 3), (6, 0), (6, 2), (9, 3)]:
        assert _rate(batches, 4 * epoch + batch) == pytest.approx(decay.at(epoch, batch, 4),
                                                                  rel=1e-6), (epoch, batch)
        assert batches.at(epoch, batch) == decay.at(epoch, batch, 4)
    assert _rate(batches, 0) == pytest.approx(0.2 / 6)  # rises from base / warm-up batches
    assert _rate(batches, 40) == 0.0 and _rate(batches, 57) == 0.0  # the end, and past it
    assert batches.at(2) == decay.at(2, 3, 4)  # an epoch ends with its last batch's rate
    epochs = PolynomialDecaySchedule(decay, steps=4, per_batch=False)
    for step in range(40):
        assert _rate(epochs, step) == pytest.approx(decay(step // 4), rel=1e-6), step
    # Resumed at epoch 6 by an optimizer at step 100 (its earlier epochs had other batches).
    resumed = PolynomialDecaySchedule(decay, 4, initial_epoch=6, initial_step=100)
    assert _rate(resumed, 102) == pytest.approx(decay.at(6, 2, 4), rel=1e-6)
    assert _rate(resumed, 105) == pytest.approx(decay.at(7, 1, 4), rel=1e-6)


def mean_output(y_true, y_pred):
    return keras.ops.mean(y_pred)


def _linear_model(momentum=0.0):
    """One weight whose gradient is always 1: each step lowers it by that step's rate."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                    kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=momentum),
                  loss=mean_output)
    return model


def _fit(model, schedule, epochs, initial_epoch=0):
    """Fits on 4 batches an epoch with `schedule`; returns the weight after every step."""
    model.optimizer.learning_rate = schedule  # as engine.train does, on a compiled model
    weights = []

    def record(batch, logs):
        if hasattr(model, "jax_state_sync"):
            model.jax_state_sync()  # JAX's fit holds the weights outside the model
        weights.append(float(np.asarray(model.weights[0].numpy()).ravel()[0]))

    ones = np.ones((16, 1), "float32")
    model.fit(ones, ones, batch_size=4, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
              shuffle=False, callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=record)])
    return weights


def test_every_step_of_fit_is_taken_at_its_scheduled_rate():
    decay = PolynomialDecay(0.2, 3, power=1.0, warmup_epochs=1.0)
    schedule = PolynomialDecaySchedule(decay, steps=4)
    model = _linear_model()
    weights = _fit(model, schedule, 3)
    steps = -np.diff([0.0] + weights)
    np.testing.assert_allclose(steps, [decay.at(e, b, 4) for e in range(3) for b in range(4)],
                               rtol=1e-5)
    # Keras untracks the rate's variable once a schedule replaces it: a checkpoint's
    # optimizer has as many variables as the one its config rebuilds.
    assert [v.name for v in model.optimizer.variables] == ["iteration"]


def test_a_resumed_fit_continues_the_rate_where_the_checkpoint_stopped(tmp_path):
    decay = PolynomialDecay(0.2, 4, power=1.0, warmup_epochs=1.5)
    straight = _fit(_linear_model(0.9), PolynomialDecaySchedule(decay, 4), 4)
    model = _linear_model(0.9)
    first = _fit(model, PolynomialDecaySchedule(decay, 4), 2)
    model.save(tmp_path / "checkpoint.keras")
    loaded = keras.models.load_model(tmp_path / "checkpoint.keras", safe_mode=True,
                                     custom_objects={"mean_output": mean_output})
    assert isinstance(loaded.optimizer._learning_rate, PolynomialDecaySchedule)
    assert loaded.optimizer._learning_rate.get_config() == PolynomialDecaySchedule(
        decay, 4).get_config()
    step = int(keras.ops.convert_to_numpy(loaded.optimizer.iterations))
    assert step == 8
    rest = _fit(loaded, PolynomialDecaySchedule(decay, 4, True, 2, step), 4, initial_epoch=2)
    np.testing.assert_allclose(first + rest, straight, rtol=1e-5)  # momentum and rate


def test_a_checkpoint_with_a_plain_rate_takes_the_schedule_and_saves_whole(tmp_path):
    """A checkpoint written before the rate was a schedule holds the rate as a variable:
    replacing it must keep every other optimizer variable, then and after the next save."""
    import warnings

    model = _linear_model(0.9)
    ones = np.ones((16, 1), "float32")
    model.fit(ones, ones, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "old.keras")
    loaded = keras.models.load_model(tmp_path / "old.keras",
                                     custom_objects={"mean_output": mean_output})
    assert [v.name for v in loaded.optimizer.variables][:2] == ["iteration", "learning_rate"]
    decay = PolynomialDecay(0.2, 3, warmup_epochs=1.0)
    _fit(loaded, PolynomialDecaySchedule(decay, 4, True, 1, 4), 2, initial_epoch=1)
    loaded.save(tmp_path / "new.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras only warns when it skips the optimizer's state
        again = keras.models.load_model(tmp_path / "new.keras",
                                        custom_objects={"mean_output": mean_output})
    assert [v.name for v in again.optimizer.variables] == [
        v.name for v in loaded.optimizer.variables]
    for a, b in zip(again.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a.numpy()), np.asarray(b.numpy()))
    assert int(keras.ops.convert_to_numpy(again.optimizer.iterations)) == 8


def test_a_resumed_schedule_gives_the_uninterrupted_ones_rates_bit_for_bit():
    """A float32 rate a last bit apart is enough for a resumed run to drift from an
    uninterrupted one (tests/test_faults.py trains both)."""
    decay = PolynomialDecay(0.1, 3, warmup_epochs=1.0)
    straight = PolynomialDecaySchedule(decay, 25)
    for epoch in (1, 2):
        resumed = PolynomialDecaySchedule(decay, 25, True, epoch, 25 * epoch)
        steps = np.arange(25 * epoch, 75)
        assert [_rate(resumed, s) for s in steps] == [_rate(straight, s) for s in steps]
