"""Loaders of the two real trip schemas into the canonical frame, with cleaning and drop counts.

- classic: the NYC sample used by the taxi-fare course, CSV without header
  (fare_amount,pickup_datetime,pickup_longitude,pickup_latitude,dropoff_longitude,dropoff_latitude,
  passenger_count,key).
- tlc: the current TLC yellow-trip files (2016 on), CSV with header or Parquet; zones, no coordinates,
  unless a zone table (`zones.load_zone_centroids`) gives each zone a point.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from taxifare.core import storage
from taxifare.core.trips.cleaning import clean
from taxifare.core.trips.schema import COORDINATES, LoadResult, TripDataError, conform, lacks_coordinates

CLASSIC_COLUMNS = [
    "fare_amount",
    "pickup_datetime",
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
    "key",
]
CLASSIC_NUMBERS = [c for c in CLASSIC_COLUMNS if c not in ("pickup_datetime", "key")]
TLC_TIMES = ["tpep_pickup_datetime", "tpep_dropoff_datetime"]
TLC_NUMBERS = [
    "passenger_count",
    "trip_distance",
    "PULocationID",
    "DOLocationID",
    "fare_amount",
    "tolls_amount",
]
TLC_COLUMNS = TLC_TIMES + TLC_NUMBERS
PARQUET_MAGIC = b"PAR1"


def load_trips(
    path_or_uri: str | os.PathLike, fmt: str | None = None, zones: pd.DataFrame | None = None
) -> LoadResult:
    """Load a file of either schema; `fmt` is "classic" or "tlc", or None to tell from the content.

    `zones` (from `zones.load_zone_centroids`) gives TLC trips the coordinates of their zones.
    """
    data = read_source(path_or_uri)
    fmt = fmt or sniff_format(data)
    if fmt == "classic":
        if zones is not None:
            raise TripDataError(
                f"{path_or_uri}: a zone table applies to TLC files; this classic file has coordinates"
            )
        return _load_classic(data, str(path_or_uri))
    if fmt == "tlc":
        return _load_tlc(data, str(path_or_uri), zones)
    raise TripDataError(f"unknown trip file format {fmt!r} (expected 'classic' or 'tlc')")


def load_classic_csv(path_or_uri: str | os.PathLike) -> LoadResult:
    return _load_classic(read_source(path_or_uri), str(path_or_uri))


def load_tlc(path_or_uri: str | os.PathLike, zones: pd.DataFrame | None = None) -> LoadResult:
    return _load_tlc(read_source(path_or_uri), str(path_or_uri), zones)


def sniff_format(data: bytes) -> str:
    if data.startswith(PARQUET_MAGIC) or b"tpep_pickup_datetime" in data[:2000]:
        return "tlc"
    return "classic"


def read_source(path_or_uri: str | os.PathLike) -> bytes:
    """The bytes of a local file or gs:// object; TripDataError naming it when it cannot be read."""
    name = str(path_or_uri)
    if storage.is_gcs(name):
        try:
            return storage.read_bytes(name)
        except storage.StorageError as e:
            raise TripDataError(str(e)) from None
    path = Path(name)
    if not path.is_file():
        raise TripDataError(f"{name}: no such file")
    return path.read_bytes()


def _data_lines(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if line.strip()]


def _load_classic(data: bytes, name: str) -> LoadResult:
    lines = _data_lines(data)
    if not lines:
        raise TripDataError(f"{name}: the file is empty")
    first = lines[0].decode(errors="replace")
    if "fare_amount" in first or "pickup_datetime" in first:
        raise TripDataError(
            f"{name}: the first line is a header ({first[:80]!r}); the classic format has none "
            "(is this a TLC file? use the tlc format)"
        )
    if first.count(",") + 1 != len(CLASSIC_COLUMNS):
        raise TripDataError(
            f"{name}: expected {len(CLASSIC_COLUMNS)} columns ({','.join(CLASSIC_COLUMNS)}), "
            f"the first line has {first.count(',') + 1}"
        )
    # Lines with too many fields are skipped by the parser and counted as malformed below; lines with
    # too few get empty fields, which fail to parse as numbers and are counted as malformed too.
    raw = pd.read_csv(
        io.BytesIO(data),
        header=None,
        names=CLASSIC_COLUMNS,
        dtype=str,
        on_bad_lines="skip",
        keep_default_na=False,
    )
    numbers = {c: pd.to_numeric(raw[c].str.strip(), errors="coerce") for c in CLASSIC_NUMBERS}
    malformed = np.column_stack([numbers[c].isna().to_numpy() for c in CLASSIC_NUMBERS]).any(axis=1)
    # The sample labels its times UTC, but the meter records local time: keep the wall-clock value.
    text = raw["pickup_datetime"].str.strip().str.removesuffix(" UTC")
    frame = pd.DataFrame(numbers).assign(
        pickup_datetime=pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce"),
        trip_distance=np.nan,
    )
    return _finish(
        frame, {"malformed": malformed}, total=len(lines), skipped=len(lines) - len(raw), name=name
    )


