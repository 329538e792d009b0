import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taxifare.core import data_cli, storage
from taxifare.core.trips import DataStore
from taxifare.trainer.cli import main

pytestmark = pytest.mark.slow

METRIC_FIELDS = (
    "rmse", "mae", "train_rows", "eval_rows", "label_mean", "label_std", "prediction_mean",
    "prediction_std", "data_start", "data_end", "version", "model_uri", "eval_data_uri", "reference_stats",
)  # fmt: skip


def test_train_publishes_a_model_and_writes_every_output(trained):
    metrics, model_uri = trained["metrics"], trained["model_uri"]
    assert set(METRIC_FIELDS) <= set(metrics)
    assert model_uri == str(trained["root"] / "models" / "v1") == metrics["model_uri"]
    assert set(storage.verify_published(model_uri)) >= {"metrics.json", "eval.parquet"}
    assert json.loads(storage.read_bytes(storage.join(model_uri, "metrics.json"))) == metrics
    # Much better than predicting the training mean, on the newest week.
    assert metrics["rmse"] < 0.5 * metrics["baseline_rmse"]
    assert all(math.isfinite(metrics[k]) for k in ("rmse", "mae", "prediction_mean", "prediction_std"))


def test_evaluation_set_is_the_newest_days(trained):
    metrics = trained["metrics"]
    evaluation = pd.read_parquet(metrics["eval_data_uri"])
    copy = pd.read_parquet(trained["outputs"] / "eval_data" / "data")
    pd.testing.assert_frame_equal(evaluation, copy)
    assert len(evaluation) == metrics["eval_rows"]
    assert evaluation["pickup_datetime"].min() >= pd.Timestamp("2024-04-24")
    assert metrics["data_end"] == "2024-04-30"
    all_rows = DataStore(trained["root"] / "data").read_newest(62, now=pd.Timestamp("2024-05-01"))
    assert metrics["train_rows"] + metrics["eval_rows"] == len(all_rows)


def test_reference_stats_cover_drift_features_and_predictions(trained):
    stats = trained["metrics"]["reference_stats"]
    assert set(stats) == {
        "pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude",
        "passenger_count", "distance_km", "pickup_hour", "prediction", "expected_error",
    }  # fmt: skip
    assert stats["prediction"]["count"] == trained["metrics"]["eval_rows"]
    # The expected error by predicted fare, over the same evaluation set: its bins hold every trip, and
    # their errors average to the evaluation MAE.
    table = stats["expected_error"]
    assert sum(table["count"]) == trained["metrics"]["eval_rows"]
    weighted = sum(m * c for m, c in zip(table["mae"], table["count"], strict=True)) / sum(table["count"])
    assert weighted == pytest.approx(trained["metrics"]["mae"])
    assert stats["prediction"]["mean"] == pytest.approx(trained["metrics"]["prediction_mean"])
    assert sum(stats["distance_km"]["shares"]) == pytest.approx(1.0)
    # What the drift checker's tests compare with: fine quantiles, and categories for whole numbers.
    eval_rows = trained["metrics"]["eval_rows"]
    assert len(stats["distance_km"]["quantiles"]["edges"]) == 101
    assert sum(stats["distance_km"]["quantiles"]["counts"]) == eval_rows
    assert set(stats["pickup_hour"]["categories"]["values"]) <= set(range(24))
    assert sum(stats["passenger_count"]["categories"]["counts"]) == eval_rows
    assert "categories" not in stats["prediction"]


def test_evaluate_rescores_the_model_on_its_evaluation_set(trained, tmp_path):
    out = tmp_path / "live" / "metrics.json"
    argv = [
        "evaluate",
        "--model-uri",
        trained["model_uri"],
        "--eval-data",
        trained["metrics"]["eval_data_uri"],
    ]
    assert main([*argv, "--output-metrics", str(out)]) == 0
    live = json.loads(out.read_text())
    assert live["model_uri"] == trained["model_uri"]
    assert live["n"] == trained["metrics"]["eval_rows"]
    assert live["rmse"] == pytest.approx(trained["metrics"]["rmse"], rel=1e-4)
    assert live["mae"] == pytest.approx(trained["metrics"]["mae"], rel=1e-4)


@pytest.mark.parametrize("no_model", ["", "none", "None"])
def test_evaluate_without_a_live_model(tmp_path, no_model):
    out = tmp_path / "out" / "metrics.json"
    argv = ["evaluate", "--model-uri", no_model, "--eval-data", str(tmp_path / "absent.parquet")]
    assert main([*argv, "--output-metrics", str(out)]) == 0
    assert json.loads(out.read_text()) == {"model_uri": None}


