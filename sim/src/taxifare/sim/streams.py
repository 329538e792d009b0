"""The streams a simulation replays: synthetic ones with known events, and real trip files.

A stream is every trip it will ever show, with its real fare, in pickup order: the history before
`start` (what the first model trains on) and the traffic the simulated clock serves from `start` to
`end`. Its events say when the world changed, for the oracle policy and the detection delays.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from taxifare.core import synth
from taxifare.core.trips import TripDataError, load_trips

# A Monday on the card of 19 Dec 2022, so the synthetic streams start on the official card.
SYNTHETIC_START = date(2023, 1, 2)
# The covariate shift the live model handles: longer trips and more airport runs, same hours and card.
LONGER_AND_AIRPORT = synth.Regime(local_km=4.0, airport_share=0.25)
# Where the gradual concept drift of three-events ends: another increase, after CARD_NEXT.
CARD_AFTER_NEXT = replace(synth.CARD_NEXT, initial=4.0, per_unit=1.05, jfk_flat=100.0)
NYC_FARE_INCREASE = date(2012, 9, 4)
NYC_SAMPLE = Path("data") / "nyc-taxi-2009-2015"


class StreamError(ValueError):
    """A stream that cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class Event:
    """The world changed from `start`; the new regime is fully in force from `full` (after a ramp)."""

    name: str
    start: date
    full: date
    # A change the live model is expected to handle: a retrain it causes is one too many.
    benign: bool = False


@dataclass(frozen=True)
class Stream:
    name: str
    trips: pd.DataFrame  # canonical trips with `request_id`, in pickup order
    start: datetime  # the clock starts here; earlier trips are history
    end: datetime  # and stops here
    events: tuple[Event, ...]
    # How this stream is best checked and trained on: defaults the command line may override.
    defaults: dict

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def history(self) -> pd.DataFrame:
        return self.trips[self.trips["pickup_datetime"] < self.start]

    def served(self) -> pd.DataFrame:
        picked = self.trips["pickup_datetime"]
        return self.trips[(picked >= self.start) & (picked < self.end)]


@dataclass(frozen=True)
class Stage:
    """From `day` on (days after the start), trips follow `regime` and are priced by `card` (None:
    the official card), phased in over `ramp_days`."""

    day: int
    regime: synth.Regime
    card: synth.RateCard | None = None
    ramp_days: int = 0


SYNTHETIC_DEFAULTS = {
    "days": 90,
    "trips_per_day": 500,
    "cadence_hours": 24.0,
    "window_hours": 24.0,
    "train_days": 7,
    "eval_days": 3,
    "epochs": 10,
    "batch_size": 128,
    "min_rows": 500,
    "min_predictions": 200,
    "min_actuals": 100,
}
SYNTHETIC_STREAMS = {
    "stationary": ((Stage(0, synth.Regime()),), {"days": 90}, ()),
    "three-events": (
        (
            Stage(0, synth.Regime()),
            Stage(30, LONGER_AND_AIRPORT),
            Stage(60, LONGER_AND_AIRPORT, synth.CARD_NEXT),
            Stage(90, LONGER_AND_AIRPORT, CARD_AFTER_NEXT, ramp_days=20),
        ),
        {"days": 120},
        (
            "covariate shift: longer and airport trips, same rate card",
            "rate-card change",
            "gradual concept drift: another increase phased in over 20 days",
        ),
    ),
}
REPLAY_DEFAULTS = {
    # Real samples are sparse (the classic NYC sample: about 8 trips a day that has any): check monthly
    # over a quarter, train on the days that hold data (the trainer counts those, not calendar days).
    "cadence_hours": 720.0,
    "window_hours": 2160.0,
    "train_days": 150,
    "eval_days": 40,
    "epochs": 20,
    "batch_size": 64,
    "min_rows": 500,
    "min_predictions": 50,
    "min_actuals": 30,
}
STREAM_NAMES = (*SYNTHETIC_STREAMS, "nyc", "replay:PATH")


def stream_defaults(name: str) -> dict:
    """The settings a stream is simulated with unless the command line says otherwise."""
    if name in SYNTHETIC_STREAMS:
        return {**SYNTHETIC_DEFAULTS, **SYNTHETIC_STREAMS[name][1]}
    if name == "nyc" or name.startswith("replay:"):
        return dict(REPLAY_DEFAULTS)
    raise StreamError(f"unknown stream {name!r}; choose one of {', '.join(STREAM_NAMES)}")


def build_stream(name: str, settings: dict, seed: int = 0, events: tuple[Event, ...] = ()) -> Stream:
    """The stream called `name`, built with `settings` (see `stream_defaults`)."""
    stream_defaults(name)  # refuses an unknown name
    if name in SYNTHETIC_STREAMS:
        return synthetic(name, settings, seed)
    if name == "nyc":
        return replay(name, [str(p) for p in nyc_sample_files()], settings, events or nyc_events())
    return replay(name, _replay_files(name.removeprefix("replay:")), settings, events)


