"""The one place that writes the `pipeline_runs` table, and the in-flight guard.

A run's row goes pending -> running -> succeeded | failed. A trigger that finds a run of the same
pipeline still pending or running records a `skipped` row ("skipped: run X in flight") instead of
starting another: retraining twice on the same drift costs twice and deploys nothing better.

Why the guard holds with two triggers at once: "look for an in-flight run, then insert" is a
read-then-write, which two transactions can interleave (both see nothing, both insert). So the check
and the insert run in one transaction that first takes a lock both triggers need:
- SQLite: `BEGIN IMMEDIATE` (`write_transaction`) takes the database's write lock up front, so the
  second trigger waits (busy timeout) and then sees the first one's row.
- Postgres: `pg_advisory_xact_lock(key of the pipeline)`. `SELECT ... FOR UPDATE` would not do: it
  locks rows that exist, and when no run is in flight there is no row to lock. The advisory lock is
  per pipeline (other pipelines do not wait), held only until commit, and needs no extra table.

A run whose process died never finishes; after `stale_after` (default 6 h) in flight it is marked
failed with that reason, so it cannot block triggers forever.

`in_flight_state` is the answer other steps ask for (the retraining checker, before it decides): the
run in flight, if any, after the same staleness rule, and when a run of the pipeline was last recorded.
"""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db.engine import is_sqlite, write_transaction
from taxifare.core.db.tables import pipeline_runs

IN_FLIGHT = ("pending", "running")
FINISHED = ("succeeded", "failed", "skipped")
DEFAULT_STALE_AFTER = timedelta(hours=6)
MESSAGE_LIMIT = 4000


@dataclass(frozen=True)
class RunStart:
    """What a trigger did: started a run (`started`) or recorded a skip because `blocking_id` is in flight."""

    run_id: int
    started: bool
    message: str | None = None
    blocking_id: int | None = None


def advisory_lock_key(pipeline: str) -> int:
    """A stable signed 64-bit key for the pipeline (Python's hash() differs between processes)."""
    digest = hashlib.blake2b(f"taxifare.pipeline_runs:{pipeline}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def start_run(
    engine: sa.Engine,
    pipeline: str,
    backend: str,
    *,
    reason: str | None,
    parameters: Mapping[str, Any] | None,
    triggered_by: str | None,
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> RunStart:
    """Record a pending run of `pipeline`, or a skipped one if a run of it is already in flight."""
    now = clock.resolve(now)
    row = {
        "pipeline": pipeline,
        "backend": backend,
        "reason": reason,
        "parameters": dict(parameters or {}),
        "triggered_by": triggered_by,
        "created_at": now,
    }
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(advisory_lock_key(pipeline))))
        _expire_stale(conn, pipeline, now, stale_after)
        blocking = conn.execute(
            sa.select(pipeline_runs.c.id, pipeline_runs.c.external_run_id)
            .where(pipeline_runs.c.pipeline == pipeline, pipeline_runs.c.status.in_(IN_FLIGHT))
            .order_by(pipeline_runs.c.id)
            .limit(1)
        ).first()
        if blocking is None:
            run_id = _insert(conn, status="pending", **row)
            return RunStart(run_id, started=True)
        label = f"{blocking.id}" + (f" ({blocking.external_run_id})" if blocking.external_run_id else "")
        message = f"skipped: run {label} in flight"
        run_id = _insert(conn, status="skipped", message=message, finished_at=now, **row)
        return RunStart(run_id, started=False, message=message, blocking_id=blocking.id)


