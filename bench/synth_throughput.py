"""Throughput of the synthetic trip generator: 1M trips, against the target of 10 s.

    python bench/synth_throughput.py [--rows 1000000] [--repeat 3]

Prints trips/s of the best of a few runs (the machine is shared, the best run is the least disturbed)
and the ratio of the 10 s target to the measured time: above 1 means the target is met.
"""

import argparse
import time
from datetime import date

from taxifare.core import synth

TARGET_SECONDS_PER_MILLION = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    synth.generate(1000, date(2024, 1, 1), date(2024, 1, 31))  # warm-up: imports, cached Manhattan grid
    scenario = synth.make_scenario("gradual", date(2024, 7, 1))  # the most work per trip
    times = []
    for seed in range(args.repeat):
        started = time.perf_counter()
        synth.generate(args.rows, date(2024, 1, 1), date(2024, 12, 31), scenario, seed=seed)
        times.append(time.perf_counter() - started)
    best = min(times)
    target = TARGET_SECONDS_PER_MILLION * args.rows / 1_000_000
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"generated {args.rows:,} trips: best {best:.2f} s of {args.repeat} runs ({runs})")
    print(f"throughput: {args.rows / best:,.0f} trips/s")
    verdict = "met" if best <= target else "MISSED"
    print(f"target {target:.1f} s / measured {best:.2f} s = {target / best:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
