"""StopOnDivergence: stops training at the first batch whose loss diverged, remembering where.

A loss has diverged when it is not finite, or when it is more than ten times
the larger of a uniform guess's loss over the classes, `ln(classes)` (2.3 for
CIFAR-10's 10 classes, 5.3 for Tiny ImageNet's 200), and the loss the
training started from (its first batch, before any step: a model whose inputs
are far from unit scale may start well above a guess). A model that is learning
stays below where it started; ten times above it, the true class gets a
probability below `e ** (-10 * start)`: the weights have blown up (a learning
rate far too high), and the run will not recover. (Backends that clip the
predicted probabilities, as Keras does on JAX and PyTorch, cap the loss near
`ln(1e7)`, about 16: there a blown-up model shows as a loss that is not
finite.) At an epoch's end, a validation loss that is not finite while the
training loss is above a uniform guess's is a divergence too: the model has
learnt nothing and its weights or batch-norm statistics overflowed. A
non-finite validation loss beside a training loss that fell below a guess's is
left to the diagnosis (a bad validation epoch, not a bad model).
"""

import math

import keras

# How many times a uniform guess's loss, ln(classes), a training loss may reach.
EXPLODED = 10.0


def divergence(logs: dict | None, classes: int, start: float = 0.0) -> str | None:
    """Why the `logs` of a batch or an epoch show a diverged model, or None.

    Args:
        logs: Keras's logs (`loss`, and at an epoch's end `val_loss`).
        classes: how many classes the model tells apart (below 2: only a
            loss that is not finite counts).
        start: the loss the training started from (its first batch).

    Returns:
        What diverged, in words ("the loss reached 3.8e+21, more than ten
        times a uniform guess's 2.3"), or None.
    """
    logs = logs or {}
    if logs.get("loss") is None:
        return None
    loss = float(keras.ops.convert_to_numpy(logs["loss"]))
    if not math.isfinite(loss):
        return f"the loss became {loss}"
    if classes < 2:
        return None
    guess = math.log(classes)
    if loss > EXPLODED * max(guess, start):
        than = (f"a uniform guess's {guess:.3g}" if guess >= start
                else f"the {start:.3g} it started from")
        return f"the loss reached {loss:.3g}, more than ten times {than}"
    if logs.get("val_loss") is not None and loss > guess:
        val_loss = float(keras.ops.convert_to_numpy(logs["val_loss"]))
        if not math.isfinite(val_loss):
            return (f"the validation loss became {val_loss} while the training loss, "
                    f"{loss:.3g}, was above a uniform guess's {guess:.3g}")
    return None


def classes_of(model: keras.Model) -> int:
    """How many classes `model` tells apart: its output's last dimension (0 if unknown)."""
    shape = getattr(model, "output_shape", None)
    return int(shape[-1]) if isinstance(shape, tuple) and shape and shape[-1] else 0


class StopOnDivergence(keras.callbacks.Callback):
    """Stops training at the first batch (or epoch, for the validation loss) whose
    loss diverged (see `divergence`; the start is this `fit`'s first batch), and
    keeps where: `diverged` holds `epoch` and `batch` (counted from 1; `batch`
    None for an epoch's validation loss), `reason` (in words), `loss` and `lr`
    (the learning rate then), so that the training script can say so. Put it
    before `EpochCheckpoint`, whose `diverged` asks it, so that a diverged model
    never replaces the last good checkpoint.

    Args:
        rate: the learning rate of `(epoch, batch)` (from 0; batch None: the epoch's
            last), e.g. `PolynomialDecaySchedule.at`; without it, the optimizer's
            current rate.
    """

    def __init__(self, rate=None):
        super().__init__()
        self.rate = rate
        self.diverged: dict | None = None
        self._epoch = 0
        self._classes = 0
        self._start: float | None = None

    def on_train_begin(self, logs=None):
        self.diverged, self._start = None, None
        self._classes = classes_of(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._start is None and (logs or {}).get("loss") is not None:
            loss = float(keras.ops.convert_to_numpy(logs["loss"]))
            self._start = loss if math.isfinite(loss) else 0.0
        self._check(logs, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, None)

    def _check(self, logs, batch: int | None) -> None:
        if self.diverged is not None:
            return
        reason = divergence(logs, self._classes, self._start or 0.0)
        if reason is None:
            return
        if self.rate is not None:
            lr = self.rate(self._epoch, None if batch is None else batch - 1)
        else:
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.diverged = {"epoch": self._epoch + 1, "batch": batch, "reason": reason,
                         "loss": float(keras.ops.convert_to_numpy(logs["loss"])), "lr": lr}
        self.model.stop_training = True