def create_run(
    engine: sa.Engine,
    pipeline: str,
    backend: str,
    *,
    parameters: Mapping[str, Any] | None,
    triggered_by: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record a pending run without the in-flight guard (an explicit, manual run)."""
    with engine.begin() as conn:
        return _insert(
            conn,
            pipeline=pipeline,
            backend=backend,
            parameters=dict(parameters or {}),
            triggered_by=triggered_by,
            reason=reason,
            status="pending",
            created_at=clock.resolve(now),
        )


def mark_running(
    engine: sa.Engine, run_id: int, external_run_id: str | None = None, now: datetime | None = None
) -> None:
    values: dict[str, Any] = {"status": "running", "started_at": clock.resolve(now)}
    if external_run_id is not None:
        values["external_run_id"] = external_run_id
    _update(engine, run_id, values)


def finish_run(
    engine: sa.Engine,
    run_id: int,
    status: str,
    message: str = "",
    *,
    now: datetime | None = None,
    only_if_in_flight: bool = False,
) -> bool:
    """Record the outcome; True if the row changed. `only_if_in_flight` leaves a finished row alone
    (a cleanup path must not overwrite the outcome the runner already recorded)."""
    if status not in FINISHED:
        raise ValueError(f"a finished run's status is one of {FINISHED}, not {status!r}")
    values = {"status": status, "message": message[-MESSAGE_LIMIT:], "finished_at": clock.resolve(now)}
    return _update(engine, run_id, values, only_if_in_flight) > 0


@dataclass(frozen=True)
class InFlightState:
    """Whether a run of `pipeline` is in flight, as the guard of `start_run` would see it now."""

    pipeline: str
    run_id: int | None = None  # the run in flight, if any
    status: str | None = None
    since: datetime | None = None  # when it started, or was recorded if it never started
    external_run_id: str | None = None
    newest_recorded_at: datetime | None = None  # the newest row of the pipeline, any status
    note: str | None = None  # what the answer could not check (an unreachable KFP)

    @property
    def in_flight(self) -> bool:
        return self.run_id is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "in_flight": self.in_flight,
            "run_id": self.run_id,
            "status": self.status,
            "since": self.since.isoformat() if self.since else None,
            "external_run_id": self.external_run_id,
            "newest_recorded_at": self.newest_recorded_at.isoformat() if self.newest_recorded_at else None,
            "note": self.note,
        }


def in_flight_state(
    engine: sa.Engine,
    pipeline: str,
    *,
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    note: str | None = None,
) -> InFlightState:
    """The run of `pipeline` in flight at `now` (a stale one is marked failed first, as `start_run` does)."""
    now = clock.resolve(now)
    since = sa.func.coalesce(pipeline_runs.c.started_at, pipeline_runs.c.created_at)
    with write_transaction(engine) as conn:
        _expire_stale(conn, pipeline, now, stale_after)
        running = conn.execute(
            sa.select(
                pipeline_runs.c.id,
                pipeline_runs.c.status,
                since.label("since"),
                pipeline_runs.c.external_run_id,
            )
            .where(
                pipeline_runs.c.pipeline == pipeline,
                pipeline_runs.c.status.in_(IN_FLIGHT),
                pipeline_runs.c.created_at <= now,
            )
            .order_by(pipeline_runs.c.id)
            .limit(1)
        ).first()
        newest = conn.execute(
            sa.select(sa.func.max(pipeline_runs.c.created_at)).where(
                pipeline_runs.c.pipeline == pipeline, pipeline_runs.c.created_at <= now
            )
        ).scalar()
    if running is None:
        return InFlightState(pipeline, newest_recorded_at=newest, note=note)
    return InFlightState(
        pipeline, running.id, running.status, running.since, running.external_run_id, newest, note
    )


def get_run(engine: sa.Engine, run_id: int) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == run_id)).first()


def in_flight_runs(engine: sa.Engine, pipeline: str, backend: str | None = None) -> list[sa.Row]:
    query = sa.select(pipeline_runs).where(
        pipeline_runs.c.pipeline == pipeline, pipeline_runs.c.status.in_(IN_FLIGHT)
    )
    if backend is not None:
        query = query.where(pipeline_runs.c.backend == backend)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(pipeline_runs.c.id)))


class RunRecorder:
    """The interface the local runner records through: create -> started -> finished."""

    def __init__(self, engine: sa.Engine, now: Callable[[], datetime] = clock.utcnow):
        self.engine = engine
        self.now = now

    def create(
        self,
        pipeline: str,
        backend: str,
        parameters: dict[str, Any],
        triggered_by: str | None = None,
        reason: str | None = None,
    ) -> int:
        return create_run(
            self.engine,
            pipeline,
            backend,
            parameters=parameters,
            triggered_by=triggered_by,
            reason=reason,
            now=self.now(),
        )

    def started(self, run_id: int, external_run_id: str) -> None:
        mark_running(self.engine, run_id, external_run_id, self.now())

    def finished(self, run_id: int, succeeded: bool, message: str) -> None:
        finish_run(self.engine, run_id, "succeeded" if succeeded else "failed", message, now=self.now())


def _expire_stale(conn: sa.Connection, pipeline: str, now: datetime, stale_after: timedelta) -> None:
    # A run counts from when it started, or from when it was recorded if it never started.
    since = sa.func.coalesce(pipeline_runs.c.started_at, pipeline_runs.c.created_at)
    hours = stale_after.total_seconds() / 3600
    conn.execute(
        pipeline_runs.update()
        .where(
            pipeline_runs.c.pipeline == pipeline,
            pipeline_runs.c.status.in_(IN_FLIGHT),
            since < now - stale_after,
        )
        .values(
            status="failed",
            finished_at=now,
            message=f"stale: in flight for more than {hours:g} h with no outcome recorded; "
            "marked failed so that new runs can start",
        )
    )


def _insert(conn: sa.Connection, **values: Any) -> int:
    return conn.execute(pipeline_runs.insert().values(**values)).inserted_primary_key[0]


def _update(engine: sa.Engine, run_id: int, values: dict[str, Any], only_if_in_flight: bool = False) -> int:
    query = pipeline_runs.update().where(pipeline_runs.c.id == run_id)
    if only_if_in_flight:
        query = query.where(pipeline_runs.c.status.in_(IN_FLIGHT))
    with engine.begin() as conn:
        return conn.execute(query.values(**values)).rowcount
