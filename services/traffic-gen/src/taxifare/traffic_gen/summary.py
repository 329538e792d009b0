"""The numbers a run reports: progress lines while it runs and a summary at the end."""

import numpy as np

from taxifare.traffic_gen.sender import Tally


def percentiles(latencies_ms: list[float]) -> dict[str, float | None]:
    if not latencies_ms:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(np.asarray(latencies_ms), [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def progress_line(tally: Tally, elapsed: float, planned: int | None) -> str:
    with tally.lock:
        sent, errors, latencies = tally.sent, sum(tally.errors.values()), tally.latencies_ms[-1000:]
    of = f"/{planned}" if planned is not None else ""
    p50 = percentiles(latencies)["p50"]
    return (
        f"sent {sent}{of} requests in {elapsed:.0f} s ({sent / max(elapsed, 1e-9):.1f}/s), "
        f"{errors} errors, recent p50 {p50} ms"
    )


def summarize(tally: Tally, elapsed: float, trips_landed: int, **context) -> dict:
    with tally.lock:
        return {
            **context,
            "requests_sent": tally.sent,
            "requests_ok": tally.ok,
            "trips_sent": tally.trips_sent,
            "errors_by_status": dict(sorted(tally.errors.items())),
            "error_rate": round(1 - tally.ok / tally.sent, 4) if tally.sent else 0.0,
            "latency_ms": percentiles(tally.latencies_ms),
            "requests_per_second": round(tally.sent / elapsed, 1) if elapsed > 0 else 0.0,
            "duration_seconds": round(elapsed, 2),
            "actuals_posted": tally.actuals_posted,
            "actual_errors_by_status": dict(sorted(tally.actual_errors.items())),
            "trips_landed": trips_landed,
            "trips_by_model_version": dict(tally.model_versions),
        }


def summary_text(summary: dict) -> str:
    latency = summary["latency_ms"]
    errors = ", ".join(f"{k}: {v}" for k, v in summary["errors_by_status"].items()) or "none"
    return "\n".join(
        [
            f"mode {summary['mode']}: {summary['requests_sent']} requests ({summary['trips_sent']} trips) "
            f"in {summary['duration_seconds']} s, {summary['requests_per_second']}/s",
            f"ok {summary['requests_ok']}, errors by status: {errors}",
            f"latency ms: p50 {latency['p50']}, p95 {latency['p95']}, p99 {latency['p99']}",
            f"actuals posted {summary['actuals_posted']}, trips landed {summary['trips_landed']}",
        ]
    )
