from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from taxifare.core import synth
from taxifare.core.trips import clean, empty_frame, haversine_km


@pytest.mark.parametrize(
    ("trip", "expected"),
    [
        # 2.50 + (10 fifths + 3 minutes) x 0.50 + MTA 0.50 + improvement 0.30
        (dict(pickup_datetime=datetime(2015, 6, 10, 14), metered_miles=2.0, slow_minutes=3), 9.80),
        # before 4 Sep 2012 a unit cost 0.40: 2.50 + 13 x 0.40 + 0.80
        (dict(pickup_datetime=datetime(2011, 3, 2, 14), metered_miles=2.0, slow_minutes=3), 8.50),
        # the last day of the $0.40 unit, then the first of the $0.50 one (1 mile: 5 fifths)
        (dict(pickup_datetime=datetime(2012, 9, 3, 12), metered_miles=1.0, slow_minutes=0), 5.30),
        (dict(pickup_datetime=datetime(2012, 9, 4, 12), metered_miles=1.0, slow_minutes=0), 5.80),
        # 19 Dec 2022 card, Friday rush hour, south of 96th: 3.00 + 13 x 0.70 + 2.50 + 0.50 + 1.00 + 2.50
        (
            dict(
                pickup_datetime=datetime(2023, 1, 13, 17, 30),
                metered_miles=2.0,
                slow_minutes=3,
                congestion=True,
            ),
            18.60,
        ),
        (dict(pickup_datetime=datetime(2022, 12, 18, 12), metered_miles=1.0, slow_minutes=0), 5.80),
        (dict(pickup_datetime=datetime(2022, 12, 19, 12), metered_miles=1.0, slow_minutes=0), 8.00),
        # JFK flat fare on a Saturday (no rush surcharge), plus MTA, improvement, congestion, a tunnel toll
        (
            dict(
                pickup_datetime=datetime(2023, 1, 14, 17),
                metered_miles=15,
                slow_minutes=20,
                kind="jfk_flat",
                congestion=True,
                tolls=6.94,
            ),
            80.94,
        ),
        # ... and on a Monday at 5pm with the $5 JFK rush surcharge
        (
            dict(
                pickup_datetime=datetime(2023, 1, 16, 17),
                metered_miles=15,
                slow_minutes=20,
                kind="jfk_flat",
                congestion=True,
            ),
            79.00,
        ),
        # the $45 flat fare before Sep 2012: 45 + 0.50 + 0.30
        (
            dict(
                pickup_datetime=datetime(2012, 1, 10, 10), metered_miles=15, slow_minutes=5, kind="jfk_flat"
            ),
            45.80,
        ),
        # Newark at night: 2.50 + (75 + 10) x 0.50 + night 0.50 + 0.50 + 0.30 + Newark 17.50 + tolls 12
        (
            dict(
                pickup_datetime=datetime(2014, 5, 5, 22),
                metered_miles=15,
                slow_minutes=10,
                kind="newark",
                tolls=12.0,
            ),
            75.80,
        ),
        # LaGuardia, 2023: only completed units count (41 fifths + 12 minutes):
        # 3.00 + 53 x 0.70 + 0.50 + 1.00 + 5.00
        (
            dict(pickup_datetime=datetime(2023, 2, 7, 9), metered_miles=8.3, slow_minutes=12.5, kind="lga"),
            46.60,
        ),
        # 3am: 1.19 miles is 5 completed fifths, 0.99 minutes no minute; 2.50 + 5 x 0.50 + night 0.50 + 0.80
        (dict(pickup_datetime=datetime(2013, 7, 1, 3), metered_miles=1.19, slow_minutes=0.99), 6.30),
    ],
)
def test_fares_follow_the_rate_card(trip, expected):
    assert synth.fare_for(**trip) == pytest.approx(expected, abs=1e-9)


def test_a_longer_or_slower_trip_never_costs_less():
    when = datetime(2024, 3, 5, 11)
    miles = np.linspace(0.2, 20, 60)
    by_distance = [synth.fare_for(when, m, 5) for m in miles]
    by_time = [synth.fare_for(when, 2, m) for m in miles]
    assert np.all(np.diff(by_distance) >= 0) and by_distance[-1] > by_distance[0]
    assert np.all(np.diff(by_time) >= 0) and by_time[-1] > by_time[0]


