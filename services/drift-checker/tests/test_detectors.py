import math

import numpy as np
import pytest

from taxifare.core.stats import reference_stats
from taxifare.drift_checker import detectors
from taxifare.drift_checker.detectors import ColumnWindow, Thresholds


def window_of(values: np.ndarray, edges: list[float]) -> ColumnWindow:
    return ColumnWindow(
        count=values.size, total=float(values.sum()), total_sq=float((values**2).sum()),
        minimum=float(values.min()), maximum=float(values.max()),
        below=tuple(int((values < e).sum()) for e in edges),
    )  # fmt: skip


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


def test_jensen_shannon_distance_bounds():
    assert detectors.jensen_shannon_distance(np.array([0.5, 0.5]), np.array([5, 5])) == pytest.approx(0.0)
    assert detectors.jensen_shannon_distance(np.array([1.0, 0.0]), np.array([0, 3])) == pytest.approx(
        math.sqrt(math.log(2))
    )


def test_window_bin_counts_follow_the_reference_binning_convention():
    # Values on an interior edge belong to the bin on the right, outside values to the outer bins.
    reference = {"edges": [0.0, 1.0, 2.0, 3.0], "shares": [1 / 3] * 3}
    values = np.array([-5.0, 0.5, 1.0, 1.0, 2.5, 3.0, 9.0])
    counts = detectors.window_bin_counts(reference, window_of(values, reference["edges"]))
    assert counts.tolist() == [2, 2, 3]


@pytest.mark.parametrize(
    ("n", "discrete", "method"),
    [(300, False, "ks"), (300, True, "chi_square"), (5000, False, "psi"), (5000, True, "jensen_shannon")],
)
def test_the_test_depends_on_sample_size_and_column_kind(n, discrete, method):
    rng = np.random.default_rng(0)
    reference = reference_stats({"x": rng.integers(0, 24, 20_000)}, bins=10)["x"]
    window = window_of(rng.integers(0, 24, n).astype(float), reference["edges"])
    drift = detectors.column_drift("x", reference, window, discrete, Thresholds())
    assert drift.method == method
    assert not drift.drifted


@pytest.mark.parametrize(("n", "discrete"), [(300, False), (300, True), (5000, False), (5000, True)])
def test_a_shift_is_flagged_by_every_test(n, discrete):
    rng = np.random.default_rng(1)
    reference = reference_stats({"x": rng.poisson(6, 20_000)}, bins=10)["x"]
    window = window_of(rng.poisson(8, n).astype(float), reference["edges"])
    assert detectors.column_drift("x", reference, window, discrete, Thresholds()).drifted


def test_a_constant_reference_column_is_skipped():
    reference = reference_stats({"x": np.ones(100)})["x"]
    window = window_of(np.ones(10), reference["edges"])
    assert detectors.column_drift("x", reference, window, False, Thresholds()).method == "skipped"


@pytest.mark.parametrize("discrete", [False, True])
def test_small_sample_tests_keep_their_false_alarm_rate(discrete):
    rng = np.random.default_rng(2)
    draw = (
        (lambda size: rng.integers(1, 7, size).astype(float))
        if discrete
        else (lambda size: rng.gamma(2, 3, size))
    )
    reference = reference_stats({"x": draw(20_000)}, bins=10)["x"]
    thresholds = Thresholds()
    alarms = sum(
        detectors.column_drift(
            "x", reference, window_of(draw(200), reference["edges"]), discrete, thresholds
        ).drifted
        for _ in range(400)
    )
    # Nominal 5 %: binned KS is conservative, chi-square close to nominal; 8 % allows sampling noise.
    assert alarms / 400 <= 0.08


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


def test_distribution_signal_uses_the_share_of_drifted_columns():
    def drift(name, drifted):
        return detectors.ColumnDrift(name, "ks", 0.1, 0.01, 0.05, drifted, 1.0, 1.0)

    thresholds = Thresholds(drift_share=0.5)
    few = detectors.distribution_signal([drift("a", True), drift("b", False), drift("c", False)], thresholds)
    many = detectors.distribution_signal([drift("a", True), drift("b", True), drift("c", False)], thresholds)
    assert (few.fired, many.fired) == (False, True)
    assert many.statistics["drifted"] == ["a", "b"]
