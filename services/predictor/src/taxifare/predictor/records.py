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
    """One request's worth of predictions."""

    created_at: datetime
    model_version: str
    trips: TripBatch
    fares: np.ndarray


@dataclass(frozen=True)
class ActualsBatch:
    known_at: datetime
    actuals: list[tuple[str, float]]


LOGGED_COLUMNS = tuple(tables.predictions.c.keys())[1:]  # all but the generated id, in table order


def prediction_columns(batch: ServedBatch) -> dict[str, list]:
    """Columns of the predictions table for one request, as plain lists, with its drift features."""
    n = len(batch.trips)
    columns = {name: batch.trips.columns[name] for name in TRIP_COLUMNS}
    pickups = batch.trips.pickup_datetimes
    # The same features as taxifare.core.trips.drift_features, which drift checks compare with.
    distance = haversine_km(*(columns[name] for name in COORDINATES))
    values = {
        "created_at": [batch.created_at] * n,
        "model_version": [batch.model_version] * n,
        "request_id": batch.trips.request_ids,
        "pickup_datetime": pickups,
        **columns,
        "distance_km": distance.tolist(),
        "pickup_hour": [t.hour for t in pickups],
        "prediction": batch.fares.tolist(),
    }
    return {name: values[name] for name in LOGGED_COLUMNS}


class PredictionLog:
    """The predictions table, fed in two steps: each request encodes its own rows (`encode`), and the
    background writer writes many requests' rows at once (`write`). Postgres gets COPY text, other
    databases dicts for a multi-row insert; the choice is made once, here, for both steps.

    Encoding in the request means a worker serving many trips also pays for logging them; done by
    the writer instead, it starved behind the request threads for the GIL and dropped rows.
    """

    def __init__(self, engine: sa.Engine):
        self._engine = engine
        self._copy = engine.dialect.name == "postgresql"

    def encode(self, batch: ServedBatch) -> str | list[dict]:
        columns = prediction_columns(batch)
        if self._copy:
            return _copy_text(columns)
        names = list(columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def write(self, chunks: list) -> None:
        """Write what `encode` made of some requests, in one transaction."""
        with self._engine.begin() as conn:
            if self._copy:
                # COPY: several times the rows per second of a multi-row INSERT, server and client side.
                text = "".join(chunks)
                with conn.connection.driver_connection.cursor() as cursor:
                    # The whole text in one read, not psycopg2's default 8 KB reads: each read
                    # takes the GIL, which the request threads keep busy.
                    cursor.copy_expert(
                        f"COPY predictions ({', '.join(LOGGED_COLUMNS)}) FROM STDIN",
                        io.StringIO(text),
                        size=len(text) + 1,
                    )
            else:
                conn.execute(tables.predictions.insert(), [row for chunk in chunks for row in chunk])


def _copy_text(columns: dict[str, list]) -> str:
    """The rows in COPY's text format, formatted column by column (~3 us a row)."""
    fields = []
    for name, values in columns.items():
        if name in ("created_at", "model_version"):  # one value per request: format each once
            # The version comes from the registry, so it is escaped; request ids are
            # [A-Za-z0-9._:-] (validation.py), and numbers and times print safely.
            form = _copy_escaped if name == "model_version" else str
            formatted = {value: form(value) for value in set(values)}
            fields.append([formatted[value] for value in values])
        elif name == "pickup_datetime":
            fields.append([t.isoformat() for t in values])
        elif name == "request_id":
            fields.append(values)
        else:
            fields.append(map(str, values))
    return "".join(line + "\n" for line in map("\t".join, zip(*fields, strict=True)))


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
