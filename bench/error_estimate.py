"""Which estimate of the live model's error on new inputs follows its realised error: the estimators a
retraining check could use, on the three-events stream, with the first model never retrained.

    python bench/error_estimate.py [--trips-per-day 500] [--seed 0] [--with-dle]

The model is the trainer's, trained as the simulator trains the first model (7 + 3 days of history).
Each estimator is fit on that model's evaluation set (its predictions and absolute errors) and then
predicts, day by day over the stream, the model's MAE on that day's trips from their inputs alone:
- `eval MAE`: the evaluation MAE, whatever the inputs (the checker before this estimate);
- `by prediction`: a table of the evaluation set's mean absolute error per quantile bin of the
  predicted fare (what a database can aggregate: one CASE over the bins);
- `DLE`: NannyML's direct loss estimation, a gradient-boosted regressor of the absolute error on the
  inputs and the prediction (scikit-learn's HistGradientBoostingRegressor, installed by this
  benchmark in a venv of its own under .bench-venvs/; `--with-dle`).
Printed per period of the stream: the mean over days of estimate - realised (bias) and of
|estimate - realised|. A good estimate has no bias where the model still prices trips well (the
covariate shift) and so leaves the measured excess (realised - estimate) to the concept changes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd

from taxifare.core import stats
from taxifare.core.trips import drift_features, model_inputs
from taxifare.sim.streams import build_stream, stream_defaults
from taxifare.trainer.model import predict
from taxifare.trainer.training import LABEL, TrainOptions, train_window

PERIODS = (
    ("stationary (days 0-29)", 0, 30),
    ("covariate shift, same card (30-59)", 30, 60),
    ("rate-card change (60-89)", 60, 90),
    ("gradual concept drift (90-119)", 90, 120),
)
DLE_VENV = Path(".bench-venvs") / "error-estimate"
DLE_SCRIPT = """
import json, sys
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
reference, stream, out = sys.argv[1:4]
ref, new = pd.read_parquet(reference), pd.read_parquet(stream)
features = [c for c in ref.columns if c not in ("abs_error", "day")]
model = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)
model.fit(ref[features], ref["abs_error"])
new["estimate"] = model.predict(new[features]).clip(min=0)
new[["day", "estimate"]].to_parquet(out)
"""


def inputs_and_prediction(frame: pd.DataFrame, predictions: np.ndarray) -> pd.DataFrame:
    features = drift_features(frame)
    features["prediction"] = predictions
    return features


def by_prediction_estimate(table: dict, predictions: np.ndarray) -> np.ndarray:
    """Each trip's expected absolute error: its prediction's bin in the table."""
    index = np.searchsorted(np.asarray(table["edges"][1:-1]), predictions, side="right")
    return np.asarray(table["mae"])[index]


def dle_estimate(reference: pd.DataFrame, stream: pd.DataFrame) -> pd.Series:
    python = DLE_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing scikit-learn into {DLE_VENV} (once)", file=sys.stderr)
        venv.create(DLE_VENV, with_pip=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "scikit-learn", "pandas", "pyarrow"], check=True
        )
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, name) for name in ("reference.parquet", "stream.parquet", "out.parquet")]
        reference.to_parquet(paths[0])
        stream.to_parquet(paths[1])
        subprocess.run([python, "-c", DLE_SCRIPT, *map(str, paths)], check=True)
        return pd.read_parquet(paths[2])["estimate"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips-per-day", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bins", type=int, default=20, help="quantile bins of the by-prediction table")
    parser.add_argument(
        "--with-dle", action="store_true", help="also NannyML-style DLE (installs scikit-learn)"
    )
    args = parser.parse_args()
    settings = {**stream_defaults("three-events"), "trips_per_day": args.trips_per_day}
    stream = build_stream("three-events", settings, seed=args.seed)
    history = stream.history().drop(columns="request_id")
    trained = train_window(history, settings["eval_days"], TrainOptions(epochs=settings["epochs"], batch_size=settings["batch_size"]), progress=0)  # fmt: skip
    eval_errors = np.abs(trained.eval_predictions - trained.eval_frame[LABEL].to_numpy(np.float64))
    table = stats.expected_error_table(trained.eval_predictions, eval_errors, bins=args.bins)

    served = stream.served().reset_index(drop=True)
    predictions = predict(trained.model, model_inputs(served))
    days = ((served["pickup_datetime"] - stream.start).dt.days).to_numpy()
    daily = pd.DataFrame({"day": days, "realised": np.abs(predictions - served[LABEL].to_numpy(np.float64))})
    daily["eval MAE"] = trained.metrics["mae"]
    daily["by prediction"] = by_prediction_estimate(table, predictions)
    estimators = ["eval MAE", "by prediction"]
    if args.with_dle:
        reference = inputs_and_prediction(trained.eval_frame, trained.eval_predictions)
        reference["abs_error"] = eval_errors
        reference["day"] = -1
        stream_features = inputs_and_prediction(served, predictions)
        stream_features["day"] = days
        daily["DLE"] = dle_estimate(reference, stream_features).to_numpy()
        estimators.append("DLE")
    by_day = daily.groupby("day").mean()

    print(f"three-events, seed {args.seed}, {args.trips_per_day} trips a day; the first model's evaluation MAE "
          f"{trained.metrics['mae']:.3f} on {len(trained.eval_frame)} trips; table of {len(table['mae'])} bins\n")  # fmt: skip
    print(
        f"{'period':<38} {'realised MAE':>12} "
        + " ".join(f"{name + ' bias':>20} {'|error|':>8}" for name in estimators)
    )
    summary = {}
    for name, first, last in PERIODS:
        part = by_day.loc[first : last - 1]
        cells = []
        for estimator in estimators:
            gap = part[estimator] - part["realised"]
            cells.append(f"{gap.mean():>20.3f} {gap.abs().mean():>8.3f}")
            summary.setdefault(name, {})[estimator] = {"bias": gap.mean(), "abs": gap.abs().mean()}
        print(f"{name:<38} {part['realised'].mean():>12.3f} " + " ".join(cells))
    print("\n" + json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
