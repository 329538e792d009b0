"""Drift statistics by window size: the checker's false-alarm and detection rates beside Evidently's.

    python bench/drift_stats.py [--full] [--replicates 40] [--evidently-replicates 4] [--no-evidently]
        [--alternatives] [--reference-rows 5000] [--seed 0]

Each replicate draws a fresh reference (`--reference-rows` stationary synthetic trips: what the
trainer would store statistics of) and one 50,000-trip window of a scenario, shuffled; the windows of
200, 1,000, 5,000, 20,000 and 50,000 rows are its first rows, so a longer window holds the shorter
ones, as in production. Predictions come from a stand-in model: a least-squares fare formula fitted
once on stationary trips, which sees distance, airports and hours like the real model.

Scenarios: stationary; a share (5 % to 100 %) of the trips from `taxifare.core.synth`'s covariate
shift (longer trips, more airports, night-heavy hours); longer trips alone; night-heavy hours alone;
a passenger-count swap (every 5-passenger trip recorded as 6).

Rows: the checker's own detectors (`column_drifts`, `distribution_signal`) on the aggregates its SQL
computes, computed here in memory by `window.column_window` (checked equal to `aggregate_window` on
SQLite at every size), with the reference statistics new versions store and with only the ten coarse
bins that versions stored before them hold; Evidently's DataDriftPreset on the same reference and
windows (its dataset verdict: at least half the columns drifted), in its own venv under
.bench-venvs/ (made on first use: Evidently 0.7 needs pandas 2). `--alternatives` adds the statistics
measured against the chosen ones. Time per check: `run_check` on SQLite with the window logged
(median of 5) and Evidently's report (median over its replicates).

Targets: stationary false alarms <= 1 % at every size; detection non-decreasing in the window size
(a drop within two standard errors is sampling noise); at 5,000 rows and more, >= 95 % for a 35 %
share and for the passenger-count swap; a check <= 0.3 s at 50,000 rows on SQLite.

The default run (40 replicates per drifted scenario and 200 stationary for the checker, Evidently on
4 and 16 of them) takes about five minutes, most of it Evidently's reports (half a second each at
least); --full runs 100 and 500, Evidently on 40 and 100 (about an hour on a busy 2-core machine).
"""

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from taxifare.core import synth
from taxifare.core.db import migrate
from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import model_versions, predictions
from taxifare.core.stats import reference_stats
from taxifare.core.trips.schema import COORDINATES, drift_features
from taxifare.drift_checker import detectors
from taxifare.drift_checker.check import run_check
from taxifare.drift_checker.detectors import Thresholds
from taxifare.drift_checker.policy import Policy
from taxifare.drift_checker.window import DISCRETE_COLUMNS, DRIFT_COLUMNS, aggregate_window, column_window

ROOT = Path(__file__).resolve().parents[1]
EVIDENTLY_VENV = ROOT / ".bench-venvs" / "evidently"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas>=2,<3")
SIZES = (200, 1000, 5000, 20_000, 50_000)
DAY = date(2025, 12, 10)
CONTINUOUS = [c for c in DRIFT_COLUMNS if c not in DISCRETE_COLUMNS]
COARSE_KEYS = ("count", "mean", "std", "min", "max", "edges", "shares")


@dataclass(frozen=True)
class Shift:
    name: str
    regime: synth.Regime | None = None  # trips drawn from this regime ...
    share: float = 0.0  # ... this share of them
    swap_passengers: bool = False  # every 5-passenger trip recorded as 6


SHIFTS = (
    Shift("stationary"),
    *(Shift(f"covariate, {share:.0%} of trips", synth.SHIFTED_REGIME, share)
      for share in (0.05, 0.10, 0.20, 0.35, 0.50, 1.0)),
    Shift("longer trips alone", synth.Regime(local_km=synth.SHIFTED_REGIME.local_km), 1.0),
    Shift("night hours alone", synth.Regime(hours=synth.NIGHT_HEAVY_HOURS), 1.0),
    Shift("passenger count 5 -> 6", swap_passengers=True),
)  # fmt: skip
SHARE_TARGET = "covariate, 35% of trips"
SWAP_TARGET = "passenger count 5 -> 6"


