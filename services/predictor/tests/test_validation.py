import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from taxifare.core.trips.schema import model_inputs
from taxifare.predictor.validation import (
    BOUNDS_MARGIN_DEGREES,
    DATETIME_PATTERN,
    OUTER_BOUNDS,
    InputBounds,
    RequestError,
    parse_actuals_request,
    parse_json,
    parse_predict_request,
)

from .conftest import TRIP


def trip(**changes):
    return {**TRIP, **changes}


def test_inputs_match_the_core_model_inputs():
    instances = [trip(), trip(pickup_datetime="2012-09-04 00:00:01", passenger_count=6, pickup_latitude=41)]
    batch = parse_predict_request({"instances": instances}, max_instances=10)
    frame = pd.DataFrame(instances)
    frame["pickup_datetime"] = pd.to_datetime(frame["pickup_datetime"], format="ISO8601")
    expected = model_inputs(frame)
    got = batch.model_inputs()
    assert set(got) == set(expected)
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_request_ids_are_kept_or_generated():
    batch = parse_predict_request({"instances": [trip(request_id="trip-1"), trip()]}, max_instances=10)
    assert batch.request_ids[0] == "trip-1"
    assert len(batch.request_ids[1]) == 32 and batch.request_ids[1] != "trip-1"


@pytest.mark.parametrize(
    ("instance", "field", "words"),
    [
        (trip(pickup_latitude="40.7"), "instances[0].pickup_latitude", "must be a number"),
        (trip(pickup_longitude=True), "instances[0].pickup_longitude", "must be a number"),
        (trip(dropoff_latitude=60.0), "instances[0].dropoff_latitude", "outside"),
        (trip(passenger_count=-1), "instances[0].passenger_count", "outside"),
        (trip(passenger_count=1.5), "instances[0].passenger_count", "integer"),
        (trip(pickup_datetime="yesterday"), "instances[0].pickup_datetime", "ISO 8601"),
        (trip(pickup_datetime="2015-06-30T18:05:00+02:00"), "instances[0].pickup_datetime", "no offset"),
        (trip(pickup_datetime=1435687500), "instances[0].pickup_datetime", "ISO 8601 string"),
        (trip(request_id="x" * 65), "instances[0].request_id", "1-64"),
        (trip(fare_amount=12.0), "instances[0].fare_amount", "unknown field"),
        (
            {k: v for k, v in TRIP.items() if k != "dropoff_longitude"},
            "instances[0].dropoff_longitude",
            "required",
        ),
        ([1, 2], "instances[0]", "object"),
    ],
)
def test_bad_fields_are_named(instance, field, words):
    with pytest.raises(RequestError) as caught:
        parse_predict_request({"instances": [instance]}, max_instances=10)
    details = caught.value.to_json()["details"]
    assert any(d["field"] == field and words in d["message"] for d in details), details


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([TRIP], "JSON object"),
        ({"instances": TRIP}, "must be a list"),
        ({"instances": []}, "empty"),
        ({"instances": [TRIP] * 11}, "at most 10"),
    ],
)
def test_bad_envelopes_are_explained(payload, words):
    with pytest.raises(RequestError, match=words):
        parse_predict_request(payload, max_instances=10)


