"""The drift signals, as pure functions of aggregated window statistics (no I/O).

The database hands over, per column, only aggregates over the window (see `window.py`): count, sum,
and how many window values fall in each of the reference's bins or, for a discrete column, how many
take each value. Everything here works from those, so a check costs the
same whatever the size of the predictions table.

Each column gets a two-sample test against the reference statistics the trainer stored
(`taxifare.core.stats`) and an effect size, its distance from the reference:

| column | compared on | test | distance |
|---|---|---|---|
| continuous | the reference's (up to) 100 quantile bins | Kolmogorov-Smirnov | largest gap between the two CDFs |
| discrete | its own categories (every passenger count, every hour) | chi-square homogeneity | total variation |

A column drifted when its p-value is below `alpha / k` (k columns tested: Bonferroni, so stationary
traffic raises the distribution signal in at most `alpha` of the checks) and its distance reaches
`min_distance`. Both tests count the reference's size as well as the window's (effective size
n m / (n + m)), so their false-alarm rate stays at its level at every window size and their power grows
with the window until the reference's size bounds it. A fixed threshold on an effect size instead (the
population stability index > 0.1 used here before, Evidently's normalised Wasserstein > 0.1) alarms on
small windows, whose estimates are noisy, and misses mixtures in large ones. The distance floor keeps a
huge window against a huge reference from flagging a difference too small to matter. Measured side by
side with the alternatives in `bench/drift_stats.py`.

KS at the reference's quantile edges is a lower bound of the exact statistic, so its p-value is
conservative; at 100 bins the lost resolution is one percentile. Discrete columns need their own
categories: on quantile bins, passenger counts 3 to 6 share one bin and a swap among them is invisible.
Categories expected to hold fewer than five values of the smaller sample are pooled into one cell, so
the chi-square approximation holds with sparse categories (hours in a 200-row window, zones).

Versions stored before fine quantiles and category counts existed hold only ten coarse quantile bins:
their columns get the KS test on those (less power; `basis` "coarse"), and the signal says so.
"""

import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

# Chi-square needs about five expected values a cell; rarer categories are pooled.
_MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class Thresholds:
    """When a signal fires."""

    mean_gap: float = 0.3  # |prediction mean - label mean| / label std
    # Bound on the distribution signal's false-alarm rate on stationary traffic: each of the k tested
    # columns is tested at alpha / k. At 1 % the measured rate came close to the bound (0.9 % of 1,600
    # windows); 0.5 % keeps it under 1 % at every window size (bench/drift_stats.py).
    alpha: float = 0.005
    # A column drifts only if its distance (largest CDF gap, or total variation) is at least this. Set
    # below the distance of the smallest shift bench/drift_stats.py grades (5 % of the trips shifted:
    # about 0.017), so that detection of every graded shift grows with the window whatever the
    # reference's size; only with more than about 40,000 rows on both sides does it bind.
    min_distance: float = 0.01
    drift_share: float = 0.0  # the distribution signal also needs this share of the columns drifted
    mae_ratio: float = 1.2  # realised MAE / evaluation MAE
    mae_z: float = 3.0  # and the excess must be this many standard errors above the evaluation MAE


@dataclass(frozen=True)
class ColumnWindow:
    """A column's aggregates over the window: count, sum, and `counts[i]`, the window values in the
    reference's bin i (binned columns), or `categories[v]`, the window values equal to v (categorical
    columns)."""

    count: int
    total: float
    counts: tuple[int, ...] = ()
    categories: Mapping[float, int] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(frozen=True)
