"""Reference statistics of features and predictions, written at training time, compared at drift checks.

`reference_stats({"distance_km": array, ...}, bins=10)` returns one JSON-ready dict per column:

    {
      "distance_km": {
        "count": 1234,                # finite values counted (NaN and inf are left out)
        "mean": 3.1, "std": 2.4,      # population std (ddof=0)
        "min": 0.1, "max": 41.0,
        "edges": [0.1, 0.8, ..., 41.0],   # quantile bin edges, ascending, duplicates removed
        "shares": [0.1, 0.1, ...]         # share of values in each bin; len(edges) - 1 items, sum 1
      },
      ...
    }

Binning convention (use `bin_shares` to apply it to new data so both sides agree): only the interior
edges split; a value below the first edge falls in the first bin and a value above the last edge in the
last bin, so new data outside the reference range still lands somewhere. A value equal to an interior
edge belongs to the bin on its right. A column with no finite value has `count` 0, `None` for the
moments and empty `edges`/`shares`; a constant column has one edge and no bins.

`population_stability_index(reference_shares, new_shares)` compares two share vectors on the same edges.
"""

import numpy as np

# Keeps the log in PSI finite when a bin is empty on one side.
_SHARE_FLOOR = 1e-4


def reference_stats(columns: dict[str, np.ndarray], bins: int = 10) -> dict:
    """Summarise each column (see the module docstring for the format)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins!r}")
    return {
        name: _column_stats(np.asarray(values, dtype=np.float64), bins) for name, values in columns.items()
    }


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of the finite `values` in each bin of `edges` (the reference's binning convention)."""
    n_bins = len(edges) - 1
    if n_bins < 1:
        return []
    finite = _finite(values)
    if finite.size == 0:
        return [0.0] * n_bins
    index = np.searchsorted(np.asarray(edges[1:-1], dtype=np.float64), finite, side="right")
    counts = np.bincount(index, minlength=n_bins)
    return [float(c) for c in counts / finite.size]


def population_stability_index(reference_shares: list[float], new_shares: list[float]) -> float:
    """PSI of two share vectors over the same bins: about 0.1 is a small shift, above 0.25 a large one."""
    if len(reference_shares) != len(new_shares):
        raise ValueError(f"share vectors differ in length: {len(reference_shares)} != {len(new_shares)}")
    ref = np.maximum(np.asarray(reference_shares, dtype=np.float64), _SHARE_FLOOR)
    new = np.maximum(np.asarray(new_shares, dtype=np.float64), _SHARE_FLOOR)
    return float(np.sum((new - ref) * np.log(new / ref)))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _column_stats(values: np.ndarray, bins: int) -> dict:
    finite = _finite(values)
    if finite.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "edges": [], "shares": []}
    edges = [float(e) for e in np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))]
    return {
        "count": int(finite.size),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "edges": edges,
        "shares": bin_shares(finite, edges),
    }
