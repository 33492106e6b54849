"""The learning-rate schedule: polynomial decay to zero, with an optional linear warm-up,
set once per epoch (the classic recipe, through `keras.callbacks.LearningRateScheduler`)
or once per batch (the fast recipe, through `BatchLearningRate`)."""

import keras


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

    def at(self, epoch: int, batch: int, steps: int) -> float:
        """The rate of batch `batch` (from 0) of epoch `epoch`, with `steps` batches an epoch."""
        t = epoch + batch / steps
        if t >= self.total_epochs:
            return 0.0
        start, base = self.warmup_epochs, self.base_lr
        for restart, value in self.restarts:
            if restart <= t:
                start, base = restart, value
        if t < self.warmup_epochs and start == self.warmup_epochs:
            return base * min(1.0, (t + 1 / steps) / self.warmup_epochs)
        return base * ((self.total_epochs - t) / (self.total_epochs - start)) ** self.power


class BatchLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's rate before every batch from `schedule.at(epoch, batch, steps)`.

    The rate depends only on Keras's epoch and batch numbers, so a resumed
    run (which `fit` starts at `initial_epoch`) continues the curve exactly.
    On JAX, whose `fit` keeps the variables' values outside the model during
    an epoch, the state is synced first so that the new rate reaches the step.
    """

    def __init__(self, schedule: PolynomialDecay, steps: int):
        super().__init__()
        self.schedule, self.steps = schedule, max(1, int(steps))
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        self.model.optimizer.learning_rate = self.schedule.at(self._epoch, batch, self.steps)
