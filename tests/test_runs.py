from pyimagesearch.utils.runs import _lr_restarts


def test_resume_with_a_new_lr_adds_a_restart():
    assert _lr_restarts({"lr": 1e-3}, 1, 5e-4) == {"1": 5e-4}
    assert _lr_restarts({"lr": 1e-3, "lr_restarts": {"1": 5e-4}}, 4, 1e-4) == {"1": 5e-4,
                                                                               "4": 1e-4}


def test_rerunning_the_same_resume_command_after_a_crash_keeps_the_curve():
    saved = {"lr": 1e-3, "lr_restarts": {"1": 5e-4}}
    assert _lr_restarts(saved, 3, 5e-4) == {"1": 5e-4}


def test_plain_resume_keeps_restarts_up_to_the_checkpoint():
    saved = {"lr": 1e-3, "lr_restarts": {"1": 5e-4, "6": 1e-4}}
    assert _lr_restarts(saved, 8, None) == {"1": 5e-4, "6": 1e-4}
    assert _lr_restarts(saved, 4, None) == {"1": 5e-4}  # resumed from before the later restart
    assert _lr_restarts({}, 2, None) == {}
