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
