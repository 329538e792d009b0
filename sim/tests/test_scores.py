from datetime import date, datetime

import pandas as pd

from taxifare.sim.scores import Retrain, _longest_run_of_rejections, detection_delays
from taxifare.sim.streams import Event, Stream


def stream_with(*events: Event) -> Stream:
    return Stream("constructed", pd.DataFrame(), datetime(2023, 1, 1), datetime(2023, 5, 1), events, {})


def retrain(at: str, deployed: bool | None) -> Retrain:
    return Retrain(at=at, triggered_by="t", reason="r", status="succeeded", deployed=deployed)


def test_the_delay_is_to_the_first_deploying_retrain_after_the_event_and_before_the_next():
    stream = stream_with(
        Event("benign", date(2023, 1, 31), date(2023, 1, 31), benign=True),
        Event("card", date(2023, 3, 2), date(2023, 3, 2)),
        Event("gradual", date(2023, 4, 1), date(2023, 4, 21)),
    )
    retrains = [
        retrain("2023-02-03T00:00:00", False),  # after the benign change: rejected, cures nothing
        retrain("2023-03-01T00:00:00", True),  # deployed 29 days after the benign change, before the card
        retrain("2023-03-05T12:00:00", None),  # failed before a decision
        retrain("2023-03-09T06:00:00", True),  # the cure: 7.25 days after the card change
        retrain("2023-03-20T00:00:00", True),  # a later one does not count
        retrain("2023-04-25T00:00:00", True),
    ]
    assert detection_delays(stream, retrains) == {"benign": 29.0, "card": 7.25, "gradual": 24.0}


def test_a_cure_after_the_stream_ends_or_none_at_all_is_none():
    stream = stream_with(Event("card", date(2023, 4, 20), date(2023, 4, 20)))
    assert detection_delays(stream, []) == {"card": None}
    assert detection_delays(stream, [retrain("2023-05-02T00:00:00", True)]) == {"card": None}


def test_rejections_in_a_row_are_counted_between_deploys():
    decided = [
        retrain(f"2023-01-0{i}T00:00:00", d)
        for i, d in enumerate([False, True, False, False, False, True, False], 1)
    ]
    assert _longest_run_of_rejections(decided) == 3
    assert _longest_run_of_rejections([]) == 0
