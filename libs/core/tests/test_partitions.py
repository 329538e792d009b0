"""Day partitions of predictions and actuals (Postgres), the migration that makes them, and pruning."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from taxifare.core.db import migrate, partitions, tables
from taxifare.core.db.cli import main as db_cli
from taxifare.core.db.engine import connect_engine
from taxifare.core.testing import _postgres_server_url, fresh_postgres_database

NOW = datetime(2026, 3, 10, 12, 0)


def prediction(request_id: str, at: datetime) -> dict:
    return {
        "created_at": at, "model_version": "v1", "request_id": request_id, "pickup_datetime": at,
        "pickup_longitude": -73.98, "pickup_latitude": 40.75, "dropoff_longitude": -73.87,
        "dropoff_latitude": 40.77, "passenger_count": 1, "distance_km": 9.5, "pickup_hour": at.hour,
        "prediction": 20.0,
    }  # fmt: skip


def fill(engine: sa.Engine, days_ago: list[int]) -> None:
    with engine.begin() as conn:
        for n in days_ago:
            at = NOW - timedelta(days=n)
            conn.execute(tables.predictions.insert(), [prediction(f"d{n}-{i}", at) for i in range(3)])
            conn.execute(
                tables.actuals.insert(),
                [{"request_id": f"d{n}-{i}", "fare_amount": 9.0, "known_at": at} for i in range(2)],
            )


def ids(engine: sa.Engine, table: sa.Table) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.request_id)).scalars())


@pytest.fixture
def postgres_at_0001():
    url, drop = fresh_postgres_database(_postgres_server_url())
    migrate.upgrade(url, "0001")
    yield url
    drop()


def test_the_migration_partitions_by_day_and_keeps_every_row(postgres_at_0001):
    engine = connect_engine(postgres_at_0001)
    fill(engine, [40, 3, 0])
    with engine.connect() as conn:
        before = conn.execute(sa.select(tables.predictions.c.id, tables.predictions.c.request_id)).all()
    migrate.upgrade(postgres_at_0001)
    with engine.begin() as conn:
        assert partitions.is_partitioned(conn, "predictions") and partitions.is_partitioned(conn, "actuals")
        days = partitions.day_partitions(conn, "predictions")
        assert {(NOW - timedelta(days=n)).date() for n in (40, 3, 0)} <= set(days)
        assert (
            conn.execute(sa.select(tables.predictions.c.id, tables.predictions.c.request_id)).all() == before
        )
        # New rows continue the id sequence, and a day without a partition lands in the default one.
        conn.execute(tables.predictions.insert(), [prediction("late", NOW + timedelta(days=400))])
        new_id = conn.execute(sa.text("SELECT id FROM predictions WHERE request_id = 'late'")).scalar_one()
        assert new_id > max(row.id for row in before)
        assert conn.execute(sa.text("SELECT count(*) FROM predictions_default")).scalar_one() == 1
    assert ids(engine, tables.actuals) == {f"d{n}-{i}" for n in (40, 3, 0) for i in range(2)}
    migrate.downgrade(postgres_at_0001, "0001")
    with engine.connect() as conn:
        assert not partitions.is_partitioned(conn, "predictions")
    assert len(ids(engine, tables.predictions)) == len(before) + 1
    engine.dispose()


def test_prune_drops_whole_day_partitions_and_creates_the_coming_ones(postgres_url):
    engine = connect_engine(postgres_url)
    with engine.begin() as conn:
        for table in partitions.PARTITIONED:
            partitions.ensure_days(conn, table, (NOW - timedelta(days=10)).date(), NOW.date())
    fill(engine, [9, 5, 2, 1, 0])
    # A row of a day that had no partition yet waits in the default one, and moves when it gets one.
    soon = NOW + timedelta(days=3)
    with engine.begin() as conn:
        conn.execute(tables.predictions.insert(), [prediction("soon", soon)])
        assert conn.execute(sa.text("SELECT count(*) FROM predictions_default")).scalar_one() == 1
        result = partitions.prune(conn, keep_days=3, now=NOW)
    assert result.cutoff == (NOW - timedelta(days=2)).date()
    assert result.dropped_partitions["predictions"] == [
        partitions.partition_name("predictions", (NOW - timedelta(days=n)).date())
        for n in (10, 9, 8, 7, 6, 5, 4, 3)
    ]
    assert partitions.partition_name("predictions", soon.date()) in result.created_partitions["predictions"]
    kept = {f"d{n}-{i}" for n in (2, 1, 0) for i in range(3)}
    assert ids(engine, tables.predictions) == kept | {"soon"}
    assert ids(engine, tables.actuals) == {f"d{n}-{i}" for n in (2, 1, 0) for i in range(2)}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM predictions_default")).scalar_one() == 0
        days = partitions.day_partitions(conn, "predictions")
    assert min(days) == result.cutoff
    assert {(NOW + timedelta(days=n)).date() for n in range(-2, partitions.AHEAD_DAYS + 1)} <= set(days)
    engine.dispose()


def test_prune_deletes_rows_on_sqlite(sqlite_url):
    engine = connect_engine(sqlite_url)
    fill(engine, [9, 2, 0])
    with engine.begin() as conn:
        result = partitions.prune(conn, keep_days=3, now=NOW)
    assert result.deleted_rows == {"predictions": 3, "actuals": 2}
    assert ids(engine, tables.predictions) == {f"d{n}-{i}" for n in (2, 0) for i in range(3)}
    engine.dispose()


def test_cli_prune_reports_and_refuses_nonsense(database_url, capsys):
    assert db_cli(["--database-url", database_url, "prune", "--keep-days", "30"]) == 0
    out = capsys.readouterr().out
    assert "kept rows from" in out and "predictions: deleted 0 rows" in out
    with pytest.raises(SystemExit) as exited:
        db_cli(["--database-url", database_url, "prune", "--keep-days", "0"])
    assert exited.value.code == 2 and "at least 1" in capsys.readouterr().err
