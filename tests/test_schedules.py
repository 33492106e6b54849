import pytest

from pyimagesearch.utils.schedules import PolynomialDecay


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