@pytest.mark.parametrize(
    "body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b"{", b"\xff\xfe", b"[" * 100000]
)
def test_json_that_python_would_accept_or_choke_on_is_refused(body):
    with pytest.raises(RequestError, match="not valid JSON"):
        parse_json(body)


def test_error_details_are_capped_but_counted():
    with pytest.raises(RequestError) as caught:
        parse_predict_request({"instances": [trip(passenger_count=0)] * 50}, max_instances=100)
    body = caught.value.to_json()
    assert len(body["details"]) == 20 and body["details_omitted"] == 30


def test_actuals_are_checked():
    assert parse_actuals_request({"actuals": [{"request_id": "a", "fare_amount": 7}]}, 10) == [("a", 7.0)]
    with pytest.raises(RequestError) as caught:
        parse_actuals_request({"actuals": [{"request_id": 5, "fare_amount": -1}]}, 10)
    fields = {d["field"] for d in caught.value.details}
    assert fields == {"actuals[0].request_id", "actuals[0].fare_amount"}


# A training window like the demo's: Manhattan, the airports, and a few trips farther out.
TRAINED = {
    "pickup_longitude": [-74.03, -73.77],
    "pickup_latitude": [40.63, 40.85],
    "dropoff_longitude": [-74.31, -73.76],
    "dropoff_latitude": [40.63, 40.88],
    "fare_amount": [2.5, 88.0],
}


def test_a_model_accepts_its_training_area_widened_by_the_margin_for_pickups_and_dropoffs_alike():
    bounds = InputBounds.of_model("v1", TRAINED)
    m = BOUNDS_MARGIN_DEGREES
    # One area: a pickup may be where only dropoffs were seen (Newark, at -74.18), and vice versa.
    for end in ("pickup", "dropoff"):
        assert bounds.coordinates[f"{end}_longitude"] == (round(-74.31 - m, 4), round(-73.76 + m, 4))
        assert bounds.coordinates[f"{end}_latitude"] == (round(40.63 - m, 4), round(40.88 + m, 4))
    assert bounds.fares == (2.5, 176.0)
    # Inside the area: a long run north to the edge of the metro area; outside: another state.
    parse_predict_request({"instances": [trip(pickup_longitude=-74.18, dropoff_latitude=41.9)]}, 10, bounds)
    with pytest.raises(RequestError) as e:
        parse_predict_request({"instances": [trip(dropoff_latitude=42.5)]}, 10, bounds)
    (detail,) = e.value.details
    assert detail["field"] == "instances[0].dropoff_latitude"
    assert detail["message"] == (
        f"42.5 is outside [{round(40.63 - m, 4)}, {round(40.88 + m, 4)}], "
        f"the area model 'v1' was trained on, with {m:g} degrees around it"
    )


@pytest.mark.parametrize(
    "stored",
    [None, {}, {"pickup_latitude": "40-41"}, {"pickup_latitude": [41.0, 40.0]}, {"fare_amount": [1, None]}],
)
def test_versions_without_usable_bounds_get_the_outer_box(stored):
    bounds = InputBounds.of_model("old", stored)
    assert bounds.coordinates == OUTER_BOUNDS.coordinates and bounds.fares == OUTER_BOUNDS.fares


def test_the_margin_never_reaches_past_the_outer_box():
    bounds = InputBounds.of_model(
        "edge", {"pickup_latitude": [37.2, 44.9], "dropoff_longitude": [-77.5, -70.3]}
    )
    assert bounds.coordinates["dropoff_latitude"] == (37.0, 45.0)
    assert bounds.coordinates["pickup_longitude"] == (-78.0, -70.0)


def test_the_pickup_time_pattern_admits_exactly_the_calendar_days_the_parser_takes():
    """The OpenAPI document carries the pattern: a day it admits and the parser refuses (30 February)
    would be a valid request answered 400."""
    pattern = re.compile(DATETIME_PATTERN)
    real = set()
    day = date(1999, 1, 1)
    while day <= date(2101, 12, 31):
        real.add(day.isoformat())
        assert bool(pattern.fullmatch(day.isoformat())) == (2000 <= day.year <= 2100), day
        day += timedelta(days=1)
    shaped = (f"{y:04d}-{m:02d}-{d:02d}" for y in range(1999, 2102) for m in range(14) for d in range(33))
    assert all(text in real for text in shaped if pattern.fullmatch(text))
    for text in (
        "2096-02-29",
        "2000-02-29T00",
        "2015-06-30 18:05",
        "2015-06-30T23:59:59,5",
        "2015-06-30T18:05:00.123456",
    ):
        parse_predict_request({"instances": [trip(pickup_datetime=text)]}, 10)
        assert pattern.fullmatch(text), text
    for text in ("2100-02-29", "2015-02-29", "2015-04-31", "2015-06-30T24", "2015-06-30T18:05:00.1234567"):
        with pytest.raises(RequestError):
            parse_predict_request({"instances": [trip(pickup_datetime=text)]}, 10)
        assert not pattern.fullmatch(text), text
