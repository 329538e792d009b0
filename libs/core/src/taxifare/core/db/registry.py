"""The model registry: queries on `model_versions` shared by the services.

A version moves candidate -> live -> retired, or candidate -> rejected; a rollback sends the live
version to rejected and brings the previous live one back. At most one version is live at any time,
even when two deployers promote at once: every status change takes a write lock first (Postgres: a
table lock that only status changers contend for, since readers are not blocked by it; SQLite:
BEGIN IMMEDIATE). A lock on the live row alone would not do: before the first promotion there is
no live row to lock.

Functions take a Connection. Outside a transaction they run in their own and commit it; inside
the caller's transaction they join it and leave the commit to the caller (who should then open it
with `engine.write_transaction` so that SQLite takes the write lock up front).

Rows come back as SQLAlchemy `Row`s of `model_versions` (attribute access: `.version`,
`.model_uri`, `.status`, `.reference_stats`, ...).
"""

import contextlib
import math
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db.tables import model_versions, training_metrics


class RegistryError(ValueError):
    """A registry operation is not possible as asked; the message says why."""


def live_version(conn: sa.Connection) -> sa.Row | None:
    """The live version, or None before the first promotion."""
    with _transaction(conn):
        return conn.execute(
            sa.select(model_versions)
            .where(model_versions.c.status == "live")
            .order_by(model_versions.c.id.desc())
        ).first()


def get_version(conn: sa.Connection, version: str) -> sa.Row | None:
    with _transaction(conn):
        return conn.execute(sa.select(model_versions).where(model_versions.c.version == version)).first()


def previous_live(conn: sa.Connection) -> sa.Row | None:
    """The version that was live before the current one (the most recently retired), or None."""
    with _transaction(conn):
        return conn.execute(
            sa.select(model_versions)
            .where(model_versions.c.status == "retired", model_versions.c.promoted_at.is_not(None))
            .order_by(
                model_versions.c.retired_at.desc(),
                model_versions.c.promoted_at.desc(),
                model_versions.c.id.desc(),
            )
        ).first()


def training_metrics_of(conn: sa.Connection, version: str) -> dict[str, float]:
    with _transaction(conn):
        rows = conn.execute(
            sa.select(training_metrics.c.name, training_metrics.c.value)
            .join(model_versions, model_versions.c.id == training_metrics.c.model_version_id)
            .where(model_versions.c.version == version)
        )
        return {name: value for name, value in rows}


