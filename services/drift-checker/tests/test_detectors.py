import math

import numpy as np
import pytest

from taxifare.core import synth
from taxifare.core.stats import reference_stats
from taxifare.drift_checker import detectors
from taxifare.drift_checker.detectors import Basis, ColumnWindow, Thresholds
from taxifare.drift_checker.window import DISCRETE_COLUMNS, DRIFT_COLUMNS, column_window

PASSENGERS = np.arange(1, 7)


@pytest.mark.parametrize("x", [0.1, 1.0, 3.84, 10.0, 40.0])
def test_chi2_sf_matches_closed_forms(x):
    # dof 2: exp(-x/2); dof 1: erfc(sqrt(x/2)) -- independent of the series/continued fraction.
    assert detectors.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    assert detectors.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-7)


def test_chi2_sf_at_a_tabulated_critical_value():
    assert detectors.chi2_sf(18.307, 10) == pytest.approx(0.05, abs=1e-4)


def test_kolmogorov_pvalue_at_the_asymptotic_critical_value():
    n = 1e12
    assert detectors.kolmogorov_pvalue(1.3581 / math.sqrt(n), n) == pytest.approx(0.05, abs=1e-3)
    assert detectors.kolmogorov_pvalue(0.0, 100) == 1.0


def test_ks_two_sample_on_constructed_counts():
    # CDFs at the edges: reference 0.5, 1.0; window 10/40 = 0.25, 1.0. Effective size 100*40/140.
    d, p = detectors.ks_two_sample([50, 50], [10, 30])
    assert d == pytest.approx(0.25)
    assert p == pytest.approx(detectors.kolmogorov_pvalue(0.25, 100 * 40 / 140))
    assert 0.04 < p < 0.05  # lambda = (5.345 + 0.12 + 0.021) * 0.25 = 1.37, just past 1.358 (5 %)


def test_chi_square_homogeneity_on_a_two_by_two_table():
    # Pooled shares 0.5/0.5, every expected count 50: statistic 4 * 10^2 / 50 = 8 with one degree of freedom.
    statistic, dof, p = detectors.chi_square_homogeneity([60, 40], [40, 60])
    assert (statistic, dof) == (pytest.approx(8.0), 1)
    assert p == pytest.approx(math.erfc(2.0), rel=1e-7)


def test_rare_cells_are_pooled_into_one():
    # The smaller sample has 100 values: cells expected to hold 4 and 1 of them are pooled (5).
    ref, win = detectors.pool_rare([500, 300, 150, 40, 10], [50, 30, 15, 4, 1])
    assert ref.tolist() == [500, 300, 150, 50]
    assert win.tolist() == [50, 30, 15, 5]
    # A pooled cell expecting less than one value joins the smallest other cell: nothing left to test.
    assert detectors.chi_square_homogeneity([995, 5], [100, 0]) == (0.0, 0, 1.0)


def test_a_category_the_reference_never_saw_is_tested():
    # Half the window takes a value absent from the reference: its pooled cell expects 3.8 of 200.
    statistic, dof, p = detectors.chi_square_homogeneity([5000, 0], [100, 100])
    # The 2x2 closed form N (ad - bc)^2 / (product of the margins).
    assert statistic == pytest.approx(5200 * (5000 * 100) ** 2 / (5000 * 200 * 5100 * 100))
    assert dof == 1
    assert p < 1e-50


def test_total_variation_on_constructed_shares():
    assert detectors.total_variation([1, 1], [3, 1]) == pytest.approx(0.25)
    assert detectors.total_variation([2, 0], [0, 5]) == pytest.approx(1.0)


def test_basis_is_the_finest_the_reference_has():
    new = reference_stats({"n": np.array([1, 1, 2, 3]), "x": np.arange(1000.0)})
    assert detectors.basis_of(new["n"], discrete=True) == Basis(
        "categories", (2, 1, 1), values=(1.0, 2.0, 3.0)
    )
    fine = detectors.basis_of(new["x"], discrete=False)
    assert (fine.kind, len(fine.counts), len(fine.edges)) == ("quantiles", 100, 101)
    # Stored before fine quantiles and categories: the ten coarse bins, counts from shares.
    old = {"count": 200, "edges": [1.0, 2.0, 6.0], "shares": [0.75, 0.25], "mean": 1.4}
    assert detectors.basis_of(old, discrete=True) == Basis("coarse", (150, 50), edges=(1.0, 2.0, 6.0))
    assert detectors.basis_of(reference_stats({"c": np.ones(10)})["c"], discrete=False) is None
    assert detectors.basis_of({}, discrete=False) is None


