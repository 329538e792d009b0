"""What the predictor writes to the database: prediction logs and actual fares, in batches."""

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.db import tables
from taxifare.core.trips.schema import COORDINATES, haversine_km
from taxifare.predictor.validation import TRIP_COLUMNS, TripBatch

log = logging.getLogger(__name__)
# Postgres' SQLSTATE for a row that fits no partition: the schema's fault, not the row's.
_NO_PARTITION = "23514"


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


def refused_by_database(engine: sa.Engine) -> Callable[[Exception], bool]:
    """Whether a failed write was refused because of its rows (a value the database cannot take),
    rather than because the database is away or the schema is wrong: only then is it worth
    isolating and dropping the offending rows."""
    dbapi = engine.dialect.dbapi
    kinds = (dbapi.DataError, dbapi.IntegrityError, sa.exc.DataError, sa.exc.IntegrityError)

    def refused(error: Exception) -> bool:
        cause = getattr(error, "orig", None) or error
        return isinstance(error, kinds) and getattr(cause, "pgcode", None) != _NO_PARTITION

    return refused


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
        self.refused = refused_by_database(engine)

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

    def split(self, chunk: str | list[dict]) -> list:
        """One chunk per row of an encoded chunk (COPY text: one line a row, newlines in values
        are escaped)."""
        if self._copy:
            return [line + "\n" for line in chunk.split("\n")[:-1]]
        return [[row] for row in chunk]


def _copy_text(columns: dict[str, list]) -> str:
    """The rows in COPY's text format, formatted column by column (~3 us a row)."""
    fields = []
    for name, values in columns.items():
        if name in ("created_at", "model_version"):  # one value per request: format each once
            # The version comes from the registry, so it is escaped; numbers and times print safely.
            form = _copy_escaped if name == "model_version" else str
            formatted = {value: form(value) for value in set(values)}
            fields.append([formatted[value] for value in values])
        elif name == "pickup_datetime":
            fields.append([t.isoformat() for t in values])
        elif name == "request_id":
            # validation.py admits only [A-Za-z0-9._:-], but one unescaped newline would shift every
            # later field of the batch: escape anyway (well under a microsecond a row).
            fields.append(map(_copy_escaped, values))
        else:
            fields.append(map(str, values))
    return "".join(line + "\n" for line in map("\t".join, zip(*fields, strict=True)))


def _copy_escaped(text: str) -> str:
    """`text` as a field of COPY's text format, where backslash, tab and newlines are special."""
    for special, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(special, escaped)
    return text


class ActualsLog:
    """The actuals table, written by the background writer. A fare is stored only for a request id
    the predictions table holds; one whose prediction is not there yet (still in some worker's
    buffer) is held and retried until `hold_seconds` after it was reported, then dropped and
    counted as unmatched: a caller cannot plant fares for trips that were never served.
    """

    def __init__(
        self,
        engine: sa.Engine,
        hold_seconds: float,
        resubmit: Callable[[ActualsBatch], bool] = lambda batch: False,
        on_unmatched: Callable[[int], None] = lambda n: None,
    ):
        self._engine = engine
        self._hold = timedelta(seconds=hold_seconds)
        self.resubmit = resubmit
        self._on_unmatched = on_unmatched
        self.refused = refused_by_database(engine)
        self.unmatched = 0

    @staticmethod
    def split(batch: ActualsBatch) -> list[ActualsBatch]:
        return [ActualsBatch(batch.known_at, [actual]) for actual in batch.actuals]

    def write(self, batches: list[ActualsBatch], now: datetime | None = None) -> None:
        # The last report of a request id wins, within the batch and against earlier batches.
        latest = {rid: (fare, b.known_at) for b in batches for rid, fare in b.actuals}
        with self._engine.begin() as conn:
            predicted = _predicted_ids(conn, list(latest))
            rows = [
                {"request_id": rid, "fare_amount": fare, "known_at": at}
                for rid, (fare, at) in latest.items()
                if rid in predicted
            ]
            if rows:
                _upsert_actuals(conn, rows)
        unmatched = {rid: value for rid, value in latest.items() if rid not in predicted}
        if unmatched:
            self._hold_or_drop(unmatched, clock.resolve(now))

    def _hold_or_drop(self, unmatched: dict[str, tuple[float, datetime]], now: datetime) -> None:
        held: dict[datetime, list] = {}
        expired = 0
        for rid, (fare, known_at) in unmatched.items():
            if now - known_at < self._hold:
                held.setdefault(known_at, []).append((rid, fare))
            else:
                expired += 1
        for known_at, actuals in held.items():
            if not self.resubmit(ActualsBatch(known_at, actuals)):
                expired += len(actuals)  # the writer is closing or full
        if expired:
            self.unmatched += expired
            self._on_unmatched(expired)
            log.warning(
                "dropped %d actual fares whose request ids were never predicted",
                expired,
                extra={"unmatched_total": self.unmatched},
            )


def _predicted_ids(conn: sa.Connection, request_ids: list[str]) -> set[str]:
    found: set[str] = set()
    column = tables.predictions.c.request_id
    for start in range(0, len(request_ids), 1000):
        part = request_ids[start : start + 1000]
        found.update(conn.execute(sa.select(column).where(column.in_(part)).distinct()).scalars())
    return found


def _upsert_actuals(conn: sa.Connection, rows: list[dict]) -> None:
    if conn.dialect.name == "postgresql":
        # actuals is partitioned by day there, so request_id alone cannot be unique: replace the
        # rows of these ids under a lock that only actuals writers (and partition drops) wait for.
        conn.exec_driver_sql("LOCK TABLE actuals IN SHARE ROW EXCLUSIVE MODE")
        ids = [row["request_id"] for row in rows]
        conn.execute(tables.actuals.delete().where(tables.actuals.c.request_id.in_(ids)))
        conn.execute(tables.actuals.insert(), rows)
        return
    from sqlalchemy.dialects.sqlite import insert

    statement = insert(tables.actuals)
    statement = statement.on_conflict_do_update(
        index_elements=[tables.actuals.c.request_id],
        set_={"fare_amount": statement.excluded.fare_amount, "known_at": statement.excluded.known_at},
    )
    conn.execute(statement, rows)
