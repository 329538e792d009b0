from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxifare.core import storage
from taxifare.core.testing_gcs import TEST_BUCKET_URI
from taxifare.core.trips import (
    DRIFT_FEATURES,
    DataStore,
    TripDataError,
    drift_features,
    haversine_km,
    load_classic_csv,
    load_tlc,
    load_trips,
    load_zone_centroids,
    model_inputs,
)

GOOD_CLASSIC = [
    "11.3,2011-01-28 20:42:59 UTC,-73.999022,40.739146,-73.990369,40.717866,1,0",
    "7.7,2011-06-27 04:28:06 UTC,-73.987443,40.729221,-73.979013,40.758641,2,1",
]


@pytest.fixture(scope="module")
def classic_train(real_data_dir):
    return load_classic_csv(real_data_dir / "nyc-taxi-2009-2015" / "taxi-train.csv")


def tlc_frame(n=4):
    pickup = pd.to_datetime(
        ["2023-03-01 08:00:00", "2023-03-01 23:50:00", "2023-03-02 10:00:00", "2023-03-02 11:00:00"]
    )[:n]
    return pd.DataFrame(
        {
            "VendorID": np.ones(n, dtype="int32"),
            "tpep_pickup_datetime": pickup,
            "tpep_dropoff_datetime": pickup + pd.Timedelta(minutes=12),
            "passenger_count": [1.0, 2.0, 1.0, 3.0][:n],
            "trip_distance": [1.5, 3.2, 0.8, 12.0][:n],
            "RatecodeID": np.ones(n),
            "store_and_fwd_flag": ["N"] * n,
            "PULocationID": np.array([161, 237, 142, 132][:n], dtype="int32"),
            "DOLocationID": np.array([230, 141, 43, 161][:n], dtype="int32"),
            "payment_type": np.ones(n, dtype="int64"),
            "fare_amount": [10.0, 17.7, 7.2, 70.0][:n],
            "extra": np.zeros(n),
            "mta_tax": np.full(n, 0.5),
            "tip_amount": np.zeros(n),
            "tolls_amount": [0.0, 0.0, 0.0, 6.55][:n],
            "improvement_surcharge": np.ones(n),
            "total_amount": np.full(n, 20.0),
            "congestion_surcharge": np.full(n, 2.5),
            "airport_fee": [0.0, 0.0, 0.0, 1.75][:n],
        }
    )


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


# --- real data ---------------------------------------------------------------------------------


def test_classic_sample_loads_whole(classic_train):
    assert classic_train.total_rows == 7333
    assert len(classic_train.frame) == 7333
    assert classic_train.dropped == {}
    frame = classic_train.frame
    assert frame["pickup_datetime"].min() >= pd.Timestamp("2009-01-01")
    assert frame["pickup_datetime"].max() < pd.Timestamp("2015-07-01")
    assert frame["trip_distance"].isna().all() and frame["pu_location_id"].isna().all()


def test_classic_sample_shows_the_sep_2012_fare_change(classic_train):
    """Median fare per straight-line mile of 1-10 mile trips rose with the 4 Sep 2012 fare increase."""
    frame = classic_train.frame
    miles = haversine_km(*(frame[c] for c in DRIFT_FEATURES[:4])) / 1.609344
    per_mile = frame["fare_amount"] / miles
    usable = (miles >= 1) & (miles <= 10)
    after = frame["pickup_datetime"] >= pd.Timestamp("2012-09-04")
    before_median = per_mile[usable & ~after].median()
    after_median = per_mile[usable & after].median()
    # The per-unit charge went from $0.40 to $0.50 (+25%); the initial charge stayed.
    assert 1.15 < after_median / before_median < 1.35
    assert 4.0 < before_median < 5.5 and 5.0 < after_median < 7.0


# --- classic bad input -------------------------------------------------------------------------


