"""Drift-check time on Postgres with 1M and 10M logged predictions: the window, not the table, costs.

    python bench/drift_check.py --database-url postgresql://postgres@127.0.0.1:5432/test
        [--block-rows 1000000] [--blocks 10] [--window-rows 40000] [--repeat 5] [--keep]

Creates a scratch database beside the one in the URL and bulk-loads one block of synthetic
predictions into it (COPY, half of them with actual fares); copies that database and appends the
other blocks to the copy, each the first block shifted later in time (INSERT ... SELECT inside
Postgres: the same rows as a fresh COPY in a fraction of the time). Then times `run_check` on the
newest window of each (default 24 h holding `--window-rows` predictions), alternating between the
two databases so that load from elsewhere on a shared machine hits both alike. Targets: <= 1 s at
10M rows, 10M/1M time ratio <= 1.5. Prints load times, check times (first run and median of the
rest) and the ratio. Drops the scratch databases at the end unless --keep.

On a schema with day partitions (migration 0002) the day partitions of the whole loaded span are
created before loading, as the daily `taxifare-db prune` creates them ahead of time in production.
"""

import argparse
import io
import statistics
import time
import uuid
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from taxifare.core import synth
from taxifare.core.db import migrate, partitions
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import actuals, model_versions, predictions
from taxifare.core.stats import reference_stats
from taxifare.core.trips.schema import drift_features
from taxifare.drift_checker.check import run_check
from taxifare.drift_checker.policy import Policy
from taxifare.drift_checker.window import DRIFT_COLUMNS

START = datetime(2026, 1, 1)
PREDICTION_COLUMNS = ["created_at", "model_version", "request_id", "pickup_datetime", *DRIFT_COLUMNS]
# Indexes a bulk load drops and rebuilds (maintaining them row by row is what makes loads slow).
BULK_INDEXES = [ix for table in (predictions, actuals) for ix in table.indexes]


def create_database(admin: sa.Engine, server_url: str, template: str | None = None) -> str:
    name = f"taxifare_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def make_block(rows: int, step: timedelta) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One block of predictions (evenly spaced from START), its actuals (every other row) and reference."""
    trips = synth.generate(rows, date(2025, 10, 1), date(2025, 12, 31), seed=1)
    features = drift_features(trips)
    # A fare formula stands in for the model: the check reads numbers, it does not care who made them.
    features["prediction"] = (
        3.0 + 1.9 * features["distance_km"] + np.random.default_rng(2).normal(0, 1.5, rows)
    )
    created = pd.Series(
        pd.to_datetime(START) + pd.to_timedelta(np.arange(1, rows + 1) * step.total_seconds(), "s")
    )
    frame = pd.DataFrame(
        {"created_at": created, "model_version": "v1", "request_id": [f"r{i}" for i in range(rows)],
         "pickup_datetime": created}
    )  # fmt: skip
    for column in DRIFT_COLUMNS:
        frame[column] = features[column].to_numpy()
    known = pd.DataFrame(
        {"request_id": frame["request_id"], "fare_amount": trips["fare_amount"].to_numpy(),
         "known_at": created + pd.Timedelta(hours=1)}
    ).iloc[::2]  # fmt: skip
    sample = features.sample(20_000, random_state=3)
    reference = reference_stats({c: sample[c].to_numpy() for c in DRIFT_COLUMNS}, bins=10)
    return frame, known, reference


def copy_frame(engine: sa.Engine, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)", buffer
            )
        raw.commit()
    finally:
        raw.close()


