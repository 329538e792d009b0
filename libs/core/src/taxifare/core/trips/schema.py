"""The canonical trip frame, and the model's and drift checks' views of it (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMNS = {
    "pickup_datetime": "datetime64[ns]",  # naive local NYC time, as the meter records it
    "pickup_longitude": "float64",
    "pickup_latitude": "float64",
    "dropoff_longitude": "float64",
    "dropoff_latitude": "float64",
    "passenger_count": "int64",
    "trip_distance": "float64",  # miles; NaN when the source has none
    "pu_location_id": "Int64",  # TLC zones; NA when the source has coordinates only
    "do_location_id": "Int64",
    "fare_amount": "float64",  # fare plus tolls: the label
}
COORDINATES = ("pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude")
MODEL_INPUTS = ("pickup_timestamp", *COORDINATES, "passenger_count")
# The feature columns of the `predictions` table (db/tables.py), which drift checks aggregate.
DRIFT_FEATURES = (*COORDINATES, "passenger_count", "distance_km", "pickup_hour")

EARTH_RADIUS_KM = 6371.0088


class TripDataError(ValueError):
    """Trip data cannot be used; the message names the file and the problem."""


@dataclass
class LoadResult:
    frame: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    total_rows: int = 0

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in COLUMNS.items()})


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns, in order, with canonical types; optional columns are filled with NaN/NA."""
    required = {"pickup_datetime", "passenger_count", "fare_amount"}
    missing = sorted(required - set(frame.columns))
    if missing:
        raise TripDataError(f"trip frame lacks column(s) {missing}")
    out = {}
    for name, dtype in COLUMNS.items():
        if name in frame.columns:
            out[name] = frame[name].to_numpy() if dtype != "Int64" else frame[name]
        else:
            out[name] = np.full(len(frame), np.nan)
    result = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    try:
        return result.astype(COLUMNS)
    except (TypeError, ValueError) as e:
        raise TripDataError(f"trip frame has a column of the wrong type: {e}") from None


def lacks_coordinates(frame: pd.DataFrame) -> np.ndarray:
    """Rows missing any of the four coordinates (TLC trips landed without a zone table)."""
    return frame[list(COORDINATES)].isna().any(axis=1).to_numpy()


def haversine_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in km between arrays of points given in degrees."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def model_inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The raw fields the model's `serve` signature takes (all feature engineering is in the model)."""
    naive = frame["pickup_datetime"].to_numpy().astype("datetime64[ns]")
    seconds = naive.astype(np.int64).astype(np.float64) / 1e9
    inputs = {"pickup_timestamp": seconds}
    for name in (*COORDINATES, "passenger_count"):
        inputs[name] = frame[name].to_numpy(dtype=np.float32)
    return inputs


def drift_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-trip features stored with each prediction and compared by drift checks."""
    features = frame[list(COORDINATES)].astype("float64").reset_index(drop=True)
    features["passenger_count"] = frame["passenger_count"].to_numpy()
    features["distance_km"] = haversine_km(*(frame[c] for c in COORDINATES))
    features["pickup_hour"] = frame["pickup_datetime"].dt.hour.to_numpy()
    return features[list(DRIFT_FEATURES)]
