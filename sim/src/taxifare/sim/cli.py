"""`taxifare-sim run`: replay a stream of trips on a simulated clock through the real pipelines, once
per retraining policy, and compare the policies.

    taxifare-sim run --stream three-events --policy every:7 --policy checker
    taxifare-sim run --stream nyc --policy never --policy checker --jobs 2
    taxifare-sim run --stream replay:trips/ --event "fare change=2012-09-04" --policy checker
"""

import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from taxifare.core.config import ConfigError, load_settings, mask_secrets_in
from taxifare.core.logs import setup_logging
from taxifare.sim.experiment import TENSORFLOW_ENV, Plan, run_plan
from taxifare.sim.policies import POLICY_NAMES, PolicyError, parse_policy
from taxifare.sim.report import table, write_html
from taxifare.sim.simulation import SimulationFailed
from taxifare.sim.streams import STREAM_NAMES, StreamError, parse_event, stream_defaults
from taxifare.sim.workspace import WorkspaceError, check_database

# Settings a stream brings (streams.stream_defaults) that a flag may override.
STREAM_SETTINGS = {
    "days": (int, "simulated days (synthetic streams; replays: at most this many)"),
    "trips_per_day": (int, "trips a day (synthetic streams)"),
    "cadence_hours": (float, "hours between two checks of the checker and seed policies"),
    "window_hours": (float, "the checker's window: predictions of the last H hours"),
    "min_predictions": (int, "the checker's minimum predictions for a drift verdict"),
    "min_actuals": (int, "the checker's minimum known fares for a performance verdict"),
    "cooldown_hours": (float, "the checker's cooldown after a deploy (default: the checker's, 6)"),
    "train_days": (int, "training pipeline: days of trips to train on"),
    "eval_days": (int, "training pipeline: newest days held out for evaluation"),
    "epochs": (int, "training pipeline: maximum epochs"),
    "batch_size": (int, "training pipeline: batch size"),
    "min_rows": (int, "training pipeline: fewest rows to train on"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-sim", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="simulate policies on a stream and compare them",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    run.add_argument(
        "--stream", required=True, help=f"one of {', '.join(STREAM_NAMES)} (a file, folder or glob)"
    )
    run.add_argument(
        "--policy",
        action="append",
        dest="policies",
        metavar="POLICY",
        help=f"repeatable: {', '.join(POLICY_NAMES)} (default: checker)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the synthetic stream (0)")
    run.add_argument(
        "--label-delay-days",
        type=int,
        default=0,
        help="days after its pickup day's end a fare becomes known (0: at the end of the same day)",
    )
    run.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="NAME=DATE[..DATE]",
        help="a known change in a replayed stream, for the oracle and the detection delays (repeatable)",
    )
    run.add_argument(
        "--checker-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a retraining-checker pipeline parameter for the checker and seed policies (repeatable)",
    )
    for name, (kind, text) in STREAM_SETTINGS.items():
        run.add_argument(
            f"--{name.replace('_', '-')}", dest=name, type=kind, help=f"{text} (the stream's default)"
        )
    run.add_argument("--jobs", type=int, default=1, help="policies simulated at once, one process each (1)")
    run.add_argument(
        "--state-dir", type=Path, help="where simulations keep their state (default: $TAXIFARE_STATE_DIR/sim)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.update(TENSORFLOW_ENV)
    try:
        settings = load_settings()
        plan = _plan(args, settings)
    except (StreamError, PolicyError, ConfigError, ValueError) as e:
        parser.error(str(e))
    setup_logging("WARNING")
    try:
        check_database(plan.database_url)
        stream = plan.stream_of()
    except (StreamError, WorkspaceError) as e:
        print(f"taxifare-sim: error: {e}", file=sys.stderr)
        return 1
    _check_cadences(parser, plan, stream)
    total = stream.days * len(plan.policies)
    print(
        f"{stream.name}: {len(stream.served())} trips over {stream.days} days from {stream.start:%Y-%m-%d} "
        f"(history: {len(stream.history())} trips); policies: {', '.join(plan.policies)}",
        file=sys.stderr,
    )
    with tqdm(total=total, unit="day", disable=args.no_progress, file=sys.stderr) as bar:
        try:
            results = run_plan(plan, lambda policy, days: bar.update(days))
        except (SimulationFailed, WorkspaceError, StreamError) as e:
            bar.close()
            print(f"taxifare-sim: error: {mask_secrets_in(str(e))}", file=sys.stderr)
            return 1
    print(table(results))
    title = f"taxifare-sim: {stream.name}, seed {plan.seed}, {stream.days} days"
    write_html(results, title, plan.run_dir / "report.html")
    print(
        f"results: {plan.run_dir / 'comparison.json'}; report: {plan.run_dir / 'report.html'}",
        file=sys.stderr,
    )
    return 0


def _plan(args: argparse.Namespace, settings) -> Plan:
    policies = tuple(args.policies or ["checker"])
    checker_parameters = dict(_name_value(text) for text in args.checker_param)
    for name in policies:
        parse_policy(name, checker_parameters)  # refuses an unknown or malformed policy now
    if len(set(policies)) < len(policies):
        raise PolicyError(f"a policy is named twice: {', '.join(policies)}")
    values = stream_defaults(args.stream)
    for name in STREAM_SETTINGS:
        given = getattr(args, name)
        if given is not None:
            if (given <= 0 and name != "cooldown_hours") or given < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {given}")
            values[name] = given
    if args.label_delay_days < 0:
        raise ValueError(f"--label-delay-days must not be negative, got {args.label_delay_days}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    # The embedded default is a SQLite file per simulation; a Postgres server only when one is named.
    named = os.environ.get("DATABASE_URL") or os.environ.get("DATABASE_URL_FILE")
    return Plan(
        stream=args.stream,
        policies=policies,
        settings=values,
        state_dir=(args.state_dir or settings.state_dir / "sim").resolve(),
        seed=args.seed,
        events=tuple(parse_event(text) for text in args.event),
        label_delay_days=args.label_delay_days,
        database_url=settings.database_url if named else None,
        checker_parameters=checker_parameters,
        jobs=args.jobs,
    )


def _check_cadences(parser: argparse.ArgumentParser, plan: Plan, stream) -> None:
    hours = stream.days * 24
    for name in plan.policies:
        policy = parse_policy(name, plan.checker_parameters)
        cadence = getattr(policy, "days", 0) * 24 or policy.cadence_hours(plan.settings)
        if cadence > hours:
            parser.error(
                f"policy {name}: its cadence ({cadence:g} h) is longer than the stream ({stream.days} days): "
                "it would never act; shorten it or lengthen the stream"
            )


def _name_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--checker-param {text!r}: expected NAME=VALUE")
    return name.strip(), value


if __name__ == "__main__":
    sys.exit(main())
