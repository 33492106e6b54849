"""The learning-rate schedule: polynomial decay to zero, with an optional linear warm-up
and `--resume --lr` restarts (`PolynomialDecay`, the rule in plain Python), held for an
epoch (the classic recipe) or changed every batch (the fast recipe, whose warm-up needs
it), and computed inside the compiled train step from the optimizer's step counter
(`PolynomialDecaySchedule`): nothing runs in Python between batches, and on JAX nothing
is synced out of the compiled state to set it."""

import keras
import numpy as np


class PolynomialDecay:
    """Polynomial decay to zero at `total_epochs`, with optional warm-up and restarts.

    Without restarts, `lr(epoch) = base_lr * (1 - epoch / total_epochs) ** power`
    (epoch counted from 0): with power 1 the linear decay of the MiniGoogLeNet
    recipe, 1e-2 in the first epoch and 1e-2 / 70 in the 70th of 70; with
    power 0 a constant rate.

    A restart `{epoch: lr}` (what `--resume --lr X` records) continues the
    decay from `lr` at `epoch` to zero at `total_epochs`:
    `lr * ((total_epochs - e) / (total_epochs - epoch)) ** power`.

    With `warmup_epochs` w > 0, the rate first rises linearly from
    `base_lr / steps` to `base_lr` over the first w epochs (`steps` batches an
    epoch, see `at`), then decays from `base_lr` at w to zero at
    `total_epochs`.

    Args:
        base_lr: the learning rate of the first epoch (the peak, after a warm-up).
        total_epochs: the epoch at which the rate reaches zero.
        power: the polynomial's power (1 is linear, 0 constant).
        restarts: `{epoch: lr}`, epochs counted from 0.
        warmup_epochs: epochs of linear warm-up (may be fractional).
    """

    def __init__(self, base_lr: float, total_epochs: int, power: float = 1.0,
                 restarts: dict | None = None, warmup_epochs: float = 0.0):
        if base_lr <= 0:
            raise ValueError(f"`base_lr` must be positive. Received: base_lr={base_lr}")
        if total_epochs < 1:
            raise ValueError(f"`total_epochs` must be at least 1. Received: total_epochs={total_epochs}")
        if power < 0:
            raise ValueError(f"`power` must be at least 0. Received: power={power}")
        self.base_lr = float(base_lr)
        self.total_epochs = int(total_epochs)
        self.power = float(power)
        if not 0 <= warmup_epochs < total_epochs:
            raise ValueError("`warmup_epochs` must be at least 0 and below `total_epochs`. "
                             f"Received: warmup_epochs={warmup_epochs}")
        self.restarts = sorted((int(e), float(lr)) for e, lr in (restarts or {}).items())
        self.warmup_epochs = float(warmup_epochs)

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        """The rate of epoch `epoch` (from 0), held for the whole epoch (Keras's
        `LearningRateScheduler` passes the current rate as `lr`, unused)."""
        return self.at(epoch, 0, 1)

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "total_epochs": self.total_epochs,
                "power": self.power, "restarts": {str(e): lr for e, lr in self.restarts},
                "warmup_epochs": self.warmup_epochs}

    def at(self, epoch: int, batch: int, steps: int) -> float:
        """The rate of batch `batch` (from 0) of epoch `epoch`, with `steps` batches an epoch."""
        return float(self.rate(np.float64(epoch + batch / steps), 1 / steps, np))

    def rate(self, t, step, xp):
        """The rate `t` epochs (from 0) into the run, `step` the share of an epoch that one
        step of the warm-up takes; `xp` is NumPy (in Python) or `keras.ops` (inside the
        compiled train step, `t` a tensor): one rule for both."""
        start, base = xp.full_like(t, self.warmup_epochs), xp.full_like(t, self.base_lr)
        for restart, value in self.restarts:  # the decay restarts from the latest reached
            reached = xp.greater_equal(t, restart)
            start, base = xp.where(reached, restart, start), xp.where(reached, value, base)
        left = xp.maximum(self.total_epochs - t, 0.0)
        rate = base * xp.power(left / (self.total_epochs - start), self.power)
        if self.warmup_epochs > 0:
            rising = base * xp.minimum(1.0, (t + step) / self.warmup_epochs)
            warming = xp.logical_and(xp.less(t, self.warmup_epochs),
                                     xp.equal(start, self.warmup_epochs))
            rate = xp.where(warming, rising, rate)
        return xp.where(xp.greater_equal(t, self.total_epochs), 0.0, rate)


@keras.saving.register_keras_serializable(package="pyimagesearch")
class PolynomialDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`PolynomialDecay` as a Keras schedule of the optimizer's step counter.

    Step `s` of the optimizer is batch `(s - initial_step) % steps` of epoch
    `initial_epoch + (s - initial_step) // steps`: a resumed run passes the
    epoch it starts at and the step its checkpoint's optimizer had reached,
    and the rate continues exactly where the interrupted run left it. Per
    batch, step `s` gets `decay.at(epoch, batch, steps)`; per epoch, every
    step of an epoch gets `decay(epoch)`. The arithmetic is float32, as the
    optimizer's: within 1e-6 of `PolynomialDecay`'s.

    A step that `LossScaleOptimizer` skips (float16's non-finite gradients)
    does not count: the schedule then runs that many batches behind.

    Args:
        decay: the rule (or its `get_config()`).
        steps: batches an epoch.
        per_batch: a new rate every batch, else every epoch.
        initial_epoch: the epoch that step `initial_step` begins.
        initial_step: the optimizer's step counter at `initial_epoch`'s first batch.
    """

    def __init__(self, decay: PolynomialDecay | dict, steps: int, per_batch: bool = True,
                 initial_epoch: int = 0, initial_step: int = 0):
        self.decay = decay if isinstance(decay, PolynomialDecay) else PolynomialDecay(**decay)
        self.steps, self.per_batch = max(1, int(steps)), bool(per_batch)
        self.initial_epoch, self.initial_step = int(initial_epoch), int(initial_step)

    def __call__(self, step):
        ops, decay = keras.ops, self.decay
        # The epoch and batch as integers first: a resumed run (another initial step)
        # computes the same float32 rate as an uninterrupted one, bit for bit.
        done = step - self.initial_step
        epoch = ops.cast(self.initial_epoch + ops.floor_divide(done, self.steps), "float32")
        t = epoch  # epochs done, counted from 0
        if self.per_batch:
            t = epoch + ops.cast(ops.mod(done, self.steps), "float32") / self.steps
        return decay.rate(t, 1.0 / self.steps if self.per_batch else 1.0, ops)

    def at(self, epoch: int, batch: int | None = None) -> float:
        """The rate of batch `batch` (from 0) of epoch `epoch`, in plain Python; with
        `batch` None, the rate the epoch ended with (its last batch's)."""
        batch = self.steps - 1 if batch is None else batch
        return self.decay.at(epoch, batch, self.steps) if self.per_batch else self.decay(epoch)

    def get_config(self) -> dict:
        return {"decay": self.decay.get_config(), "steps": self.steps,
                "per_batch": self.per_batch, "initial_epoch": self.initial_epoch,
                "initial_step": self.initial_step}
