"""Drifted traffic reaches the model: every trip the traffic generator sends, in every mode, passes the
input bounds of a model trained on a small window of normal trips (the trainer's bounds, read by the
predictor's own validator); only points far beyond the metro area are refused."""

from datetime import datetime

import pytest

from taxifare.predictor.validation import InputBounds, RequestError, parse_predict_request
from taxifare.traffic_gen.sender import instances_of
from taxifare.traffic_gen.trips import MODES, draw_trips
from taxifare.trainer.training import input_bounds

NOW = datetime(2026, 3, 1, 12)
MAX_INSTANCES = 1000


@pytest.fixture(scope="module")
def bounds() -> InputBounds:
    # As small a training window as the demo's: the narrowest area a model is trained on.
    window = draw_trips("normal", 1000, days=2, seed=7, now=NOW)
    return InputBounds.of_model("v1", input_bounds(window))


@pytest.mark.parametrize("mode", MODES)
def test_every_trip_of_every_traffic_mode_is_accepted(bounds, mode):
    trips = draw_trips(mode, 500_000, days=3, seed=11, now=NOW)
    for name, (low, high) in bounds.coordinates.items():
        outside = trips.loc[~trips[name].between(low, high), name]
        assert outside.empty, (
            f"{len(outside)} {mode} trips outside {name} [{low}, {high}]: {outside.head().tolist()}"
        )
    # The validator itself, on requests as the sender builds them.
    instances = instances_of(trips.iloc[:20_000], "run", 0)
    for start in range(0, len(instances), MAX_INSTANCES):
        batch = parse_predict_request(
            {"instances": instances[start : start + MAX_INSTANCES]}, MAX_INSTANCES, bounds
        )
        assert len(batch) == MAX_INSTANCES


def test_a_point_far_beyond_the_metro_area_is_refused(bounds):
    # The old outer box reached Virginia: a model trained on NYC trips answered absurd fares there.
    trip = instances_of(draw_trips("normal", 1, seed=1, now=NOW), "run", 0)[0]
    with pytest.raises(RequestError) as refused:
        parse_predict_request({"instances": [{**trip, "pickup_latitude": 37.5}]}, MAX_INSTANCES, bounds)
    assert refused.value.details[0]["field"] == "instances[0].pickup_latitude"
    assert "the area model 'v1' was trained on" in refused.value.details[0]["message"]
