import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":  # the fused kernel and these gradients are TF's
    pytest.skip("TensorFlow's fused batch norm", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from pyimagesearch.nn.layers import BatchNormalization  # noqa: E402


def _pair(dtype="float32", **kwargs):
    ours = BatchNormalization(dtype=dtype, momentum=0.9, **kwargs)
    ref = keras.layers.BatchNormalization(dtype=dtype, momentum=0.9, **kwargs)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(8, 5, 6, 4)) * 3 + 2).astype("float32")
    ours.build(x.shape)
    ref.build(x.shape)
    features = x.shape[kwargs.get("axis", -1)]
    gamma, beta = rng.uniform(0.5, 2, features), rng.normal(size=features)
    for layer in (ours, ref):
        for weight, value in ((layer.gamma, gamma), (layer.beta, beta)):
            if weight is not None:
                weight.assign(value)
    return ours, ref, x


def _train_step(layer, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        weights = np.random.default_rng(1).normal(size=y.shape).astype("float32")
        loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
    grads = tape.gradient(loss, [x] + [w.value for w in layer.trainable_weights])
    return [keras.ops.convert_to_numpy(v) for v in [y] + grads]


def test_training_matches_keras_outputs_gradients_and_moving_statistics():
    ours, ref, x = _pair()
    for got, want in zip(_train_step(ours, x), _train_step(ref, x)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), ref.moving_mean.numpy(), rtol=1e-5)
    # The biased batch variance, as Keras keeps it (not the kernel's Bessel-corrected one).
    np.testing.assert_allclose(ours.moving_variance.numpy(), ref.moving_variance.numpy(),
                               rtol=1e-5)
    assert not np.allclose(ours.moving_mean.numpy(), 0.0)


def test_inference_uses_the_moving_statistics():
    ours, ref, x = _pair()
    for layer in (ours, ref):
        layer.moving_mean.assign([1.0, -1.0, 0.5, 2.0])
        layer.moving_variance.assign([4.0, 1.0, 0.25, 9.0])
    np.testing.assert_allclose(ours(x, training=False), ref(x, training=False),
                               rtol=1e-5, atol=1e-5)


def test_bfloat16_activations_stay_bfloat16_with_float32_statistics():
    ours, ref, x = _pair("mixed_bfloat16")
    y, *_ = _train_step(ours, x)
    want, *_ = _train_step(ref, x)
    assert ours(x).dtype == "bfloat16"
    np.testing.assert_allclose(y.astype("float32"), want.astype("float32"), atol=0.05)
    assert ours.moving_mean.dtype == "float32"


def test_frozen_layer_normalises_with_moving_statistics_in_training():
    ours, ref, x = _pair()
    ours.trainable = ref.trainable = False
    np.testing.assert_allclose(ours(x, training=True), ref(x, training=True),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours.moving_mean.numpy(), np.zeros(4))


@pytest.mark.parametrize("kwargs", [{"axis": 1}, {"center": False}])
def test_other_settings_fall_back_to_keras(kwargs):
    ours, ref, x = _pair(**kwargs)
    np.testing.assert_allclose(_train_step(ours, x)[0], _train_step(ref, x)[0],
                               rtol=1e-4, atol=1e-4)


def test_saved_model_reloads_with_the_same_outputs(tmp_path):
    inputs = keras.Input((5, 6, 4))
    model = keras.Model(inputs, BatchNormalization(name="bn")(inputs))
    model.get_layer("bn").moving_mean.assign([1.0, 2.0, 3.0, 4.0])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is BatchNormalization
    x = np.ones((2, 5, 6, 4), "float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)


def test_tensorflow_runs_the_fused_kernel(monkeypatch):
    from pyimagesearch import backend

    calls = []
    fused = backend.fused_batch_norm

    def spy(*args, **kwargs):
        result = fused(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(backend, "fused_batch_norm", spy)
    ours, _, x = _pair()
    ours(x, training=True)
    ours(x, training=False)
    assert calls == [True, True]


def test_loads_without_this_package_as_keras_batch_norm(tmp_path):
    """What docs/cifar10.md tells users without pyimagesearch installed."""
    import subprocess
    import sys

    inputs = keras.Input((5, 6, 4))
    model = keras.Model(inputs, BatchNormalization(name="bn")(inputs))
    model.get_layer("bn").moving_mean.assign([1.0, 2.0, 3.0, 4.0])
    model.save(tmp_path / "m.keras")
    code = ("import keras, numpy as np, sys; m = keras.models.load_model(sys.argv[1], "
            "custom_objects={'pyimagesearch>BatchNormalization': keras.layers.BatchNormalization});"
            " assert type(m.get_layer('bn')) is keras.layers.BatchNormalization;"
            " print(float(m(np.ones((1, 5, 6, 4), 'float32'))[0, 0, 0, 1]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    want = float(model(np.ones((1, 5, 6, 4), "float32"))[0, 0, 0, 1])
    assert float(out.stdout.split()[-1]) == pytest.approx(want, rel=1e-6)
