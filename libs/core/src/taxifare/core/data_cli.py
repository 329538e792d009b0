"""taxifare-data: fill the trip data store with synthetic or real trips, and describe it.

taxifare-data generate --rows 100000 --start 2024-01-01 --end 2024-03-31 --scenario stationary
taxifare-data replay yellow_tripdata_2023-01.parquet --zone-centroids zones.csv --into gs://bucket/data
taxifare-data stats [DATA_URI]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from datetime import date

import numpy as np
from tqdm import tqdm

from taxifare.core import synth
from taxifare.core.config import ConfigError, load_settings
from taxifare.core.logs import setup_logging
from taxifare.core.storage import StorageError
from taxifare.core.trips import DataStore, TripDataError, load_trips, load_zone_centroids

# Blocks of days generated and landed at once: one part file per day and block, bounded memory.
MAX_ROWS_PER_BLOCK = 200_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        if getattr(args, "data_uri", None) is None:
            args.data_uri = settings.data_uri
        if args.command == "generate":
            return _generate(args)
        if args.command == "replay":
            return _replay(args)
        return _stats(args)
    except (TripDataError, StorageError, ConfigError, ValueError, OSError) as e:
        print(f"taxifare-data {args.command}: error: {e}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    into = dict(
        dest="data_uri",
        metavar="DATA_URI",
        help="data store: folder or gs://bucket/prefix (default: $DATA_URI)",
    )

    gen = commands.add_parser("generate", help="generate synthetic trips into the data store")
    gen.add_argument("--rows", type=_positive_int, required=True, help="number of trips")
    gen.add_argument("--start", type=_date, required=True, help="first pickup day, YYYY-MM-DD")
    gen.add_argument("--end", type=_date, required=True, help="last pickup day (included), YYYY-MM-DD")
    gen.add_argument("--scenario", choices=synth.SCENARIOS, default="stationary", help="drift scenario")
    gen.add_argument("--shift-date", type=_date, help="day the shift starts (covariate, concept, gradual)")
    gen.add_argument("--ramp-days", type=_positive_int, default=30, help="days a gradual shift takes")
    gen.add_argument(
        "--seed", type=int, default=0, help="random seed; the same arguments give the same trips"
    )
    gen.add_argument("--into", **into)
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(parser=gen)

    replay = commands.add_parser("replay", help="land a real trip file in the data store, by pickup day")
    replay.add_argument("file", help="classic NYC sample CSV, or TLC yellow-trip CSV/Parquet (path or gs://)")
    replay.add_argument("--into", **into)
    replay.add_argument(
        "--format", choices=("classic", "tlc"), help="file schema (default: told from the content)"
    )
    replay.add_argument(
        "--zone-centroids",
        metavar="CSV",
        help="TLC files give zones, not coordinates, and the model needs coordinates: a table "
        "LocationID,longitude,latitude (path or gs://) giving each zone a point; trips in a zone it "
        "lacks are dropped as zone_without_centroid",
    )

    stats = commands.add_parser("stats", help="describe the data store")
    stats.add_argument("data_uri", nargs="?", metavar="DATA_URI", help="data store (default: $DATA_URI)")
    return parser


def _generate(args: argparse.Namespace) -> int:
    if args.end < args.start:
        args.parser.error(f"--end {args.end} is before --start {args.start}")
    if args.scenario != "stationary" and args.shift_date is None:
        args.parser.error(f"--scenario {args.scenario} needs --shift-date")
    scenario = synth.make_scenario(args.scenario, args.shift_date, args.ramp_days)
    store = DataStore(args.data_uri)
    blocks = _blocks(args.rows, args.start, args.end)
    seeds = np.random.SeedSequence(args.seed).spawn(len(blocks))
    landed: dict[date, int] = {}
    with tqdm(total=args.rows, unit="trips", disable=args.no_progress, file=sys.stderr) as bar:
        for (first, last, rows), seed in zip(blocks, seeds, strict=True):
            frame = synth.generate(rows, first, last, scenario, seed=seed.generate_state(1)[0])
            landed.update(store.append(frame))
            bar.update(rows)
    total = sum(landed.values())
    print(f"generated {total} trips ({scenario.name}) over {len(landed)} days into {args.data_uri}")
    return 0


def _blocks(rows: int, start: date, end: date) -> list[tuple[date, date, int]]:
    """Consecutive day ranges with their share of the rows (by weekday volume)."""
    days, weights = synth.day_weights(start, end)
    per_day = max(1, rows // len(days))
    days_per_block = max(1, MAX_ROWS_PER_BLOCK // per_day)
    bounds = [*range(0, len(days), days_per_block), len(days)]
    cumulative = np.round(np.cumsum(weights) * rows).astype(int)
    blocks = []
    for lo, hi in itertools.pairwise(bounds):
        count = cumulative[hi - 1] - (cumulative[lo - 1] if lo else 0)
        if count:
            blocks.append((days[lo].item(), days[hi - 1].item(), int(count)))
    return blocks


def _replay(args: argparse.Namespace) -> int:
    zones = load_zone_centroids(args.zone_centroids) if args.zone_centroids else None
    result = load_trips(args.file, args.format, zones)
    landed = DataStore(args.data_uri).append(result.frame)
    print(f"read {result.total_rows} rows from {args.file}")
    print(f"landed {sum(landed.values())} trips over {len(landed)} days into {args.data_uri}")
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(result.dropped.items()))
    print(f"dropped {result.dropped_rows}" + (f": {reasons}" if reasons else ""))
    return 0


def _stats(args: argparse.Namespace) -> int:
    store = DataStore(args.data_uri)
    by_day = store.rows_by_day()
    if not by_day:
        print(f"{args.data_uri}: no trips")
        return 0
    days = list(by_day)
    counts = np.array(list(by_day.values()))
    print(f"data store: {args.data_uri}")
    print(f"days: {len(days)} ({days[0]} .. {days[-1]})")
    median = int(np.median(counts))
    print(f"trips: {counts.sum()} (per day: min {counts.min()}, median {median}, max {counts.max()})")
    fares = store.read_range(days[-1], days[-1])["fare_amount"]
    print(f"newest day {days[-1]}: mean fare {fares.mean():.2f}, median {fares.median():.2f}")
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
