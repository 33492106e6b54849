#!/usr/bin/env python3
"""What setting the learning rate every batch costs a training step, three ways.

    python -m bench.lr_schedule                       # the backend of KERAS_BACKEND
    KERAS_BACKEND=jax python -m bench.lr_schedule --width 0.25 --batch-size 16 --steps 50

The fast recipe changes the rate every batch (its warm-up, then the decay). It is
computed inside the compiled train step from the optimizer's step counter
(`PolynomialDecaySchedule`); before, a Keras callback set it from Python before
every batch, which on JAX first syncs the whole trainer state (every variable)
out of the compiled step. This trains MiniGoogLeNet (its ~200 variables) at a
small width, batch and epoch, where the step's fixed costs show, with a constant
rate, with the schedule, and with the callback, and prints each one's median
milliseconds a step over `--epochs` epochs (the first, which compiles, left out)
and its cost over the constant rate.
"""

import statistics
import sys
import time

import numpy as np

from pyimagesearch.cli import ArgumentParser, positive_float, positive_int


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.lr_schedule",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=positive_float, default=0.1,
                        help="MiniGoogLeNet's width multiplier")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="images a step")
    parser.add_argument("--steps", type=positive_int, default=200, help="steps an epoch")
    parser.add_argument("--epochs", type=positive_int, default=8,
                        help="epochs timed, after one that compiles")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)

    from pyimagesearch import startup

    keras = startup.import_keras()
    from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet
    from pyimagesearch.nn.schedules import PolynomialDecay, PolynomialDecaySchedule

    epochs = args.epochs + 1
    decay = PolynomialDecay(0.1, epochs, warmup_epochs=1.0)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, n)

    class SetEveryBatch(keras.callbacks.Callback):
        """The rate set from Python before every batch (the fast recipe's way before)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if hasattr(self.model, "jax_state_sync"):
                self.model.jax_state_sync()
            self.model.optimizer.learning_rate = decay.at(self.epoch, batch, args.steps)

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    ways = ("constant", "schedule", "callback")
    models, timers = {}, {way: EpochTimes() for way in ways}
    for way in ways:
        keras.utils.set_random_seed(0)
        models[way] = MiniGoogLeNet.build(32, 32, 3, 10, width_multiplier=args.width)
        models[way].compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                            loss="sparse_categorical_crossentropy")
        if way == "schedule":
            models[way].optimizer.learning_rate = PolynomialDecaySchedule(decay, args.steps)
    # One epoch of each in turn, so that a change in the machine's load touches all three.
    for epoch in range(epochs):
        for way in ways:
            callbacks = [timers[way]] + ([SetEveryBatch()] if way == "callback" else [])
            models[way].fit(x, y, batch_size=args.batch_size, epochs=epoch + 1,
                            initial_epoch=epoch, verbose=0, shuffle=False, callbacks=callbacks)

    print(f"MiniGoogLeNet at width {args.width:g}, batch {args.batch_size}, "
          f"{keras.backend.backend()}: ms a step (median of {args.epochs} epochs of "
          f"{args.steps} steps, the three in turn)")
    times = {way: 1000 * statistics.median(timers[way].seconds[1:]) / args.steps
             for way in ways}
    for way in ways:
        extra = times[way] - times["constant"]
        cost = "" if way == "constant" else f"  ({extra:+.2f} ms, {extra / times['constant']:+.1%})"
        print(f"  {way:9s} {times[way]:8.2f}{cost}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
