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


@pytest.mark.parametrize("module, typo", [("train_cifar10", ["--epoch", "1"]),
                                          ("train_tinyimagenet", ["--epoch", "1"]),
                                          ("build_tiny_hdf5", ["--dataset", "x"]),
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


def test_sigterm_stops_like_ctrl_c_with_status_143(capsys):
    import os
    import signal

    @handle_user_errors(on_interrupt=RESUMABLE)
    def killed(argv=None):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert killed() == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err.startswith("terminated (SIGTERM); rerun the same command")

    @handle_user_errors
    def told_where(argv=None):
        raise KeyboardInterrupt("interrupted; rerun the same command to continue from epoch 4")

    assert told_where() == 130
    assert capsys.readouterr().err == ("interrupted; rerun the same command to continue from "
                                       "epoch 4\n")
