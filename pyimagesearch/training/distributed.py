"""Data-parallel training with `keras.distribution` on the JAX backend.

One process drives every device it sees (`--distributed`), and several
processes, on one machine or many, form one run when they are told where
process 0 listens (`--coordinator HOST:PORT --num-processes N --process-id I`,
or the environment variables Keras and JAX read). Every step trains on one
global batch: each process feeds its own part of it, Keras's `DataParallel`
splits that part across its devices, and XLA averages the gradients and
computes the batch-norm statistics over the whole global batch, so every
replica holds the same weights after every step.

Keras 3's other paths are not used: TensorFlow's `MultiWorkerMirroredStrategy`
fails inside Keras's trainer (keras-team/keras#20585) and the torch backend
under `torchrun` synchronises nothing.
"""

import hashlib
import math
import os
from dataclasses import dataclass

import keras
import numpy as np

from pyimagesearch.backend import no_distribution
from pyimagesearch.callbacks import StopWhenAsked
from pyimagesearch.errors import UserError

# Environment variables that make a process one of several (Keras's and JAX's own).
PROCESS_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
               "KERAS_DISTRIBUTION_PROCESS_ID", "JAX_COORDINATOR_ADDRESS")


@dataclass(frozen=True)
class Replicas:
    """This process's place in data-parallel training.

    Attributes:
        process: this process's index (0 writes the run's files).
        processes: how many processes train together.
        devices: how many devices the global batch is split across, over all
            processes.
    """

    process: int = 0
    processes: int = 1
    devices: int = 1

    @property
    def chief(self) -> bool:
        """True for the process that writes checkpoints, history, plots and reports."""
        return self.process == 0

    def batch_kwargs(self) -> dict:
        """`ShuffledBatches` arguments for this process's part of every global batch."""
        return {"shard": (self.process, self.processes), "multiple": self.devices}


_current = Replicas()


def current() -> Replicas:
    """The `Replicas` that `start` set up (one process, one device before it)."""
    return _current


def start(distributed: bool, coordinator: str | None = None, num_processes: int | None = None,
          process_id: int | None = None) -> Replicas:
    """Turns on data parallelism over every device of every process, as asked.

    Call it before anything runs on the backend. `coordinator`, `num_processes`
    or `process_id` (or the environment variables in `PROCESS_ENV`, with
    `distributed`) make this process one of several; `distributed` alone uses
    the devices of this process.

    Raises:
        UserError: not the JAX backend, or the processes could not connect.
    """
    global _current
    flags = (coordinator, num_processes, process_id)
    several = any(v is not None for v in flags) or (
        distributed and any(name in os.environ for name in PROCESS_ENV))
    if not (distributed or several):
        return _current
    backend = keras.backend.backend()
    if backend != "jax":
        raise UserError(f"--distributed runs on the JAX backend only, not on {backend}; install "
                        "JAX and run with KERAS_BACKEND=jax (docs/backends.md)")
    import jax

    if several:
        print(f"joining the distributed run at {coordinator or 'the address in the environment'}"
              f" as process {'?' if process_id is None else process_id} of "
              f"{num_processes or '?'} (each process waits up to 5 minutes for the others)",
              flush=True)
        try:
            keras.distribution.initialize(coordinator, num_processes, process_id)
        except (ValueError, TypeError, RuntimeError) as err:
            message = " ".join(str(err).split())[:300]
            raise UserError(f"could not join the distributed run ({message}); check "
                            "--coordinator HOST:PORT, --num-processes and --process-id") from None
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    _current = Replicas(jax.process_index(), jax.process_count(), len(devices))
    return _current


class PeerLost(UserError):
    """Another process of the run stopped, so this one cannot go on."""


def lost_peer(err: BaseException) -> PeerLost | None:
    """The `PeerLost` that `err` means, or None: with several processes, a failed
    collective (JAX's `JaxRuntimeError`, e.g. "Gloo all-reduce failed: Connection
    closed by peer") means that another process died or became unreachable."""
    if _current.processes == 1 or type(err).__name__ != "JaxRuntimeError":
        return None
    first = " ".join(str(err).split())[:200]
    return PeerLost(f"the distributed run broke off ({first}): another process stopped or "
                    "became unreachable; see its output, then rerun every process to continue "
                    "from the last checkpoint")


def check_batch_size(batch_size: int) -> None:
    """Raises a UserError unless the global batch splits evenly across the devices."""
    devices = _current.devices
    if batch_size % devices:
        raise UserError(f"--batch-size {batch_size} (the global batch) does not split evenly "
                        f"across {devices} devices; use a multiple of {devices}, e.g. "
                        f"{devices * max(1, round(batch_size / devices))}")


def gather(values) -> np.ndarray:
    """Every process's `values` (one shape on all), stacked in process order."""
    values = np.asarray(values)
    if _current.processes == 1:
        return values[None]
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values, tiled=False))


def check_replicas_agree(model: keras.Model) -> str:
    """Raises a UserError unless every process holds the same weights; returns their digest.

    A SHA-256 of every variable (weights, optimizer slots, batch-norm statistics,
    seed states), gathered from all processes and compared bit for bit.
    """
    digest = hashlib.sha256()
    for variable in model.variables + list(getattr(model.optimizer, "variables", [])):
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    mine = np.frombuffer(digest.digest(), np.uint32)
    every = gather(mine)
    differ = [i for i in range(len(every)) if not np.array_equal(every[i], every[0])]
    if differ:
        raise UserError(f"process {', '.join(map(str, differ))} ended with other weights than "
                        "process 0; the run's files (process 0's) may not be what the others "
                        "trained, so rerun it")
    return digest.hexdigest()


def shared_seed() -> int:
    """A random seed, the same in every process (process 0's)."""
    seed = int(np.random.SeedSequence().entropy % 2**31)
    return int(gather(np.int32(seed))[0])


def predict(model: keras.Model, data, verbose: int = 0) -> np.ndarray:
    """`model.predict` over all of `data` (a non-shuffling `ShuffledBatches`).

    Under a distribution, Keras's `predict` cannot return outputs that live on
    other processes' devices, and needs batches that split evenly across the
    devices; each process instead predicts a contiguous part of the data on a
    local copy of the model, and the parts are gathered.
    """
    if keras.distribution.distribution() is None:
        return model.predict(data, verbose=verbose, callbacks=[StopWhenAsked()])
    per = math.ceil(data.num_images / _current.processes)
    rows = np.arange(_current.process * per, min((_current.process + 1) * per, data.num_images))
    classes = model.output_shape[-1]
    with no_distribution():  # the copy lives on this process's devices
        copy = keras.models.model_from_json(model.to_json())
        copy.set_weights(model.get_weights())
        part = (copy.predict(_Rows(data, rows), verbose=verbose, callbacks=[StopWhenAsked()]) if len(rows)
                else np.zeros((0, classes), "float32"))
    padded = np.zeros((per, classes), part.dtype)
    padded[:len(part)] = part
    return gather(padded).reshape(-1, classes)[:data.num_images]


class _Rows(keras.utils.PyDataset):
    """The inputs of `rows` of a `ShuffledBatches`, in batches of its size."""

    def __init__(self, data, rows: np.ndarray):
        super().__init__()
        self.data = data
        self.rows = rows

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.data.batch_size)

    def __getitem__(self, index: int):
        size = self.data.batch_size
        return self.data.inputs(self.rows[index * size:(index + 1) * size])