def test_statistics_that_do_not_hold_together_are_passed_over():
    broken = {"quantiles": {"edges": [0.0, 1.0, 2.0], "counts": [5]}, "categories": {"values": ["a"], "counts": [1]},
              "count": 10, "edges": [0.0, 2.0], "shares": [1.0]}  # fmt: skip
    assert detectors.basis_of(broken, discrete=True) == Basis("coarse", (10,), edges=(0.0, 2.0))
    assert (
        detectors.basis_of({"quantiles": {"edges": "x", "counts": None}, "shares": ["?"], "count": 3}, False)
        is None
    )


def test_column_drift_needs_both_significance_and_distance():
    basis = Basis("quantiles", (50_000, 50_000), edges=(0.0, 1.0, 2.0))
    # 30,000 values, CDF 0.52 at the middle edge against 0.5: distance 0.02, and with these sizes
    # (effective 23,077) far beyond chance.
    window = ColumnWindow(30_000, 30_000.0, counts=(15_600, 14_400))
    drift = detectors.column_drift("x", basis, window, alpha=0.05, min_distance=0.01)
    assert (drift.method, drift.statistic, drift.distance) == ("ks", pytest.approx(0.02), pytest.approx(0.02))
    assert drift.p_value == pytest.approx(detectors.kolmogorov_pvalue(0.02, 100_000 * 30_000 / 130_000))
    assert drift.p_value < 1e-6
    assert drift.drifted
    small = detectors.column_drift("x", basis, window, alpha=0.05, min_distance=0.05)
    assert not small.drifted  # the same p-value, but the distance is below the floor
    assert (small.basis, small.cells, small.min_distance, small.threshold) == ("quantiles", 2, 0.05, 0.05)
    unsure = detectors.column_drift("x", Basis("quantiles", (500, 500), basis.edges), window, 0.05, 0.01)
    assert unsure.p_value > 0.5  # the distance is there, but a 1,000-value reference cannot tell
    assert not unsure.drifted


def test_column_drift_on_categories_aligns_new_values():
    basis = Basis("categories", (60, 40), values=(1.0, 2.0))
    window = ColumnWindow(100, 170.0, categories={1.0: 40, 2.0: 50, 3.0: 10})
    drift = detectors.column_drift("n", basis, window, alpha=0.05, min_distance=0.0)
    assert drift.method == "chi_square"
    assert drift.distance == pytest.approx((0.2 + 0.1 + 0.1) / 2)  # shares 0.6/0.4/0 against 0.4/0.5/0.1
    expected = detectors.chi_square_homogeneity([60, 40, 0], [40, 50, 10])
    assert (drift.statistic, drift.p_value) == (pytest.approx(expected[0]), pytest.approx(expected[2]))
    assert drift.cells == 3


def test_empty_window_and_missing_reference_are_skipped():
    basis = Basis("quantiles", (1, 1), edges=(0.0, 1.0, 2.0))
    assert detectors.column_drift("x", basis, ColumnWindow(0, 0.0), 0.05, 0.0).method == "skipped"
    assert detectors.column_drift("x", None, ColumnWindow(5, 1.0), 0.05, 0.0).method == "skipped"


def test_columns_share_alpha_bonferroni_style():
    rng = np.random.default_rng(0)
    data = {"a": rng.normal(size=1000), "b": rng.normal(size=1000), "c": np.ones(1000)}
    references = reference_stats(data)
    windows = {name: column_window(values[:200], references[name].get("quantiles", {}).get("edges", []))
               for name, values in data.items()}  # fmt: skip
    drifts = detectors.column_drifts(references, windows, set(), Thresholds(alpha=0.01))
    assert [d.method for d in drifts] == ["ks", "ks", "skipped"]
    assert [d.threshold for d in drifts[:2]] == [0.005, 0.005]  # two columns can be tested


def passenger_windows(n: int, swap: bool, rng: np.random.Generator) -> np.ndarray:
    values = rng.choice(PASSENGERS, n, p=synth.PASSENGER_SHARES)
    if swap:
        values[values == 5] = 6
    return values


