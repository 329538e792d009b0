"""The drift signals, as pure functions of aggregated window statistics (no I/O).

The database hands over, per column, only aggregates over the window: count, sum, sum of squares,
min, max, and the number of values below each reference bin edge (see `window.py`). Everything here
works from those, so a check costs the same whatever the size of the predictions table.

Distribution tests follow Evidently's sample-size-aware defaults, adapted to binned data:

| column kind | window <= `small_sample_max` rows | larger windows |
|---|---|---|
| continuous | binned two-sample Kolmogorov-Smirnov, p < `ks_alpha` | population stability index > `psi` |
| discrete | chi-square homogeneity, p < `chi2_alpha` | Jensen-Shannon distance > `jensen_shannon` |

Why binned: the exact KS statistic needs every value of the window; the reference stores only its
quantile bins (`taxifare.core.stats`). The KS statistic evaluated at the reference's quantile edges is
a lower bound of the exact one, so the binned test is slightly conservative (fewer false alarms, a
little less power against shifts inside one bin); with ten quantile bins it still sees the shifts that
matter here. For large windows Evidently's default is the normalised Wasserstein distance, which needs
the values inside each bin: estimated from bins, the wide outer quantile bins (tails, airports) made it
noisy enough to raise false alarms on stationary data. PSI, the other distance Evidently offers, is
defined on exactly these bins, and its noise shrinks as the window grows.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

from taxifare.core.stats import population_stability_index

# Chi-square needs about five expected values a cell; rarer reference bins are merged with a neighbour.
_MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class Thresholds:
    """When a signal fires. Defaults follow Evidently's and the original design's."""

    mean_gap: float = 0.3  # |prediction mean - label mean| / label std
    small_sample_max: int = 1000  # up to this many window rows, statistical tests; above, distances
    ks_alpha: float = 0.05
    chi2_alpha: float = 0.05
    psi: float = 0.1  # population stability index over the reference's quantile bins
    jensen_shannon: float = 0.1
    drift_share: float = 0.5  # share of drifted columns that makes the window drifted
    mae_ratio: float = 1.2  # realised MAE / evaluation MAE
    mae_z: float = 3.0  # and the excess must be this many standard errors above the evaluation MAE


@dataclass(frozen=True)
class ColumnWindow:
    """A column's aggregates over the window; `below[i]` counts values < the reference's edges[i]."""

    count: int
    total: float
    total_sq: float
    minimum: float | None
    maximum: float | None
    below: tuple[int, ...]

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    @property
    def std(self) -> float | None:
        if not self.count:
            return None
        return math.sqrt(max(self.total_sq / self.count - self.mean**2, 0.0))


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    window_mean: float | None
    reference_mean: float | None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Signal:
    """One detector's verdict: `fired` says it asks for retraining, `detail` says why in words."""

    name: str
    fired: bool
    evaluated: bool
    detail: str
    statistics: dict

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- tests