class Basis:
    """What a column is compared on: the reference's bins (`edges`) or categories (`values`), and the
    reference's counts in each. `kind` is "quantiles", "categories", or "coarse" (the ten bins of a
    version stored before the other two existed)."""

    kind: str
    counts: tuple[int, ...]
    edges: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    @property
    def categorical(self) -> bool:
        return self.kind == "categories"


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str  # "ks", "chi_square" or "skipped"
    statistic: float | None  # D for KS, the chi-square statistic for chi-square
    p_value: float | None
    threshold: float  # the p-value below which the column drifted (alpha / k)
    drifted: bool
    window_mean: float | None
    reference_mean: float | None
    distance: float | None = None  # largest CDF gap (KS) or total variation (categories)
    min_distance: float = 0.0
    basis: str = ""  # Basis.kind
    cells: int = 0  # reference bins or categories compared

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


def ks_two_sample(reference_counts, window_counts) -> tuple[float, float]:
    """(D, p) of the two-sample KS test with both CDFs taken at the bin edges."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    win = np.asarray(window_counts, dtype=np.float64)
    m, n = ref.sum(), win.sum()
    d = float(np.max(np.abs(np.cumsum(ref) / m - np.cumsum(win) / n)))
    return d, kolmogorov_pvalue(d, n * m / (n + m))


def pool_rare(reference_counts, window_counts) -> tuple[np.ndarray, np.ndarray]:
    """Cells expected to hold fewer than five values of the smaller sample, pooled into one last cell.

    Expected under "one distribution": the pooled share times the smaller sample's size. A pooled cell
    still expecting less than one value joins the smallest other cell. Cells need no order (zones)."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    win = np.asarray(window_counts, dtype=np.float64)
    m, n = ref.sum(), win.sum()
    expected = (ref + win) / (m + n) * min(m, n)
    rare = expected < _MIN_EXPECTED
    if not rare.any():
        return ref, win
    ref = np.append(ref[~rare], ref[rare].sum())
    win = np.append(win[~rare], win[rare].sum())
    if expected[rare].sum() < 1.0 and len(ref) > 1:
        smallest = int(np.argmin(ref[:-1] + win[:-1]))
        ref[smallest] += ref[-1]
        win[smallest] += win[-1]
        ref, win = ref[:-1], win[:-1]
    return ref, win


def chi_square_homogeneity(reference_counts, window_counts) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p) of the chi-square test that both samples come from one
    distribution over these cells, after `pool_rare`."""
    ref, win = pool_rare(reference_counts, window_counts)
    if len(ref) < 2:
        return 0.0, 0, 1.0
    m, n = ref.sum(), win.sum()
    pooled = (ref + win) / (m + n)
    statistic = float(
        np.sum((ref - pooled * m) ** 2 / (pooled * m)) + np.sum((win - pooled * n) ** 2 / (pooled * n))
    )
    dof = len(ref) - 1
    return statistic, dof, chi2_sf(statistic, dof)


def total_variation(reference_counts, window_counts) -> float:
    """Half the sum of the absolute differences of the two samples' shares: 0 the same, 1 disjoint."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    win = np.asarray(window_counts, dtype=np.float64)
    return float(np.sum(np.abs(ref / ref.sum() - win / win.sum())) / 2.0)


# --------------------------------------------------------------------------------------------- signals


def basis_of(reference: Mapping, discrete: bool) -> Basis | None:
    """The finest comparison a column's reference statistics allow: its categories (discrete columns),
    else its fine quantile bins, else the ten coarse bins of a version stored before those; None when it
    has no bins at all (a constant or missing column). Statistics that do not hold together (counts
    that do not match their bins) are passed over."""
    categories = reference.get("categories") or {}
    quantiles = reference.get("quantiles") or {}
    options = [("quantiles", quantiles.get("counts"), quantiles.get("edges"))]
    if discrete:
        options.insert(0, ("categories", categories.get("counts"), categories.get("values")))
    if reference.get("shares") and isinstance(reference.get("count"), int | float):
        coarse = [share * reference["count"] for share in reference["shares"]]
        options.append(("coarse", coarse, reference.get("edges")))
    for kind, stored_counts, stored_cells in options:
        try:
            counts = tuple(round(c) for c in stored_counts or ())
            cells = tuple(float(c) for c in stored_cells or ())
        except (TypeError, ValueError):
            continue
        fits = len(counts) == (len(cells) if kind == "categories" else len(cells) - 1)
        if counts and fits and min(counts) >= 0 and sum(counts) > 0:
            if kind == "categories":
                return Basis(kind, counts, values=cells)
            return Basis(kind, counts, edges=cells)
    return None


