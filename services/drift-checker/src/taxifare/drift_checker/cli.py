"""taxifare-drift-checker is-retraining-needed: the retraining-checker pipeline's decision step."""

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.config import ConfigError, load_settings, mask_url
from taxifare.core.db.engine import connect_engine
from taxifare.core.logs import setup_logging
from taxifare.drift_checker import config
from taxifare.drift_checker.check import run_check
from taxifare.drift_checker.runs import parse_training_runs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-drift-checker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "is-retraining-needed",
        help="check the live model's recent predictions and write true/false",
        description="Decide whether the live model needs retraining; writes 'true' or 'false' to --output "
        "and prints the decision with its reason. Every option also reads the environment variable named "
        "in its help.",
    )
    check.add_argument("--output", required=True, type=Path, help="file that receives 'true' or 'false'")
    check.add_argument(
        "--reason-output",
        type=Path,
        help="file that receives the decision's reason, for the trigger to record",
    )
    check.add_argument("--now", help="the time of the check, ISO 8601 (default: the current time, UTC)")
    check.add_argument(
        "--training-runs",
        default="",
        metavar="JSON",
        help="the trigger's answer about the training pipeline's runs (`taxifare-trigger in-flight`); "
        "while it names a run in flight, no retraining (default: not asked)",
    )
    check.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL or the embedded SQLite)")
    for option in config.OPTIONS:
        default = config.default_of(option)
        check.add_argument(
            option.flag,
            dest=option.field,
            type=type(default),
            default=None,
            help=f"{option.help} (env {option.env}, default {default})",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        policy, thresholds = config.build(vars(args))
        now = clock.parse(args.now) if args.now else None
        training_runs = parse_training_runs(args.training_runs)
    except (ConfigError, ValueError) as e:
        parser.error(str(e))
    setup_logging(settings.log_level)
    url = args.database_url or settings.database_url
    engine = connect_engine(url)
    try:
        result = run_check(engine, policy, thresholds, now=now, training_runs=training_runs)
    except sa.exc.SQLAlchemyError as e:
        print(
            f"error: cannot run the check on {mask_url(url)}: {type(e.orig or e).__name__}: "
            f"{str(e.orig or e).strip().splitlines()[0]} (is the database migrated? taxifare-db upgrade)",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    answer = "true" if result.decision else "false"
    for path, text in ((args.output, answer), (args.reason_output, result.reason)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    print(f"{answer}: {result.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