def kolmogorov_pvalue(statistic: float, n_effective: float) -> float:
    """P(D >= statistic) for the two-sample KS test, asymptotic with Stephens' small-sample correction."""
    if statistic <= 0.0:
        return 1.0
    root = math.sqrt(n_effective)
    lam = (root + 0.12 + 0.11 / root) * statistic
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(max(total, 0.0), 1.0)


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution: the regularised upper incomplete gamma."""
    if statistic <= 0.0:
        return 1.0
    a, x = dof / 2.0, statistic / 2.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # series for the lower function converges fast here
        term = total = 1.0 / a
        for n in range(1, 1000):
            term *= x / (a + n)
            total += term
            if term < total * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # Lentz's continued fraction for the upper function
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def binned_ks(reference_shares: list[float], reference_count: int, window_counts: np.ndarray) -> tuple:
    """(D, p) of the two-sample KS test with both CDFs evaluated at the bin edges."""
    n = float(window_counts.sum())
    d = float(np.max(np.abs(np.cumsum(reference_shares) - np.cumsum(window_counts) / n)))
    n_effective = n * reference_count / (n + reference_count)
    return d, kolmogorov_pvalue(d, n_effective)


def chi_square_homogeneity(reference_shares: list[float], reference_count: int, window_counts: np.ndarray):
    """(statistic, p) of the chi-square test that reference and window come from one distribution."""
    n = float(window_counts.sum())
    ref_counts = np.asarray(reference_shares, dtype=np.float64) * reference_count
    ref_merged, win_merged = _merge_sparse_bins(
        ref_counts, window_counts.astype(np.float64), n / reference_count
    )
    if len(ref_merged) < 2:
        return 0.0, 1.0
    pooled = ref_merged + win_merged
    total = reference_count + n
    expected_ref = pooled * reference_count / total
    expected_win = pooled * n / total
    statistic = float(
        np.sum((ref_merged - expected_ref) ** 2 / expected_ref)
        + np.sum((win_merged - expected_win) ** 2 / expected_win)
    )
    return statistic, chi2_sf(statistic, len(ref_merged) - 1)


def _merge_sparse_bins(ref_counts: np.ndarray, win_counts: np.ndarray, window_per_reference: float):
    """Merge neighbouring bins until each expects at least _MIN_EXPECTED window values."""
    ref_out, win_out = [], []
    ref_acc = win_acc = 0.0
    for r, w in zip(ref_counts, win_counts, strict=True):
        ref_acc += r
        win_acc += w
        if ref_acc * window_per_reference >= _MIN_EXPECTED:
            ref_out.append(ref_acc)
            win_out.append(win_acc)
            ref_acc = win_acc = 0.0
    if ref_acc or win_acc:
        if ref_out:
            ref_out[-1] += ref_acc
            win_out[-1] += win_acc
        else:
            ref_out.append(ref_acc)
            win_out.append(win_acc)
    return np.asarray(ref_out), np.asarray(win_out)


def jensen_shannon_distance(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen-Shannon distance (natural log, so between 0 and sqrt(ln 2)) of two share vectors."""
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    q = np.asarray(q, dtype=np.float64) / np.sum(q)
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log(a[nonzero] / m[nonzero])))

    return math.sqrt(max((kl(p) + kl(q)) / 2.0, 0.0))


# --------------------------------------------------------------------------------------------- signals


def window_bin_counts(reference: dict, window: ColumnWindow) -> np.ndarray:
    """Window counts in the reference's bins (interior edges split; see taxifare.core.stats)."""
    interior_below = np.asarray(window.below[1:-1], dtype=np.int64)
    return np.diff(np.concatenate([[0], interior_below, [window.count]]))


def column_drift(
    column: str, reference: dict, window: ColumnWindow, discrete: bool, thresholds: Thresholds
) -> ColumnDrift:
    """Has this column's distribution moved away from the reference? The test depends on the sizes."""
    base = {"column": column, "window_mean": window.mean, "reference_mean": reference.get("mean")}
    if len(reference.get("edges", [])) < 2 or window.count == 0:
        return ColumnDrift(
            method="skipped", statistic=None, p_value=None, threshold=0.0, drifted=False, **base
        )
    counts = window_bin_counts(reference, window)
    small = window.count <= thresholds.small_sample_max
    if discrete and small:
        statistic, p = chi_square_homogeneity(reference["shares"], reference["count"], counts)
        return ColumnDrift(
            method="chi_square", statistic=statistic, p_value=p, threshold=thresholds.chi2_alpha,
            drifted=p < thresholds.chi2_alpha, **base,
        )  # fmt: skip
    if small:
        statistic, p = binned_ks(reference["shares"], reference["count"], counts)
        return ColumnDrift(
            method="ks", statistic=statistic, p_value=p, threshold=thresholds.ks_alpha,
            drifted=p < thresholds.ks_alpha, **base,
        )  # fmt: skip
    if discrete:
        statistic = jensen_shannon_distance(np.asarray(reference["shares"]), counts)
        return ColumnDrift(
            method="jensen_shannon", statistic=statistic, p_value=None, threshold=thresholds.jensen_shannon,
            drifted=statistic > thresholds.jensen_shannon, **base,
        )  # fmt: skip
    statistic = population_stability_index(reference["shares"], list(counts / window.count))
    return ColumnDrift(
        method="psi", statistic=statistic, p_value=None, threshold=thresholds.psi,
        drifted=statistic > thresholds.psi, **base,
    )  # fmt: skip


