"""Retraining policies side by side on every stream: retrains and error against retraining at every check.

    python bench/policy.py [--streams stationary,three-events,nyc] [--seeds 0,1] [--jobs 2]

Each stream is simulated once per seed (the NYC replay once: its trips are real) with every policy,
through the real pipelines (`taxifare-sim`). Printed per stream and seed: the simulator's table, then
each policy's retrains and cumulative MAE as ratios to the policy that retrains at every check
(`every:1` on the daily synthetic streams, `every:30` on the monthly-checked replay), and the wall time.
Last, the mean over seeds. Results: <state dir>/bench-policy/<stream>-seed<seed>/comparison.json.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from taxifare.sim.experiment import TENSORFLOW_ENV, Plan, run_plan
from taxifare.sim.report import table, write_html
from taxifare.sim.streams import stream_defaults

POLICIES = {
    "stationary": ("never", "every:1", "every:7", "seed", "checker", "oracle"),
    "three-events": ("never", "every:1", "every:7", "seed", "checker", "oracle"),
    # Checked monthly: retraining at every check is every:30; every:1 would train 2,000 times.
    "nyc": ("never", "every:30", "every:90", "seed", "checker", "oracle"),
}
EVERY_CHECK = {"stationary": "every:1", "three-events": "every:1", "nyc": "every:30"}
SEEDED = {"stationary", "three-events"}


def compare(stream: str, seed: int, jobs: int, state_dir: Path, policies: tuple[str, ...]) -> list[dict]:
    plan = Plan(stream, policies, stream_defaults(stream), state_dir, seed=seed, jobs=jobs)
    started = time.perf_counter()
    results = run_plan(plan)
    wall = time.perf_counter() - started
    write_html(results, f"bench/policy.py: {stream}, seed {seed}", plan.run_dir / "report.html")
    print(
        f"\n## {stream}, seed {seed}: {wall / 60:.1f} min wall for {len(policies)} policies ({jobs} at once)\n"
    )
    print(table(results))
    reference = next(r for r in results if r["policy"] == EVERY_CHECK[stream])
    print(f"\nratios to {reference['policy']} (retraining at every check):")
    for r in results:
        print(
            f"  {r['policy']:<8} retrains {_ratio(r['retrains'], reference['retrains'])}, "
            f"cumulative MAE {_ratio(r['mae'], reference['mae'])}"
        )
    return results


def summary(stream: str, runs: list[list[dict]]) -> None:
    print(f"\n## {stream}: mean over {len(runs)} seed(s)\n")
    print(
        f"{'policy':<9} {'retrains':>9} {'deployed':>9} {'rejected':>9} {'most rejected in a row':>23} {'MAE':>7}"
    )
    for i, first in enumerate(runs[0]):
        same = [run[i] for run in runs]
        print(
            f"{first['policy']:<9} {_mean(same, 'retrains'):>9.1f} {_mean(same, 'deployed'):>9.1f} "
            f"{_mean(same, 'rejected'):>9.1f} {max(r['max_rejected_in_a_row'] for r in same):>23} "
            f"{_mean(same, 'mae'):>7.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="stationary,three-events,nyc")
    parser.add_argument("--seeds", default="0,1", help="seeds of the synthetic streams")
    parser.add_argument("--jobs", type=int, default=2, help="policies simulated at once")
    parser.add_argument("--state-dir", type=Path, default=Path(".local") / "bench-policy")
    args = parser.parse_args()
    os.environ.update(TENSORFLOW_ENV)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    for stream in args.streams.split(","):
        if stream not in POLICIES:
            parser.error(f"unknown stream {stream!r}; choose from {', '.join(POLICIES)}")
        runs = [
            compare(stream, seed, args.jobs, args.state_dir.resolve(), POLICIES[stream])
            for seed in (seeds if stream in SEEDED else seeds[:1])
        ]
        if len(runs) > 1:
            summary(stream, runs)
    print(f"\ntotal wall time {(time.perf_counter() - started) / 60:.1f} min")
    return 0


def _ratio(value, reference) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}"


def _mean(results: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in results if r[key] is not None)


if __name__ == "__main__":
    sys.exit(main())
