"""StopWhenAsked: a Ctrl-C or SIGTERM that Keras swallowed stops training at the next batch."""

import keras

from pyimagesearch import signals


class StopWhenAsked(keras.callbacks.Callback):
    """Raises, at the end of the next batch or epoch, a Ctrl-C or SIGTERM that code
    catching everything swallowed (Keras's own log conversion does, once a batch);
    see `pyimagesearch.signals`. Without a request it does nothing."""

    def on_train_batch_end(self, batch, logs=None):
        signals.raise_if_pending()

    def on_test_batch_end(self, batch, logs=None):
        signals.raise_if_pending()

    def on_predict_batch_end(self, batch, logs=None):
        signals.raise_if_pending()

    def on_epoch_end(self, epoch, logs=None):
        signals.raise_if_pending()