def mean_gap_signal(label_mean: float | None, label_std: float | None, prediction_mean: float | None,
                    thresholds: Thresholds) -> Signal:  # fmt: skip
    """The original design's rule: the prediction mean has moved away from the training label mean."""
    if label_mean is None or not label_std or prediction_mean is None:
        return Signal(
            "mean_gap", False, False, "mean gap not evaluated: the live model has no label mean/std", {}
        )
    gap = abs(prediction_mean - label_mean) / label_std
    fired = gap > thresholds.mean_gap
    stats = {"prediction_mean": prediction_mean, "label_mean": label_mean, "label_std": label_std, "gap": gap}
    relation = ">" if fired else "<="
    detail = (
        f"prediction mean {prediction_mean:.2f} vs training label mean {label_mean:.2f}: "
        f"gap {gap:.2f} label std {relation} {thresholds.mean_gap}"
    )
    return Signal("mean_gap", fired, True, detail, stats)


def distribution_signal(drifts: list[ColumnDrift], thresholds: Thresholds) -> Signal:
    """The window has drifted when at least `drift_share` of the tested columns have."""
    tested = [d for d in drifts if d.method != "skipped"]
    if not tested:
        return Signal("distribution", False, False, "distribution drift not evaluated: no reference bins", {})
    drifted = [d.column for d in tested if d.drifted]
    share = len(drifted) / len(tested)
    fired = share >= thresholds.drift_share
    stats = {"share": share, "drifted": drifted, "columns": {d.column: d.to_json() for d in drifts}}
    listing = ", ".join(drifted) if drifted else "none"
    relation = ">=" if fired else "<"
    detail = (
        f"{len(drifted)} of {len(tested)} columns drifted ({listing}): "
        f"share {share:.2f} {relation} {thresholds.drift_share}"
    )
    return Signal("distribution", fired, True, detail, stats)


def performance_signal(
    eval_mae: float | None,
    count: int,
    total_abs_error: float,
    total_sq_abs_error: float,
    thresholds: Thresholds,
) -> Signal:
    """Realised MAE on predictions whose actual fare is known, against the model's evaluation MAE.

    Fires when the MAE is both `mae_ratio` times the evaluation MAE and significantly above it (a
    one-sided z-test on the mean absolute error), so a few unlucky trips do not trigger a retrain.
    """
    if not eval_mae:
        return Signal(
            "performance", False, False, "performance not evaluated: the live model has no eval MAE", {}
        )
    mae = total_abs_error / count
    spread = math.sqrt(max(total_sq_abs_error / count - mae**2, 0.0))
    stderr = spread / math.sqrt(count) if spread else float("inf")
    ratio = mae / eval_mae
    z = (mae - eval_mae) / stderr if math.isfinite(stderr) else 0.0
    fired = ratio >= thresholds.mae_ratio and z >= thresholds.mae_z
    stats = {"mae": mae, "eval_mae": eval_mae, "ratio": ratio, "z": z, "n_actuals": count}
    relation = ">=" if ratio >= thresholds.mae_ratio else "<"
    detail = (
        f"realised MAE {mae:.2f} on {count} known fares vs evaluation MAE {eval_mae:.2f}: "
        f"ratio {ratio:.2f} {relation} {thresholds.mae_ratio} (z {z:.1f})"
    )
    return Signal("performance", fired, True, detail, stats)
