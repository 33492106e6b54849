"""Learning-rate schedules set once per epoch (for `keras.callbacks.LearningRateScheduler`)."""


class PolynomialDecay:
    """`lr(epoch) = base_lr * (1 - epoch / total_epochs) ** power`, epoch counted from 0.

    With power 1 this is the linear decay to zero of the MiniGoogLeNet recipe:
    1e-2 in the first epoch, 1e-2 / 70 in the 70th of 70.

    Args:
        base_lr: the learning rate of the first epoch.
        total_epochs: the epoch at which the rate would reach zero.
        power: the polynomial's power (1 is linear).
    """

    def __init__(self, base_lr: float, total_epochs: int, power: float = 1.0):
        if base_lr <= 0:
            raise ValueError(f"`base_lr` must be positive. Received: base_lr={base_lr}")
        if total_epochs < 1:
            raise ValueError(f"`total_epochs` must be at least 1. Received: total_epochs={total_epochs}")
        self.base_lr = float(base_lr)
        self.total_epochs = int(total_epochs)
        self.power = float(power)

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        decay = max(0.0, 1.0 - epoch / self.total_epochs) ** self.power
        return self.base_lr * decay
