"""A simulation's scores, read back from what the loop itself recorded in its database.

Retrains are the training pipeline's runs after the first model; deployed and rejected count the
deployer's decisions on their candidates; the error is the MAE of every served prediction against its
real fare; the detection delay of an event is the days from the event to the first retrain after it
(before the next event) whose candidate was deployed.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from taxifare.core.db.tables import actuals, deploy_decisions, drift_checks, pipeline_runs, predictions
from taxifare.sim.simulation import FIRST_MODEL, TRAINING, Timings
from taxifare.sim.streams import Stream


@dataclass
class Retrain:
    at: str  # the simulated time the run started
    triggered_by: str
    reason: str
    status: str  # the run's: succeeded, failed
    deployed: bool | None  # None: no deploy decision (the run failed before it)
    candidate_rmse: float | None = None
    live_rmse: float | None = None


@dataclass
class Scores:
    stream: str
    policy: str
    seed: int
    days: int
    served: int
    retrains: int
    deployed: int
    rejected: int
    failed: int
    max_rejected_in_a_row: int
    checks: int
    checks_saying_retrain: int
    mae: float | None
    # In the cost rule's units: a training run at retrain_cost, each dollar of error at error_cost.
    total_cost: float
    detection_delay_days: dict[str, float | None]
    training_seconds: float
    wall_seconds: float
    daily: list[dict] = field(default_factory=list)  # day, mae, served, model
    retrain_log: list[Retrain] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    excess_mae_over_oracle: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def score(
    engine: sa.Engine,
    stream: Stream,
    policy: str,
    seed: int,
    timings: Timings,
    *,
    prices: tuple[float, float],
) -> Scores:
    """`prices`: (dollars a training run, dollars a dollar of absolute error), as the cost rule counts."""
    with engine.connect() as conn:
        served = _served(conn)
        retrains = _retrains(conn)
        checks = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((drift_checks.c.decision, 1), else_=0)), 0),
            )
        ).one()
    decided = [r for r in retrains if r.deployed is not None]
    daily = (
        served.groupby(served["pickup_datetime"].dt.date)
        .agg(mae=("error", "mean"), served=("error", "size"), model=("model_version", "last"))
        .reset_index(names="day")
    )
    return Scores(
        stream=stream.name,
        policy=policy,
        seed=seed,
        days=stream.days,
        served=len(served),
        retrains=len(retrains),
        deployed=sum(bool(r.deployed) for r in decided),
        rejected=sum(not r.deployed for r in decided),
        failed=sum(r.status == "failed" for r in retrains),
        max_rejected_in_a_row=_longest_run_of_rejections(decided),
        checks=int(checks[0]),
        checks_saying_retrain=int(checks[1]),
        mae=float(served["error"].mean()) if len(served) else None,
        total_cost=round(prices[0] * len(retrains) + prices[1] * float(served["error"].sum()), 2),
        detection_delay_days=detection_delays(stream, retrains),
        training_seconds=round(timings.training, 2),
        wall_seconds=round(timings.total, 2),
        daily=[
            {"day": row.day.isoformat(), "mae": float(row.mae), "served": int(row.served), "model": row.model}
            for row in daily.itertuples()
        ],
        retrain_log=retrains,
        events=[
            {"name": e.name, "start": e.start.isoformat(), "full": e.full.isoformat(), "benign": e.benign}
            for e in stream.events
        ],
    )


def detection_delays(stream: Stream, retrains: list[Retrain]) -> dict[str, float | None]:
    """Per event, days from its start to the first deploying retrain after it and before the next."""
    delays: dict[str, float | None] = {}
    starts = [datetime.combine(e.start, datetime.min.time()) for e in stream.events]
    for i, event in enumerate(stream.events):
        until = starts[i + 1] if i + 1 < len(starts) else stream.end
        cured = [
            datetime.fromisoformat(r.at)
            for r in retrains
            if r.deployed and starts[i] <= datetime.fromisoformat(r.at) < until
        ]
        delays[event.name] = round((min(cured) - starts[i]).total_seconds() / 86400, 2) if cured else None
    return delays


def _served(conn: sa.Connection) -> pd.DataFrame:
    rows = conn.execute(
        sa.select(
            predictions.c.pickup_datetime,
            predictions.c.model_version,
            sa.func.abs(predictions.c.prediction - actuals.c.fare_amount).label("error"),
        )
        .select_from(predictions.join(actuals, actuals.c.request_id == predictions.c.request_id))
        .order_by(predictions.c.pickup_datetime)
    ).all()
    return pd.DataFrame(rows, columns=["pickup_datetime", "model_version", "error"]).astype(
        {"pickup_datetime": "datetime64[ns]", "error": "float64"}
    )


def _retrains(conn: sa.Connection) -> list[Retrain]:
    runs = conn.execute(
        sa.select(pipeline_runs)
        .where(
            pipeline_runs.c.pipeline == TRAINING,
            pipeline_runs.c.status != "skipped",
            sa.or_(pipeline_runs.c.reason.is_(None), pipeline_runs.c.reason != FIRST_MODEL),
        )
        .order_by(pipeline_runs.c.created_at, pipeline_runs.c.id)
    ).all()
    # Every step of a run records the run's simulated `now`: its deploy decision is the one taken then.
    decisions = {d.decided_at: d for d in conn.execute(sa.select(deploy_decisions))}
    retrains = []
    for run in runs:
        decision = decisions.get(run.created_at)
        retrains.append(
            Retrain(
                at=run.created_at.isoformat(),
                triggered_by=run.triggered_by or "",
                reason=run.reason or "",
                status=run.status,
                deployed=None if decision is None else bool(decision.decision),
                candidate_rmse=None if decision is None else decision.candidate_rmse,
                live_rmse=None if decision is None else decision.baseline_rmse,
            )
        )
    return retrains


def _longest_run_of_rejections(decided: list[Retrain]) -> int:
    longest = current = 0
    for r in decided:
        current = 0 if r.deployed else current + 1
        longest = max(longest, current)
    return longest