def _load_tlc(data: bytes, name: str, zones: pd.DataFrame | None) -> LoadResult:
    if not data.strip():
        raise TripDataError(f"{name}: the file is empty")
    if data.startswith(PARQUET_MAGIC):
        raw = _read_tlc_parquet(data, name)
        total, skipped, malformed = len(raw), 0, None
    else:
        raw, total, skipped, malformed = _read_tlc_csv(data, name)
    if total == 0:
        raise TripDataError(f"{name}: the file holds a header but no trips")
    pickup, dropoff = (_tlc_time(raw[c]) for c in TLC_TIMES)
    frame = pd.DataFrame(
        {
            "pickup_datetime": pickup,
            **_zone_coordinates(raw, zones),
            "passenger_count": raw["passenger_count"].to_numpy(dtype=float),
            "trip_distance": raw["trip_distance"].to_numpy(dtype=float),
            "pu_location_id": raw["PULocationID"].to_numpy(dtype=float),
            "do_location_id": raw["DOLocationID"].to_numpy(dtype=float),
            # Tolls belong to the label, as in the classic sample's fare_amount.
            "fare_amount": raw["fare_amount"].to_numpy(dtype=float)
            + raw["tolls_amount"].fillna(0).to_numpy(dtype=float),
        }
    )
    flagged = {
        "malformed": malformed if malformed is not None else np.zeros(len(raw), dtype=bool),
        "unparseable_time": dropoff.isna().to_numpy(),
        "zero_length_trip": (dropoff <= pickup).to_numpy(),
    }
    if zones is not None:
        flagged["zone_without_centroid"] = lacks_coordinates(frame)
    return _finish(frame, flagged, total=total, skipped=skipped, name=name)


def _zone_coordinates(raw: pd.DataFrame, zones: pd.DataFrame | None) -> dict[str, np.ndarray | float]:
    """The four coordinates: each zone's point from `zones`, NaN for a zone it lacks; all NaN without it."""
    if zones is None:
        return dict.fromkeys(COORDINATES, np.nan)  # TLC files give zones only
    columns = {}
    for end, column in (("pickup", "PULocationID"), ("dropoff", "DOLocationID")):
        found = zones.reindex(raw[column].to_numpy(dtype=float))
        columns[f"{end}_longitude"] = found["longitude"].to_numpy()
        columns[f"{end}_latitude"] = found["latitude"].to_numpy()
    return {c: columns[c] for c in COORDINATES}


def _read_tlc_csv(data: bytes, name: str) -> tuple[pd.DataFrame, int, int, np.ndarray]:
    raw = pd.read_csv(io.BytesIO(data), dtype=str, on_bad_lines="skip", keep_default_na=False)
    _require_columns(raw.columns, name)
    total = len(_data_lines(data)) - 1
    malformed = np.zeros(len(raw), dtype=bool)
    out = raw[TLC_TIMES].copy()
    for column in TLC_NUMBERS:
        text = raw[column].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        # Empty passenger counts and tolls occur in real files: missing values, not broken rows.
        malformed |= (values.isna() & (text != "")).to_numpy()
        out[column] = values
    return out, total, total - len(raw), malformed


def _read_tlc_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        schema = pq.read_schema(io.BytesIO(data))
    except pa.ArrowException as e:
        raise TripDataError(f"{name}: not a readable Parquet file ({e})") from None
    _require_columns(schema.names, name)
    for column in TLC_COLUMNS:
        kind = schema.field(column).type
        wanted_time = column in TLC_TIMES
        ok = pa.types.is_timestamp(kind) if wanted_time else _is_number(kind)
        if not ok:
            expected = "a timestamp" if wanted_time else "a number"
            raise TripDataError(f"{name}: column {column!r} has Parquet type {kind}, expected {expected}")
    return pq.read_table(io.BytesIO(data), columns=TLC_COLUMNS).to_pandas()


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _require_columns(columns, name: str) -> None:
    missing = [c for c in TLC_COLUMNS if c not in set(columns)]
    if missing:
        raise TripDataError(f"{name}: missing column(s) {', '.join(missing)} of the TLC yellow-trip schema")


def _tlc_time(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("America/New_York").dt.tz_localize(None)
        return values.astype("datetime64[ns]")
    text = values.str.strip()
    times = pd.to_datetime(text, format="ISO8601", errors="coerce")
    # Files from the city's open-data portal write US-style times.
    us_style = pd.to_datetime(text, format="%m/%d/%Y %I:%M:%S %p", errors="coerce")
    return times.fillna(us_style).astype("datetime64[ns]")


def _finish(frame: pd.DataFrame, flagged: dict, total: int, skipped: int, name: str) -> LoadResult:
    kept, dropped = clean(frame, flagged)
    if skipped:
        dropped["malformed"] = dropped.get("malformed", 0) + skipped
    if total and dropped.get("malformed", 0) == total:
        raise TripDataError(f"{name}: none of its {total} rows could be parsed")
    return LoadResult(frame=conform(kept), dropped=dropped, total_rows=total)