def test_classic_malformed_rows_are_counted(tmp_path):
    lines = [
        *GOOD_CLASSIC,
        "abc,2011-01-28 20:42:59 UTC,-73.99,40.73,-73.99,40.71,1,2",  # fare is not a number
        "9.0,2011-01-28 20:42:59 UTC,-73.99,40.73,-73.99,40.71,1,3,extra",  # one field too many
        "9.0,2011-01-28 20:42:59 UTC,-73.99,40.73",  # fields missing
        "9.0,yesterday,-73.99,40.73,-73.99,40.71,1,5",
        "-2.5,2011-01-28 20:42:59 UTC,-73.99,40.73,-73.99,40.71,1,6",
        "9.0,2011-01-28 20:42:59 UTC,-73.99,40.73,-73.99,40.71,0,7",
        "9.0,2011-01-28 20:42:59 UTC,0,0,-73.99,40.71,1,8",
        "9.0,2011-01-28 20:42:59 UTC,40.73,-73.99,40.71,-73.99,1,9",  # latitude and longitude swapped
    ]
    result = load_classic_csv(write_lines(tmp_path / "t.csv", lines))
    assert result.total_rows == 10
    assert len(result.frame) == 2
    assert result.dropped == {
        "malformed": 3,
        "unparseable_time": 1,
        "non_positive_fare": 1,
        "bad_passenger_count": 1,
        "coordinates_outside_nyc": 2,
    }
    assert result.frame["passenger_count"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("fare_amount,pickup_datetime,a,b,c,d,e,key\n" + GOOD_CLASSIC[0], "header"),
        ("11.3,2011-01-28 20:42:59 UTC,-73.99,40.73,-73.99,40.71,1\n", "expected 8 columns"),
        ("x,y,z,a,b,c,d,e\nx,y,z,a,b,c,d,e\n", "none of its 2 rows could be parsed"),
    ],
)
def test_classic_bad_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(TripDataError, match=message) as info:
        load_classic_csv(path)
    assert "bad.csv" in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TripDataError, match=r"nothing\.csv: no such file"):
        load_classic_csv(tmp_path / "nothing.csv")


# --- TLC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_tlc_loads_zones_and_adds_tolls(tmp_path, kind):
    path = tmp_path / f"yellow.{kind}"
    frame = tlc_frame()
    frame.to_parquet(path) if kind == "parquet" else frame.to_csv(path, index=False)
    result = load_tlc(path)
    assert result.total_rows == 4 and result.dropped == {}
    out = result.frame
    assert out["fare_amount"].tolist() == [10.0, 17.7, 7.2, 76.55]
    assert out["pu_location_id"].tolist() == [161, 237, 142, 132]
    assert out["trip_distance"].tolist() == [1.5, 3.2, 0.8, 12.0]
    assert out["pickup_longitude"].isna().all()
    assert out["pickup_datetime"].iloc[1] == pd.Timestamp("2023-03-01 23:50:00")
    assert load_trips(path).frame.equals(out)  # the format is told from the content


def test_tlc_csv_bad_rows_are_counted(tmp_path):
    frame = tlc_frame().astype({"fare_amount": object, "tpep_pickup_datetime": object})
    frame.loc[0, "fare_amount"] = "ten"
    frame.loc[1, "tpep_pickup_datetime"] = "not a time"
    frame.loc[2, "tpep_dropoff_datetime"] = frame.loc[2, "tpep_pickup_datetime"]  # zero length
    frame.loc[3, "passenger_count"] = None  # absent in some real files: not malformed, but unusable
    path = tmp_path / "yellow.csv"
    frame.to_csv(path, index=False)
    result = load_tlc(path)
    assert result.dropped == {
        "malformed": 1,
        "unparseable_time": 1,
        "zero_length_trip": 1,
        "bad_passenger_count": 1,
    }
    assert result.frame.empty and result.total_rows == 4


def test_tlc_missing_column_is_named(tmp_path):
    path = tmp_path / "yellow.parquet"
    tlc_frame().drop(columns=["tolls_amount", "PULocationID"]).to_parquet(path)
    with pytest.raises(TripDataError, match=r"missing column.*PULocationID, tolls_amount"):
        load_tlc(path)


