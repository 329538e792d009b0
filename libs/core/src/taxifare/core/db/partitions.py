"""Bounded storage: `predictions` and `actuals` by day, and dropping the days no longer needed.

On Postgres both tables are partitioned by day (migration 0002): `predictions` on `created_at`,
`actuals` on `known_at`, one partition a day named `<table>_YYYYMMDD`, plus `<table>_default` for
rows of a day that has no partition yet (nothing is ever refused for want of one). Pruning drops
whole partitions, which costs nothing however many rows they hold, and creates the partitions of
the coming days, moving in any of their rows that reached the default partition first. On SQLite
pruning deletes rows.

A drift check reads one model's window of predictions through the (model_version, created_at)
index of each partition in the window; partitions outside it are skipped by the planner.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from taxifare.core import clock

# table -> the timestamp column it is partitioned on
PARTITIONED = {"predictions": "created_at", "actuals": "known_at"}
# Partitions created ahead of today, so that a missed daily run loses nothing to the default one.
AHEAD_DAYS = 7


class PartitionError(ValueError):
    """A pruning request that cannot be carried out as asked; the message says why."""


@dataclass
class PruneResult:
    cutoff: date
    dropped_partitions: dict[str, list[str]] = field(default_factory=dict)
    deleted_rows: dict[str, int] = field(default_factory=dict)
    created_partitions: dict[str, list[str]] = field(default_factory=dict)


def partition_name(table: str, day: date) -> str:
    return f"{table}_{day:%Y%m%d}"


def is_partitioned(conn: sa.Connection, table: str) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.execute(
            sa.text(
                "SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
                "WHERE c.relname = :table AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"table": table},
        ).first()
    )


def day_partitions(conn: sa.Connection, table: str) -> dict[date, str]:
    """The day partitions of `table` (Postgres), by day."""
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
        ),
        {"table": table},
    ).scalars()
    pattern = re.compile(rf"{re.escape(table)}_(\d{{8}})")
    days = {}
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            days[datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return days


def ensure_days(conn: sa.Connection, table: str, first: date, last: date) -> list[str]:
    """Create the missing day partitions of `table` from `first` to `last` (Postgres); rows of those
    days already in the default partition move into them. Returns the partitions created."""
    column = PARTITIONED[table]
    existing = day_partitions(conn, table)
    created = []
    day = first
    while day <= last:
        if day not in existing:
            name = partition_name(table, day)
            bounds = {
                "low": datetime.combine(day, datetime.min.time()),
                "high": datetime.combine(day + timedelta(days=1), datetime.min.time()),
            }
            # A partition cannot join while the default one holds rows of its range: create it
            # apart, move those rows in, then attach it.
            conn.exec_driver_sql(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)')
            conn.exec_driver_sql(
                f'WITH moved AS (DELETE FROM "{table}_default" WHERE {column} >= %(low)s AND {column} < %(high)s '
                f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
                bounds,
            )
            conn.exec_driver_sql(
                f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM (%(low)s) TO (%(high)s)',
                bounds,
            )
            created.append(name)
        day += timedelta(days=1)
    return created


def prune(conn: sa.Connection, keep_days: int, now: datetime | None = None) -> PruneResult:
    """Remove predictions and actuals older than the last `keep_days` days (today counts as one):
    whole partitions on Postgres, rows on SQLite. Creates the partitions of the coming days."""
    if keep_days < 1:
        raise PartitionError(f"--keep-days must be at least 1 (today), got {keep_days}")
    today = clock.resolve(now).date()
    cutoff = today - timedelta(days=keep_days - 1)
    result = PruneResult(cutoff)
    start = datetime.combine(cutoff, datetime.min.time())
    for table, column in PARTITIONED.items():
        if not is_partitioned(conn, table):
            deleted = conn.execute(sa.text(f"DELETE FROM {table} WHERE {column} < :start"), {"start": start})
            result.deleted_rows[table] = deleted.rowcount
            continue
        old = sorted(name for day, name in day_partitions(conn, table).items() if day < cutoff)
        for name in old:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
        result.dropped_partitions[table] = old
        deleted = conn.execute(
            sa.text(f'DELETE FROM "{table}_default" WHERE {column} < :start'), {"start": start}
        )
        result.deleted_rows[table] = deleted.rowcount
        result.created_partitions[table] = ensure_days(conn, table, today, today + timedelta(days=AHEAD_DAYS))
    return result
