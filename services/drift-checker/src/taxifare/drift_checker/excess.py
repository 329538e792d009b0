"""The live model's excess error and what it costs: the evidence of the cost rule (pure, no I/O).

The model's error is judged against what the model itself is expected to err on these very trips: the
expected-error table stored with the version (`taxifare.core.stats.expected_error_table`, the
evaluation set's mean absolute error per bin of the predicted fare). A covariate shift towards dearer
trips raises the realised and the expected error alike and leaves no excess; a fare increase raises
only the realised one. So:

- measured excess: over the predictions whose real fare is known, the mean of |error| - expected,
  with a z-test on it (per-trip differences, their standard error), so a few unlucky trips do not
  count; and, CARA's cumulative threshold, the same test pooled over the run of earlier checks whose
  excess was already elevated (`pooled`), so a gradual change is seen once its evidence adds up, not
  only once one window alone shows it;
- estimated error: the expected MAE over every prediction of the window, known fare or not. It sees
  what the inputs do to the error and nothing else: blind to a concept change (a fare increase moves no
  input), which is what the measured excess is for. Predictions whose fare is not known yet (a label
  delay) carry the measured relative excess in proportion to their expected error;
- cost: the window's excess, in dollars of absolute error, carried forward at the window's traffic
  over `horizon_hours`, plus the excess already served since it began (CARA's cumulative loss: the
  known fares of the run's disjoint windows), priced at `error_cost` dollars per dollar of error,
  against `retrain_cost` dollars per training run. Retraining pays when the excess is significant and
  what it has cost and will cost over the horizon exceeds a run's. Counting what was served matters at
  low traffic: a few trips a day never cost a run's price in a week, yet their excess adds up for as
  long as it lasts.

A version stored without a table (trained before it existed) is judged against its evaluation MAE
for every trip, and the evidence says so: a shift towards dearer trips then looks like excess.
"""

import math
from dataclasses import asdict, dataclass

from taxifare.core.config import ConfigError


@dataclass(frozen=True)
class CostModel:
    retrain_cost: float = 5.0  # dollars per training run: compute, and the work of a deploy decision
    error_cost: float = 0.05  # dollars per dollar of absolute error, per prediction served
    horizon_hours: float = 168.0  # how long a live model's excess is carried forward

    def __post_init__(self):
        for name in ("retrain_cost", "error_cost", "horizon_hours"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class ErrorAggregates:
    """What the database sums over a window, each prediction's expected error taken from the table."""

    n: int  # predictions in the window
    expected_total: float  # sum of expected errors over all of them
    n_known: int  # of which with a known fare
    abs_error_total: float  # over those: sum of |prediction - fare|
    expected_known_total: float  # sum of their expected errors
    difference_sq_total: float  # sum of (|prediction - fare| - expected)^2
    table: bool  # whether the expected errors come from the version's table (else its evaluation MAE)


@dataclass(frozen=True)
class Excess:
    n: int
    n_known: int
    realised_mae: float | None  # on the known fares
    expected_mae_known: float | None  # expected, on the same trips
    estimated_mae: float | None  # expected, on every prediction of the window
    excess: float | None  # realised - expected on the known fares, dollars per prediction
    z: float | None
    window_excess: float | None  # dollars of excess error over every prediction of the window
    table: bool
    stderr: float | None = None  # of `excess`

    @property
    def measured(self) -> bool:
        return self.excess is not None

    def projected_loss(self, cost: CostModel, window_hours: float) -> float | None:
        """Dollars the excess costs if the live model keeps serving for the horizon."""
        if self.window_excess is None:
            return None
        return max(self.window_excess, 0.0) * cost.horizon_hours / window_hours * cost.error_cost

    def to_json(self) -> dict:
        return asdict(self)


def excess_of(aggregates: ErrorAggregates) -> Excess:
    a = aggregates
    estimated = a.expected_total / a.n if a.n else None
    if not a.n_known:
        return Excess(a.n, 0, None, None, estimated, None, None, None, a.table)
    realised = a.abs_error_total / a.n_known
    expected = a.expected_known_total / a.n_known
    excess = realised - expected
    variance = max(a.difference_sq_total / a.n_known - excess**2, 0.0)
    stderr = math.sqrt(variance / a.n_known)
    z = excess / stderr if stderr > 0 else (0.0 if excess == 0 else math.copysign(math.inf, excess))
    # Unknown fares carry the measured relative excess, in proportion to their expected error.
    window_excess = excess * a.n_known
    if a.n > a.n_known and expected > 0:
        window_excess += (excess / expected) * (a.expected_total - a.expected_known_total)
    return Excess(a.n, a.n_known, realised, expected, estimated, excess, z, window_excess, a.table, stderr)


@dataclass(frozen=True)
class Measured:
    """A measured excess (a window's, or several windows' pooled) and its standard error."""

    n_known: int
    excess: float
    stderr: float

    def served_loss(self, cost: CostModel) -> float:
        """Dollars the excess has cost on these known fares already."""
        return max(self.excess, 0.0) * self.n_known * cost.error_cost

    @property
    def z(self) -> float:
        if self.stderr > 0:
            return self.excess / self.stderr
        return 0.0 if self.excess == 0 else math.copysign(math.inf, self.excess)


def pool(windows: list[Measured]) -> Measured | None:
    """The mean excess over disjoint windows, each weighted by its known fares, and its standard error."""
    total = sum(w.n_known for w in windows)
    if not total:
        return None
    mean = sum(w.n_known * w.excess for w in windows) / total
    variance = sum((w.n_known * w.stderr) ** 2 for w in windows) / total**2
    return Measured(total, mean, math.sqrt(variance))
