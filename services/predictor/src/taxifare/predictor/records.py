"""What the predictor writes to the database: prediction logs and actual fares, in batches."""

import io
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from taxifare.core.db import tables
from taxifare.core.trips.schema import drift_features
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


def prediction_frame(batches: list[ServedBatch]) -> pd.DataFrame:
    """Rows of the predictions table, with the drift features computed for all batches at once."""
    sizes = [len(b.trips) for b in batches]
    trips = pd.DataFrame(
        {
            "pickup_datetime": pd.to_datetime([t for b in batches for t in b.trips.pickup_datetimes]),
            **{
                name: np.concatenate([np.asarray(b.trips.columns[name]) for b in batches])
                for name in TRIP_COLUMNS
            },
        }
    )
    frame = drift_features(trips)
    frame["pickup_datetime"] = trips["pickup_datetime"]
    frame["created_at"] = np.repeat(np.array([b.created_at for b in batches], dtype="datetime64[us]"), sizes)
    frame["model_version"] = np.repeat([b.model_version for b in batches], sizes)
    frame["request_id"] = [r for b in batches for r in b.trips.request_ids]
    frame["prediction"] = np.concatenate([b.fares for b in batches])
    return frame


def write_predictions(engine: sa.Engine, batches: list[ServedBatch]) -> None:
    frame = prediction_frame(batches)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # COPY: several times the rows per second of a multi-row INSERT, server and client side.
            text = io.StringIO(frame.to_csv(sep="\t", header=False, index=False, lineterminator="\n"))
            columns = ", ".join(frame.columns)
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY predictions ({columns}) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\t')", text
                )
        else:
            conn.execute(tables.predictions.insert(), frame.to_dict("records"))


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
