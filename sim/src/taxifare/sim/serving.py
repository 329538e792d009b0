"""The live model served in-process through the predictor's own code, stamped with the simulated time.

Requests go through the predictor's validation, the exported model through its loader and compiled
call, and predictions and fares into the database through its prediction log and actuals writer, so
what the checker later reads is exactly what the predictor would have logged; only HTTP is left out.
A trip's prediction is logged at the end of the hour it was picked up in.
"""

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from taxifare.core.db import registry
from taxifare.predictor.config import PredictorConfig
from taxifare.predictor.model import LoadedModel, ModelVersion, load_model
from taxifare.predictor.records import ActualsBatch, PredictionLog, ServedBatch, write_actuals
from taxifare.predictor.validation import parse_actuals_request, parse_predict_request

MAX_INSTANCES = PredictorConfig().max_instances
REQUEST_FIELDS = (
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
    "request_id",
)


class LiveModelServer:
    def __init__(self, engine: sa.Engine, cache_dir: Path):
        self.engine = engine
        self.cache_dir = cache_dir
        self.model: LoadedModel | None = None
        self.log = PredictionLog(engine)

    def refresh(self, now: datetime) -> bool:
        """Load the registry's live model if it changed, as the predictor's watcher does; True if so."""
        with self.engine.connect() as conn:
            live = registry.live_version(conn)
        if live is None or (self.model is not None and self.model.version == live.version):
            return False
        info = ModelVersion(live.version, live.model_uri, live.promoted_at)
        self.model = load_model(info, self.cache_dir, now=now)
        return True

    def serve(self, trips: pd.DataFrame) -> int:
        """Predict and log `trips`, one request an hour of pickups; returns how many were served."""
        if self.model is None:
            raise RuntimeError("no live model to serve with")
        if trips.empty:
            return 0
        hours = trips["pickup_datetime"].dt.floor("h")
        chunks = []
        for hour, group in trips.groupby(hours, sort=True):
            for start in range(0, len(group), MAX_INSTANCES):
                batch = parse_predict_request(
                    _request(group.iloc[start : start + MAX_INSTANCES]), MAX_INSTANCES
                )
                fares = self.model.predict(batch.model_inputs())
                served_at = hour.to_pydatetime() + timedelta(hours=1)
                chunks.append(self.log.encode(ServedBatch(served_at, self.model.version, batch, fares)))
        self.log.write(chunks)
        return len(trips)

    def record_fares(self, trips: pd.DataFrame, known_at: datetime) -> None:
        """The real fares of served trips, known (reported to /v1/actuals) at `known_at`."""
        for start in range(0, len(trips), MAX_INSTANCES):
            part = trips.iloc[start : start + MAX_INSTANCES]
            payload = {
                "actuals": [
                    {"request_id": rid, "fare_amount": float(fare)}
                    for rid, fare in zip(part["request_id"], part["fare_amount"], strict=True)
                ]
            }
            write_actuals(
                self.engine, [ActualsBatch(known_at, parse_actuals_request(payload, MAX_INSTANCES))]
            )


def _request(trips: pd.DataFrame) -> dict:
    """The /v1/predict body a client would send for these trips."""
    columns = {name: trips[name].tolist() for name in REQUEST_FIELDS}
    columns["passenger_count"] = [int(n) for n in columns["passenger_count"]]
    pickups = [t.isoformat() for t in trips["pickup_datetime"].dt.to_pydatetime()]
    return {
        "instances": [
            {"pickup_datetime": pickup, **{name: columns[name][i] for name in REQUEST_FIELDS}}
            for i, pickup in enumerate(pickups)
        ]
    }