@pytest.mark.parametrize("n", [1000, 5000, 20_000])
def test_the_passenger_count_swap_is_seen_on_categories_and_missed_on_coarse_bins(n):
    """Every 5-passenger trip recorded as 6. A reference stored before category counts has ten quantile
    bins, and 5 and 6 always share the last one (90 % of trips have at most four passengers)."""
    rng = np.random.default_rng(n)
    thresholds = Thresholds()
    seen = {"categories": 0, "coarse": 0}
    for _ in range(20):
        reference = reference_stats({"passenger_count": passenger_windows(5000, False, rng)})[
            "passenger_count"
        ]
        legacy = {key: reference[key] for key in ("count", "mean", "edges", "shares")}
        window = passenger_windows(n, True, rng)
        for kind, stored in (("categories", reference), ("coarse", legacy)):
            basis = detectors.basis_of(stored, discrete=True)
            assert basis.kind == kind
            observed = column_window(window, basis.edges, basis.categorical)
            # One of the eight columns' share of the distribution signal's alpha.
            drift = detectors.column_drift(
                "passenger_count", basis, observed, thresholds.alpha / 8, thresholds.min_distance
            )
            seen[kind] += drift.drifted
    assert seen == {"categories": 20, "coarse": 0}


@pytest.mark.parametrize("discrete", [False, True])
def test_one_column_keeps_its_nominal_false_alarm_rate_at_every_size(discrete):
    """At alpha 5 % for one column, the share of stationary windows flagged stays near or below 5 %."""
    rng = np.random.default_rng(2)
    # Hours: sparse categories in small windows (the quietest hour holds 1 % of trips).
    hours = np.asarray(synth.NORMAL_HOURS, dtype=float)

    def draw(size):
        return rng.choice(24, size, p=hours / hours.sum()) if discrete else rng.gamma(2, 3, size)

    for n in (200, 1000, 5000, 20_000):
        alarms = 0
        for _ in range(200):
            reference = reference_stats({"x": draw(5000)})["x"]
            basis = detectors.basis_of(reference, discrete)
            window = column_window(draw(n), basis.edges, basis.categorical)
            alarms += detectors.column_drift("x", basis, window, alpha=0.05, min_distance=0.0).drifted
        # Nominal 5 %: binned KS is conservative, chi-square close to nominal; 9 % allows sampling noise.
        assert alarms / 200 <= 0.09, n


def test_sparse_categories_keep_the_false_alarm_rate():
    """265 zone-like categories with Zipf shares in 200-row windows: most cells expect less than one."""
    rng = np.random.default_rng(3)
    shares = 1.0 / np.arange(1, 266)
    shares /= shares.sum()
    alarms = 0
    for _ in range(300):
        reference = reference_stats({"zone": rng.choice(265, 5000, p=shares)})["zone"]
        basis = detectors.basis_of(reference, discrete=True)
        window = column_window(rng.choice(265, 200, p=shares), categorical=True)
        alarms += detectors.column_drift("zone", basis, window, alpha=0.05, min_distance=0.0).drifted
    assert alarms / 300 <= 0.09