def column_drift(
    column: str,
    basis: Basis | None,
    window: ColumnWindow,
    alpha: float,
    min_distance: float,
    *,
    reference_mean: float | None = None,
) -> ColumnDrift:
    """Has this column's distribution moved away from the reference? Drifted: p < alpha and distance
    >= min_distance."""
    base = {"column": column, "window_mean": window.mean, "reference_mean": reference_mean}
    if basis is None or window.count == 0:
        return ColumnDrift(
            method="skipped", statistic=None, p_value=None, threshold=alpha, drifted=False, **base
        )
    if basis.categorical:
        values = sorted(set(basis.values) | set(window.categories))
        known = dict(zip(basis.values, basis.counts, strict=True))
        reference = np.array([known.get(v, 0) for v in values], dtype=np.float64)
        counts = np.array([window.categories.get(v, 0) for v in values], dtype=np.float64)
        statistic, _, p = chi_square_homogeneity(reference, counts)
        method, distance = "chi_square", total_variation(reference, counts)
    else:
        reference = np.asarray(basis.counts, dtype=np.float64)
        statistic, p = ks_two_sample(reference, window.counts)
        method, distance = "ks", statistic
    return ColumnDrift(
        method=method, statistic=statistic, p_value=p, threshold=alpha,
        drifted=p < alpha and distance >= min_distance, distance=distance, min_distance=min_distance,
        basis=basis.kind, cells=len(reference), **base,
    )  # fmt: skip


def column_drifts(
    references: Mapping[str, Mapping],
    windows: Mapping[str, ColumnWindow],
    discrete: Collection[str],
    thresholds: Thresholds,
) -> list[ColumnDrift]:
    """Every column's test, each at alpha / k for the k columns that can be tested."""
    bases = {name: basis_of(references.get(name, {}), name in discrete) for name in windows}
    tested = sum(basis is not None and windows[name].count > 0 for name, basis in bases.items())
    alpha = thresholds.alpha / max(tested, 1)
    drifts = []
    for name, window in windows.items():
        reference_mean = references.get(name, {}).get("mean")
        drifts.append(
            column_drift(
                name, bases[name], window, alpha, thresholds.min_distance, reference_mean=reference_mean
            )
        )
    return drifts


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
    """The window has drifted when a tested column has (and at least `drift_share` of them have)."""
    tested = [d for d in drifts if d.method != "skipped"]
    if not tested:
        return Signal("distribution", False, False, "distribution drift not evaluated: no reference bins", {})
    drifted = [d for d in tested if d.drifted]
    share = len(drifted) / len(tested)
    fired = bool(drifted) and share >= thresholds.drift_share
    coarse = [d.column for d in tested if d.basis == "coarse"]
    stats = {
        "share": share,
        "drifted": [d.column for d in drifted],
        "column_alpha": tested[0].threshold,
        "coarse": coarse,
        "columns": {d.column: d.to_json() for d in drifts},
    }
    listing = ", ".join(f"{d.column} {d.distance:.3f}" for d in drifted) if drifted else "none"
    detail = (
        f"{len(drifted)} of {len(tested)} columns drifted ({listing}; "
        f"distance >= {thresholds.min_distance:g} and p < {tested[0].threshold:.2g})"
    )
    if thresholds.drift_share > 0:
        relation = ">=" if share >= thresholds.drift_share else "<"
        detail += f": share {share:.2f} {relation} {thresholds.drift_share}"
    if coarse:
        detail += (
            f"; {len(coarse)} compared on the ten coarse bins of reference statistics stored before "
            f"fine quantiles and category counts, with less power ({', '.join(coarse)})"
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