def test_tlc_parquet_with_wrong_types_is_refused(tmp_path):
    path = tmp_path / "yellow.parquet"
    table = pa.Table.from_pandas(tlc_frame().astype({"fare_amount": str}), preserve_index=False)
    pq.write_table(table, path)
    with pytest.raises(
        TripDataError, match=r"'fare_amount' has Parquet type (large_)?string, expected a number"
    ):
        load_tlc(path)
    tlc_frame().astype({"tpep_pickup_datetime": str}).to_parquet(path)
    with pytest.raises(
        TripDataError, match=r"'tpep_pickup_datetime' has Parquet type .*expected a timestamp"
    ):
        load_tlc(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"PAR1 garbage", "not a readable Parquet"),
        (b"tpep_pickup_datetime,x\n", "missing column"),
    ],
)
def test_tlc_bad_files(tmp_path, content, message):
    path = tmp_path / "yellow.bin"
    path.write_bytes(content)
    with pytest.raises(TripDataError, match=message):
        load_tlc(path)


def test_tlc_header_only_is_refused(tmp_path):
    path = tmp_path / "yellow.csv"
    tlc_frame().iloc[:0].to_csv(path, index=False)
    with pytest.raises(TripDataError, match="header but no trips"):
        load_tlc(path)


# --- TLC zones to coordinates -------------------------------------------------------------------

# Points for the zones of tlc_frame() but 43 (made up for the test, inside the cleaning box).
ZONE_TABLE = """LocationID,longitude,latitude
161,-73.9776,40.7580
237,-73.9656,40.7684
142,-73.9817,40.7735
132,-73.7867,40.6468
230,-73.9842,40.7592
141,-73.9594,40.7667
"""


def test_tlc_zones_become_coordinates_with_a_zone_table(tmp_path):
    path = tmp_path / "yellow.parquet"
    tlc_frame().to_parquet(path)
    (tmp_path / "zones.csv").write_text(ZONE_TABLE)
    zones = load_zone_centroids(tmp_path / "zones.csv")

    result = load_trips(path, zones=zones)

    # The third trip ends in zone 43, which the table lacks: dropped, and counted under its reason.
    assert result.total_rows == 4 and result.dropped == {"zone_without_centroid": 1}
    out = result.frame
    assert out["pu_location_id"].tolist() == [161, 237, 132]
    assert out["pickup_longitude"].tolist() == [-73.9776, -73.9656, -73.7867]
    assert out["pickup_latitude"].tolist() == [40.7580, 40.7684, 40.6468]
    assert out["dropoff_longitude"].tolist() == [-73.9842, -73.9594, -73.9776]
    assert out["dropoff_latitude"].tolist() == [40.7592, 40.7667, 40.7580]
    assert np.isfinite(model_inputs(out)["pickup_longitude"]).all()


def test_a_zone_table_is_refused_for_a_classic_file(tmp_path):
    path = write_lines(tmp_path / "classic.csv", GOOD_CLASSIC)
    (tmp_path / "zones.csv").write_text(ZONE_TABLE)
    with pytest.raises(TripDataError, match="applies to TLC files; this classic file has coordinates"):
        load_trips(path, zones=load_zone_centroids(tmp_path / "zones.csv"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the zone table is empty"),
        ("LocationID,longitude,latitude\n", "header but no zones"),
        ("zone,lon,lat\n1,-73.9,40.7\n", "missing column.*LocationID, longitude, latitude"),
        (
            "LocationID,longitude,latitude\n1,-73.9,40.7\n2.5,-73.9,40.7\n",
            r"line\(s\) 3: LocationID must be an integer",
        ),
        ("LocationID,longitude,latitude\n1,west,40.7\n2,-73.9,\n", r"line\(s\) 2, 3: .*coordinates numbers"),
        ("LocationID,longitude,latitude\n7,-73.9,40.7\n7,-73.8,40.6\n", r"zone\(s\) 7 listed more than once"),
        ("LocationID,longitude,latitude\n1,40.7,-73.9\n", r"zone\(s\) 1 lie outside .*swapped"),
    ],
)
def test_bad_zone_tables_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "zones.csv"
    path.write_text(content)
    with pytest.raises(TripDataError, match=message) as caught:
        load_zone_centroids(path)
    assert str(path) in str(caught.value)


def test_a_missing_zone_table_is_named(tmp_path):
    with pytest.raises(TripDataError, match=r"zones\.csv: no such file"):
        load_zone_centroids(tmp_path / "zones.csv")


# --- model and drift views ---------------------------------------------------------------------


