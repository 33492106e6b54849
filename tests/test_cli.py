from pyimagesearch.utils.cli import RESUMABLE, handle_user_errors
from pyimagesearch.utils.errors import UserError


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
