"""Whether a training step fits in the memory left, found before the model is built.

A step holds every layer's output for each image of the batch (kept for the
backward pass) and, for each parameter, its float32 weight, its gradient and up
to two optimizer slots (Adam's; SGD with momentum has one): `BYTES_A_PARAMETER`.
Both are counted on the network built at `--width` 1.0 and scaled to the run's
width: the layers' outputs grow with it, their weights with its square (a
convolution's inputs and outputs both widen). So `--width 1e12` is refused
before a single weight is allocated, and `--batch-size 4096` before the first
step aborts in C++ (`std::bad_alloc`) or is killed.

How many copies of the layers' outputs a backend keeps was measured on
MiniGoogLeNet on a CPU (float32; the growth of the peak resident memory from a
batch of 16 to one of 128, against 6.9 MB of layer outputs an image):
TensorFlow 6.1 MB an image, JAX 7.9, PyTorch 12.8 (`ACTIVATION_COPIES`).

The check applies where the step runs in the host's memory (a CPU); a GPU's
memory is its own, and its backend says when it is full.
"""

import math
import os

import keras

from pyimagesearch.errors import UserError

# float32 weight, gradient and two optimizer slots, in bytes.
BYTES_A_PARAMETER = 16
# Bytes a backend holds for a step per byte of the layers' outputs (measured, rounded up).
ACTIVATION_COPIES = {"tensorflow": 1.0, "jax": 1.2, "torch": 1.9}
# A cgroup v1 limit at or above this is no limit (the kernel writes 2**63 less a page).
_UNLIMITED = 2**62
GIB = 2**30


def available_memory(root: str = "/") -> tuple[int, str] | None:
    """The memory this process can still take, in bytes, and where that figure comes from.

    The least of `MemAvailable` in /proc/meminfo and, for every memory cgroup
    above this process with a limit (v2 `memory.max`, v1
    `memory.limit_in_bytes`), the limit less its usage, the usage without the
    inactive file cache that the kernel reclaims first.

    Args:
        root: the file system's root (tests pass a folder that mimics one).

    Returns:
        `(bytes, description)`, or None where neither can be read (not Linux).
    """
    found = []
    meminfo = _read(os.path.join(root, "proc", "meminfo"))
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            found.append((int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"))
    for folder, limit_file, usage_file, inactive_key in _memory_cgroups(root):
        limit = _read(os.path.join(folder, limit_file))
        if limit is None or not limit.strip().isdigit() or int(limit) >= _UNLIMITED:
            continue  # "max", or v1's no-limit value
        usage = int(_read(os.path.join(folder, usage_file)) or 0)
        stat = dict(line.split()[:2] for line in
                    (_read(os.path.join(folder, "memory.stat")) or "").splitlines()
                    if len(line.split()) >= 2)
        usage -= min(usage, int(stat.get(inactive_key, 0)))
        path = "/" + os.path.relpath(os.path.join(folder, limit_file), root)
        found.append((max(0, int(limit) - usage),
                      f"the limit {path} of {int(limit) / GIB:.1f} GiB less "
                      f"{usage / GIB:.1f} GiB in use"))
    return min(found) if found else None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def _memory_cgroups(root: str) -> list[tuple[str, str, str, str]]:
    """`(folder, limit file, usage file, inactive-cache key)` of this process's memory
    cgroup and of each one above it, v2 and v1 (those whose folder is visible)."""
    found = []
    for line in (_read(os.path.join(root, "proc", "self", "cgroup")) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "":  # cgroup v2
            base = os.path.join(root, "sys", "fs", "cgroup")
            files = ("memory.max", "memory.current", "inactive_file")
        elif "memory" in parts[1].split(","):
            base = os.path.join(root, "sys", "fs", "cgroup", "memory")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        folder = os.path.normpath(os.path.join(base, parts[2].lstrip("/")))
        while True:  # a namespaced path may not be visible: its parents up to the mount are
            if os.path.exists(os.path.join(folder, files[0])):
                found.append((folder, *files))
            if folder == os.path.normpath(base) or not folder.startswith(base):
                break
            folder = os.path.dirname(folder)
    return found


def network_size(model: keras.Model) -> tuple[int, int]:
    """`(parameters, bytes of layer outputs an image)` of a built model (each layer's
    outputs in their dtypes: half under mixed precision)."""
    outputs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in keras.tree.flatten(layer.output):
            outputs += math.prod(tensor.shape[1:]) * _itemsize(tensor.dtype)
    return model.count_params(), outputs


def _itemsize(dtype) -> int:
    bits = "".join(c for c in str(dtype) if c.isdigit())  # float32, bfloat16, uint8
    return int(bits) // 8 if bits else 1


def check_fits(network, width: float, batch: int, flag_batch: str = "--batch-size") -> None:
    """Raises a UserError, in one sentence with the estimate and the limit, if a training
    step of `batch` images through `network(width)` would not fit in the memory left.

    Args:
        network: builds the network at a width multiplier (`network(1.0)` is built
            here, at its published size, and thrown away).
        width: the run's `--width`.
        batch: images a step of this process holds.
        flag_batch: the flag that sets `batch`, named in the advice.
    """
    available = available_memory()
    if available is None:
        return
    free, where = available
    parameters, outputs = network_size(network(1.0))
    copies = ACTIVATION_COPIES.get(keras.backend.backend(), 1.0)
    per_image = outputs * copies * max(width, 1.0)  # never below the network at width 1
    weights = parameters * BYTES_A_PARAMETER * max(width, 1.0) ** 2
    need = weights + batch * per_image
    if need <= free:
        return
    limit = f"more than the {free / GIB:.3g} GiB this process can still use ({where})"
    if weights + per_image > free:  # not even one image fits: the network is too wide
        # The widest network that fits with this batch: a w^2 + b w = free.
        a, b = parameters * BYTES_A_PARAMETER, outputs * copies * batch
        widest = (-b + math.sqrt(b * b + 4 * a * free)) / (2 * a)
        raise UserError(f"--width {width:g} makes a network of about "
                        f"{parameters * max(width, 1.0) ** 2:.3g} parameters, whose weights, "
                        f"gradients and optimizer state need about {weights / GIB:.3g} GiB, "
                        f"{limit}; lower --width to at most {widest:.3g}")
    largest = int((free - weights) // per_image)
    raise UserError(f"a training step of {batch} images needs about {need / GIB:.3g} GiB "
                    f"({per_image / 2**20:.3g} MiB of layer outputs an image, "
                    f"{weights / GIB:.3g} GiB for the parameters), {limit}; lower "
                    f"{flag_batch} to at most {largest}")