@pytest.mark.slow
def test_stationary_windows_raise_the_distribution_signal_at_most_alpha_of_the_time(sim):
    """Synthetic traffic, a fresh 5,000-trip reference per window, windows from 200 to 20,000 trips."""
    rng = np.random.default_rng(4)
    sizes = (200, 1000, 5000, 20_000)
    thresholds = Thresholds()  # alpha 0.5 %
    alarms = dict.fromkeys(sizes, 0)
    for _ in range(100):
        reference = reference_stats({c: v for c, v in sim.trips(rng, 5000).items() if c in DRIFT_COLUMNS})
        bases = {c: detectors.basis_of(reference[c], c in DISCRETE_COLUMNS) for c in DRIFT_COLUMNS}
        traffic = sim.trips(rng, sizes[-1])
        order = rng.permutation(sizes[-1])  # trips come sorted by time: each window a random subset
        for n in sizes:
            windows = {
                c: column_window(traffic[c][order[:n]], b.edges, b.categorical) for c, b in bases.items()
            }
            drifts = detectors.column_drifts(reference, windows, DISCRETE_COLUMNS, thresholds)
            alarms[n] += detectors.distribution_signal(drifts, thresholds).fired
    # Nominal at most 0.5 %; 2 of 100 allows sampling noise. A fixed threshold on a distance would fail
    # here (Evidently's raises a quarter of 200-row windows).
    assert all(count <= 2 for count in alarms.values()), alarms


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.10, 0.35])
def test_detection_grows_with_the_window(sim, share):
    """A share of the trips from the covariate shift (longer, airport, night trips): the short form of
    bench/drift_stats.py. Detection never falls as the window grows, and a 35 % share is seen in every
    window of 5,000 trips and more."""
    rng = np.random.default_rng(5)
    sizes = (200, 1000, 5000, 20_000)
    thresholds = Thresholds()
    detected = dict.fromkeys(sizes, 0)
    for _ in range(20):
        reference = reference_stats({c: v for c, v in sim.trips(rng, 5000).items() if c in DRIFT_COLUMNS})
        bases = {c: detectors.basis_of(reference[c], c in DISCRETE_COLUMNS) for c in DRIFT_COLUMNS}
        shifted = round(share * sizes[-1])
        normal, drifted = sim.trips(rng, sizes[-1] - shifted), sim.trips(rng, shifted, sim.COVARIATE_SHIFT)
        order = rng.permutation(sizes[-1])
        traffic = {c: np.concatenate([normal[c], drifted[c]])[order] for c in DRIFT_COLUMNS}
        for n in sizes:
            windows = {c: column_window(traffic[c][:n], b.edges, b.categorical) for c, b in bases.items()}
            drifts = detectors.column_drifts(reference, windows, DISCRETE_COLUMNS, thresholds)
            detected[n] += detectors.distribution_signal(drifts, thresholds).fired
    counts = [detected[n] for n in sizes]
    assert counts == sorted(counts), detected
    if share >= 0.35:
        assert (detected[5000], detected[20_000]) == (20, 20), detected
    else:
        assert detected[20_000] > detected[1000], detected  # power grows with the window


def drift(name, drifted, basis="quantiles"):
    return detectors.ColumnDrift(name, "ks", 0.1, 0.001, 0.005, drifted, 1.0, 1.0, 0.1, 0.01, basis, 100)


def test_distribution_signal_fires_on_any_drifted_column_unless_a_share_is_asked():
    one = [drift("a", True), drift("b", False), drift("c", False)]
    signal = detectors.distribution_signal(one, Thresholds())
    assert signal.fired
    assert signal.statistics["drifted"] == ["a"]
    assert signal.detail.startswith("1 of 3 columns drifted (a 0.100; distance >= 0.01 and p < 0.005)")
    assert not detectors.distribution_signal(one, Thresholds(drift_share=0.5)).fired
    assert not detectors.distribution_signal([drift("a", False)], Thresholds()).fired


def test_distribution_signal_says_when_the_reference_has_only_coarse_bins():
    signal = detectors.distribution_signal(
        [drift("a", False, "coarse"), drift("b", False, "categories")], Thresholds()
    )
    assert signal.statistics["coarse"] == ["a"]
    assert (
        "1 compared on the ten coarse bins of reference statistics stored before fine quantiles"
        in signal.detail
    )


def test_mean_gap_fires_beyond_the_threshold():
    thresholds = Thresholds(mean_gap=0.3)
    assert detectors.mean_gap_signal(10.0, 5.0, 11.0, thresholds).fired is False
    fired = detectors.mean_gap_signal(10.0, 5.0, 12.0, thresholds)
    assert fired.fired
    assert fired.statistics["gap"] == pytest.approx(0.4)
    assert "gap 0.40" in fired.detail


def test_mean_gap_without_label_statistics_is_not_evaluated():
    assert not detectors.mean_gap_signal(None, None, 12.0, Thresholds()).evaluated


def test_performance_needs_both_ratio_and_significance():
    thresholds = Thresholds(mae_ratio=1.2, mae_z=3.0)
    # 30 % worse but from 4 wildly varying errors: not significant.
    noisy = np.array([0.1, 0.1, 0.1, 5.0])
    assert not detectors.performance_signal(1.0, 4, noisy.sum(), (noisy**2).sum(), thresholds).fired
    steady = np.full(400, 1.3) + np.random.default_rng(3).normal(0, 0.2, 400)
    signal = detectors.performance_signal(1.0, 400, steady.sum(), (steady**2).sum(), thresholds)
    assert signal.fired
    assert signal.statistics["ratio"] == pytest.approx(steady.mean())
    # Significant but only 10 % worse: below the ratio.
    slight = np.full(400, 1.1)
    assert not detectors.performance_signal(1.0, 400, slight.sum(), (slight**2).sum(), thresholds).fired
