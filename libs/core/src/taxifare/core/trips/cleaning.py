"""Rules that drop unusable trips, counting how many each rule dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Wide enough for the suburbs a cab may drive to (the classic sample reaches 41.37N, 73.14W), narrow
# enough to catch 0/0 coordinates and swapped latitude/longitude.
LONGITUDE_RANGE = (-74.8, -72.8)
LATITUDE_RANGE = (40.2, 41.8)
PASSENGER_RANGE = (1, 6)


def clean(
    frame: pd.DataFrame, flagged: dict[str, np.ndarray] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop bad trips; returns the kept rows and {reason: rows dropped}.

    Each row is counted once, under the first rule it breaks. `flagged` holds problems a loader found
    while parsing (e.g. "malformed" rows), checked first.
    """
    rules = [*(flagged or {}).items(), *_rules(frame)]
    dropped: dict[str, int] = {}
    already = np.zeros(len(frame), dtype=bool)
    for reason, bad in rules:
        new = bad & ~already
        if new.any():
            dropped[reason] = dropped.get(reason, 0) + int(new.sum())
        already |= new
    return frame.loc[~already].reset_index(drop=True), dropped


def _rules(frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    fare = frame["fare_amount"].to_numpy(dtype=float)
    passengers = frame["passenger_count"].to_numpy(dtype=float)
    distance = frame["trip_distance"].to_numpy(dtype=float)
    return [
        ("unparseable_time", frame["pickup_datetime"].isna().to_numpy()),
        ("non_positive_fare", ~(fare > 0)),
        (
            "bad_passenger_count",
            ~((passengers >= PASSENGER_RANGE[0]) & (passengers <= PASSENGER_RANGE[1])),
        ),
        ("coordinates_outside_nyc", _outside_nyc(frame)),
        # NaN means the source has no distance (classic sample): nothing to judge.
        ("non_positive_distance", distance <= 0),
    ]


def _outside_nyc(frame: pd.DataFrame) -> np.ndarray:
    """Rows with any coordinate given but outside the box; all-NaN coordinates (TLC zones) pass."""
    lon = frame[["pickup_longitude", "dropoff_longitude"]].to_numpy(dtype=float)
    lat = frame[["pickup_latitude", "dropoff_latitude"]].to_numpy(dtype=float)
    absent = np.isnan(lon).all(axis=1) & np.isnan(lat).all(axis=1)
    inside = (
        (lon >= LONGITUDE_RANGE[0])
        & (lon <= LONGITUDE_RANGE[1])
        & (lat >= LATITUDE_RANGE[0])
        & (lat <= LATITUDE_RANGE[1])
    ).all(axis=1)
    return ~(inside | absent)