def test_evaluate_refuses_an_unpublished_model(trained, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    argv = [
        "evaluate",
        "--model-uri",
        str(tmp_path / "nothing"),
        "--eval-data",
        trained["metrics"]["eval_data_uri"],
    ]
    assert main([*argv, "--output-metrics", str(out)]) == 1
    assert "not published" in capsys.readouterr().err
    assert not out.exists()


def test_train_refuses_a_window_with_too_few_rows(tmp_path, store_factory, train_argv, capsys):
    store_factory(tmp_path / "data", 120)
    assert main(train_argv(tmp_path / "data", tmp_path / "models", tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert "holds 120 trips, fewer than --min-rows=500" in err
    assert "Traceback" not in err
    assert not (tmp_path / "models").exists()
    assert not (tmp_path / "out").exists()


def test_train_refuses_trips_without_coordinates(tmp_path, store_factory, train_argv, capsys):
    # What TLC files give when landed without a zone table: zones, no coordinates.
    longitudes = np.where(np.arange(800) % 4 == 0, np.nan, -73.98)
    store_factory(tmp_path / "data", 800, pickup_longitude=longitudes)
    assert main(train_argv(tmp_path / "data", tmp_path / "models", tmp_path / "out", epochs=2)) == 1
    err = capsys.readouterr().err
    assert re.search(r"\b[1-9]\d* of the \d+ trips in the data window have no coordinates", err)
    assert "--zone-centroids" in err and "Traceback" not in err
    assert not (tmp_path / "models").exists()


def test_tlc_trips_with_a_zone_table_train(tmp_path, train_argv, capsys):
    """A TLC file, landed with a zone table as a user would, trains and publishes a model."""
    rng = np.random.default_rng(3)
    n = 1500
    # March and April 2024: the window train_argv trains on.
    pickup = pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.uniform(0, 61 * 86_400, n), unit="s")
    zones = {161: (-73.9776, 40.7580), 237: (-73.9656, 40.7684), 132: (-73.7867, 40.6468)}
    pd.DataFrame(
        {
            "tpep_pickup_datetime": pickup,
            "tpep_dropoff_datetime": pickup + pd.Timedelta(minutes=15),
            "passenger_count": rng.integers(1, 4, n).astype(float),
            "trip_distance": rng.uniform(0.5, 15, n),
            "PULocationID": rng.choice(list(zones), n),
            "DOLocationID": rng.choice(list(zones), n),
            "fare_amount": rng.uniform(5, 60, n),
            "tolls_amount": np.zeros(n),
        }
    ).to_parquet(tmp_path / "yellow.parquet")
    table = "".join(f"{zone},{lon},{lat}\n" for zone, (lon, lat) in zones.items())
    (tmp_path / "zones.csv").write_text("LocationID,longitude,latitude\n" + table)
    replay = ["replay", str(tmp_path / "yellow.parquet"), "--zone-centroids", str(tmp_path / "zones.csv")]
    assert data_cli.main([*replay, "--into", str(tmp_path / "data")]) == 0

    assert main(train_argv(tmp_path / "data", tmp_path / "models", tmp_path / "out", epochs=2)) == 0
    assert storage.is_published(tmp_path / "models" / "v1")


def test_train_refuses_an_empty_store_through_the_console_script(tmp_path, train_argv):
    script = str(Path(sys.executable).with_name("taxifare-trainer"))
    done = subprocess.run(
        [script, *train_argv(tmp_path / "empty", tmp_path / "models", tmp_path / "out")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "holds 0 trips" in done.stderr
    assert "Traceback" not in done.stderr


def test_train_never_publishes_non_finite_metrics(tmp_path, store_factory, train_argv, capsys):
    # Fares beyond float range make the loss and the metrics overflow to inf/NaN.
    frame_size = 800
    fares = np.where(np.arange(frame_size) % 3 == 0, 1e200, 10.0)
    store_factory(tmp_path / "data", frame_size, fare_amount=fares)
    argv = train_argv(tmp_path / "data", tmp_path / "models", tmp_path / "out", epochs=2)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "non-finite metrics" in err
    assert not storage.is_published(tmp_path / "models" / "v1")
    assert not (tmp_path / "out").exists()


def test_train_refuses_to_overwrite_a_published_version(trained, train_argv, capsys):
    root = trained["root"]
    argv = train_argv(root / "data", root / "models", root / "again", epochs=1)
    assert main(argv) == 1
    assert "already holds a published model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case",
    [("--eval-days", "0", "--eval-days must be at least 1"), ("--version", "a/b", "--version 'a/b' must be")],
)
def test_bad_arguments_are_named(tmp_path, train_argv, capsys, case):
    flag, value, message = case
    argv = train_argv(tmp_path / "data", tmp_path / "models", tmp_path / "out")
    argv[argv.index(flag) + 1] = value
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
