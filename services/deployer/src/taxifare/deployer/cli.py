"""`taxifare-deployer`: the check-deploy and deploy pipeline steps, and rollback.

    taxifare-deployer check-deploy --candidate-metrics PATH --live-metrics PATH --margin 0.02
                                   [--baseline-margin 0.1] --output PATH [--now ISO]
    taxifare-deployer deploy --version V [--now ISO]
    taxifare-deployer rollback [--now ISO]

The registry is the database at DATABASE_URL.
"""

import argparse
import logging
import sys
from pathlib import Path

import sqlalchemy as sa

from taxifare.core import clock
from taxifare.core.config import ConfigError, load_settings, mask_url
from taxifare.core.db import registry
from taxifare.core.db.engine import connect_engine
from taxifare.core.logs import setup_logging
from taxifare.deployer import gate, promotion
from taxifare.deployer.inputs import InputError, read_candidate, read_live

log = logging.getLogger(__name__)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1) such as 0.02, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifare-deployer", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-deploy", help="decide whether the candidate should go live")
    check.add_argument(
        "--candidate-metrics", required=True, type=Path, help="metrics JSON of `trainer train`"
    )
    check.add_argument(
        "--live-metrics",
        required=True,
        type=Path,
        help="the live model on the same data (`trainer evaluate`)",
    )
    check.add_argument(
        "--margin", type=_fraction, default=0.02, help="relative RMSE gain needed over the live model (0.02)"
    )
    check.add_argument(
        "--baseline-margin",
        type=_fraction,
        default=0.1,
        help="first model: relative RMSE gain needed over predicting the mean fare (0.1)",
    )
    check.add_argument("--output", required=True, type=Path, help="file to write true or false to")

    deploy = commands.add_parser("deploy", help="make a version live (the live one is retired)")
    deploy.add_argument("--version", required=True, help="the model version to promote")

    rollback = commands.add_parser("rollback", help="make the previous live version live again")
    for command in (check, deploy, rollback):
        command.add_argument(
            "--now", default="", help="the time to record, ISO 8601 (default or empty: the current time)"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        now = clock.parse(args.now) if args.now.strip() else None
    except ValueError as e:
        parser.error(f"--now: {e}")
    engine = None
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        engine = connect_engine(settings.database_url)
        if args.command == "check-deploy":
            return check_deploy(engine, args, now)
        if args.command == "deploy":
            print(promotion.deploy(engine, args.version.strip(), now))
        else:
            print(promotion.rollback(engine, now))
        return 0
    except (ConfigError, InputError, promotion.DeployError, registry.RegistryError) as e:
        print(f"taxifare-deployer {args.command}: error: {e}", file=sys.stderr)
        return 1
    except sa.exc.DBAPIError as e:
        print(
            f"taxifare-deployer {args.command}: error: database {mask_url(settings.database_url)!r} failed: "
            f"{str(e.orig).strip().splitlines()[0]} (is it migrated? `taxifare-db upgrade`)",
            file=sys.stderr,
        )
        return 1
    finally:
        if engine is not None:
            engine.dispose()


def check_deploy(engine: sa.Engine, args: argparse.Namespace, now) -> int:
    candidate = read_candidate(args.candidate_metrics)
    live = read_live(args.live_metrics)
    outcome = gate.check_deploy(
        engine, candidate, live, margin=args.margin, baseline_margin=args.baseline_margin, now=now
    )
    answer = "true" if outcome.decision.deploy else "false"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(answer)
    log.info(
        "deploy decision",
        extra={
            "candidate": candidate.version,
            "deploy": outcome.decision.deploy,
            "repeated": outcome.repeated,
        },
    )
    note = " (decided by an earlier attempt)" if outcome.repeated else ""
    print(f"{answer}: {outcome.decision.reason}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
