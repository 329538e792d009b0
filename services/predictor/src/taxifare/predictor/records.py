"""What the predictor writes to the database: prediction logs and actual fares, in batches."""

import io
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from taxifare.core.db import tables
from taxifare.core.trips.schema import COORDINATES, haversine_km
from taxifare.predictor.validation import TRIP_COLUMNS, TripBatch


@dataclass(frozen=True)
class ServedBatch:
    """One request's worth of predictions, as the request handler hands it over (no copying)."""

    created_at: datetime
    model_version: str
    trips: TripBatch
    fares: np.ndarray


@dataclass(frozen=True)
class ActualsBatch:
    known_at: datetime
    actuals: list[tuple[str, float]]


def prediction_columns(batches: list[ServedBatch]) -> dict[str, list]:
    """Columns of the predictions table, as plain lists, with the drift features of all batches.

    Plain lists and one vectorised distance, not a DataFrame: this runs in every worker beside the
    requests, and a DataFrame's fixed costs would hold the GIL for milliseconds per batch.
    """
    columns = {name: [v for b in batches for v in b.trips.columns[name]] for name in TRIP_COLUMNS}
    pickups = [t for b in batches for t in b.trips.pickup_datetimes]
    # The same features as taxifare.core.trips.drift_features, which drift checks compare with.
    distance = haversine_km(*(columns[name] for name in COORDINATES))
    return {
        "created_at": [b.created_at for b in batches for _ in range(len(b.trips))],
        "model_version": [b.model_version for b in batches for _ in range(len(b.trips))],
        "request_id": [r for b in batches for r in b.trips.request_ids],
        "pickup_datetime": pickups,
        **columns,
        "distance_km": distance.tolist(),
        "pickup_hour": [t.hour for t in pickups],
        "prediction": np.concatenate([b.fares for b in batches]).tolist(),
    }


def write_predictions(engine: sa.Engine, batches: list[ServedBatch]) -> None:
    columns = prediction_columns(batches)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # COPY: several times the rows per second of a multi-row INSERT, server and client side.
            # Numbers and times print safely; request ids are [A-Za-z0-9._:-] (validation.py), and
            # the version, from the registry, is escaped.
            versions = {v: _copy_escaped(v) for v in set(columns["model_version"])}
            columns["model_version"] = [versions[v] for v in columns["model_version"]]
            rows = zip(*columns.values(), strict=True)
            text = io.StringIO("".join("\t".join(map(str, row)) + "\n" for row in rows))
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.copy_expert(f"COPY predictions ({', '.join(columns)}) FROM STDIN", text)
        else:
            names = list(columns)
            rows = zip(*columns.values(), strict=True)
            conn.execute(tables.predictions.insert(), [dict(zip(names, row, strict=True)) for row in rows])


def _copy_escaped(text: str) -> str:
    """`text` as a field of COPY's text format, where backslash, tab and newlines are special."""
    for special, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(special, escaped)
    return text


def write_actuals(engine: sa.Engine, batches: list[ActualsBatch]) -> None:
    # The last report of a request id wins, within the batch and against earlier batches.
    latest = {rid: (fare, b.known_at) for b in batches for rid, fare in b.actuals}
    rows = [{"request_id": rid, "fare_amount": fare, "known_at": at} for rid, (fare, at) in latest.items()]
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(tables.actuals)
    statement = statement.on_conflict_do_update(
        index_elements=[tables.actuals.c.request_id],
        set_={"fare_amount": statement.excluded.fare_amount, "known_at": statement.excluded.known_at},
    )
    with engine.begin() as conn:
        conn.execute(statement, rows)
