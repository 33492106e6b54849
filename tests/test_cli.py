import importlib

import pytest

from pyimagesearch.cli import handle_user_errors
from pyimagesearch.errors import UserError
from pyimagesearch.training.flags import RESUMABLE


def test_user_errors_and_ctrl_c(capsys):
    @handle_user_errors
    def fails(argv=None):
        raise UserError("the file x is missing; give another")

    assert fails() == 2
    assert capsys.readouterr().err == "error: the file x is missing; give another\n"

    def interrupted(argv=None):
        raise KeyboardInterrupt

    assert handle_user_errors(interrupted)() == 130
    assert capsys.readouterr().err == "interrupted\n"  # nothing to continue: say no more
    assert handle_user_errors(on_interrupt=RESUMABLE)(interrupted)() == 130
    assert "continue from the last checkpoint" in capsys.readouterr().err


@pytest.fixture
def restore_signals():
    """The commands install their own Ctrl-C and SIGTERM handlers: put Python's back."""
    import signal

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)


@pytest.mark.parametrize("module, typo", [("train_cifar10", ["--epoch", "1"]),
                                          ("train_tinyimagenet", ["--epoch", "1"]),
                                          ("build_tiny_hdf5", ["--dataset", "x"]),
                                          ("train_images", ["--epoch", "1"]),
                                          ("build_hdf5", ["--val", "0.2", "--images", "x"]),
                                          ("pyimagesearch.predict",
                                           ["--model", "m.keras", "--to", "3", "x"]),
                                          ("pyimagesearch.diagnose", ["--pat", "2", "h.json"])])
def test_a_flag_typed_in_part_is_refused_not_taken_for_another(module, typo, capsys):
    """argparse's prefix matching took `--epoch 1` for `--epochs 1` without a word."""
    parser = importlib.import_module(module).get_args_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(typo)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    typed_in_part = next(word for word in typo if word.startswith("--") and word != "--model")
    assert f"unrecognized arguments: {typed_in_part}" in err and err.count("\n") == 1


def test_sigterm_stops_like_ctrl_c_with_status_143(capsys, restore_signals):
    import os
    import signal

    @handle_user_errors(on_interrupt=RESUMABLE)
    def killed(argv=None):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    assert killed() == 143
    assert capsys.readouterr().err.startswith("terminated (SIGTERM); rerun the same command")

    @handle_user_errors
    def told_where(argv=None):
        raise KeyboardInterrupt("interrupted; rerun the same command to continue from epoch 4")

    assert told_where() == 130
    assert capsys.readouterr().err == ("interrupted; rerun the same command to continue from "
                                       "epoch 4\n")


def _swallows_a_signal_once(monkeypatch, signum, at_call):
    """Keras's log conversion catches everything (`except: pass`); make a signal land there."""
    import os

    from keras.src.utils import python_utils

    convert = python_utils.pythonify_logs
    calls = []

    def pythonify_logs(logs):
        calls.append(1)
        try:
            if len(calls) == at_call:
                os.kill(os.getpid(), signum)
            return convert(logs)
        except:  # noqa: E722  (as Keras does)
            return convert(logs)

    monkeypatch.setattr(python_utils, "pythonify_logs", pythonify_logs)
    return calls


@pytest.mark.parametrize("signum_name, status, said", [("SIGTERM", 143, "terminated (SIGTERM)"),
                                                      ("SIGINT", 130, "interrupted")])
def test_a_signal_keras_swallows_still_stops_training(signum_name, status, said, monkeypatch,
                                                      capsys, restore_signals):
    """A SIGTERM landing in Keras's bare except was lost: the run trained on and exited 0."""
    import signal

    import keras
    import numpy as np

    from pyimagesearch.callbacks import StopWhenAsked

    signum = getattr(signal, signum_name)
    calls = _swallows_a_signal_once(monkeypatch, signum, at_call=3)
    seen = []

    @handle_user_errors
    def train(argv=None):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        count = keras.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(b))
        model.fit(np.zeros((40, 2)), np.zeros((40, 1)), batch_size=4, epochs=3, verbose=0,
                  callbacks=[count, StopWhenAsked()])
        return 0

    assert train() == status
    assert len(calls) >= 3 and len(seen) < 3  # stopped at the batch where it was swallowed
    assert capsys.readouterr().err == said + "\n"
    assert train() == 0 and len(seen) > 3  # the request was answered, never raised again


def test_an_error_that_the_stop_caused_is_the_stop(capsys, restore_signals):
    """A SIGTERM landing in a C extension's import became "ImportError: initialization
    failed": a traceback and exit 1."""
    import os
    import signal
    import time

    @handle_user_errors(on_interrupt=RESUMABLE)
    def importing(argv=None):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            raise ImportError("initialization failed") from None
        raise AssertionError("SIGTERM did not stop the command")

    assert importing() == 143
    err = capsys.readouterr().err
    assert err.startswith("terminated (SIGTERM); rerun the same command") and err.count("\n") == 1

    @handle_user_errors
    def broken(argv=None):
        raise ImportError("a real error, with no stop asked")

    with pytest.raises(ImportError):
        broken()
