"""Feature engineering as Keras layers, so the exported model takes raw trip fields.

Everything the model knows about a trip is computed here from the six raw fields of
`taxifare.core.trips.model_inputs`; serving runs the very same graph, so training and serving cannot
disagree about a feature.
"""

import math

import keras
from keras import ops

# Raw model inputs and their dtypes: the `serve` signature of the exported model.
INPUT_DTYPES = {
    "pickup_timestamp": "float64",
    "pickup_longitude": "float32",
    "pickup_latitude": "float32",
    "dropoff_longitude": "float32",
    "dropoff_latitude": "float32",
    "passenger_count": "float32",
}

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY
# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
EPOCH_WEEKDAY = 3.0
EARTH_RADIUS_KM = 6371.0
KM_PER_DEGREE_LAT = 111.2
# Manhattan's street grid runs about 29 degrees east of true north; taxis drive along it.
GRID_ANGLE = math.radians(29.0)
AIRPORTS = {"jfk": (-73.7781, 40.6413), "lga": (-73.8740, 40.7769), "ewr": (-74.1745, 40.6895)}
AIRPORT_RADIUS_KM = 2.5
MIDTOWN = (-73.9855, 40.7580)
# Location grid over the five boroughs and Newark; trips outside share one extra cell.
GRID_WEST, GRID_EAST, GRID_SOUTH, GRID_NORTH = -74.30, -73.70, 40.50, 40.95
GRID_CELLS = 24
OUTSIDE_CELL = GRID_CELLS * GRID_CELLS
N_LOCATION_CELLS = OUTSIDE_CELL + 1
N_HOUR_WEEKDAY = 24 * 7

NUMERIC_FEATURES = (
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
    "is_weekend",
    "years_before_data_end",
    "distance_km",
    "log_distance_km",
    "east_km",
    "north_km",
    "grid_distance_km",
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "pickup_midtown_km",
    "dropoff_midtown_km",
    "passenger_count",
    *(f"{end}_{airport}" for end in ("pickup", "dropoff") for airport in AIRPORTS),
)


class TripFeatures(keras.layers.Layer):
    """Raw trip fields -> numeric features, hour-of-week index and pickup/dropoff grid cells.

    `data_end` (seconds, same clock as `pickup_timestamp`) is the end of the training data: the time
    trend feature is clipped there, so trips after it are treated like the newest trips seen.
    """

    def __init__(self, data_end: float, **kwargs):
        # The timestamp must stay float64: float32 would round it to about two minutes.
        super().__init__(autocast=False, **kwargs)
        self.data_end = float(data_end)

    def get_config(self):
        return {**super().get_config(), "data_end": self.data_end}

    def call(self, inputs):
        timestamp = ops.cast(inputs["pickup_timestamp"], "float64")
        seconds_of_day = ops.mod(timestamp, SECONDS_PER_DAY)
        days = ops.floor(timestamp / SECONDS_PER_DAY)
        hour = ops.cast(seconds_of_day / 3600.0, "float32")
        weekday = ops.cast(ops.mod(days + EPOCH_WEEKDAY, 7.0), "float32")
        years_before_end = ops.cast(ops.minimum(timestamp - self.data_end, 0.0) / SECONDS_PER_YEAR, "float32")

        plon, plat = _f32(inputs["pickup_longitude"]), _f32(inputs["pickup_latitude"])
        dlon, dlat = _f32(inputs["dropoff_longitude"]), _f32(inputs["dropoff_latitude"])
        east_km, north_km = _east_north_km(plon, plat, dlon, dlat)
        cos_a, sin_a = math.cos(GRID_ANGLE), math.sin(GRID_ANGLE)
        grid_km = ops.abs(east_km * cos_a - north_km * sin_a) + ops.abs(east_km * sin_a + north_km * cos_a)
        distance_km = _haversine_km(plon, plat, dlon, dlat)

        columns = {
            "hour_sin": ops.sin(hour * (2 * math.pi / 24)),
            "hour_cos": ops.cos(hour * (2 * math.pi / 24)),
            "weekday_sin": ops.sin(weekday * (2 * math.pi / 7)),
            "weekday_cos": ops.cos(weekday * (2 * math.pi / 7)),
            "is_weekend": ops.cast(weekday >= 5.0, "float32"),
            "years_before_data_end": years_before_end,
            "distance_km": distance_km,
            "log_distance_km": ops.log1p(distance_km),
            "east_km": east_km,
            "north_km": north_km,
            "grid_distance_km": grid_km,
            "pickup_longitude": plon,
            "pickup_latitude": plat,
            "dropoff_longitude": dlon,
            "dropoff_latitude": dlat,
            "pickup_midtown_km": _haversine_km(plon, plat, *MIDTOWN),
            "dropoff_midtown_km": _haversine_km(dlon, dlat, *MIDTOWN),
            "passenger_count": _f32(inputs["passenger_count"]),
        }
        for end, (lon, lat) in (("pickup", (plon, plat)), ("dropoff", (dlon, dlat))):
            for airport, (alon, alat) in AIRPORTS.items():
                near = _haversine_km(lon, lat, alon, alat) < AIRPORT_RADIUS_KM
                columns[f"{end}_{airport}"] = ops.cast(near, "float32")
        numeric = ops.stack([columns[name] for name in NUMERIC_FEATURES], axis=-1)

        hour_of_week = ops.cast(weekday, "int32") * 24 + ops.clip(ops.cast(hour, "int32"), 0, 23)
        return {
            "numeric": numeric,
            "distance_km": ops.expand_dims(distance_km, -1),
            "hour_of_week": hour_of_week,
            "pickup_cell": _grid_cell(plon, plat),
            "dropoff_cell": _grid_cell(dlon, dlat),
        }


def _f32(x):
    return ops.cast(x, "float32")


def _east_north_km(lon1, lat1, lon2, lat2):
    mean_lat = (lat1 + lat2) * (math.pi / 360.0)
    east = (lon2 - lon1) * KM_PER_DEGREE_LAT * ops.cos(mean_lat)
    north = (lat2 - lat1) * KM_PER_DEGREE_LAT
    return east, north


def _haversine_km(lon1, lat1, lon2, lat2):
    to_rad = math.pi / 180.0
    dlat = (lat2 - lat1) * to_rad
    dlon = (lon2 - lon1) * to_rad
    a = ops.sin(dlat / 2) ** 2 + ops.cos(lat1 * to_rad) * ops.cos(lat2 * to_rad) * ops.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * ops.arcsin(ops.sqrt(ops.clip(a, 0.0, 1.0)))


def _grid_cell(lon, lat):
    col = ops.floor((lon - GRID_WEST) / (GRID_EAST - GRID_WEST) * GRID_CELLS)
    row = ops.floor((lat - GRID_SOUTH) / (GRID_NORTH - GRID_SOUTH) * GRID_CELLS)
    inside = (col >= 0) & (col < GRID_CELLS) & (row >= 0) & (row < GRID_CELLS)
    cell = ops.cast(ops.where(inside, row * GRID_CELLS + col, float(OUTSIDE_CELL)), "int32")
    return cell
