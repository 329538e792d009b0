import subprocess
import sys

import pandas as pd
import pytest

from taxifare.core import data_cli, storage
from taxifare.core.testing_gcs import TEST_BUCKET_URI
from taxifare.core.trips import DataStore


def run(capsys, *argv):
    code = data_cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("TAXIFARE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATA_URI", str(tmp_path / "state" / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)


def test_generate_into_the_default_store_then_stats(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "generate",
        "--rows",
        5000,
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-10",
        "--seed",
        3,
        "--no-progress",
    )
    assert code == 0 and "generated 5000 trips (stationary) over 10 days" in out
    store = DataStore(tmp_path / "state" / "data")
    assert store.row_count() == 5000 and len(store.days()) == 10
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "trips: 5000" in out and "days: 10 (2024-01-01 .. 2024-01-10)" in out


def test_generate_is_reproducible_and_spans_blocks(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(data_cli, "MAX_ROWS_PER_BLOCK", 1000)  # several blocks for 20 days of 300 trips
    frames = []
    for name in ("a", "b"):
        args = ["generate", "--rows", 6000, "--start", "2024-02-01", "--end", "2024-02-20", "--seed", 5]
        args += [
            "--scenario",
            "covariate",
            "--shift-date",
            "2024-02-10",
            "--into",
            tmp_path / name,
            "--no-progress",
        ]
        assert run(capsys, *args)[0] == 0
        frames.append(
            DataStore(tmp_path / name).read_range(
                pd.Timestamp("2024-01-01").date(), pd.Timestamp("2024-12-31").date()
            )
        )
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert len(frames[0]) == 6000
    # one part per day: blocks never split a day
    assert all(len(uris) == 1 for uris in DataStore(tmp_path / "a").parts().values())


def test_generate_shows_a_progress_bar(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "generate",
        "--rows",
        100,
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
        "--into",
        tmp_path / "d",
    )
    assert code == 0 and "100/100" in err


@pytest.mark.usefixtures("gcs_emulator")
def test_generate_into_gcs(capsys):
    uri = storage.join(TEST_BUCKET_URI, "data")
    code, out, _ = run(
        capsys,
        "generate",
        "--rows",
        500,
        "--start",
        "2024-05-01",
        "--end",
        "2024-05-03",
        "--into",
        uri,
        "--no-progress",
    )
    assert code == 0 and uri in out
    assert DataStore(uri).row_count() == 500
    assert "trips: 500" in run(capsys, "stats", uri)[1]


@pytest.mark.slow  # a part file for each of ~1,200 days
def test_replay_the_classic_sample(capsys, tmp_path, real_data_dir):
    path = real_data_dir / "nyc-taxi-2009-2015" / "taxi-train.csv"
    code, out, _ = run(capsys, "replay", path, "--into", tmp_path / "real")
    assert code == 0
    assert "read 7333 rows" in out and "landed 7333 trips" in out and "dropped 0\n" in out
    assert DataStore(tmp_path / "real").row_count() == 7333


def test_replay_reports_drops_by_reason(capsys, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "11.3,2011-01-28 20:42:59 UTC,-73.999022,40.739146,-73.990369,40.717866,1,0\n"
        "oops,2011-01-28 20:42:59 UTC,-73.999022,40.739146,-73.990369,40.717866,1,1\n"
        "11.3,2011-01-28 20:42:59 UTC,-73.999022,40.739146,-73.990369,40.717866,9,2\n"
    )
    code, out, _ = run(capsys, "replay", path, "--into", tmp_path / "d", "--format", "classic")
    assert code == 0 and "landed 1 trips over 1 days" in out
    assert "dropped 2: bad_passenger_count 1, malformed 1" in out


def test_replay_a_tlc_file_with_a_zone_table(capsys, tmp_path):
    pickup = pd.Timestamp("2023-03-01 08:00:00")
    pd.DataFrame(
        {
            "tpep_pickup_datetime": [pickup, pickup],
            "tpep_dropoff_datetime": [pickup + pd.Timedelta(minutes=9)] * 2,
            "passenger_count": [1.0, 2.0],
            "trip_distance": [1.1, 2.0],
            "PULocationID": [161, 264],  # 264: "unknown" in the TLC's zone list, not in the table
            "DOLocationID": [237, 161],
            "fare_amount": [9.3, 12.1],
            "tolls_amount": [0.0, 0.0],
        }
    ).to_parquet(tmp_path / "yellow.parquet")
    zones = tmp_path / "zones.csv"
    zones.write_text("LocationID,longitude,latitude\n161,-73.9776,40.758\n237,-73.9656,40.7684\n")

    argv = ["replay", tmp_path / "yellow.parquet", "--zone-centroids", zones, "--into", tmp_path / "d"]
    code, out, _ = run(capsys, *argv)

    assert code == 0
    assert "landed 1 trips over 1 days" in out and "dropped 1: zone_without_centroid 1" in out
    landed = DataStore(tmp_path / "d").read_range(pickup.date(), pickup.date())
    assert landed[["pickup_longitude", "dropoff_latitude"]].values.tolist() == [[-73.9776, 40.7684]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "missing.csv"], "missing.csv: no such file"),
        (["replay", "EMPTY"], "the file is empty"),
        (["replay", "EMPTY", "--format", "tlc"], "the file is empty"),
        (["replay", "EMPTY", "--zone-centroids", "nowhere.csv"], "nowhere.csv: no such file"),
    ],
)
def test_replay_errors_are_one_clear_line(capsys, tmp_path, argv, message):
    (tmp_path / "empty.csv").write_text("")
    argv = [str(tmp_path / "empty.csv") if a == "EMPTY" else a for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--rows", "10", "--start", "2024-02-01", "--end", "2024-01-01"], "is before --start"),
        (
            [
                "generate",
                "--rows",
                "10",
                "--start",
                "2024-01-01",
                "--end",
                "2024-02-01",
                "--scenario",
                "concept",
            ],
            "needs --shift-date",
        ),
        (
            ["generate", "--rows", "-5", "--start", "2024-01-01", "--end", "2024-02-01"],
            "not a positive whole number",
        ),
        (["generate", "--rows", "10", "--start", "Jan 1", "--end", "2024-02-01"], "not a date"),
        (
            ["generate", "--rows", "10", "--start", "2024-01-01", "--end", "2024-02-01", "--scenario", "x"],
            "invalid choice",
        ),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        data_cli.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_stats_of_an_empty_store(capsys, tmp_path):
    code, out, _ = run(capsys, "stats", tmp_path / "nothing")
    assert code == 0 and "no trips" in out


def test_console_script_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "taxifare.core.data_cli", "replay", str(tmp_path / "nope.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "nope.parquet: no such file" in result.stderr and "Traceback" not in result.stderr
