import pytest

from pyimagesearch.training.schedules import PolynomialDecay


def test_linear_decay_of_the_recipe():
    schedule = PolynomialDecay(1e-2, 70, power=1.0)
    assert schedule(0) == pytest.approx(1e-2)
    assert schedule(35) == pytest.approx(5e-3)
    assert schedule(69) == pytest.approx(1e-2 / 70)
    assert schedule(70) == 0.0
    values = [schedule(e) for e in range(70)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_power_two():
    schedule = PolynomialDecay(0.1, 10, power=2.0)
    assert schedule(5) == pytest.approx(0.1 * 0.25)
    assert schedule(12) == 0.0  # past the end: zero, never negative or complex


def test_keras_scheduler_signature():
    assert PolynomialDecay(1.0, 4)(1, 0.5) == pytest.approx(0.75)


@pytest.mark.parametrize("args", [(0.0, 10), (0.1, 0)])
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        PolynomialDecay(*args)


def test_power_zero_is_constant():
    schedule = PolynomialDecay(1e-3, 10, power=0.0)
    assert [schedule(e) for e in (0, 5, 9)] == [1e-3] * 3


def test_restart_continues_the_decay_from_the_new_rate():
    # 10 epochs from 1e-2; after epoch 6 the user resumes with --lr 1e-3.
    schedule = PolynomialDecay(1e-2, 10, power=1.0, restarts={"6": 1e-3})
    assert [schedule(e) for e in range(6)] == pytest.approx([1e-2 * (1 - e / 10)
                                                             for e in range(6)])
    assert [schedule(e) for e in (6, 7, 8, 9)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    constant = PolynomialDecay(1e-3, 70, power=0.0, restarts={40: 1e-4, 60: 1e-5})
    assert [constant(e) for e in (0, 39, 40, 59, 60, 69)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])  # the classic hand-made drops
