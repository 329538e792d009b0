"""Reference statistics of features and predictions, written at training time, compared at drift checks.

`reference_stats({"distance_km": array, ...})` returns one JSON-ready dict per column:

    {
      "distance_km": {
        "count": 1234,                # finite values counted (NaN and inf are left out)
        "mean": 3.1, "std": 2.4,      # population std (ddof=0)
        "min": 0.1, "max": 41.0,
        "edges": [0.1, 0.8, ..., 41.0],   # 10 quantile bins: edges ascending, duplicates removed
        "shares": [0.1, 0.1, ...],        # share of values in each bin; len(edges) - 1 items, sum 1
        "quantiles": {                    # the same, finer: up to 100 quantile bins
          "edges": [0.1, 0.3, ..., 41.0],
          "counts": [13, 12, ...]         # values in each bin; len(edges) - 1 items, sum `count`
        }
      },
      "passenger_count": {
        ...,
        "categories": {"values": [1, 2, 3, 4, 5, 6], "counts": [870, 170, 50, 25, 75, 40]}
      }
    }

`quantiles` and `categories` are what the drift checker's tests compare with; `categories` is there
for columns of whole numbers with at most `MAX_CATEGORIES` distinct values (passenger counts, hours,
zones). Versions stored before these two keys existed hold only the ten coarse bins (`edges`,
`shares`), which the checker still uses for them. The coarse bins stay in every new version too, so a
checker that predates the fine ones can still read it.

Binning convention (use `bin_counts` or `bin_shares` to apply it to new data so both sides agree): only
the interior edges split; a value below the first edge falls in the first bin and a value above the
last edge in the last bin, so new data outside the reference range still lands somewhere. A value equal
to an interior edge belongs to the bin on its right. A column with no finite value has `count` 0,
`None` for the moments and empty `edges`/`shares`; a constant column has one edge and no bins.

`expected_error_table(predictions, abs_errors, bins=20)` is the model's error as a function of what it
predicted: the mean absolute error of the evaluation set per quantile bin of the prediction, binned as
above (`{"edges": [...], "mae": [...], "count": [...]}`). A window's expected MAE is the mean, over
its predictions, of their bin's value; what the realised MAE exceeds it by is error the inputs do not
explain (a concept change), where a covariate shift towards dearer trips raises both alike.
"""

import numpy as np

FINE_BINS = 100
# Enough for every TLC zone (1..265) and far more than passenger counts or hours.
MAX_CATEGORIES = 1000


def reference_stats(columns: dict[str, np.ndarray], bins: int = 10, fine_bins: int = FINE_BINS) -> dict:
    """Summarise each column (see the module docstring for the format)."""
    if bins < 1 or fine_bins < 1:
        raise ValueError(f"bins and fine_bins must be at least 1, got {bins!r} and {fine_bins!r}")
    return {
        name: _column_stats(np.asarray(values, dtype=np.float64), bins, fine_bins)
        for name, values in columns.items()
    }


def bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """How many of the finite `values` fall in each bin of `edges` (the reference's binning convention)."""
    n_bins = len(edges) - 1
    if n_bins < 1:
        return []
    index = np.searchsorted(np.asarray(edges[1:-1], dtype=np.float64), _finite(values), side="right")
    return [int(c) for c in np.bincount(index, minlength=n_bins)]


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of the finite `values` in each bin of `edges` (the reference's binning convention)."""
    counts = np.asarray(bin_counts(values, edges), dtype=np.float64)
    total = counts.sum()
    return [float(c) for c in (counts / total if total else counts)]


def expected_error_table(predictions: np.ndarray, abs_errors: np.ndarray, bins: int = 20) -> dict:
    """Mean absolute error per quantile bin of the prediction (see the module docstring)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    abs_errors = np.asarray(abs_errors, dtype=np.float64)
    if predictions.shape != abs_errors.shape:
        raise ValueError(f"{predictions.shape[0]} predictions but {abs_errors.shape[0]} errors")
    keep = np.isfinite(predictions) & np.isfinite(abs_errors)
    predictions, abs_errors = predictions[keep], abs_errors[keep]
    if predictions.size == 0:
        raise ValueError("no finite prediction and error to tabulate")
    edges = [float(e) for e in np.unique(np.quantile(predictions, np.linspace(0.0, 1.0, bins + 1)))]
    if len(edges) < 2:  # every prediction the same: one bin
        return {
            "edges": [edges[0], edges[0]],
            "mae": [float(abs_errors.mean())],
            "count": [int(abs_errors.size)],
        }
    index = np.searchsorted(np.asarray(edges[1:-1]), predictions, side="right")
    counts = np.bincount(index, minlength=len(edges) - 1)
    sums = np.bincount(index, weights=abs_errors, minlength=len(edges) - 1)
    return {
        "edges": edges,
        "mae": [float(total / count) if count else 0.0 for total, count in zip(sums, counts, strict=True)],
        "count": [int(c) for c in counts],
    }


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _quantile_edges(finite: np.ndarray, bins: int) -> list[float]:
    return [float(e) for e in np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))]


def _categories(finite: np.ndarray) -> dict | None:
    """Counts of each value, for a column of whole numbers with few distinct values; else None."""
    if not np.all(finite == np.round(finite)):
        return None
    values, counts = np.unique(finite, return_counts=True)
    if len(values) > MAX_CATEGORIES:
        return None
    return {"values": [int(v) for v in values], "counts": [int(c) for c in counts]}


def _column_stats(values: np.ndarray, bins: int, fine_bins: int) -> dict:
    finite = _finite(values)
    if finite.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "edges": [], "shares": []}
    edges = _quantile_edges(finite, bins)
    fine_edges = _quantile_edges(finite, fine_bins)
    stats = {
        "count": int(finite.size),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "edges": edges,
        "shares": bin_shares(finite, edges),
        "quantiles": {"edges": fine_edges, "counts": bin_counts(finite, fine_edges)},
    }
    categories = _categories(finite)
    if categories is not None:
        stats["categories"] = categories
    return stats
