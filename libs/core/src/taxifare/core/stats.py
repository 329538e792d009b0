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

`expected_error_table(predictions, abs_errors, bins=20)` is the model's error as a function of what it
predicted: the mean absolute error of the evaluation set per quantile bin of the prediction, binned as
above (`{"edges": [...], "mae": [...], "count": [...]}`). A window's expected MAE is the mean, over
its predictions, of their bin's value; what the realised MAE exceeds it by is error the inputs do not
explain (a concept change), where a covariate shift towards dearer trips raises both alike.
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
