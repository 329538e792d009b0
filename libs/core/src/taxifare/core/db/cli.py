"""taxifare-db: apply, undo and inspect schema migrations."""

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from taxifare.core.config import ConfigError, load_settings, mask_url
from taxifare.core.db import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taxifare-db", description=__doc__)
    parser.add_argument("--database-url", help="overrides DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="migrate to the newest schema (or --revision)")
    up.add_argument("--revision", default="head")
    down = commands.add_parser("downgrade", help="undo migrations down to --revision (default: all)")
    down.add_argument("--revision", default="base")
    commands.add_parser("current", help="print the schema revision of the database")
    args = parser.parse_args(argv)

    try:
        url = args.database_url or load_settings().database_url
        if args.command == "upgrade":
            migrate.upgrade(url, args.revision)
            print(f"{mask_url(url)} is at revision {migrate.current(url)}")
        elif args.command == "downgrade":
            migrate.downgrade(url, args.revision)
            print(f"{mask_url(url)} is at revision {migrate.current(url) or 'base (empty)'}")
        else:
            print(migrate.current(url) or "base (empty)")
    except ConfigError as e:
        parser.exit(2, f"taxifare-db: {e}\n")
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        parser.exit(1, f"taxifare-db: cannot {args.command} the database: {mask_url(reason)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
