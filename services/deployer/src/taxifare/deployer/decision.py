"""The champion/challenger rule, as pure functions of RMSEs measured on the same evaluation data."""

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decision:
    deploy: bool
    reason: str
    candidate_rmse: float
    # The RMSE the candidate had to beat: the live model's, or the mean-fare baseline's.
    compared_rmse: float
    margin: float


def against_live(candidate_rmse: float, live_rmse: float, margin: float, live_version: str) -> Decision:
    """Deploy only if the candidate's RMSE is lower than the live model's by more than `margin` (relative)."""
    _check(candidate_rmse, live_rmse, margin)
    better = _relative_gain(candidate_rmse, live_rmse)
    deploy = candidate_rmse < live_rmse * (1 - margin)
    verdict = "beats" if deploy else "does not beat"
    reason = (
        f"candidate RMSE {candidate_rmse:.4f} {verdict} live {live_version} RMSE {live_rmse:.4f} on the same "
        f"evaluation data by the {margin:.1%} margin ({better:+.1%})"
    )
    return Decision(deploy, reason, candidate_rmse, live_rmse, margin)


def against_baseline(candidate_rmse: float, baseline_rmse: float, margin: float) -> Decision:
    """The first model: deploy only if it clearly beats predicting the training mean fare."""
    _check(candidate_rmse, baseline_rmse, margin)
    better = _relative_gain(candidate_rmse, baseline_rmse)
    deploy = candidate_rmse < baseline_rmse * (1 - margin)
    verdict = "beats" if deploy else "does not beat"
    reason = (
        f"no live model; candidate RMSE {candidate_rmse:.4f} {verdict} the mean-fare baseline RMSE "
        f"{baseline_rmse:.4f} by the {margin:.1%} margin ({better:+.1%})"
    )
    return Decision(deploy, reason, candidate_rmse, baseline_rmse, margin)


def mean_predictor_rmse(labels, label_mean: float) -> float:
    """The RMSE of always predicting `label_mean` (the training mean) on `labels`."""
    labels = np.asarray(labels, dtype=np.float64)
    labels = labels[np.isfinite(labels)]
    if labels.size == 0:
        raise ValueError("no labels to compute the mean-fare baseline on")
    return float(np.sqrt(np.mean((labels - label_mean) ** 2)))


def _relative_gain(candidate_rmse: float, reference_rmse: float) -> float:
    return (reference_rmse - candidate_rmse) / reference_rmse if reference_rmse > 0 else 0.0


def _check(candidate_rmse: float, reference_rmse: float, margin: float) -> None:
    if not (math.isfinite(candidate_rmse) and math.isfinite(reference_rmse)):
        raise ValueError(f"RMSEs must be finite, got {candidate_rmse!r} and {reference_rmse!r}")
    if not 0 <= margin < 1:
        raise ValueError(f"the margin is a fraction in [0, 1), got {margin!r}")
