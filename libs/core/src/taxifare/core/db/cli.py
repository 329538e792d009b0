"""taxifare-db: apply, undo and inspect schema migrations; prune old predictions and actuals."""

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from taxifare.core.config import ConfigError, load_settings, mask_url
from taxifare.core.db import migrate, partitions
from taxifare.core.db.engine import connect_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taxifare-db", description=__doc__)
    parser.add_argument("--database-url", help="overrides DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="migrate to the newest schema (or --revision)")
    up.add_argument("--revision", default="head")
    down = commands.add_parser("downgrade", help="undo migrations down to --revision (default: all)")
    down.add_argument("--revision", default="base")
    commands.add_parser("current", help="print the schema revision of the database")
    prune = commands.add_parser(
        "prune",
        help="delete predictions and actuals older than --keep-days (whole day partitions on Postgres) "
        f"and create the partitions of the next {partitions.AHEAD_DAYS} days",
    )
    prune.add_argument(
        "--keep-days", type=int, required=True, help="days kept, today included (drift windows must fit)"
    )
    args = parser.parse_args(argv)

    try:
        url = args.database_url or load_settings().database_url
        if args.command == "upgrade":
            migrate.upgrade(url, args.revision)
            print(f"{mask_url(url)} is at revision {migrate.current(url)}")
        elif args.command == "downgrade":
            migrate.downgrade(url, args.revision)
            print(f"{mask_url(url)} is at revision {migrate.current(url) or 'base (empty)'}")
        elif args.command == "prune":
            _prune(url, args.keep_days)
        else:
            print(migrate.current(url) or "base (empty)")
    except partitions.PartitionError as e:
        parser.exit(2, f"taxifare-db: {e}\n")
    except ConfigError as e:
        parser.exit(2, f"taxifare-db: {e}\n")
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        parser.exit(1, f"taxifare-db: cannot {args.command} the database: {mask_url(reason)}\n")
    return 0


def _prune(url: str, keep_days: int) -> None:
    engine = connect_engine(url)
    try:
        with engine.begin() as conn:
            result = partitions.prune(conn, keep_days)
    finally:
        engine.dispose()
    print(f"{mask_url(url)}: kept rows from {result.cutoff} on")
    for table in partitions.PARTITIONED:
        dropped = result.dropped_partitions.get(table, [])
        line = f"  {table}: deleted {result.deleted_rows.get(table, 0)} rows"
        if table in result.dropped_partitions:
            line += f", dropped {len(dropped)} day partitions" + (
                f" ({dropped[0]} .. {dropped[-1]})" if dropped else ""
            )
            line += f", created {len(result.created_partitions[table])}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