def test_trip_kinds_from_coordinates():
    # JFK -> Midtown, Midtown -> Upper West Side... as (pickup lon, lat, dropoff lon, lat)
    trips = np.array(
        [
            (-73.7822, 40.6441, -73.9840, 40.7549),  # JFK to Midtown: flat fare, congestion zone
            (-73.9840, 40.7549, -73.9470, 40.8090),  # Midtown to Harlem: metered, congestion zone
            (-73.9470, 40.8090, -73.9460, 40.8150),  # within Harlem: north of 96th, no congestion
            (-73.8720, 40.7740, -73.9580, 40.7140),  # LaGuardia to Williamsburg
            (-73.9840, 40.7549, -74.1810, 40.6900),  # Midtown to Newark
            (-73.7822, 40.6441, -73.9580, 40.7140),  # JFK to Brooklyn: metered
        ]
    )
    kind, congestion = synth.trip_kinds(*trips.T)
    assert kind.tolist() == [synth.JFK_FLAT, synth.CITY, synth.CITY, synth.LGA, synth.NEWARK, synth.CITY]
    assert congestion.tolist() == [True, True, False, False, True, False]


@pytest.fixture(scope="module")
def year_2013():
    return synth.generate(40_000, date(2013, 1, 1), date(2013, 12, 31), seed=7)


def test_generated_trips_are_canonical_and_clean(year_2013):
    assert year_2013.dtypes.equals(empty_frame().dtypes)
    assert year_2013["pickup_datetime"].is_monotonic_increasing
    assert year_2013["pickup_datetime"].dt.year.unique().tolist() == [2013]
    kept, dropped = clean(year_2013)
    assert dropped == {} and len(kept) == 40_000
    assert set(year_2013["passenger_count"].unique()) == {1, 2, 3, 4, 5, 6}


def test_generated_fares_are_realistic(year_2013):
    per_road_mile = (year_2013["fare_amount"] / year_2013["trip_distance"]).median()
    assert 4.0 < per_road_mile < 8.0
    assert 1.2 < year_2013["trip_distance"].median() < 3.0  # NYC's median cab ride is under 2 miles
    assert 8.0 < year_2013["fare_amount"].median() < 15.0
    # Never below the cheapest possible ride: initial charge plus MTA and improvement surcharges.
    assert year_2013["fare_amount"].min() >= 2.50 + 0.50 + 0.30
    hours = year_2013["pickup_datetime"].dt.hour.value_counts()
    assert hours[19] > 3 * hours[5]  # evening peak, early-morning lull


def test_airports_and_flat_fares_appear(year_2013):
    f = year_2013
    kind, _ = synth.trip_kinds(
        *(
            f[c].to_numpy()
            for c in ("pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude")
        )
    )
    assert 0.02 < (kind != synth.CITY).mean() < 0.12
    flat = f["fare_amount"][kind == synth.JFK_FLAT]
    # $52 flat fare + surcharges (+ rush, congestion, maybe a toll)
    assert flat.min() >= 52.80 and flat.median() < 70