def synthetic(name: str, settings: dict, seed: int) -> Stream:
    stages, _, names = SYNTHETIC_STREAMS[name]
    days, per_day = int(settings["days"]), int(settings["trips_per_day"])
    history_days = int(settings["train_days"]) + int(settings["eval_days"])
    if days < 1 or per_day < 1:
        raise StreamError(f"a stream needs at least 1 day and 1 trip a day, got {days} and {per_day}")
    start = SYNTHETIC_START
    stages = [s for s in stages if s.day < days]
    frames = [
        synth.generate(
            history_days * per_day,
            start - timedelta(days=history_days),
            start - timedelta(days=1),
            synth.Scenario(base=stages[0].regime, base_card=stages[0].card),
            seed=seed * 1000,
        )
    ]
    for i, stage in enumerate(stages):
        last_day = (stages[i + 1].day if i + 1 < len(stages) else days) - 1
        before = stages[i - 1] if i else stage
        scenario = synth.Scenario(
            f"{name}-{i}",
            shift_date=start + timedelta(days=stage.day) if i else None,
            ramp_days=stage.ramp_days,
            base=before.regime,
            after=stage.regime,
            base_card=before.card,
            new_card=stage.card,
        )
        frames.append(
            synth.generate(
                (last_day - stage.day + 1) * per_day,
                start + timedelta(days=stage.day),
                start + timedelta(days=last_day),
                scenario,
                seed=seed * 1000 + i + 1,
            )
        )
    events = tuple(
        Event(
            names[i - 1],
            start + timedelta(days=stage.day),
            start + timedelta(days=stage.day + stage.ramp_days),
            benign=stage.card is stages[i - 1].card,
        )
        for i, stage in enumerate(stages)
        if i
    )
    begin = datetime.combine(start, datetime.min.time())
    return Stream(name, _with_request_ids(frames), begin, begin + timedelta(days=days), events, settings)


def replay(name: str, files: list[str], settings: dict, events: tuple[Event, ...]) -> Stream:
    """Real trips: the first `train_days + eval_days` days that hold trips are the history."""
    if not files:
        raise StreamError(f"stream {name!r}: no trip files found")
    frames = []
    for path in files:
        try:
            frames.append(load_trips(path).frame)
        except (TripDataError, OSError) as e:
            raise StreamError(f"stream {name!r}: {path} does not load: {e}") from None
    trips = _with_request_ids(frames)
    if trips.empty:
        raise StreamError(f"stream {name!r}: the files hold no trips")
    days = trips["pickup_datetime"].dt.normalize().drop_duplicates().reset_index(drop=True)
    history_days = int(settings["train_days"]) + int(settings["eval_days"])
    if len(days) <= history_days:
        raise StreamError(
            f"stream {name!r}: {len(days)} days hold trips, not more than the {history_days} days the "
            "first model trains on (--train-days + --eval-days)"
        )
    start = days[history_days].to_pydatetime()
    end = (days.iloc[-1] + pd.Timedelta(days=1)).to_pydatetime()
    if "days" in settings and settings["days"] is not None:
        end = min(end, start + timedelta(days=int(settings["days"])))
    inside = tuple(e for e in events if start.date() <= e.start < end.date())
    return Stream(name, trips, start, end, inside, settings)


def nyc_events() -> tuple[Event, ...]:
    return (Event("NYC fare increase", NYC_FARE_INCREASE, NYC_FARE_INCREASE),)


def nyc_sample_files() -> list[Path]:
    """The classic NYC sample shipped in the repository's data folder (found above this package or
    the working directory)."""
    for start in (Path(__file__).resolve().parent, Path.cwd()):
        for folder in (start, *start.parents):
            candidate = folder / NYC_SAMPLE
            if candidate.is_dir():
                return sorted(candidate.glob("*.csv"))
    raise StreamError(f"stream 'nyc': {NYC_SAMPLE} not found; give its files as --stream replay:PATH")


def parse_event(text: str) -> Event:
    """`NAME=YYYY-MM-DD` or `NAME=YYYY-MM-DD..YYYY-MM-DD` (a change phased in over those days)."""
    name, sep, when = text.partition("=")
    first, _, last = when.partition("..")
    try:
        if not sep or not name.strip():
            raise ValueError
        start = date.fromisoformat(first.strip())
        full = date.fromisoformat(last.strip()) if last else start
    except ValueError:
        raise StreamError(
            f"--event {text!r}: expected NAME=YYYY-MM-DD or NAME=YYYY-MM-DD..YYYY-MM-DD"
        ) from None
    if full < start:
        raise StreamError(f"--event {text!r}: the change ends before it starts")
    return Event(name.strip(), start, full)


def _replay_files(spec: str) -> list[str]:
    if not spec:
        raise StreamError("--stream replay:PATH needs a file, a folder or a glob of trip files")
    if os.path.isdir(spec):
        found = sorted(str(p) for p in Path(spec).iterdir() if p.suffix.lower() in (".csv", ".parquet"))
    elif any(c in spec for c in "*?["):
        found = sorted(glob.glob(spec))
    elif os.path.exists(spec):
        found = [spec]
    else:
        raise StreamError(f"stream 'replay:{spec}': no such file or folder")
    if not found:
        raise StreamError(f"stream 'replay:{spec}': no .csv or .parquet trip files there")
    return found


def _with_request_ids(frames: list[pd.DataFrame]) -> pd.DataFrame:
    trips = pd.concat(frames, ignore_index=True).sort_values("pickup_datetime", kind="stable")
    trips = trips.reset_index(drop=True)
    trips["request_id"] = [f"trip-{i}" for i in range(len(trips))]
    return trips
