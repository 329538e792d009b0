"""One retraining check: read the window, evaluate the signals, apply the policy, record the check.

Whether a training run is in flight is the trigger's to say (`runs`): its answer comes in with the
check. Two checkers may run at once (a scheduled run and a manual one, or a retried step). The decision
is taken inside one serialised transaction (SQLite: BEGIN IMMEDIATE; Postgres: a transaction-scoped
advisory lock) that re-reads earlier "true" checks whose run the trigger had not recorded when it
answered, then writes its own row. So of two simultaneous checkers, the second sees the first's "true"
and answers "false" with that reason; once the trigger records the run, the in-flight rule takes over.
The expensive aggregation runs before, outside the lock.
"""

import logging
import math
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db import registry
from taxifare.core.db.engine import is_sqlite, write_transaction
from taxifare.core.db.tables import drift_checks
from taxifare.drift_checker import detectors
from taxifare.drift_checker.cost_rule import decide_by_cost
from taxifare.drift_checker.detectors import Signal, Thresholds
from taxifare.drift_checker.error_window import aggregate_errors, expected_error_table
from taxifare.drift_checker.excess import Excess, Measured, excess_of
from taxifare.drift_checker.history import read_history
from taxifare.drift_checker.policy import PendingClaim, Policy, decide
from taxifare.drift_checker.runs import TrainingRuns
from taxifare.drift_checker.window import DISCRETE_COLUMNS, DRIFT_COLUMNS, WindowAggregates, aggregate_window

log = logging.getLogger(__name__)

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
    data_start: date | None = None  # the first day of its training data


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
    # The cost rule's evidence: the excess error, whether it passed the z-test, and what it costs.
    evidence: Excess | None = None
    significant: bool = False
    projected_loss: float | None = None
    excess_since: datetime | None = None
    pooled: Measured | None = None
    served_loss: float | None = None


def run_check(
    engine: sa.Engine,
    policy: Policy | None = None,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
    training_runs: TrainingRuns | None = None,
) -> CheckResult:
    """Decide whether the live model needs retraining at `now`, record the check and return it.

    `training_runs` is the trigger's answer about the training pipeline's runs (None: not asked)."""
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
            errors = aggregate_errors(
                conn, live.version, start=start, end=now,
                table=expected_error_table(live.reference_stats), eval_mae=live.eval_mae,
            )  # fmt: skip
    if live is None:
        with write_transaction(engine) as conn:
            return _store(
                conn, CheckResult(0, False, False, "no retraining: no live model", None, start, now)
            )
    signals = evaluate_signals(live, aggregates, policy, thresholds)
    evidence = excess_of(errors) if errors is not None else None
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_DECISION_LOCK_KEY)))
        state = dict(
            now=now,
            promoted_at=live.promoted_at,
            in_flight=training_runs.in_flight if training_runs else None,
            claim=_pending_claim(conn, policy, now, training_runs),
        )
        significant, loss, since, pooled, served = False, None, None, None, None
        if policy.rule == "cost":
            history = read_history(conn, live.version, live.promoted_at, now, window_start=start)
            verdict = decide_by_cost(
                signals, evidence, policy, thresholds.mae_z, history=history, trained_from=live.data_start,
                **state,
            )  # fmt: skip
            decision, significant = verdict.decision, verdict.significant
            loss, since, pooled, served = (
                verdict.projected_loss,
                verdict.since,
                verdict.pooled,
                verdict.served_loss,
            )
        else:
            decision = decide(signals, policy, **state)
        result = CheckResult(
            0, decision.retrain, decision.drift_detected, decision.reason, live.version, start, now,
            aggregates.count, aggregates.errors.count, signals, evidence, significant, loss, since, pooled, served,
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
        data_start=row.data_start,
    )


def _pending_claim(
    conn: sa.Connection, policy: Policy, now: datetime, training_runs: TrainingRuns | None
) -> PendingClaim | None:
    """The newest recent "true" check with no run of the training pipeline recorded since (as far as
    the trigger's answer tells)."""
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
    newest_run = training_runs.newest_recorded_at if training_runs else None
    recorded = newest_run is not None and newest_run >= row.checked_at
    return None if recorded else PendingClaim(row.id, row.checked_at)


def _store(conn: sa.Connection, result: CheckResult) -> CheckResult:
    """Insert the check; returns it with its id."""
    statistics = {
        "drift_detected": result.drift_detected,
        "signals": {s.name: s.to_json() for s in result.signals},
    }
    if result.evidence is not None:
        since = result.excess_since.isoformat() if result.excess_since else None
        pooled = asdict(result.pooled) if result.pooled else None
        statistics["error"] = {
            **result.evidence.to_json(), "significant": result.significant, "since": since, "pooled": pooled,
        }  # fmt: skip
        statistics["projected_loss"] = result.projected_loss
        statistics["served_loss"] = result.served_loss
    statistics = _json_safe(statistics)
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