# --------------------------------------------------------------------------------------------- data


def design(features: pd.DataFrame) -> np.ndarray:
    distance = features["distance_km"].to_numpy()
    hour = features["pickup_hour"].to_numpy()
    kind, _ = synth.trip_kinds(*(features[c].to_numpy() for c in COORDINATES))
    return np.column_stack([
        np.ones_like(distance), distance, np.sqrt(distance), kind == synth.JFK_FLAT, kind == synth.LGA,
        kind == synth.NEWARK, (hour >= 20) | (hour < 6), (hour >= 16) & (hour < 20),
    ]).astype(float)  # fmt: skip


class Traffic:
    """Trips as predictions-table columns, priced by a stand-in model fitted once on stationary trips."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        trips = synth.generate(20_000, date(2025, 9, 1), date(2025, 11, 30), seed=self._seed())
        self.coefficients, *_ = np.linalg.lstsq(
            design(drift_features(trips)), trips["fare_amount"].to_numpy(), rcond=None
        )

    def _seed(self) -> int:
        return int(self.rng.integers(2**31))

    def draw(self, n: int, shift: Shift = SHIFTS[0]) -> dict[str, np.ndarray]:
        shifted = round(n * shift.share) if shift.regime else 0
        parts = [synth.generate(n - shifted, DAY, DAY, seed=self._seed())]
        if shifted:
            scenario = synth.Scenario("shifted", shift_date=DAY, after=shift.regime)
            parts.append(synth.generate(shifted, DAY, DAY, scenario, seed=self._seed()))
        features = drift_features(pd.concat(parts, ignore_index=True))
        features = features.iloc[self.rng.permutation(n)].reset_index(drop=True)
        data = {c: features[c].to_numpy(np.float64) for c in DRIFT_COLUMNS if c != "prediction"}
        data["prediction"] = design(features) @ self.coefficients
        if shift.swap_passengers:
            data["passenger_count"] = np.where(data["passenger_count"] == 5, 6.0, data["passenger_count"])
        return data


# ---------------------------------------------------------------------------------------- detectors


def checker_fires(reference: dict, window: dict, n: int, thresholds: Thresholds) -> bool:
    """The checker's distribution signal on the first n rows of `window`."""
    windows = {}
    for column in DRIFT_COLUMNS:
        basis = detectors.basis_of(reference[column], column in DISCRETE_COLUMNS)
        windows[column] = column_window(window[column][:n], basis.edges, basis.categorical)
    drifts = detectors.column_drifts(reference, windows, DISCRETE_COLUMNS, thresholds)
    return detectors.distribution_signal(drifts, thresholds).fired


def wasserstein_normed(basis: detectors.Basis, window_counts, reference_std: float) -> float:
    """W1 / reference std from the two CDFs at the bin edges, each held over its half of the neighbouring
    bins (values inside a bin are unknown)."""
    ref = np.cumsum(basis.counts)[:-1] / np.sum(basis.counts)
    win = np.cumsum(window_counts)[:-1] / np.sum(window_counts)
    edges = np.asarray(basis.edges)
    widths = (edges[2:] - edges[:-2]) / 2.0
    return float(np.sum(np.abs(ref - win) * widths) / reference_std)


def jensen_shannon(p, q) -> float:
    p, q = np.asarray(p, float) / np.sum(p), np.asarray(q, float) / np.sum(q)
    m = (p + q) / 2.0

    def kl(a):
        return float(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])))

    return math.sqrt(max((kl(p) + kl(q)) / 2.0, 0.0))


def alternatives_fire(reference: dict, window: dict, n: int, thresholds: Thresholds) -> dict[str, bool]:
    """Statistics measured against the chosen ones, on the same aggregates, any column drifted."""
    distance = chi_square = False
    alpha = thresholds.alpha / len(DRIFT_COLUMNS)
    for column in DRIFT_COLUMNS:
        basis = detectors.basis_of(reference[column], column in DISCRETE_COLUMNS)
        observed = column_window(window[column][:n], basis.edges, basis.categorical)
        if basis.categorical:
            values = sorted(set(basis.values) | set(observed.categories))
            known = dict(zip(basis.values, basis.counts, strict=True))
            ref = [known.get(v, 0) for v in values]
            win = [observed.categories.get(v, 0) for v in values]
            distance |= jensen_shannon(ref, win) > 0.1
            chi_square |= detectors.chi_square_homogeneity(ref, win)[2] < alpha
        else:
            distance |= wasserstein_normed(basis, observed.counts, reference[column]["std"]) > 0.1
            chi_square |= detectors.chi_square_homogeneity(basis.counts, observed.counts)[2] < alpha
    return {
        "distances > 0.1 (W1/std, Jensen-Shannon)": distance,
        "chi-square on 100 quantile bins": chi_square,
    }


