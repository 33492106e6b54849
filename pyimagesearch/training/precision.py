"""Mixed precision: what the hardware found wants, and what a saved model trains in.

`--mixed-precision` takes one of `CHOICES`:

- `bf16`: Keras's `mixed_bfloat16` policy. Activations and matrix work in
  bfloat16, variables and the softmax in float32. bfloat16 has float32's
  range, so no loss scaling is needed.
- `fp16`: `mixed_float16`. float16 has a narrow range, so Keras wraps the
  optimizer in a `LossScaleOptimizer` (dynamic loss scaling).
- `off`: float32 throughout.
- `auto`: bf16 on a GPU of compute capability 8.0 or newer (A100, H100, RTX
  30xx and later: bf16 tensor cores) and on a CPU with bf16 matrix units
  (AMX-BF16 or AVX512-BF16: about 2-3x faster than float32 there), except
  with JAX on a CPU, whose XLA CPU code trains no faster in bf16; fp16 on
  compute capability 7.x (V100, T4: fp16 tensor cores only); otherwise off,
  since emulated half precision is slower than float32.
"""

import json
import zipfile

import keras

from pyimagesearch import backend

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
CHOICES = ("auto", *POLICIES)


def auto_precision(device: dict | None = None, backend_name: str | None = None
                   ) -> tuple[str, str]:
    """`(precision, reason)` that `auto` picks for `device` and the Keras backend
    (default: the device found, the backend in use)."""
    device = device or backend.accelerator()
    backend_name = backend_name or keras.backend.backend()
    if device["kind"] == "gpu":
        major = device["capability"][0]
        if major >= 8:
            return "bf16", f"{device['name']} (compute capability {major}.x) has bf16 tensor cores"
        if major == 7:
            return "fp16", (f"{device['name']} (compute capability 7.x) has fp16 tensor cores "
                            "but no bf16")
        return "off", f"{device['name']} has no half-precision tensor cores"
    if device["bf16"] and backend_name == "jax":
        return "off", (f"{device['name']} has bf16 matrix units, but JAX's CPU code trains no "
                       "faster in bf16 than in float32")
    if device["bf16"]:
        return "bf16", f"{device['name']} has bf16 matrix units (AMX-BF16/AVX512-BF16)"
    return "off", f"{device['name']} has no bf16 matrix units, so half precision would be slower"


def resolve(choice: str) -> tuple[str, str]:
    """`(precision, reason)` for a `--mixed-precision` choice."""
    if choice == "auto":
        return auto_precision()
    if choice not in POLICIES:
        raise ValueError(f"`choice` must be one of {CHOICES}. Received: {choice!r}")
    return choice, "asked for"


def use(precision: str) -> None:
    """Makes `precision` the policy of every layer built from now on."""
    keras.config.set_dtype_policy(POLICIES[precision])


def _policy_names(node):
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy":
            yield node.get("config", {}).get("name")
        for value in node.values():
            yield from _policy_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _policy_names(value)


def saved_precision(path: str) -> str:
    """The precision a `.keras` file's layers compute in ("off" if none is mixed).

    Reads only the file's config, without building the model.
    """
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    names = set(_policy_names(config))
    for precision, policy in POLICIES.items():
        if policy != "float32" and policy in names:
            return precision
    return "off"
