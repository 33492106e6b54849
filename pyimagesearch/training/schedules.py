"""Learning-rate schedules set once per epoch (for `keras.callbacks.LearningRateScheduler`)."""


class PolynomialDecay:
    """Polynomial decay to zero at `total_epochs`, with optional restarts at a new rate.

    Without restarts, `lr(epoch) = base_lr * (1 - epoch / total_epochs) ** power`
    (epoch counted from 0): with power 1 the linear decay of the MiniGoogLeNet
    recipe, 1e-2 in the first epoch and 1e-2 / 70 in the 70th of 70; with
    power 0 a constant rate.

    A restart `{epoch: lr}` (what `--resume --lr X` records) continues the
    decay from `lr` at `epoch` to zero at `total_epochs`:
    `lr * ((total_epochs - e) / (total_epochs - epoch)) ** power`.

    Args:
        base_lr: the learning rate of the first epoch.
        total_epochs: the epoch at which the rate reaches zero.
        power: the polynomial's power (1 is linear, 0 constant).
        restarts: `{epoch: lr}`, epochs counted from 0.
    """

    def __init__(self, base_lr: float, total_epochs: int, power: float = 1.0,
                 restarts: dict | None = None):
        if base_lr <= 0:
            raise ValueError(f"`base_lr` must be positive. Received: base_lr={base_lr}")
        if total_epochs < 1:
            raise ValueError(f"`total_epochs` must be at least 1. Received: total_epochs={total_epochs}")
        if power < 0:
            raise ValueError(f"`power` must be at least 0. Received: power={power}")
        self.base_lr = float(base_lr)
        self.total_epochs = int(total_epochs)
        self.power = float(power)
        self.restarts = sorted((int(e), float(lr)) for e, lr in (restarts or {}).items())

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        if epoch >= self.total_epochs:
            return 0.0
        start, base = 0, self.base_lr
        for restart, value in self.restarts:
            if restart <= epoch:
                start, base = restart, value
        return base * ((self.total_epochs - epoch) / (self.total_epochs - start)) ** self.power
