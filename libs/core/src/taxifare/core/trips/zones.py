"""Taxi-zone centroids: coordinates for TLC trips, which give zones (LocationID 1..265) instead of points.

The model needs coordinates. A zone table gives each zone one point, usually the centroid of its
polygon in the TLC's taxi-zone shapefile, as a CSV with a header:

    LocationID,longitude,latitude
    132,-73.7867,40.6468
"""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd

from taxifare.core.trips.cleaning import LATITUDE_RANGE, LONGITUDE_RANGE
from taxifare.core.trips.loaders import read_source
from taxifare.core.trips.schema import TripDataError

ZONE_COLUMNS = ("LocationID", "longitude", "latitude")
SHOWN = 5  # bad rows or zones named in an error message


def load_zone_centroids(path_or_uri: str | os.PathLike) -> pd.DataFrame:
    """The zone table as a frame indexed by LocationID with `longitude` and `latitude` columns.

    TripDataError, naming the file and the rows or zones at fault, for a table that cannot be trusted:
    missing columns, values that are not numbers, a zone listed twice, or a point outside the area
    the trip cleaning keeps.
    """
    name = str(path_or_uri)
    data = read_source(path_or_uri)
    if not data.strip():
        raise TripDataError(f"{name}: the zone table is empty")
    raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    missing = [c for c in ZONE_COLUMNS if c not in raw.columns]
    if missing:
        raise TripDataError(
            f"{name}: missing column(s) {', '.join(missing)}; a zone table has the header {','.join(ZONE_COLUMNS)}"
        )
    if raw.empty:
        raise TripDataError(f"{name}: the zone table holds a header but no zones")
    values = {c: pd.to_numeric(raw[c].str.strip(), errors="coerce") for c in ZONE_COLUMNS}
    ids = values["LocationID"]
    bad = ids.isna() | (ids != ids.round()) | values["longitude"].isna() | values["latitude"].isna()
    if bad.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:SHOWN])  # +2: header, 1-based
        raise TripDataError(
            f"{name}: line(s) {lines}: LocationID must be an integer and both coordinates numbers"
        )
    zones = pd.DataFrame(
        {"longitude": values["longitude"].to_numpy(), "latitude": values["latitude"].to_numpy()},
        index=pd.Index(ids.astype("int64"), name="LocationID"),
    )
    twice = zones.index[zones.index.duplicated()].unique()
    if len(twice):
        raise TripDataError(f"{name}: zone(s) {_ids(twice)} listed more than once")
    outside = ~(zones["longitude"].between(*LONGITUDE_RANGE) & zones["latitude"].between(*LATITUDE_RANGE))
    if outside.any():
        raise TripDataError(
            f"{name}: zone(s) {_ids(zones.index[outside])} lie outside longitude {list(LONGITUDE_RANGE)}, "
            f"latitude {list(LATITUDE_RANGE)} (longitude and latitude swapped?)"
        )
    return zones


def _ids(index: pd.Index) -> str:
    shown = ", ".join(str(i) for i in index[:SHOWN])
    return shown + (f" and {len(index) - SHOWN} more" if len(index) > SHOWN else "")
