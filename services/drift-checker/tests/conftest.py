"""Known distributions for the detector tests: synthetic NYC trips and a stand-in model.

Traffic comes from `taxifare.core.synth`, the generator behind the demo's traffic: "covariate" is the
drift traffic (longer trips, a quarter of them to or from airports, night-heavy hours) and "concept"
a rate-card increase (the same trips, higher fares). The stand-in model is a least-squares fare
formula fitted on the reference trips: like the real model, it sees only the trip's inputs.
"""

import csv
import functools
import io
import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from taxifare.core import synth
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import actuals, model_versions, predictions
from taxifare.core.stats import expected_error_table, reference_stats
from taxifare.core.trips.schema import COORDINATES, drift_features
from taxifare.drift_checker.window import DRIFT_COLUMNS

T0 = datetime(2026, 1, 5, 0, 0, 0)
TRAINING_DAYS = (date(2025, 9, 1), date(2025, 11, 30))
SERVING_DAY = date(2025, 12, 10)  # the trips served in every test window: after training, same card
NORMAL = synth.make_scenario("stationary")
COVARIATE_SHIFT = synth.make_scenario("covariate", shift_date=SERVING_DAY)
FARE_INCREASE = synth.make_scenario("concept", shift_date=SERVING_DAY)


def _design(features) -> np.ndarray:
    distance = features["distance_km"].to_numpy()
    hour = features["pickup_hour"].to_numpy()
    kind, _ = synth.trip_kinds(*(features[c].to_numpy() for c in COORDINATES))
    return np.column_stack([
        np.ones_like(distance), distance, np.sqrt(distance), kind == synth.JFK_FLAT, kind == synth.LGA,
        kind == synth.NEWARK, (hour >= 20) | (hour < 6), (hour >= 16) & (hour < 20),
    ]).astype(float)  # fmt: skip


def _draw(rng: np.random.Generator, n: int, scenario, days: tuple[date, date]) -> tuple:
    frame = synth.generate(n, *days, scenario, seed=int(rng.integers(2**31)))
    return drift_features(frame), frame["fare_amount"].to_numpy()


@dataclass(frozen=True)
class StandInModel:
    coefficients: np.ndarray

    def predict(self, features) -> np.ndarray:
        return _design(features) @ self.coefficients


def trips(rng: np.random.Generator, n: int, scenario=NORMAL, model: "StandInModel | None" = None) -> dict:
    """n served trips as predictions-table columns plus `fare` (the actual) under `scenario`.

    Trips come sorted by pickup time: take a random sample (`split`), not a slice, for several windows.
    """
    features, fares = _draw(rng, n, scenario, (SERVING_DAY, SERVING_DAY))
    data = {c: features[c].to_numpy() for c in DRIFT_COLUMNS if c != "prediction"}
    data["prediction"] = (model or _fitted()[0]).predict(features)
    data["fare"] = fares
    return data


@functools.cache
def _fitted() -> tuple[StandInModel, dict]:
    features, fares = _draw(np.random.default_rng(12345), 20_000, NORMAL, TRAINING_DAYS)
    coefficients, *_ = np.linalg.lstsq(_design(features), fares, rcond=None)
    model = StandInModel(coefficients)
    data = {c: features[c].to_numpy() for c in DRIFT_COLUMNS if c != "prediction"}
    data["prediction"] = model.predict(features)
    data["fare"] = fares
    return model, data


@dataclass(frozen=True)
class Reference:
    stats: dict
    label_mean: float
    label_std: float
    eval_mae: float


@pytest.fixture(scope="session")
def reference() -> Reference:
    """What the trainer stores for the live model, from its 20,000 training trips."""
    data = _fitted()[1]
    return Reference(
        stats=reference_stats({c: data[c] for c in DRIFT_COLUMNS}),
        label_mean=float(data["fare"].mean()),
        label_std=float(data["fare"].std()),
        eval_mae=float(np.mean(np.abs(data["prediction"] - data["fare"]))),
    )


@pytest.fixture(scope="session")
def reference_with_table(reference) -> Reference:
    """The same, with the expected-error table a trainer of this release stores."""
    data = _fitted()[1]
    table = expected_error_table(data["prediction"], np.abs(data["prediction"] - data["fare"]))
    return Reference({**reference.stats, "expected_error": table}, reference.label_mean, reference.label_std,
                     reference.eval_mae)  # fmt: skip


def add_live_model(
    engine: sa.Engine, reference: Reference, promoted_at: datetime, version: str = "v1"
) -> None:
    with engine.begin() as conn:
        conn.execute(
            model_versions.insert().values(
                version=version,
                created_at=promoted_at,
                model_uri=f"/models/{version}",
                label_mean=reference.label_mean,
                label_std=reference.label_std,
                eval_mae=reference.eval_mae,
                reference_stats=reference.stats,
                status="live",
                promoted_at=promoted_at,
            )
        )


def log_traffic(
    engine: sa.Engine,
    data: dict[str, np.ndarray],
    start: datetime,
    end: datetime,
    *,
    actual_share: float = 0.0,
    version: str = "v1",
    prefix: str = "r",
) -> None:
    """Log `data` as predictions spread over (start, end]; the first `actual_share` also get actuals."""
    n = len(data["prediction"])
    span = (end - start) / n
    times = [start + span * (i + 1) for i in range(n)]
    values = {
        c: data[c].astype(int if c in ("passenger_count", "pickup_hour") else float).tolist()
        for c in DRIFT_COLUMNS
    }
    rows = [
        {"created_at": t, "model_version": version, "request_id": f"{prefix}{i}", "pickup_datetime": t}
        for i, t in enumerate(times)
    ]
    for column, column_values in values.items():
        for row, value in zip(rows, column_values, strict=True):
            row[column] = value
    fares = data["fare"].tolist()
    known = [
        {"request_id": f"{prefix}{i}", "fare_amount": fares[i], "known_at": end}
        for i in range(int(n * actual_share))
    ]
    with engine.begin() as conn:
        _bulk_insert(conn, predictions, rows)
        if known:
            _bulk_insert(conn, actuals, known)


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """COPY on Postgres (tens of thousands of rows in a blink), executemany on SQLite."""
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    buffer = io.StringIO()
    csv.writer(buffer).writerows([row[c] for c in columns] for row in rows)
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
    cursor.close()


@pytest.fixture
def engine(database_url):
    engine = connect_engine(database_url)
    yield engine
    engine.dispose()


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def split(data: dict[str, np.ndarray], sizes: list[int], rng: np.random.Generator) -> list[dict]:
    """Independent windows of the given sizes drawn from one generated batch (one synth call is cheaper)."""
    order = rng.permutation(len(data["prediction"]))
    bounds = np.cumsum([0, *sizes])
    return [{c: v[order[a:b]] for c, v in data.items()} for a, b in itertools.pairwise(bounds)]


@pytest.fixture(scope="session")
def sim():
    """The generators above, for tests (conftest modules are not importable by name)."""
    import types

    return types.SimpleNamespace(
        trips=trips, NORMAL=NORMAL, COVARIATE_SHIFT=COVARIATE_SHIFT, FARE_INCREASE=FARE_INCREASE,
        add_live_model=add_live_model, log_traffic=log_traffic, split=split,
        T0=T0, hours=hours,
    )  # fmt: skip
