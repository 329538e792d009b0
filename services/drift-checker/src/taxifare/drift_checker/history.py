"""What earlier checks and deploy decisions say about the live model, for the cost rule's holds.

- Rejections: the candidates the deployer rejected against the live version, each with the excess
  the check that asked for it had measured. After a rejection, the same evidence must not ask again.
- Onset: when the current run of checks with an elevated excess began (the start of the first such
  check's window): excess at least `ONSET_Z` standard errors, so a gradual change whose excess
  hovers near significance for a while is not taken to start anew each time it dips below. The new
  world has been served since about then; a candidate needs enough of it.
- The change the live model cured: the onset the check that asked for its training run had seen.
  A live model trained partly before it gets one more retrain once a whole window of the new world
  is there.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db.tables import deploy_decisions, drift_checks
from taxifare.drift_checker.excess import Measured

# Checks are read newest first in pages of this many, until the run of elevated excess ends.
_PAGE = 50
# An excess this many standard errors above expectation continues a run (significance is `mae_z`).
ONSET_Z = 1.0


@dataclass(frozen=True)
class Rejection:
    decided_at: datetime
    candidate: str
    asked: Measured | None  # what the check that asked for this retrain measured


@dataclass(frozen=True)
class History:
    rejections: tuple[Rejection, ...] = ()  # against the live version, oldest first
    excess_since: datetime | None = None  # window start of the first check of the current elevated run
    # The run's measurements in windows that do not overlap (newest first), for the pooled test.
    elevated_windows: tuple[Measured, ...] = ()
    cured_change_since: datetime | None = None  # the onset seen by the check that asked for the live model


def read_history(
    conn: sa.Connection,
    live_version: str,
    promoted_at: datetime | None,
    now: datetime,
    window_start: datetime | None = None,
) -> History:
    """`window_start`: of the check being decided, whose window earlier checks may overlap."""
    since, windows = _elevated_run(conn, live_version, now, window_start or now)
    return History(
        rejections=_rejections(conn, live_version, now),
        excess_since=since,
        elevated_windows=windows,
        cured_change_since=_cured_change_since(conn, promoted_at) if promoted_at else None,
    )


def elevated(statistics: dict | None) -> bool:
    z = ((statistics or {}).get("error") or {}).get("z")
    return isinstance(z, int | float) and z >= ONSET_Z


def _rejections(conn: sa.Connection, live_version: str, now: datetime) -> tuple[Rejection, ...]:
    rows = conn.execute(
        sa.select(deploy_decisions.c.decided_at, deploy_decisions.c.candidate_version)
        .where(
            deploy_decisions.c.live_version == live_version,
            deploy_decisions.c.decision.is_(False),
            deploy_decisions.c.decided_at <= now,
        )
        .order_by(deploy_decisions.c.decided_at, deploy_decisions.c.id)
    ).all()
    return tuple(Rejection(r.decided_at, r.candidate_version, _asked_with(conn, r.decided_at)) for r in rows)


def _asked_with(conn: sa.Connection, decided_at: datetime) -> Measured | None:
    """The measured excess (pooled over its run) of the last check that asked for retraining before
    this decision."""
    error = _last_asking_error(conn, decided_at)
    pooled = error.get("pooled")
    return _measured({"error": pooled}) if isinstance(pooled, dict) else _measured({"error": error})


def _cured_change_since(conn: sa.Connection, promoted_at: datetime) -> datetime | None:
    since = _last_asking_error(conn, promoted_at).get("since")
    return clock.parse(since) if isinstance(since, str) else None


def _last_asking_error(conn: sa.Connection, until: datetime) -> dict:
    """The error evidence stored by the last check that asked for retraining, at or before `until`."""
    statistics = conn.execute(
        sa.select(drift_checks.c.statistics)
        .where(drift_checks.c.decision.is_(True), drift_checks.c.checked_at <= until)
        .order_by(drift_checks.c.checked_at.desc(), drift_checks.c.id.desc())
        .limit(1)
    ).scalar()
    return (statistics or {}).get("error") or {}


def _elevated_run(
    conn: sa.Connection, live_version: str, now: datetime, free_until: datetime
) -> tuple[datetime | None, tuple]:
    """(start of the run of elevated checks, their measurements in windows disjoint from each other and
    ending by `free_until`, newest first)."""
    earliest, windows = None, []
    offset = 0
    while True:
        page = conn.execute(
            sa.select(drift_checks.c.window_start, drift_checks.c.window_end, drift_checks.c.statistics)
            .where(drift_checks.c.model_version == live_version, drift_checks.c.checked_at <= now)
            .order_by(drift_checks.c.checked_at.desc(), drift_checks.c.id.desc())
            .limit(_PAGE)
            .offset(offset)
        ).all()
        for row in page:
            if not elevated(row.statistics):
                return earliest, tuple(windows)
            earliest = row.window_start
            measured = _measured(row.statistics)
            # Checks more often than their window see the same trips again: pool disjoint windows only.
            if measured is not None and row.window_end <= free_until:
                windows.append(measured)
                free_until = row.window_start
        if len(page) < _PAGE:
            return earliest, tuple(windows)
        offset += _PAGE


def _measured(statistics: dict) -> Measured | None:
    error = statistics.get("error") or {}
    values = [error.get(k) for k in ("n_known", "excess", "stderr")]
    if not all(isinstance(v, int | float) for v in values):
        return None
    return Measured(int(values[0]), float(values[1]), float(values[2]))
