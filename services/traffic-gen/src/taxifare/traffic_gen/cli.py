"""`taxifare-traffic-gen`: send trips to the predictor, report their fares, land them in the data store.

Exit codes (a KFP step fails on any but 0):
  0  done, error rate within --max-error-rate
  1  too many failed requests (the summary says which statuses)
  2  bad arguments or configuration
  3  the predictor was not ready within --wait-ready seconds
  4  the trips could not be landed in the data store
"""

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import requests

from taxifare.core import clock, storage
from taxifare.core.config import ConfigError, load_settings, read_secret
from taxifare.core.logs import setup_logging
from taxifare.core.trips import DataStore
from taxifare.traffic_gen.sender import Plan, Sender
from taxifare.traffic_gen.summary import progress_line, summarize, summary_text
from taxifare.traffic_gen.trips import MODES, TripSource

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_NOT_READY, EXIT_LANDING = 0, 1, 2, 3, 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taxifare-traffic-gen",
        description="Send synthetic taxi trips to the predictor; after each prediction, report the trip's "
        "real fare and land the trip in the data store (DATA_URI).",
        epilog="exit codes: 0 ok, 1 too many errors, 2 bad arguments, 3 predictor not ready, 4 landing failed",
    )
    modes = ", ".join(f"{name} ({what})" for name, what in MODES.items())
    parser.add_argument("--mode", choices=MODES, default="normal", help=f"default normal; {modes}")
    parser.add_argument(
        "--url", default=None, help="predictor base URL (env PREDICTOR_URL, default http://127.0.0.1:8080)"
    )
    parser.add_argument(
        "--rate", type=float, default=10.0, help="requests per second; 0 = as fast as possible (10)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at most (4)")
    parser.add_argument("--batch-size", type=int, default=1, help="trips per request (1)")
    parser.add_argument("--count", type=int, help="requests to send")
    parser.add_argument("--duration", type=float, help="seconds to run (when no --count)")
    parser.add_argument("--now", help="simulated clock: ISO time the trips end at (default: now)")
    parser.add_argument(
        "--days", type=int, default=1, help="trips spread over this many days up to --now (1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the trips (0)")
    parser.add_argument("--data-uri", help="where completed trips land (env DATA_URI)")
    parser.add_argument("--no-land", action="store_true", help="do not land trips in the data store")
    parser.add_argument("--no-actuals", action="store_true", help="do not report actual fares")
    parser.add_argument(
        "--max-error-rate", type=float, default=0.01, help="exit 1 above this share of failed requests (0.01)"
    )
    parser.add_argument("--wait-ready", type=float, default=120.0, help="seconds to wait for /readyz (120)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (10)")
    parser.add_argument("--progress-seconds", type=float, default=5.0, help="progress line interval (5)")
    parser.add_argument(
        "--land-seconds", type=float, default=60.0, help="land completed trips this often (60)"
    )
    parser.add_argument("--summary-path", help="also write the JSON summary to this file (a KFP output)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.count is None) == (args.duration is None):
        parser.error("give exactly one of --count or --duration")
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    if args.rate < 0 or args.concurrency < 1 or args.batch_size < 1 or args.days < 1:
        parser.error("--rate must be >= 0; --concurrency, --batch-size and --days at least 1")
    if not 0 <= args.max_error_rate <= 1:
        parser.error("--max-error-rate must be between 0 and 1")
    if args.now is not None:
        try:
            args.now = clock.parse(args.now)
        except ValueError as e:
            parser.error(f"--now: {e}")
    return args


def wait_ready(url: str, seconds: float) -> str | None:
    """None once the predictor is ready, else the last thing it said."""
    deadline, last = time.monotonic() + seconds, "no answer"
    while True:
        try:
            response = requests.get(url + "/readyz", timeout=5)
            if response.status_code == 200:
                return None
            last = f"{response.status_code} {response.text[:300]}"
        except requests.RequestException as e:
            last = f"cannot connect: {e.__class__.__name__}"
        if time.monotonic() >= deadline:
            return last
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = load_settings()
        # The predictor takes actual fares from callers holding its token, when it has one.
        actuals_token = read_secret("PREDICTOR_ACTUALS_TOKEN")
    except ConfigError as e:
        print(f"taxifare-traffic-gen: {e}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    setup_logging(settings.log_level)
    url = (args.url or os.environ.get("PREDICTOR_URL") or "http://127.0.0.1:8080").rstrip("/")
    store = None if args.no_land else DataStore(args.data_uri or settings.data_uri)

    problem = wait_ready(url, args.wait_ready)
    if problem is not None:
        print(
            f"taxifare-traffic-gen: predictor at {url} not ready after {args.wait_ready:g} s: {problem}",
            file=sys.stderr,
        )
        sys.exit(EXIT_NOT_READY)

    plan = Plan(url, args.rate, args.concurrency, args.batch_size, args.count, args.duration, args.timeout,
                post_actuals=not args.no_actuals, actuals_token=actuals_token)  # fmt: skip
    sender = Sender(plan, TripSource(args.mode, args.days, args.seed, args.now))
    landed, started = 0, time.monotonic()
    thread = threading.Thread(target=sender.run, name="sender", daemon=True)
    thread.start()
    next_progress = next_landing = started
    try:
        while thread.is_alive():
            thread.join(0.2)
            now = time.monotonic()
            if now >= next_progress + args.progress_seconds:
                print(progress_line(sender.tally, now - started, args.count), file=sys.stderr, flush=True)
                next_progress = now
            if store is not None and now >= next_landing + args.land_seconds:
                landed += land(store, sender)
                next_landing = now
        if store is not None:
            landed += land(store, sender)
    except KeyboardInterrupt:
        sender.stop()
        thread.join()
        if store is not None:
            landed += land(store, sender)
    except (storage.StorageError, OSError) as e:
        sender.stop()
        print(f"taxifare-traffic-gen: cannot land trips in {store!r}: {e}", file=sys.stderr)
        sys.exit(EXIT_LANDING)

    summary = summarize(sender.tally, time.monotonic() - started, landed, mode=args.mode, url=url)
    print(summary_text(summary), file=sys.stderr)
    print(json.dumps(summary))
    if args.summary_path:
        Path(args.summary_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_path).write_text(json.dumps(summary, indent=2))
    sys.exit(EXIT_ERRORS if summary["error_rate"] > args.max_error_rate else EXIT_OK)


def land(store: DataStore, sender: Sender) -> int:
    completed = sender.tally.take_completed()
    if completed is None:
        return 0
    store.append(completed)
    return len(completed)
