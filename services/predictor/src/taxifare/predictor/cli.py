"""`taxifare-predictor`: start the predictor under gunicorn with the package's gunicorn config."""

import argparse
import os
import sys
from pathlib import Path

from taxifare.core.config import ConfigError, load_settings, mask_url
from taxifare.predictor.config import load_predictor_config

GUNICORN_CONF = Path(__file__).with_name("gunicorn_conf.py")
APP = "taxifare.predictor.wsgi:create()"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taxifare-predictor",
        description="Serve the live taxi-fare model over HTTP (Flask under gunicorn). Settings come from the "
        "environment (DATABASE_URL, MODEL_STORE_URI, PREDICTOR_*); flags override HOST, PORT, "
        "WEB_CONCURRENCY and PREDICTOR_THREADS.",
    )
    parser.add_argument("--host", help="address to bind (env HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (env PORT, default 8080)")
    parser.add_argument("--workers", type=int, help="worker processes (env WEB_CONCURRENCY, default 2)")
    parser.add_argument("--threads", type=int, help="threads per worker (env PREDICTOR_THREADS, default 8)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for flag, name in (
        ("host", "HOST"),
        ("port", "PORT"),
        ("workers", "WEB_CONCURRENCY"),
        ("threads", "PREDICTOR_THREADS"),
    ):
        if getattr(args, flag) is not None:
            os.environ[name] = str(getattr(args, flag))
    try:
        settings = load_settings()
        load_predictor_config(settings)  # fail here, once, rather than in every worker
    except ConfigError as e:
        print(f"taxifare-predictor: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"taxifare-predictor: serving the live model of {mask_url(settings.database_url)}", file=sys.stderr)
    # exec: gunicorn becomes this process, so it gets the container's signals directly
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), APP])