def register_candidate(
    conn: sa.Connection,
    *,
    version: str,
    model_uri: str,
    pipeline_run_id: str,
    eval_data_uri: str | None = None,
    data_start: date | None = None,
    data_end: date | None = None,
    train_rows: int | None = None,
    eval_rows: int | None = None,
    label_mean: float | None = None,
    label_std: float | None = None,
    eval_rmse: float | None = None,
    eval_mae: float | None = None,
    reference_stats: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    input_bounds: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[sa.Row, bool]:
    """Register `version` as a candidate with its training `metrics`; returns (row, created).

    Idempotent on `pipeline_run_id`: a retried step gets back the row its first attempt wrote and
    adds nothing. A version name already taken by another run is refused.
    """
    if not pipeline_run_id:
        raise RegistryError("a pipeline run id is required to register a candidate")
    bad = {name: value for name, value in (metrics or {}).items() if not _is_finite_number(value)}
    if bad:
        raise RegistryError(f"training metrics must be finite numbers, got {bad!r}")
    owns_transaction = not conn.in_transaction()
    try:
        with _transaction(conn, write=True):
            existing = _by_run_id(conn, pipeline_run_id)
            if existing is not None:
                return existing, False
            taken = get_version(conn, version)
            if taken is not None:
                raise RegistryError(
                    f"version {version!r} is already registered by pipeline run {taken.pipeline_run_id!r}"
                )
            version_id = conn.execute(
                model_versions.insert()
                .values(
                    version=version,
                    created_at=clock.resolve(now),
                    model_uri=model_uri,
                    eval_data_uri=eval_data_uri,
                    data_start=data_start,
                    data_end=data_end,
                    train_rows=train_rows,
                    eval_rows=eval_rows,
                    label_mean=label_mean,
                    label_std=label_std,
                    eval_rmse=eval_rmse,
                    eval_mae=eval_mae,
                    reference_stats=dict(reference_stats) if reference_stats is not None else None,
                    input_bounds=dict(input_bounds) if input_bounds is not None else None,
                    status="candidate",
                    pipeline_run_id=pipeline_run_id,
                )
                .returning(model_versions.c.id)
            ).scalar_one()
            if metrics:
                conn.execute(
                    training_metrics.insert(),
                    [
                        {"model_version_id": version_id, "name": name, "value": float(value)}
                        for name, value in metrics.items()
                    ],
                )
            return _by_run_id(conn, pipeline_run_id), True
    except sa.exc.IntegrityError:
        if not owns_transaction:
            raise
        # Two attempts of the same step raced past the check above; the loser finds the winner's row.
        existing = _by_run_id(conn, pipeline_run_id)
        if existing is None:
            raise
        return existing, False


def promote(conn: sa.Connection, version: str, now: datetime | None = None) -> sa.Row | None:
    """Make `version` live and retire the one live before it, in one transaction.

    Returns the version that was retired (None when there was none or `version` was already live).
    Idempotent: promoting the live version changes nothing. A rejected version is refused.
    """
    now = clock.resolve(now)
    with _transaction(conn, write=True):
        _lock_status_changes(conn)
        target = _require(conn, version)
        if target.status == "live":
            return None
        if target.status == "rejected":
            raise RegistryError(f"version {version!r} was rejected and cannot be promoted")
        previous = live_version(conn)
        # Every live row other than the target goes, so the invariant holds even if it was broken.
        conn.execute(
            model_versions.update()
            .where(model_versions.c.status == "live", model_versions.c.version != version)
            .values(status="retired", retired_at=now)
        )
        conn.execute(
            model_versions.update()
            .where(model_versions.c.version == version)
            .values(status="live", promoted_at=now, retired_at=None)
        )
        return previous


def reject(conn: sa.Connection, version: str) -> None:
    """Mark a candidate rejected (idempotent); a live or retired version cannot be rejected."""
    with _transaction(conn, write=True):
        _lock_status_changes(conn)
        target = _require(conn, version)
        if target.status == "rejected":
            return
        if target.status != "candidate":
            raise RegistryError(f"version {version!r} is {target.status}, only a candidate can be rejected")
        conn.execute(
            model_versions.update().where(model_versions.c.version == version).values(status="rejected")
        )


def rollback(
    conn: sa.Connection, now: datetime | None = None, expected: str | None = None
) -> tuple[sa.Row, sa.Row]:
    """Bring the previous live version back; the current one becomes rejected.

    Rejected rather than retired, so that a second rollback goes further back instead of undoing
    the first. `expected`: the version the caller checked beforehand (its artifact, say); refused if
    the previous live version is another by the time the lock is held. Returns (rolled back, now live).
    """
    now = clock.resolve(now)
    with _transaction(conn, write=True):
        _lock_status_changes(conn)
        current = live_version(conn)
        if current is None:
            raise RegistryError("there is no live version to roll back")
        previous = previous_live(conn)
        if previous is None:
            raise RegistryError(
                f"{current.version!r} is the only version ever live; there is nothing to roll back to"
            )
        if expected is not None and previous.version != expected:
            raise RegistryError(f"the previous live version is now {previous.version!r}, not {expected!r}")
        conn.execute(
            model_versions.update()
            .where(model_versions.c.status == "live")
            .values(status="rejected", retired_at=now)
        )
        conn.execute(
            model_versions.update()
            .where(model_versions.c.version == previous.version)
            .values(status="live", promoted_at=now, retired_at=None)
        )
        return current, get_version(conn, previous.version)


@contextlib.contextmanager
def _transaction(conn: sa.Connection, write: bool = False) -> Iterator[None]:
    if conn.in_transaction():
        yield
        return
    previous = conn.get_execution_options().get("sqlite_begin", "")
    if write and conn.dialect.name == "sqlite":
        # engine.connect_engine turns this option into BEGIN IMMEDIATE: the write lock up front.
        conn.execution_options(sqlite_begin="IMMEDIATE")
    try:
        with conn.begin():
            yield
    finally:
        conn.execution_options(sqlite_begin=previous)


def _lock_status_changes(conn: sa.Connection) -> None:
    """Serialise status changes across processes (SQLite already holds its write lock)."""
    if conn.dialect.name == "postgresql":
        # SHARE ROW EXCLUSIVE conflicts with itself and with writers, not with plain reads.
        conn.exec_driver_sql("LOCK TABLE model_versions IN SHARE ROW EXCLUSIVE MODE")


def _require(conn: sa.Connection, version: str) -> sa.Row:
    row = get_version(conn, version)
    if row is None:
        raise RegistryError(f"no model version {version!r} in the registry")
    return row


def _by_run_id(conn: sa.Connection, pipeline_run_id: str) -> sa.Row | None:
    with _transaction(conn):
        return conn.execute(
            sa.select(model_versions).where(model_versions.c.pipeline_run_id == pipeline_run_id)
        ).first()


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
