"""The live model served in-process through the predictor's own code, stamped with the simulated time.

Requests go through the predictor's validation against the live model's input bounds, the exported
model through its loader and compiled call, fares through its clamp, and predictions and fares into
the database through its prediction log and actuals log, so what the checker later reads is exactly
what the predictor would have logged; only HTTP is left out. A trip's prediction is logged at the end
of the hour it was picked up in. A request the predictor would refuse (a trip outside the model's
bounds) is served trip by trip, and the trips it refuses are counted, not served.
"""

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from taxifare.core.db import registry
from taxifare.predictor.config import PredictorConfig
from taxifare.predictor.model import LoadedModel, ModelVersion, load_model
from taxifare.predictor.records import ActualsBatch, ActualsLog, PredictionLog, ServedBatch
from taxifare.predictor.validation import (
    OUTER_BOUNDS,
    InputBounds,
    RequestError,
    TripBatch,
    parse_actuals_request,
    parse_predict_request,
)

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
        self.bounds: InputBounds = OUTER_BOUNDS
        self.predictions = PredictionLog(engine)
        # Predictions are written before their fares arrive: a fare for an id not predicted is dropped.
        self.actuals = ActualsLog(engine, hold_seconds=0)
        self.refused = 0  # trips the predictor would have answered with a 400
        self.clamped = 0  # predictions the predictor would have clamped

    def refresh(self, now: datetime) -> bool:
        """Load the registry's live model if it changed, as the predictor's watcher does; True if so."""
        with self.engine.connect() as conn:
            live = registry.live_version(conn)
        if live is None or (self.model is not None and self.model.version == live.version):
            return False
        info = ModelVersion(live.version, live.model_uri, live.promoted_at, input_bounds=live.input_bounds)
        self.model = load_model(info, self.cache_dir, now=now)
        self.bounds = InputBounds.of_model(live.version, live.input_bounds)
        return True

    def serve(self, trips: pd.DataFrame) -> int:
        """Predict and log `trips`, one request an hour of pickups; returns how many were served."""
        if self.model is None:
            raise RuntimeError("no live model to serve with")
        if trips.empty:
            return 0
        hours = trips["pickup_datetime"].dt.floor("h")
        chunks, served = [], 0
        for hour, group in trips.groupby(hours, sort=True):
            served_at = hour.to_pydatetime() + timedelta(hours=1)
            for start in range(0, len(group), MAX_INSTANCES):
                for batch in self._validated(group.iloc[start : start + MAX_INSTANCES]):
                    fares, clamped = self.bounds.clamp_fares(self.model.predict(batch.model_inputs()))
                    self.clamped += clamped
                    chunks.append(
                        self.predictions.encode(ServedBatch(served_at, self.model.version, batch, fares))
                    )
                    served += len(batch)
        if chunks:
            self.predictions.write(chunks)
        return served

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
            batch = ActualsBatch(known_at, parse_actuals_request(payload, MAX_INSTANCES))
            self.actuals.write([batch], now=known_at)

    def _validated(self, trips: pd.DataFrame) -> list[TripBatch]:
        """The request as one batch, or, when the predictor would refuse it, its trips one by one."""
        try:
            return [parse_predict_request(_request(trips), MAX_INSTANCES, self.bounds)]
        except RequestError:
            pass
        batches = []
        for i in range(len(trips)):
            try:
                batches.append(
                    parse_predict_request(_request(trips.iloc[i : i + 1]), MAX_INSTANCES, self.bounds)
                )
            except RequestError:
                self.refused += 1
        return batches


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
