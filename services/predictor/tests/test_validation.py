import numpy as np
import pandas as pd
import pytest

from taxifare.core.trips.schema import model_inputs
from taxifare.predictor.validation import (
    RequestError,
    parse_actuals_request,
    parse_json,
    parse_predict_request,
)

TRIP = {
    "pickup_datetime": "2015-06-30T18:05:00",
    "pickup_longitude": -73.98,
    "pickup_latitude": 40.75,
    "dropoff_longitude": -73.87,
    "dropoff_latitude": 40.77,
    "passenger_count": 2,
}


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
