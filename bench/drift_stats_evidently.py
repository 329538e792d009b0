"""Evidently's DataDriftPreset on the replicates `drift_stats.py` wrote; run in the benchmark's own venv.

    python bench/drift_stats_evidently.py FOLDER

FOLDER holds `replicates.json` (columns, sizes, and one entry per replicate: its .npz file) and the
.npz files (`reference/<column>` and `window/<column>` arrays). Prints one JSON line per replicate
and window size: the preset's dataset verdict (at least half the columns drifted), the number of
drifted columns, and the seconds the report took. Imports only numpy, pandas and Evidently.
"""

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def drifted_columns(result: dict) -> tuple[int, float]:
    """(drifted columns, their share) from the report's DriftedColumnsCount metric."""
    for metric in result["metrics"]:
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            return int(metric["value"]["count"]), float(metric["value"]["share"])
    raise ValueError("the report has no DriftedColumnsCount metric: is this Evidently 0.7?")


def main() -> None:
    warnings.filterwarnings("ignore")
    folder = Path(sys.argv[1])
    plan = json.loads((folder / "replicates.json").read_text())
    definition = DataDefinition(numerical_columns=plan["numerical"], categorical_columns=plan["categorical"])
    columns = plan["numerical"] + plan["categorical"]
    for replicate in plan["replicates"]:
        arrays = np.load(folder / replicate["file"])
        reference = Dataset.from_pandas(
            pd.DataFrame({c: arrays[f"reference/{c}"] for c in columns}), data_definition=definition
        )
        for n in plan["sizes"]:
            current = pd.DataFrame({c: arrays[f"window/{c}"][:n] for c in columns})
            started = time.perf_counter()
            snapshot = Report([DataDriftPreset()]).run(
                Dataset.from_pandas(current, data_definition=definition), reference
            )
            count, share = drifted_columns(snapshot.dict())
            seconds = time.perf_counter() - started
            print(json.dumps({"id": replicate["id"], "n": n, "dataset_drift": share >= 0.5,
                              "drifted": count, "seconds": seconds}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