def without_indexes(engine: sa.Engine, load) -> None:
    with engine.begin() as conn:
        for index in BULK_INDEXES:
            index.drop(conn)
    load()
    with engine.begin() as conn:
        for index in BULK_INDEXES:
            index.create(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE predictions")
        conn.exec_driver_sql("ANALYZE actuals")


def append_shifted_copies(engine: sa.Engine, block_rows: int, blocks: int, block_span: timedelta) -> None:
    columns = ", ".join(PREDICTION_COLUMNS)
    shifted = ", ".join(
        {"created_at": "created_at + %(shift)s", "pickup_datetime": "pickup_datetime + %(shift)s",
         "request_id": "request_id || %(suffix)s"}.get(c, c)
        for c in PREDICTION_COLUMNS
    )  # fmt: skip
    with engine.begin() as conn:
        for k in range(1, blocks):
            params = {"shift": block_span * k, "suffix": f"-{k}", "base": block_rows}
            conn.exec_driver_sql(
                f"INSERT INTO predictions ({columns}) SELECT {shifted} FROM predictions WHERE id <= %(base)s",
                params,
            )
            conn.exec_driver_sql(
                "INSERT INTO actuals (request_id, fare_amount, known_at) "
                "SELECT request_id || %(suffix)s, fare_amount, known_at + %(shift)s FROM actuals "
                "WHERE request_id NOT LIKE '%%-%%'",
                params,
            )


def time_side_by_side(engines: dict[str, sa.Engine], now: dict[str, datetime], repeat: int) -> dict:
    """Checks on the databases in turn, so that load from elsewhere on the machine hits them alike.

    Returns, per database, (first run s, median of the other runs s, the last CheckResult)."""
    times = {name: [] for name in engines}
    results = {}
    for _ in range(repeat):
        for name, engine in engines.items():
            started = time.perf_counter()
            results[name] = run_check(engine, Policy(), now=now[name])
            times[name].append(time.perf_counter() - started)
    return {name: (t[0], statistics.median(t[1:]), results[name]) for name, t in times.items()}


def count_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", required=True, help="a Postgres server URL; a scratch database is made"
    )
    parser.add_argument("--block-rows", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--window-rows", type=int, default=40_000, help="predictions in a 24 h window")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()
    if args.blocks < 2 or args.repeat < 2 or args.window_rows > args.block_rows:
        parser.error("need --blocks >= 2, --repeat >= 2 and --window-rows <= --block-rows")

    admin = connect_engine(args.database_url, isolation_level="AUTOCOMMIT")
    urls = [create_database(admin, args.database_url)]
    migrate.upgrade(urls[0])
    engines = {}
    try:
        step = timedelta(hours=Policy().window_hours) / args.window_rows
        block_span = step * args.block_rows
        started = time.perf_counter()
        frame, known, reference = make_block(args.block_rows, step)
        print(f"generated {args.block_rows:,} predictions in {time.perf_counter() - started:.1f} s")

        small = connect_engine(urls[0])
        with small.begin() as conn:
            for table in partitions.PARTITIONED:
                if partitions.is_partitioned(conn, table):
                    end = START + block_span * args.blocks + timedelta(days=1)
                    partitions.ensure_days(conn, table, START.date(), end.date())
            conn.execute(
                model_versions.insert().values(
                    version="v1", created_at=START, model_uri="bench", status="live", promoted_at=START,
                    label_mean=float(frame["prediction"].mean()), label_std=float(frame["prediction"].std()),
                    eval_mae=1.5, reference_stats=reference,
                )
            )  # fmt: skip
        started = time.perf_counter()
        without_indexes(
            small, lambda: (copy_frame(small, "predictions", frame), copy_frame(small, "actuals", known))
        )
        print(f"COPY {args.block_rows:,} predictions + {len(known):,} actuals, indexes, ANALYZE: "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        small.dispose()  # a template database must have no connections

        started = time.perf_counter()
        urls.append(create_database(admin, args.database_url, template=make_url(urls[0]).database))
        large = connect_engine(urls[1])
        without_indexes(large, lambda: append_shifted_copies(large, args.block_rows, args.blocks, block_span))
        print(f"copied that database and appended {args.blocks - 1} shifted copies of the block, indexes, "
              f"ANALYZE: {time.perf_counter() - started:.1f} s")  # fmt: skip

        engines = {"small": connect_engine(urls[0]), "large": large}
        rows = {name: count_rows(engine) for name, engine in engines.items()}
        now = {"small": START + block_span, "large": START + block_span * args.blocks}
        measured = time_side_by_side(engines, now, args.repeat)
        for name in engines:
            first, median, result = measured[name]
            print(f"check at {rows[name]:>12,} rows: window {result.n_predictions:,} predictions, "
                  f"{result.n_actuals:,} known fares; first {first:.3f} s, median of {args.repeat - 1} {median:.3f} s")  # fmt: skip
        large_time = measured["large"][1]
        ratio = large_time / measured["small"][1]
        print(f"ratio {rows['large']:,}/{rows['small']:,} rows: {ratio:.2f} (target <= 1.5: "
              f"{'met' if ratio <= 1.5 else 'MISSED'}); time at {rows['large']:,}: {large_time:.3f} s "
              f"(target <= 1 s: {'met' if large_time <= 1 else 'MISSED'})")  # fmt: skip
    finally:
        for engine in engines.values():
            engine.dispose()
        for url in urls:
            name = make_url(url).database
            if args.keep:
                print(f"kept {name}")
                continue
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
