"""Trip data: the canonical frame, loaders of the real schemas, cleaning and the day-partitioned store."""

from taxifare.core.trips.cleaning import clean
from taxifare.core.trips.loaders import load_classic_csv, load_tlc, load_trips
from taxifare.core.trips.schema import (
    COLUMNS,
    DRIFT_FEATURES,
    MODEL_INPUTS,
    LoadResult,
    TripDataError,
    conform,
    drift_features,
    empty_frame,
    haversine_km,
    model_inputs,
)
from taxifare.core.trips.store import DataStore
from taxifare.core.trips.zones import load_zone_centroids

__all__ = [
    "COLUMNS",
    "DRIFT_FEATURES",
    "MODEL_INPUTS",
    "DataStore",
    "LoadResult",
    "TripDataError",
    "clean",
    "conform",
    "drift_features",
    "empty_frame",
    "haversine_km",
    "load_classic_csv",
    "load_tlc",
    "load_trips",
    "load_zone_centroids",
    "model_inputs",
]
