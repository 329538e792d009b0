"""Fare model quality on the real NYC sample: RMSE on taxi-test.csv against the mean predictor.

    python bench/trainer_quality.py [--data-dir data/nyc-taxi-2009-2015] [--epochs 60]

Trains the trainer's model on taxi-train.csv, early-stopping on taxi-valid.csv, scores taxi-test.csv.
Required RMSE <= 5.0, goal <= 4.4 (a gradient-boosted-trees baseline reaches 4.39 on this split).
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from taxifare.core.trips import load_classic_csv, model_inputs
from taxifare.trainer.model import predict
from taxifare.trainer.training import LABEL, TrainOptions, fit_model, rmse

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "nyc-taxi-2009-2015"
REQUIRED_RMSE = 5.0


def measure(data_dir: Path, options: TrainOptions) -> dict:
    """Train, score and return rmse, mean-predictor rmse, rows and seconds."""
    train, valid, test = (
        load_classic_csv(data_dir / f"taxi-{part}.csv") for part in ("train", "valid", "test")
    )
    started = time.perf_counter()
    model, epochs = fit_model(train.frame, valid.frame, options, progress=0)
    seconds = time.perf_counter() - started
    labels = test.frame[LABEL].to_numpy(np.float64)
    predictions = predict(model, model_inputs(test.frame))
    mean_rmse = rmse(labels, np.full(len(labels), train.frame[LABEL].mean()))
    return {
        "rmse": rmse(labels, predictions),
        "mean_predictor_rmse": mean_rmse,
        "test_rows": len(labels),
        "test_rows_in_file": test.total_rows,
        "epochs": epochs,
        "train_seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--epochs", type=int, default=TrainOptions.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainOptions.batch_size)
    parser.add_argument("--learning-rate", type=float, default=TrainOptions.learning_rate)
    args = parser.parse_args()
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate)
    result = measure(args.data_dir, options)
    print(f"test rows scored      {result['test_rows']} of {result['test_rows_in_file']}")
    print(f"epochs                {result['epochs']} ({result['train_seconds']:.1f} s of training)")
    print(f"model RMSE            {result['rmse']:.3f}")
    print(f"mean predictor RMSE   {result['mean_predictor_rmse']:.3f}")
    print(f"ratio model / mean    {result['rmse'] / result['mean_predictor_rmse']:.3f}")
    print(f"required <= {REQUIRED_RMSE}: {'met' if result['rmse'] <= REQUIRED_RMSE else 'NOT met'}")
    return 0 if result["rmse"] <= REQUIRED_RMSE else 1


if __name__ == "__main__":
    sys.exit(main())
