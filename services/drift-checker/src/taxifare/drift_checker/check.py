"""One retraining check: read the window, evaluate the signals, apply the policy, record the check.

Two checkers may run at once (a scheduled run and a manual one, or a retried step). The decision is
taken inside one serialised transaction (SQLite: BEGIN IMMEDIATE; Postgres: a transaction-scoped
advisory lock) that re-reads the runs in flight and earlier "true" checks whose run the trigger has
not recorded yet, then writes its own row. So of two simultaneous checkers, the second sees the first's
"true" and answers "false" with that reason; once the trigger records the run in `pipeline_runs`, the
in-flight rule takes over. The expensive aggregation runs before, outside the lock.
"""

import logging
import math
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db import registry
from taxifare.core.db.engine import is_sqlite, write_transaction
from taxifare.core.db.tables import drift_checks, pipeline_runs
from taxifare.drift_checker import detectors
from taxifare.drift_checker.detectors import Signal, Thresholds
from taxifare.drift_checker.policy import InFlightRun, PendingClaim, Policy, decide
from taxifare.drift_checker.window import DISCRETE_COLUMNS, DRIFT_COLUMNS, WindowAggregates, aggregate_window

log = logging.getLogger(__name__)

IN_FLIGHT_STATUSES = ("pending", "running")
# Postgres advisory lock key of the decision step, shared by every checker of this database.
_DECISION_LOCK_KEY = zlib.crc32(b"taxifare.drift_checker.decision")


@dataclass(frozen=True)
class LiveModel:
    version: str
    label_mean: float | None
    label_std: float | None
    eval_mae: float | None
    reference_stats: dict
    promoted_at: datetime | None


@dataclass(frozen=True)
class CheckResult:
    check_id: int
    decision: bool
    drift_detected: bool
    reason: str
    model_version: str | None
    window_start: datetime
    window_end: datetime
    n_predictions: int = 0
    n_actuals: int = 0
    signals: list[Signal] = field(default_factory=list)


def run_check(
    engine: sa.Engine,
    policy: Policy | None = None,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """Decide whether the live model needs retraining at `now`, record the check and return it."""
    policy = policy or Policy()
    thresholds = thresholds or Thresholds()
    now = clock.resolve(now)
    start = now - timedelta(hours=policy.window_hours)
    with engine.connect() as conn:
        live = load_live_model(conn)
        if live is not None:
            # Columns missing from the reference are still aggregated (the mean gap needs the prediction
            # mean) and reported as skipped by the distribution tests.
            bases = {
                c: detectors.basis_of(live.reference_stats.get(c, {}), c in DISCRETE_COLUMNS)
                for c in DRIFT_COLUMNS
            }
            edges = {c: basis.edges if basis else () for c, basis in bases.items()}
            categorical = {c for c, basis in bases.items() if basis and basis.categorical}
            aggregates = aggregate_window(conn, live.version, start, now, edges, categorical=categorical)
    if live is None:
        with write_transaction(engine) as conn:
            return _store(
                conn, CheckResult(0, False, False, "no retraining: no live model", None, start, now)
            )
    signals = evaluate_signals(live, aggregates, policy, thresholds)
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_DECISION_LOCK_KEY)))
        decision = decide(
            signals,
            policy,
            now=now,
            promoted_at=live.promoted_at,
            in_flight=_in_flight_run(conn, policy, now),
            claim=_pending_claim(conn, policy, now),
        )
        result = CheckResult(
            0, decision.retrain, decision.drift_detected, decision.reason, live.version, start, now,
            aggregates.count, aggregates.errors.count, signals,
        )  # fmt: skip
        return _store(conn, result)