# ------------------------------------------------------------------------------------------ evidently


def evidently_python() -> Path:
    """The benchmark venv's python, with Evidently installed in it (once)."""
    python = EVIDENTLY_VENV / "bin" / "python"
    marker = EVIDENTLY_VENV / ".installed"
    if not marker.exists() or marker.read_text() != " ".join(EVIDENTLY_REQUIREMENTS):
        print(f"installing {', '.join(EVIDENTLY_REQUIREMENTS)} into {EVIDENTLY_VENV.relative_to(ROOT)}",
              flush=True)  # fmt: skip
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(EVIDENTLY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS], check=True)
        marker.write_text(" ".join(EVIDENTLY_REQUIREMENTS))
    return python


def save_job(folder: Path, job_id: str, reference: dict, window: dict) -> dict:
    """Write one replicate for the Evidently worker (see drift_stats_evidently.py)."""
    arrays = {f"reference/{c}": reference[c] for c in DRIFT_COLUMNS}
    arrays.update({f"window/{c}": window[c] for c in DRIFT_COLUMNS})
    name = f"{len(list(folder.glob('*.npz')))}.npz"
    np.savez(folder / name, **arrays)
    return {"id": job_id, "file": name}


def run_evidently(jobs: list[dict], folder: Path) -> list[dict]:
    """Evidently on the saved jobs; one result per job and window size."""
    plan = {"numerical": CONTINUOUS, "categorical": sorted(DISCRETE_COLUMNS), "sizes": list(SIZES),
            "replicates": jobs}  # fmt: skip
    (folder / "replicates.json").write_text(json.dumps(plan))
    worker = Path(__file__).with_name("drift_stats_evidently.py")
    results = []
    with subprocess.Popen(
        [str(evidently_python()), str(worker), str(folder)], stdout=subprocess.PIPE, text=True
    ) as process:
        for line in process.stdout:
            results.append(json.loads(line))
            if len(results) % (10 * len(SIZES)) == 0:
                print(f"  Evidently: {len(results) // len(SIZES)} of {len(jobs)} replicates", flush=True)
    if process.returncode:
        raise SystemExit(f"the Evidently worker failed (exit status {process.returncode})")
    return results


# ------------------------------------------------------------------------------------------- timing


def time_checks(traffic: Traffic, reference_raw: dict, repeat: int = 5) -> dict[int, float]:
    """Median seconds of `run_check` on SQLite with a window of each size logged, checked equal to the
    in-memory aggregates first."""
    reference = reference_stats(reference_raw)
    start = datetime(2026, 1, 1)
    times = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        migrate.upgrade(url)
        engine = connect_engine(url)
        with engine.begin() as conn:
            conn.execute(model_versions.insert().values(
                version="v1", created_at=start, model_uri="bench", status="live", promoted_at=start,
                label_mean=15.0, label_std=10.0, eval_mae=2.0, reference_stats=reference,
            ))  # fmt: skip
        policy = Policy(window_hours=1, min_actuals=1)
        for k, n in enumerate(SIZES):
            begin, end = start + timedelta(hours=k + 1), start + timedelta(hours=k + 2)
            window = traffic.draw(n)
            log_window(engine, window, begin, end, prefix=f"w{k}-")
            check_aggregates(engine, reference, window, begin, end)
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                run_check(engine, policy, now=end)
                runs.append(time.perf_counter() - started)
            times[n] = statistics.median(runs)
        engine.dispose()
    return times


