import math

import numpy as np
import pytest

from taxifare.deployer.decision import against_baseline, against_live, mean_predictor_rmse


@pytest.mark.parametrize(
    ("candidate", "live", "margin", "deploy"),
    [
        (3.0, 4.0, 0.02, True),  # 25% better
        (3.95, 4.0, 0.02, False),  # 1.25% better: inside the margin
        (4.0, 4.0, 0.0, False),  # a tie never replaces the live model
        (3.99, 4.0, 0.0, True),
        (4.5, 4.0, 0.02, False),  # worse
    ],
)
def test_against_live(candidate, live, margin, deploy):
    decision = against_live(candidate, live, margin, live_version="v1")
    assert decision.deploy is deploy
    assert (decision.candidate_rmse, decision.compared_rmse, decision.margin) == (candidate, live, margin)
    assert "live v1" in decision.reason
    assert ("does not beat" in decision.reason) is not deploy


def test_against_baseline_needs_a_clear_win():
    assert against_baseline(8.0, 10.0, 0.1).deploy
    assert not against_baseline(9.5, 10.0, 0.1).deploy
    assert "mean-fare baseline RMSE 10.0000" in against_baseline(9.5, 10.0, 0.1).reason


def test_mean_predictor_rmse_is_the_rmse_of_a_constant_prediction():
    labels = np.array([5.0, 10.0, 15.0, np.nan])
    assert mean_predictor_rmse(labels, 10.0) == pytest.approx(math.sqrt(50 / 3))
    # Scoring with the training mean, not the evaluation mean, costs the squared bias on top.
    assert mean_predictor_rmse(labels, 12.0) == pytest.approx(math.sqrt(50 / 3 + 4))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: against_live(float("nan"), 4.0, 0.02, "v1"), "finite"),
        (lambda: against_live(3.0, 4.0, 1.5, "v1"), "margin"),
        (lambda: mean_predictor_rmse([], 10.0), "no labels"),
    ],
)
def test_bad_values_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
