"""The cost rule's evidence as pure functions: exact statistics on constructed sums."""

import math

import pytest

from taxifare.core.config import ConfigError
from taxifare.drift_checker.excess import CostModel, ErrorAggregates, excess_of


def sums(errors, expected, unknown_expected=()):
    """The sums the database returns for trips with these errors and expected errors."""
    return ErrorAggregates(
        n=len(errors) + len(unknown_expected),
        expected_total=sum(expected) + sum(unknown_expected),
        n_known=len(errors),
        abs_error_total=sum(errors),
        expected_known_total=sum(expected),
        difference_sq_total=sum((e - x) ** 2 for e, x in zip(errors, expected, strict=True)),
        table=True,
    )


def test_measured_excess_and_its_z():
    evidence = excess_of(sums([3.0, 5.0, 4.0, 8.0], [2.0, 2.0, 3.0, 5.0]))
    # differences 1, 3, 1, 3: mean 2, population sd 1, standard error 1 / 2
    assert (evidence.realised_mae, evidence.expected_mae_known) == (5.0, 3.0)
    assert evidence.excess == 2.0
    assert evidence.z == pytest.approx(4.0)
    assert evidence.window_excess == pytest.approx(8.0)
    assert evidence.estimated_mae == 3.0


def test_unknown_fares_carry_the_measured_relative_excess_by_their_expected_error():
    evidence = excess_of(sums([3.0, 5.0, 4.0, 8.0], [2.0, 2.0, 3.0, 5.0], unknown_expected=[6.0, 3.0]))
    # measured: 2 a trip over 3 expected, i.e. 2/3 of the expected error; unknown expected 9 -> 6 more
    assert evidence.window_excess == pytest.approx(8.0 + 6.0)
    assert evidence.estimated_mae == pytest.approx((12.0 + 9.0) / 6)
    cost = CostModel(retrain_cost=5.0, error_cost=0.1, horizon_hours=48.0)
    # 14 dollars of excess in a 24 h window, carried over 48 h at 10 cents a dollar
    assert evidence.projected_loss(cost, window_hours=24.0) == pytest.approx(14.0 * 2 * 0.1)


def test_without_known_fares_only_the_estimate_is_there():
    evidence = excess_of(sums([], [], unknown_expected=[2.0, 4.0]))
    assert not evidence.measured and evidence.z is None and evidence.window_excess is None
    assert evidence.estimated_mae == 3.0
    assert evidence.projected_loss(CostModel(), 24.0) is None


def test_an_error_below_expectation_costs_nothing():
    evidence = excess_of(sums([1.0, 1.0, 2.0], [2.0, 2.0, 2.0]))
    assert evidence.excess < 0 and evidence.z < 0
    assert evidence.projected_loss(CostModel(), 24.0) == 0.0


def test_identical_differences_give_an_infinite_or_zero_z():
    assert excess_of(sums([3.0, 3.0], [2.0, 2.0])).z == math.inf
    assert excess_of(sums([2.0, 2.0], [2.0, 2.0])).z == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("retrain_cost", 0), ("error_cost", -1.0), ("horizon_hours", 0.0), ("retrain_cost", float("nan"))],
)
def test_costs_and_horizon_must_be_positive(field, value):
    with pytest.raises(ConfigError, match=f"{field} must be a positive number"):
        CostModel(**{field: value})


def test_the_pooled_z_adds_disjoint_windows_up():
    from taxifare.drift_checker.excess import Measured, pool

    # Three windows of 100 fares, each 0.5 over expectation with standard error 0.25: z 2 alone,
    # z 2 x sqrt(3) pooled.
    window = Measured(100, 0.5, 0.25)
    assert pool([window]).z == pytest.approx(2.0)
    assert pool([window] * 3) == Measured(300, 0.5, pytest.approx(0.25 / math.sqrt(3)))
    assert pool([window] * 3).z == pytest.approx(2.0 * math.sqrt(3))
    # Weighted by known fares: a small window counts less.
    assert pool([Measured(300, 1.0, 0.1), Measured(100, 0.0, 0.2)]).z == pytest.approx(
        0.75 / math.sqrt((30**2 + 20**2) / 400**2)
    )
    assert pool([]) is None
