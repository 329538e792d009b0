from datetime import datetime

import numpy as np
import pytest

from taxifare.core.trips import COLUMNS, drift_features
from taxifare.traffic_gen.trips import TripSource, draw_trips

NOW = datetime(2016, 5, 10, 9, 30)


def test_trips_are_canonical_and_never_in_the_future():
    trips = draw_trips("normal", 2000, days=3, seed=1, now=NOW)
    assert list(trips.columns) == list(COLUMNS) and len(trips) == 2000
    assert trips["pickup_datetime"].max() <= NOW
    assert trips["pickup_datetime"].min() >= datetime(2016, 5, 7)


def test_drift_mode_moves_the_inputs():
    normal = drift_features(draw_trips("normal", 4000, seed=2, now=NOW))
    drift = drift_features(draw_trips("drift", 4000, seed=2, now=NOW))
    assert drift["distance_km"].median() > 1.5 * normal["distance_km"].median()


def test_concept_mode_keeps_the_inputs_but_raises_the_fares():
    normal = draw_trips("normal", 4000, seed=3, now=NOW)
    concept = draw_trips("concept", 4000, seed=3, now=NOW)
    km_normal, km_concept = (drift_features(t)["distance_km"] for t in (normal, concept))
    assert km_concept.median() == pytest.approx(km_normal.median(), rel=0.1)
    per_km = [
        np.median(t["fare_amount"] / np.maximum(k, 0.5))
        for t, k in ((normal, km_normal), (concept, km_concept))
    ]
    assert per_km[1] > 1.15 * per_km[0]


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="normal, drift, concept"):
        draw_trips("chaos", 10, now=NOW)


def test_source_hands_out_distinct_batches_across_chunks():
    source = TripSource("normal", days=1, seed=4, now=NOW, chunk=50)
    batches = [source.take(30) for _ in range(5)]
    assert all(len(b) == 30 for b in batches)
    keys = {
        tuple(row)
        for b in batches
        for row in b[["pickup_datetime", "pickup_longitude"]].itertuples(index=False)
    }
    assert len(keys) == 150