def test_model_inputs_and_drift_features(tmp_path):
    frame = load_classic_csv(write_lines(tmp_path / "t.csv", GOOD_CLASSIC)).frame
    inputs = model_inputs(frame)
    assert inputs["pickup_timestamp"].dtype == np.float64
    assert inputs["pickup_timestamp"][0] == datetime(2011, 1, 28, 20, 42, 59).timestamp() - _local_offset()
    assert inputs["passenger_count"].dtype == np.float32 and inputs["pickup_latitude"].dtype == np.float32
    features = drift_features(frame)
    assert list(features.columns) == list(DRIFT_FEATURES)
    assert features["pickup_hour"].tolist() == [20, 4]
    assert features["distance_km"].iloc[0] == pytest.approx(2.48, abs=0.01)


def _local_offset() -> float:
    """datetime.timestamp() of a naive time assumes the machine's zone; undo that to get naive seconds."""
    naive = datetime(2011, 1, 28, 20, 42, 59)
    return naive.timestamp() - (naive - datetime(1970, 1, 1)).total_seconds()


# --- data store --------------------------------------------------------------------------------


@pytest.fixture(params=["local", "gcs"])
def store_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "data")
    request.getfixturevalue("gcs_emulator")  # serves the test bucket
    return storage.join(TEST_BUCKET_URI, "data")


def test_data_store_round_trip_by_day(store_uri, tmp_path):
    frame = load_classic_csv(write_lines(tmp_path / "t.csv", GOOD_CLASSIC)).frame
    store = DataStore(store_uri)
    assert store.days() == [] and store.row_count() == 0 and store.read_newest(3).empty
    assert store.append(frame) == {date(2011, 1, 28): 1, date(2011, 6, 27): 1}
    assert store.append(frame.iloc[:1]) == {date(2011, 1, 28): 1}
    assert store.days() == [date(2011, 1, 28), date(2011, 6, 27)]
    assert store.row_count() == 3
    assert store.rows_by_day() == {date(2011, 1, 28): 2, date(2011, 6, 27): 1}
    back = store.read_range(date(2011, 1, 1), date(2011, 12, 31))
    assert len(back) == 3 and back.dtypes.equals(frame.dtypes)
    assert back["fare_amount"].tolist() == [11.3, 11.3, 7.7]
    parts = [storage.relative(u, store_uri) for u in storage.list_uris(store_uri)]
    assert all(p.startswith("date=2011-") and "/part-" in p and p.endswith(".parquet") for p in parts)


def test_read_newest_days_up_to_now(tmp_path):
    store = DataStore(tmp_path / "data")
    days = pd.to_datetime(
        ["2024-05-01 10:00", "2024-05-03 09:00", "2024-05-03 18:00", "2024-05-04 01:00", "2024-05-09 12:00"]
    )
    store.append(
        pd.DataFrame(
            {"pickup_datetime": days, "passenger_count": 1, "fare_amount": [5.0, 6.0, 7.0, 8.0, 9.0]}
        )
    )
    newest = store.read_newest(2, now=datetime(2024, 5, 5, 12))  # the 9th is after now: not yet seen
    assert newest["fare_amount"].tolist() == [6.0, 7.0, 8.0]
    assert store.read_newest(10, now=datetime(2024, 5, 5))["fare_amount"].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert store.read_newest(1, now=datetime(2024, 6, 1))["fare_amount"].tolist() == [9.0]
    assert store.read_newest(1, now=datetime(2024, 4, 1)).empty
    assert store.read_range(date(2024, 5, 2), date(2024, 5, 3))["fare_amount"].tolist() == [6.0, 7.0]


def test_store_ignores_temp_and_foreign_files(tmp_path):
    store = DataStore(tmp_path / "data")
    (tmp_path / "data" / "date=2024-05-01").mkdir(parents=True)
    (tmp_path / "data" / "date=2024-05-01" / ".part-x.parquet.123.tmp").write_bytes(b"half")
    (tmp_path / "data" / "README.txt").write_text("x")
    assert store.days() == [] and store.row_count() == 0


def test_append_refuses_a_frame_without_fares(tmp_path):
    with pytest.raises(TripDataError, match="fare_amount"):
        DataStore(tmp_path / "data").append(
            pd.DataFrame({"pickup_datetime": [pd.Timestamp("2024-01-01")], "passenger_count": [1]})
        )
