"""What one training run costs through the local runner: each step a process of its own (`host`)
against each step called inside one long-lived process (`in-process`), side by side.

    python bench/training_cost.py [--runs 4] [--trips-per-day 500] [--train-days 7] [--eval-days 3]

The training pipeline (train, evaluate the live model, write-metrics, check-deploy, deploy) runs on the
same data store with the simulator's training parameters, the two executors taking turns; the
first run of each is left out (it pays for imports once). Printed: median wall and CPU seconds per
run (CPU includes the step processes), and their ratio.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from taxifare.core import synth
from taxifare.core.config import load_settings
from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine
from taxifare.core.trips import DataStore
from taxifare.trigger.local_runner import HostExecutor, InProcessExecutor
from taxifare.trigger.trigger import trigger_local

START = date(2023, 1, 2)


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs of each executor, after a first one")
    parser.add_argument("--trips-per-day", type=int, default=500)
    parser.add_argument("--train-days", type=int, default=7)
    parser.add_argument("--eval-days", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    days = args.train_days + args.eval_days
    with tempfile.TemporaryDirectory(prefix="training-cost-") as tmp:
        os.environ.update(TAXIFARE_STATE_DIR=tmp, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
        os.environ.pop("DATABASE_URL", None)
        settings = load_settings()
        migrate.upgrade(settings.database_url)
        engine = connect_engine(settings.database_url)
        DataStore(settings.data_uri).append(
            synth.generate(days * args.trips_per_day, START, START + timedelta(days=days - 1))
        )
        now = datetime.combine(START + timedelta(days=days), datetime.min.time())
        parameters = {"train_days": args.train_days, "eval_days": args.eval_days, "epochs": args.epochs,
                      "batch_size": 128, "min_rows": 500, "now": now.isoformat()}  # fmt: skip
        executors = {"host": HostExecutor([Path(sys.executable).parent]), "in-process": InProcessExecutor()}
        spent: dict[str, list[tuple[float, float]]] = {name: [] for name in executors}
        for turn in range(args.runs + 1):
            for name, executor in executors.items():
                wall, cpu = time.perf_counter(), cpu_seconds()
                trigger_local(engine, "taxi-fare-predictor", parameters, runs_dir=Path(tmp) / "runs",
                              reason="bench", triggered_by="bench", now=now, executor=executor)  # fmt: skip
                if turn:  # the first turn pays for imports once
                    spent[name].append((time.perf_counter() - wall, cpu_seconds() - cpu))
                print(f"{name:<10} run {turn}: {time.perf_counter() - wall:6.2f} s", file=sys.stderr)
        engine.dispose()
    print(
        f"\none training run ({days} days x {args.trips_per_day} trips, {args.epochs} epochs), median of {args.runs}:"
    )
    medians = {
        n: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s)) for n, s in spent.items()
    }
    for name, (wall, cpu) in medians.items():
        print(f"  {name:<10} wall {wall:6.2f} s   cpu {cpu:6.2f} s")
    host, inner = medians["host"], medians["in-process"]
    print(f"  host / in-process: wall {host[0] / inner[0]:.2f}x, cpu {host[1] / inner[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