def log_window(engine, window: dict, begin: datetime, end: datetime, prefix: str) -> None:
    n = len(window["prediction"])
    created = pd.Series(pd.to_datetime(begin) + (end - begin) * (np.arange(1, n + 1) / n))
    frame = pd.DataFrame({"created_at": created, "model_version": "v1", "pickup_datetime": created,
                          "request_id": [f"{prefix}{i}" for i in range(n)]})  # fmt: skip
    for column in DRIFT_COLUMNS:
        frame[column] = window[column].astype(int if column in DISCRETE_COLUMNS else float)
    with engine.begin() as conn:
        conn.execute(predictions.insert(), frame.to_dict("records"))


def check_aggregates(engine, reference: dict, window: dict, begin: datetime, end: datetime) -> None:
    bases = {c: detectors.basis_of(reference[c], c in DISCRETE_COLUMNS) for c in DRIFT_COLUMNS}
    with engine.connect() as conn:
        got = aggregate_window(conn, "v1", begin, end, {c: b.edges for c, b in bases.items()},
                               categorical={c for c, b in bases.items() if b.categorical})  # fmt: skip
    for column, basis in bases.items():
        expected = column_window(window[column], basis.edges, basis.categorical)
        same = (got.columns[column].counts, got.columns[column].categories) == (
            expected.counts,
            expected.categories,
        )
        if not same:
            raise SystemExit(f"aggregate_window differs from the in-memory aggregates for {column!r}")


# -------------------------------------------------------------------------------------------- report


def rate_row(label: str, hits: dict[int, list[bool]]) -> str:
    return f"  {label:<44}" + "".join(f"{100 * np.mean(hits[n]):>8.1f}" for n in SIZES)


def non_decreasing(hits: dict[int, list[bool]]) -> bool:
    """No drop between neighbouring sizes beyond two standard errors of the difference."""
    for a, b in itertools.pairwise(SIZES):
        pa, pb, r = np.mean(hits[a]), np.mean(hits[b]), len(hits[a])
        if pa - pb > 2 * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / r):
            return False
    return True