def test_same_seed_same_trips_other_seed_other_trips():
    a = synth.generate(2000, date(2024, 1, 1), date(2024, 1, 31), seed=3)
    b = synth.generate(2000, date(2024, 1, 1), date(2024, 1, 31), seed=3)
    c = synth.generate(2000, date(2024, 1, 1), date(2024, 1, 31), seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["fare_amount"].equals(c["fare_amount"])


def _before_after(frame, day):
    after = frame["pickup_datetime"] >= pd.Timestamp(day)
    return frame[~after], frame[after]


def test_covariate_shift_changes_trips_not_prices():
    shift = date(2025, 3, 1)
    frame = synth.generate(
        30_000, date(2025, 2, 1), date(2025, 3, 31), synth.make_scenario("covariate", shift), seed=1
    )
    before, after = _before_after(frame, shift)
    assert after["trip_distance"].median() > 1.5 * before["trip_distance"].median()
    night = lambda f: f["pickup_datetime"].dt.hour.isin([0, 1, 2, 3]).mean()  # noqa: E731
    assert night(after) > 2 * night(before)
    # Same rate card: a short city ride costs the same per mile before and after.
    short = lambda f: f[(f["trip_distance"] > 1) & (f["trip_distance"] < 3)]  # noqa: E731
    ratio = (short(after)["fare_amount"] / short(after)["trip_distance"]).median() / (
        short(before)["fare_amount"] / short(before)["trip_distance"]
    ).median()
    assert 0.9 < ratio < 1.1


def test_concept_shift_changes_prices_not_trips():
    shift = date(2025, 3, 1)
    frame = synth.generate(
        30_000, date(2025, 2, 1), date(2025, 3, 31), synth.make_scenario("concept", shift), seed=1
    )
    before, after = _before_after(frame, shift)
    assert after["trip_distance"].median() == pytest.approx(before["trip_distance"].median(), rel=0.1)
    per_mile = lambda f: (f["fare_amount"] / f["trip_distance"]).median()  # noqa: E731
    assert per_mile(after) > 1.15 * per_mile(before)


def test_a_base_card_prices_the_trips_before_the_shift():
    """A stream whose card changed earlier: before the next change, trips are priced by that card."""
    shift = date(2025, 3, 1)
    scenario = synth.Scenario("next", shift, base_card=synth.CARD_NEXT, new_card=synth.CARD_2022)
    frame = synth.generate(20_000, date(2025, 2, 1), date(2025, 3, 31), scenario, seed=1)
    official = synth.generate(20_000, date(2025, 2, 1), date(2025, 3, 31), seed=1)
    before, after = _before_after(frame, shift)
    official_before, official_after = _before_after(official, shift)
    assert before["fare_amount"].mean() > 1.15 * official_before["fare_amount"].mean()
    # From the shift on, the official card again: fares as without a base card.
    assert after["fare_amount"].mean() == pytest.approx(official_after["fare_amount"].mean(), rel=0.03)


def test_gradual_shift_grows_day_by_day():
    shift = date(2025, 3, 1)
    scenario = synth.make_scenario("gradual", shift, ramp_days=28)
    frame = synth.generate(40_000, date(2025, 2, 1), date(2025, 4, 30), scenario, seed=2)
    weekly = frame.groupby(frame["pickup_datetime"].dt.to_period("W"))["trip_distance"].median()
    before = weekly[weekly.index.start_time < pd.Timestamp(shift)].iloc[:-1]
    ramp = weekly[
        (weekly.index.start_time >= pd.Timestamp(shift))
        & (weekly.index.start_time < pd.Timestamp("2025-03-29"))
    ]
    after = weekly[weekly.index.start_time >= pd.Timestamp("2025-04-01")]
    assert ramp.is_monotonic_increasing
    assert before.max() < ramp.iloc[0] and ramp.iloc[-1] < after.median() * 1.05
    assert scenario.shifted_share(
        np.array(["2025-02-28", "2025-03-14", "2025-04-10"], dtype="datetime64[D]")
    ).tolist() == [
        0.0,
        0.5,
        1.0,
    ]


def test_scenario_mistakes_are_explained():
    with pytest.raises(ValueError, match="unknown scenario 'drifty'; choose one of stationary, covariate"):
        synth.make_scenario("drifty")
    with pytest.raises(ValueError, match="'concept' needs a shift date"):
        synth.make_scenario("concept")
    with pytest.raises(ValueError, match="before start date"):
        synth.generate(10, date(2025, 2, 1), date(2025, 1, 1))


def test_straight_line_distance_is_shorter_than_the_road():
    f = synth.generate(5000, date(2024, 1, 1), date(2024, 1, 7), seed=9)
    straight = (
        haversine_km(
            f["pickup_longitude"], f["pickup_latitude"], f["dropoff_longitude"], f["dropoff_latitude"]
        )
        / 1.609344
    )
    assert (f["trip_distance"] >= straight.round(2) - 0.01).all()
