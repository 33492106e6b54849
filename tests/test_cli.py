import importlib
import os

import pytest
from doc_commands import PARSERS, get_parser

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
    """The commands install their own Ctrl-C and SIGTERM handlers where Python's own are in
    place: each test starts from Python's (whatever an earlier test left), then gets back
    what was there."""
    import signal

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
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


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_every_help_reads_as_written_by_a_person(command):
    """A default is said once and only where it means something: never "(default: None)"
    or "(default: False)", never twice, never on a required flag or a positional."""
    import argparse

    parser = get_parser(command)
    text = parser.format_help()
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: [" not in text  # several values are shown as typed, not as a list
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.help or action.help is argparse.SUPPRESS:
            continue
        said = formatter._expand_help(action)
        assert said.count("default:") <= 1, said
        if action.required or not action.option_strings:
            assert "default:" not in said.replace(action.help, ""), said


def test_help_shows_a_default_only_where_one_is_set():
    import argparse

    from pyimagesearch.cli import ArgumentParser

    parser = ArgumentParser(prog="x")
    parser.add_argument("--epochs", type=int, default=70, help="epochs")
    parser.add_argument("--output", help="folder (default: beside the model)")
    parser.add_argument("--seed", type=int, help="seed")
    parser.add_argument("--model", required=True, default="m.keras", help="model")
    parser.add_argument("--force", action="store_true", help="start over")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True,
                        help="flips")
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=False,
                        help="Nesterov")
    parser.add_argument("--range", type=float, nargs=2, default=[1e-6, 10.0], help="range")
    parser.add_argument("--share", type=float, default=0.5, help="share of 100%%")
    said = {a.dest: parser._get_formatter()._expand_help(a) for a in parser._actions[1:]}
    assert said == {"epochs": "epochs (default: 70)",
                    "output": "folder (default: beside the model)", "seed": "seed",
                    "model": "model", "force": "start over",
                    "flip": "flips (default: --flip)", "nesterov": "Nesterov",
                    "range": "range (default: 1e-06 10.0)",
                    "share": "share of 100% (default: 0.5)"}


def _command(body: str) -> str:
    """A command in a fresh Python, as the scripts are: `main` under `handle_user_errors`."""
    return ("import gc, os, signal, sys, time\n"
            "from pyimagesearch.cli import handle_user_errors\n"
            "@handle_user_errors\n"
            "def main(argv=None):\n" + "".join(f"    {line}\n" for line in body.splitlines())
            + "sys.exit(main())\n")


def _python(code: str, *argv, timeout=120):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": root}, timeout=timeout)


@pytest.mark.parametrize("signum_name, status, said", [("SIGTERM", 143, "terminated (SIGTERM)"),
                                                      ("SIGINT", 130, "interrupted")])
def test_a_stop_that_a_gc_callback_swallowed_stops_the_command_at_once(signum_name, status,
                                                                      said, tmp_path):
    """JAX's `_xla_gc_callback` runs at every garbage collection (Keras loads JAX on every
    backend); a signal landing there printed "Exception ignored in: <function
    _xla_gc_callback> ... Terminated", and the command went on (an export wrote its file
    15 s after the signal)."""
    written = tmp_path / "result"
    result = _python(_command(
        f"def as_jax_does(phase, info):  # the signal lands in here, once\n"
        f"    gc.callbacks.remove(as_jax_does)\n"
        f"    os.kill(os.getpid(), signal.{signum_name})\n"
        f"gc.callbacks.append(as_jax_does)\n"
        f"gc.collect()\n"
        f"deadline = time.time() + 10\n"
        f"while time.time() < deadline:  # work that a stop must end\n"
        f"    sum(range(1000))\n"
        f"open(sys.argv[1], 'w').write('written after the stop')\n"
        f"return 0"), written)
    assert (result.returncode, result.stderr) == (status, said + "\n")
    assert not written.exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="watches /proc/PID/maps")
@pytest.mark.parametrize("signum_name, status, said", [("SIGTERM", 143, "terminated (SIGTERM)"),
                                                      ("SIGINT", 130, "interrupted")])
def test_a_stop_while_a_c_extension_initializes_waits_for_its_end(signum_name, status, said):
    """A signal landing while jaxlib's C extension initialized crashed Python (segmentation
    fault, status -11, no word) every time; others fail the import ("ImportError:
    initialization failed"). The stop now waits for the initialization to end."""
    import signal
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen([sys.executable, "-c", _command("import jax\nreturn 0")],
                               env={**os.environ, "PYTHONPATH": root}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while process.poll() is None and time.time() < deadline:
        with open(f"/proc/{process.pid}/maps") as f:
            if "jaxlib/_jax" in f.read():  # being loaded: its initialization runs now
                break
        time.sleep(0.0005)
    process.send_signal(getattr(signal, signum_name))
    _, err = process.communicate(timeout=120)
    assert (process.returncode, err) == (status, said + "\n")