def evaluate_signals(
    live: LiveModel, aggregates: WindowAggregates, policy: Policy, thresholds: Thresholds
) -> list[Signal]:
    """The three signals, each marked not evaluated when its sample is below the policy's minimum."""
    n, n_actuals = aggregates.count, aggregates.errors.count
    if n < max(policy.min_predictions, 1):
        too_few = f"too few predictions: {n} < {policy.min_predictions}"
        mean_gap = Signal(
            "mean_gap", False, False, f"mean gap not evaluated, {too_few}", {"n_predictions": n}
        )
        distribution = Signal("distribution", False, False, f"distribution not evaluated, {too_few}", {})
    else:
        prediction = aggregates.columns.get("prediction")
        mean_gap = detectors.mean_gap_signal(
            live.label_mean, live.label_std, prediction.mean if prediction else None, thresholds
        )
        drifts = detectors.column_drifts(
            live.reference_stats, aggregates.columns, DISCRETE_COLUMNS, thresholds
        )
        distribution = detectors.distribution_signal(drifts, thresholds)
    if n_actuals < max(policy.min_actuals, 1):
        performance = Signal(
            "performance", False, False,
            f"performance not evaluated, too few known fares: {n_actuals} < {policy.min_actuals}",
            {"n_actuals": n_actuals},
        )  # fmt: skip
    else:
        errors = aggregates.errors
        performance = detectors.performance_signal(
            live.eval_mae, errors.count, errors.total_abs_error, errors.total_sq_abs_error, thresholds
        )
    return [mean_gap, distribution, performance]


def load_live_model(conn: sa.Connection) -> LiveModel | None:
    row = registry.live_version(conn)
    if row is None:
        return None
    return LiveModel(
        version=row.version,
        label_mean=row.label_mean,
        label_std=row.label_std,
        eval_mae=row.eval_mae,
        reference_stats=row.reference_stats or {},
        promoted_at=row.promoted_at,
    )


def _in_flight_run(conn: sa.Connection, policy: Policy, now: datetime) -> InFlightRun | None:
    row = conn.execute(
        sa.select(pipeline_runs.c.id, pipeline_runs.c.status, pipeline_runs.c.created_at)
        .where(
            pipeline_runs.c.pipeline == policy.training_pipeline,
            pipeline_runs.c.status.in_(IN_FLIGHT_STATUSES),
            pipeline_runs.c.created_at > now - timedelta(hours=policy.stale_run_hours),
        )
        .order_by(pipeline_runs.c.created_at.desc())
        .limit(1)
    ).first()
    return InFlightRun(*row) if row else None


def _pending_claim(conn: sa.Connection, policy: Policy, now: datetime) -> PendingClaim | None:
    """The newest recent "true" check with no run of the training pipeline recorded since."""
    row = conn.execute(
        sa.select(drift_checks.c.id, drift_checks.c.checked_at)
        .where(
            drift_checks.c.decision.is_(True),
            drift_checks.c.checked_at > now - timedelta(minutes=policy.claim_minutes),
            drift_checks.c.checked_at <= now,
        )
        .order_by(drift_checks.c.checked_at.desc(), drift_checks.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    recorded = conn.execute(
        sa.select(pipeline_runs.c.id).where(
            pipeline_runs.c.pipeline == policy.training_pipeline, pipeline_runs.c.created_at >= row.checked_at
        )
    ).first()
    return None if recorded else PendingClaim(row.id, row.checked_at)


def _store(conn: sa.Connection, result: CheckResult) -> CheckResult:
    """Insert the check; returns it with its id."""
    statistics = _json_safe(
        {"drift_detected": result.drift_detected, "signals": {s.name: s.to_json() for s in result.signals}}
    )
    inserted = conn.execute(
        drift_checks.insert().values(
            checked_at=result.window_end,
            model_version=result.model_version,
            window_start=result.window_start,
            window_end=result.window_end,
            n_predictions=result.n_predictions,
            n_actuals=result.n_actuals,
            statistics=statistics,
            decision=result.decision,
            reason=result.reason,
        )
    )
    check_id = int(inserted.inserted_primary_key[0])
    log.info("drift check %s: %s", check_id, result.reason)
    return replace(result, check_id=check_id)


def _json_safe(value):
    """Non-finite floats become None: Postgres JSON has no NaN or Infinity."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
