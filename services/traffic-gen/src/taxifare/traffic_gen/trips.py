"""Where the trips come from: the synthetic generator, in one of three modes, dated by the clock."""

import threading
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from taxifare.core import clock, synth

MODES = {
    "normal": "trips drawn like the training data",
    "drift": "covariate shift: longer trips, more airports, night hours",
    "concept": "inputs look normal, but true fares follow a new rate card",
    "drift+concept": "both at once: the drift trips, priced by a new rate card",
}
# "gradual" with no ramp is the covariate and the concept shift together, from the first day.
_SCENARIOS = {"normal": "stationary", "drift": "covariate", "concept": "concept", "drift+concept": "gradual"}


def draw_trips(mode: str, n: int, days: int = 1, seed: int = 0, now: datetime | None = None) -> pd.DataFrame:
    """`n` completed trips of the last `days` days up to `now`, in the canonical trip schema."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    now = clock.resolve(now)
    start = (now - timedelta(days=days - 1)).date()
    scenario = synth.make_scenario(
        _SCENARIOS[mode], shift_date=start if mode != "normal" else None, ramp_days=0
    )
    trips = synth.generate(n, start, now.date(), scenario=scenario, seed=seed)
    # Trips drawn later today than `now` have not happened yet: move them a day back (same hour).
    future = trips["pickup_datetime"] > pd.Timestamp(now)
    trips.loc[future, "pickup_datetime"] -= pd.Timedelta(days=1)
    return trips.sort_values("pickup_datetime", kind="stable").reset_index(drop=True)


class TripSource:
    """An endless, thread-safe supply of trip batches, drawn in chunks (each chunk its own seed)."""

    def __init__(self, mode: str, days: int, seed: int, now: datetime | None, chunk: int = 5000):
        self._args = (mode, days, now)
        self._seed = seed
        self._chunk = chunk
        self._frame = pd.DataFrame()
        self._offset = 0
        self._lock = threading.Lock()
        draw_trips(mode, 1, days, seed, now)  # fail now on a bad mode, not in a sender thread

    def take(self, n: int) -> pd.DataFrame:
        with self._lock:
            if self._offset + n > len(self._frame):
                mode, days, now = self._args
                # Shuffle so that a batch is not a run of trips from the same hour.
                fresh = draw_trips(mode, max(self._chunk, n), days, self._seed, now)
                fresh = fresh.sample(frac=1.0, random_state=np.random.default_rng(self._seed)).reset_index(
                    drop=True
                )
                self._seed += 1
                self._frame = pd.concat([self._frame.iloc[self._offset :], fresh], ignore_index=True)
                self._offset = 0
            batch = self._frame.iloc[self._offset : self._offset + n]
            self._offset += n
            return batch
