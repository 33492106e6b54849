"""The one seam where the library touches a specific Keras backend.

Everything else in `pyimagesearch` uses the backend-neutral Keras 3 API.
"""

import contextlib
import os

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


def global_rng_state() -> dict | None:
    """The backend's global random state where Keras draws from it, as JSON-able data.

    Keras's torch backend draws unseeded dropout masks from torch's global
    generator rather than from the layer's seed state; the other backends keep
    every draw in the model's own seed variables. None where there is nothing
    to save.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch

    return {"torch": torch.get_rng_state().tolist()}


def set_global_rng_state(state: dict | None) -> None:
    """Restores what `global_rng_state` returned (on the backend that saved it)."""
    if state and "torch" in state and keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


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


def accelerator() -> dict:
    """What the backend will train on: `{"kind": "gpu", "name", "capability": (major, minor)}`
    for an NVIDIA GPU, else `{"kind": "cpu", "name", "bf16": bool}` (bf16 matrix units:
    AMX-BF16 or AVX512-BF16)."""
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return {"kind": "gpu", "name": details.get("device_name", "GPU"),
                    "capability": tuple(details.get("compute_capability") or (0, 0))}
    elif name == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            capability = getattr(device, "compute_capability", "0.0")
            return {"kind": "gpu", "name": device.device_kind,
                    "capability": tuple(int(v) for v in str(capability).split(".")[:2])}
    elif name == "torch":
        import torch

        if torch.cuda.is_available():
            return {"kind": "gpu", "name": torch.cuda.get_device_name(0),
                    "capability": tuple(torch.cuda.get_device_capability(0))}
    return {"kind": "cpu", "name": _cpu_name(), "bf16": bool(_cpu_flags() & BF16_CPU_FLAGS)}


BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}


def describe_hardware(device: dict | None = None) -> str:
    """What `accelerator()` found, in words: "NVIDIA H200 (GPU, compute capability 9.0)",
    "AMD EPYC 9R14, 2 cores, bf16 matrix units"."""
    device = device or accelerator()
    if device["kind"] == "gpu":
        major, minor = device["capability"]
        return f"{device['name']} (GPU, compute capability {major}.{minor})"
    cores = os.cpu_count() or 1
    return (f"{device['name']}, {cores} core{'s' * (cores != 1)}"
            f"{', bf16 matrix units' if device['bf16'] else ''}")


def _cpu_info() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:  # not Linux
        return ""


def _cpu_flags() -> set[str]:
    for line in _cpu_info().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _cpu_name() -> str:
    for line in _cpu_info().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine() or "CPU"


@contextlib.contextmanager
def no_distribution():
    """Within it, new variables and computations stay on this process's devices.

    For what one process does alone in data-parallel training (saving a model
    creates a variable; a distributed variable would wait for the other
    processes to create it too).
    """
    distribution = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(distribution)
