"""The trip data store: a folder or gs:// prefix of `date=YYYY-MM-DD/part-<id>.parquet` files.

Each part file is written whole (storage.write_bytes), so a reader never sees half of one; appending
never rewrites existing parts, so several writers may land trips at once.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from taxifare.core import clock, storage
from taxifare.core.trips.schema import conform, empty_frame

_PART = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})/part-[^/]+\.parquet$")


class DataStore:
    def __init__(self, uri: str | os.PathLike):
        self.uri = str(uri)

    def __repr__(self) -> str:
        return f"DataStore({self.uri!r})"

    def append(self, frame: pd.DataFrame) -> dict[date, int]:
        """Write the trips as one new part per pickup day; returns {day: rows written}."""
        frame = conform(frame).sort_values("pickup_datetime", kind="stable")
        written: dict[date, int] = {}
        if frame.empty:
            return written
        # One Arrow conversion, then a slice per day: far cheaper than a pandas round trip per day.
        table = pa.Table.from_pandas(frame, preserve_index=False)
        days = frame["pickup_datetime"].to_numpy().astype("datetime64[D]")
        day_values, starts, counts = np.unique(days, return_index=True, return_counts=True)
        for day, start, count in zip(day_values.tolist(), starts, counts, strict=True):
            buffer = io.BytesIO()
            pq.write_table(table.slice(start, count), buffer)
            name = f"part-{uuid.uuid4().hex}.parquet"
            storage.write_bytes(storage.join(self.uri, f"date={day.isoformat()}", name), buffer.getvalue())
            written[day] = int(count)
        return written

    def parts(self) -> dict[date, list[str]]:
        """{day: part URIs} of every complete part file, days ascending."""
        found: dict[date, list[str]] = {}
        for uri in storage.list_uris(self.uri):
            match = _PART.search(uri.replace(os.sep, "/"))
            if match:
                found.setdefault(date.fromisoformat(match.group(1)), []).append(uri)
        return dict(sorted(found.items()))

    def days(self) -> list[date]:
        return list(self.parts())

    def read_range(self, start_date: date, end_date: date) -> pd.DataFrame:
        """Trips picked up from `start_date` to `end_date`, both included, in pickup order."""
        uris = [
            u for day, part_uris in self.parts().items() if start_date <= day <= end_date for u in part_uris
        ]
        return self._read(uris)

    def read_newest(self, days: int, now: datetime | None = None) -> pd.DataFrame:
        """Trips of the newest `days` days that hold data, none after `now`'s day."""
        newest = self.newest_days(days, now)
        return self.read_range(newest[0], newest[-1]) if newest else empty_frame()

    def newest_days(self, days: int, now: datetime | None = None) -> list[date]:
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        today = clock.resolve(now).date()
        return [d for d in self.days() if d <= today][-days:]

    def row_count(self) -> int:
        """Rows in the store, from the part files' footers (no data is read)."""
        return sum(_row_count(uri) for part_uris in self.parts().values() for uri in part_uris)

    def rows_by_day(self) -> dict[date, int]:
        return {day: sum(_row_count(u) for u in uris) for day, uris in self.parts().items()}

    def _read(self, uris: list[str]) -> pd.DataFrame:
        if not uris:
            return empty_frame()
        frames = [pd.read_parquet(_source(uri)) for uri in uris]
        frame = pd.concat(frames, ignore_index=True).sort_values("pickup_datetime", kind="stable")
        return conform(frame.reset_index(drop=True))


def _source(uri: str):
    return io.BytesIO(storage.read_bytes(uri)) if storage.is_gcs(uri) else uri


def _row_count(uri: str) -> int:
    return pq.ParquetFile(_source(uri)).metadata.num_rows
