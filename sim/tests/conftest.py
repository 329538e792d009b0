import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from taxifare.core.db.engine import connect_engine
from taxifare.sim.streams import stream_defaults

# Small enough for a test: 10 days of 200 trips, a first model on 5 days, three epochs.
TINY = {"days": 10, "trips_per_day": 200, "train_days": 3, "eval_days": 2, "epochs": 3, "batch_size": 64,
        "min_rows": 200, "min_predictions": 100, "min_actuals": 50}  # fmt: skip


@pytest.fixture
def tiny_settings():
    return {**stream_defaults("three-events"), **TINY}


@pytest.fixture
def sim_database(database_url):
    """None (a SQLite file per simulation) or a Postgres database beside which the simulator creates
    its own; those are dropped after the test."""
    url = database_url
    if url.startswith("sqlite"):
        yield None
        return
    yield url
    name = make_url(url).database
    admin = connect_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        created = conn.execute(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"), {"prefix": f"{name}_sim_%"}
        ).scalars()
        for database in list(created):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin.dispose()
