import json

import numpy as np
import pytest

from taxifare.core import stats
from taxifare.core.stats import MAX_CATEGORIES, bin_counts, bin_shares, reference_stats


def test_moments_and_edges_of_a_uniform_column():
    values = np.arange(1000, dtype=np.float64)
    stats = reference_stats({"x": values}, bins=4)["x"]
    assert stats["count"] == 1000
    assert stats["mean"] == pytest.approx(values.mean())
    assert stats["std"] == pytest.approx(values.std())
    assert (stats["min"], stats["max"]) == (0.0, 999.0)
    assert stats["edges"] == pytest.approx(list(np.quantile(values, [0, 0.25, 0.5, 0.75, 1])))
    assert stats["shares"] == pytest.approx([0.25] * 4)


def test_non_finite_values_are_left_out():
    stats = reference_stats({"x": np.array([1.0, np.nan, 3.0, np.inf])})["x"]
    assert stats["count"] == 2
    assert stats["mean"] == 2.0


def test_empty_and_constant_columns():
    stats = reference_stats({"empty": np.array([]), "const": np.full(10, 7.0)})
    assert stats["empty"] == {
        "count": 0,
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "edges": [],
        "shares": [],
    }
    assert stats["const"]["edges"] == [7.0]
    assert stats["const"]["shares"] == []


def test_discrete_column_has_unique_edges_and_shares_summing_to_one():
    values = np.array([1] * 80 + [2] * 10 + [5] * 10, dtype=np.float64)
    stats = reference_stats({"passengers": values}, bins=10)["passengers"]
    assert stats["edges"] == sorted(set(stats["edges"]))
    assert len(stats["shares"]) == len(stats["edges"]) - 1
    assert sum(stats["shares"]) == pytest.approx(1.0)


def test_output_is_json_serialisable():
    stats = reference_stats({"x": np.random.default_rng(0).normal(size=100).astype(np.float32)})
    assert json.loads(json.dumps(stats)) == stats


def test_values_outside_the_reference_range_land_in_the_outer_bins():
    assert bin_shares(np.array([-100.0, 0.5, 100.0, 100.0]), [0.0, 1.0, 2.0]) == [0.5, 0.5]


def test_fine_quantiles_count_every_value_in_up_to_100_bins():
    values = np.arange(1000, dtype=np.float64)
    quantiles = reference_stats({"x": values})["x"]["quantiles"]
    assert quantiles["edges"] == pytest.approx(list(np.quantile(values, np.linspace(0, 1, 101))))
    assert quantiles["counts"] == [10] * 100
    ties = reference_stats({"x": np.array([1.0] * 90 + [2.0] * 5 + [7.0] * 5)})["x"]["quantiles"]
    assert ties["edges"] == sorted(set(ties["edges"]))
    assert ties["counts"][0] == 90  # the tied values, all in the first bin
    assert sum(ties["counts"]) == 100


def test_whole_number_columns_get_their_category_counts():
    stats = reference_stats(
        {"passengers": np.array([1, 1, 1, 2, 6, 6], dtype=np.int64), "distance": np.array([0.5, 1.0, 2.5])}
    )
    assert stats["passengers"]["categories"] == {"values": [1, 2, 6], "counts": [3, 1, 2]}
    assert "categories" not in stats["distance"]
    many = reference_stats({"ids": np.arange(MAX_CATEGORIES + 1)})["ids"]
    assert "categories" not in many
    assert "quantiles" in many


def test_bin_counts_follow_the_binning_convention():
    # Only interior edges split; a value on one belongs to the bin on its right; NaN is left out.
    values = np.array([-5.0, 0.5, 1.0, 1.0, 2.5, 3.0, 9.0, np.nan])
    assert bin_counts(values, [0.0, 1.0, 2.0, 3.0]) == [2, 2, 3]
    assert bin_counts(values, [4.0]) == []


def test_bins_must_be_positive():
    with pytest.raises(ValueError, match="bins"):
        reference_stats({"x": np.ones(3)}, bins=0)
    with pytest.raises(ValueError, match="fine_bins"):
        reference_stats({"x": np.ones(3)}, fine_bins=0)


def test_the_expected_error_table_averages_each_prediction_bin():
    predictions = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    errors = np.array([0.1, 0.3, 0.2, 0.2, 2.0, 4.0, 3.0, 3.0])
    table = stats.expected_error_table(predictions, errors, bins=2)
    assert table["edges"] == [1.0, 7.0, 40.0]
    assert table["mae"] == pytest.approx([0.2, 3.0])
    assert table["count"] == [4, 4]
    # A prediction on an interior edge belongs to the bin on its right, as in reference_stats.
    on_edge = stats.expected_error_table(
        np.array([1.0, 7.0, 7.0, 40.0]), np.array([1.0, 2.0, 2.0, 2.0]), bins=2
    )
    assert on_edge["edges"] == [1.0, 7.0, 40.0] and on_edge["count"] == [1, 3]


def test_the_expected_error_table_of_constant_or_bad_input():
    constant = stats.expected_error_table(np.full(5, 12.0), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert constant == {"edges": [12.0, 12.0], "mae": [3.0], "count": [5]}
    with pytest.raises(ValueError, match="3 predictions but 2 errors"):
        stats.expected_error_table(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="no finite prediction"):
        stats.expected_error_table(np.array([np.nan]), np.array([1.0]))
