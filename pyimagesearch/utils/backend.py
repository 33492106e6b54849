"""The one seam where the library touches a specific Keras backend.

Everything else in `pyimagesearch` uses the backend-neutral Keras 3 API.
"""

import keras


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and the backend, and asks for deterministic kernels.

    With TensorFlow this also turns on op determinism, so two CPU runs with
    the same seed produce the same weights (at some cost in speed on GPUs).
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def fused_batch_norm(x, scale, offset, mean, variance, epsilon: float, training: bool):
    """One fused batch-norm kernel for NHWC `x`, or None where the backend has none.

    TensorFlow's `FusedBatchNormV3` (oneDNN on CPUs, cuDNN on GPUs) normalises
    bfloat16/float16 activations with float32 statistics in one pass and has
    a fused gradient; Keras 3 instead upcasts to float32 and differentiates a
    chain of element-wise ops, which costs 3x as much on a CPU. JAX fuses that
    chain itself under XLA, and the other backends keep Keras's own code.

    Returns:
        `(outputs, batch_mean, batch_variance)` with the biased batch variance
        (as `keras.ops.moments` computes it) in training, `(outputs, None,
        None)` at inference, or None.
    """
    if keras.backend.backend() != "tensorflow" or len(x.shape) != 4:
        return None
    import tensorflow as tf

    if x.dtype not in (tf.float32, tf.bfloat16, tf.float16):
        return None
    if not training:
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, mean=mean, variance=variance, epsilon=epsilon, is_training=False)
        return outputs, None, None
    outputs, batch_mean, batch_variance = tf.compat.v1.nn.fused_batch_norm(
        x, scale, offset, epsilon=epsilon, is_training=True)
    # The kernel returns the Bessel-corrected variance; Keras keeps the biased one.
    count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
    batch_variance = batch_variance * (count - 1.0) / tf.maximum(count, 1.0)
    return outputs, batch_mean, batch_variance