def collect(args, traffic: Traffic, evidently_replicates: int, folder: Path) -> tuple[dict, list]:
    """Flags by scenario, row and window size; and the replicates saved for Evidently."""
    thresholds = Thresholds()
    rows: dict[str, dict[str, dict[int, list[bool]]]] = {}
    jobs = []
    started = time.perf_counter()
    for shift in SHIFTS:
        stationary = shift.name == "stationary"
        count = args.replicates * 5 if stationary else args.replicates
        evidently_count = min(evidently_replicates * 4, 100, count) if stationary else evidently_replicates
        table = rows.setdefault(shift.name, {})
        for r in range(count):
            raw = traffic.draw(args.reference_rows)
            reference = reference_stats(raw)
            coarse = {c: {k: s[k] for k in COARSE_KEYS} for c, s in reference.items()}
            window = traffic.draw(SIZES[-1], shift)
            for n in SIZES:
                outcomes = {"checker": checker_fires(reference, window, n, thresholds),
                            "checker, coarse reference (older versions)": checker_fires(coarse, window, n, thresholds)}  # fmt: skip
                if args.alternatives:
                    outcomes.update(alternatives_fire(reference, window, n, thresholds))
                for label, fired in outcomes.items():
                    table.setdefault(label, {m: [] for m in SIZES})[n].append(fired)
            if r < evidently_count:
                jobs.append(save_job(folder, f"{shift.name}#{r}", raw, window))
        print(f"{shift.name}: {count} replicates ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows, jobs


def add_evidently(rows: dict, jobs: list, folder: Path) -> dict[int, list[float]]:
    """Evidently's flags into `rows`; returns its report times by window size."""
    seconds = {n: [] for n in SIZES}
    if not jobs:
        return seconds
    print(f"Evidently on {len(jobs)} replicates x {len(SIZES)} sizes ...", flush=True)
    for result in run_evidently(jobs, folder):
        name = result["id"].rsplit("#", 1)[0]
        for label, fired in (("Evidently DataDriftPreset", result["dataset_drift"]),
                             ("Evidently, any column drifted", result["drifted"] > 0)):  # fmt: skip
            rows[name].setdefault(label, {m: [] for m in SIZES})[result["n"]].append(fired)
        seconds[result["n"]].append(result["seconds"])
    return seconds


def print_table(rows: dict, reference_rows: int, check_seconds: dict, evidently_seconds: dict) -> list[str]:
    """The rates and times; returns the drifted scenarios whose detection by the checker falls."""
    thresholds = Thresholds()
    print(f"\nreference {reference_rows:,} trips, fresh for each replicate; alpha {thresholds.alpha}, "
          f"min_distance {thresholds.min_distance}. Share of windows flagged (%), by window size:")  # fmt: skip
    print(f"  {'':<44}" + "".join(f"{n:>8,}" for n in SIZES))
    falling = []
    for shift in SHIFTS:
        table = rows[shift.name]
        evidently = len(table.get("Evidently DataDriftPreset", {SIZES[0]: []})[SIZES[0]])
        print(f"{shift.name} ({len(table['checker'][SIZES[0]])} replicates; Evidently {evidently})")
        for label, hits in table.items():
            print(rate_row(label, hits))
        if shift.name != "stationary" and not non_decreasing(table["checker"]):
            falling.append(shift.name)
    print("time per check (median s):  " + "  ".join(
        f"{n:,}: checker {check_seconds[n]:.3f}"
        + (f", Evidently {statistics.median(evidently_seconds[n]):.2f}" if evidently_seconds[n] else "")
        for n in SIZES))  # fmt: skip
    return falling


def print_targets(rows: dict, falling: list[str], check_seconds: dict) -> None:
    checker = {name: table["checker"] for name, table in rows.items()}
    false_alarms = max(np.mean(checker["stationary"][n]) for n in SIZES)
    large = [n for n in SIZES if n >= 5000]
    share_rate = min(np.mean(checker[SHARE_TARGET][n]) for n in large)
    swap_rate = min(np.mean(checker[SWAP_TARGET][n]) for n in large)

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"targets: stationary false alarms <= 1 % at every size: {100 * false_alarms:.1f} % "
          f"({verdict(false_alarms <= 0.01)}); detection non-decreasing in size: "
          f"{'every shift' if not falling else 'not for ' + ', '.join(falling)} ({verdict(not falling)}); "
          f">= 5,000 rows: 35 % share {100 * share_rate:.0f} %, passenger swap {100 * swap_rate:.0f} % "
          f"(>= 95 %: {verdict(min(share_rate, swap_rate) >= 0.95)}); check at 50,000 rows "
          f"{check_seconds[50_000]:.3f} s (<= 0.3 s: {verdict(check_seconds[50_000] <= 0.3)}); "
          "aggregates equal to SQLite's at every size")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="100 / 500 replicates, Evidently on 40 / 100")
    parser.add_argument(
        "--replicates",
        type=int,
        help="replicates per drifted scenario (stationary: 5x; default 40, --full 100)",
    )
    parser.add_argument(
        "--evidently-replicates",
        type=int,
        help="of which Evidently runs (stationary: 4x, at most 100; default 4, --full 40)",
    )
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently")
    parser.add_argument(
        "--alternatives", action="store_true", help="add the statistics measured against the chosen ones"
    )
    parser.add_argument("--reference-rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)  # fmt: skip
    args = parser.parse_args()
    if args.replicates is None:
        args.replicates = 100 if args.full else 40
    evidently_replicates = args.evidently_replicates
    if evidently_replicates is None:
        evidently_replicates = 40 if args.full else 4
    evidently_replicates = 0 if args.no_evidently else min(evidently_replicates, args.replicates)
    if args.replicates < 2 or evidently_replicates < 0 or args.reference_rows < 100:
        parser.error("need --replicates >= 2, --evidently-replicates >= 0 and --reference-rows >= 100")

    traffic = Traffic(np.random.default_rng(args.seed))
    with tempfile.TemporaryDirectory() as scratch:
        rows, jobs = collect(args, traffic, evidently_replicates, Path(scratch))
        evidently_seconds = add_evidently(rows, jobs, Path(scratch))
    check_seconds = time_checks(traffic, traffic.draw(args.reference_rows))
    falling = print_table(rows, args.reference_rows, check_seconds, evidently_seconds)
    print_targets(rows, falling, check_seconds)


if __name__ == "__main__":
    main()
