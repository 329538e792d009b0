"""The demo's HTML report: what the live model predicted, how wrong it was, and what the loop did.

Everything comes from the database the components wrote: predictions and actual fares, model versions,
retraining checks, deploy decisions and pipeline runs. Times are seconds since the demo started.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path

import sqlalchemy as sa

from taxifare.core.db.tables import (
    actuals,
    deploy_decisions,
    drift_checks,
    model_versions,
    pipeline_runs,
    predictions,
)
from taxifare.demo.svg import Event, Series, line_chart

# Predictions are averaged over consecutive chunks of this many rows of one model, to draw a readable line.
CHUNK = 100
# A pause in the traffic longer than this breaks the line.
GAP_SECONDS = 15.0
COLORS = ("#2980b9", "#27ae60", "#d35400", "#8e44ad", "#c0392b")


@dataclass
class Served:
    """Chunk averages of one model's served predictions."""

    seconds: list[float] = field(default_factory=list)
    prediction_mean: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)  # NaN where no fare of the chunk is known


def served_by_version(conn: sa.Connection, start: datetime) -> dict[str, Served]:
    rows = conn.execute(
        sa.select(
            predictions.c.created_at,
            predictions.c.model_version,
            predictions.c.prediction,
            actuals.c.fare_amount,
        )
        .select_from(predictions.outerjoin(actuals, actuals.c.request_id == predictions.c.request_id))
        .order_by(predictions.c.created_at, predictions.c.id)
    ).all()
    by_version: dict[str, list] = {}
    for row in rows:
        by_version.setdefault(row.model_version, []).append(row)
    served = {}
    for version, version_rows in by_version.items():
        line, last = Served(), None
        for i in range(0, len(version_rows), CHUNK):
            chunk = version_rows[i : i + CHUNK]
            seconds = (chunk[-1].created_at - start).total_seconds()
            if last is not None and seconds - last > GAP_SECONDS:
                _append(line, (seconds + last) / 2, math.nan, math.nan)
            errors = [abs(r.prediction - r.fare_amount) for r in chunk if r.fare_amount is not None]
            mae = sum(errors) / len(errors) if errors else math.nan
            _append(line, seconds, sum(r.prediction for r in chunk) / len(chunk), mae)
            last = seconds
        served[version] = line
    return served


def _append(line: Served, seconds: float, prediction_mean: float, mae: float) -> None:
    line.seconds.append(seconds)
    line.prediction_mean.append(prediction_mean)
    line.mae.append(mae)


def version_names(versions: list[sa.Row]) -> dict[str, str]:
    """v1, v2, ... in the order the versions went live."""
    deployed = sorted((v for v in versions if v.promoted_at), key=lambda v: v.promoted_at)
    return {v.version: f"v{i}" for i, v in enumerate(deployed, 1)}


def write_report(engine: sa.Engine, path: Path, start: datetime, timeline: list[str]) -> Path:
    with engine.connect() as conn:
        versions = conn.execute(sa.select(model_versions).order_by(model_versions.c.id)).all()
        checks = conn.execute(sa.select(drift_checks).order_by(drift_checks.c.id)).all()
        decisions = conn.execute(sa.select(deploy_decisions).order_by(deploy_decisions.c.id)).all()
        runs = conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).all()
        served = served_by_version(conn, start)
    names = version_names(versions)
    label_means = {v.version: v.label_mean for v in versions}

    def at(moment: datetime) -> float:
        return (moment - start).total_seconds()

    events = _events(checks, versions, runs, names, at)
    predicted, labels, errors = [], [], []
    for i, (version, line) in enumerate(served.items()):
        name, color = names.get(version, version), COLORS[i % len(COLORS)]
        predicted.append(Series(f"prediction mean, {name}", line.seconds, line.prediction_mean, color))
        if label_means.get(version) is not None:
            flat = [math.nan if math.isnan(y) else label_means[version] for y in line.prediction_mean]
            labels.append(Series(f"training label mean, {name}", line.seconds, flat, color, dashed=True))
        errors.append(Series(f"realised MAE, {name}", line.seconds, line.mae, color))
    charts = [
        line_chart("Prediction mean vs the live model's training label mean", "seconds", "fare ($)",
                   predicted + labels, events),
        line_chart("Realised MAE (served predictions whose fare is known)", "seconds", "MAE ($)", errors, events),
    ]  # fmt: skip
    html = _page(charts, timeline, versions=versions, checks=checks, decisions=decisions, runs=runs, at=at)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path


def _events(checks, versions, runs, names, at) -> list[Event]:
    events = [
        Event(at(c.checked_at), f"check: {c.reason}", "#c0392b" if c.decision else "#27ae60",
              "check: retrain" if c.decision else "check: no retrain")
        for c in checks
    ]  # fmt: skip
    events += [
        Event(
            at(v.promoted_at), f"{v.version} deployed", "#2c3e50", f"{names.get(v.version, v.version)} live"
        )
        for v in versions
        if v.promoted_at
    ]
    events += [
        Event(at(r.created_at), f"{r.pipeline} run ({r.triggered_by}): {r.status}", "#8e44ad", "training run")
        for r in runs
        if r.pipeline == "taxi-fare-predictor"
    ]
    return events


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _page(charts, timeline, *, versions, checks, decisions, runs, at) -> str:
    def seconds(moment: datetime | None) -> str:
        return "" if moment is None else f"{at(moment):.0f}"

    sections = [
        "<h1>taxifare demo report</h1>",
        "<p>Dotted lines: retraining checks (green: no retraining, red: retraining), training runs (purple) "
        "and deploys (dark); hover one for its details. Time in seconds since the demo started.</p>",
        *charts,
        "<h2>Timeline</h2><ol>" + "".join(f"<li>{escape(line)}</li>" for line in timeline) + "</ol>",
        "<h2>Model versions</h2>"
        + _table(
            [
                "version",
                "status",
                "data",
                "train rows",
                "eval rows",
                "eval RMSE",
                "eval MAE",
                "label mean",
                "live at (s)",
                "retired at (s)",
            ],
            [
                [
                    v.version,
                    v.status,
                    f"{v.data_start} .. {v.data_end}",
                    v.train_rows,
                    v.eval_rows,
                    v.eval_rmse,
                    v.eval_mae,
                    v.label_mean,
                    seconds(v.promoted_at),
                    seconds(v.retired_at),
                ]
                for v in versions
            ],
        ),
        "<h2>Retraining checks</h2>"
        + _table(
            ["at (s)", "model", "predictions", "known fares", "retrain?", "reason"],
            [
                [seconds(c.checked_at), c.model_version, c.n_predictions, c.n_actuals, c.decision, c.reason]
                for c in checks
            ],
        ),
        "<h2>Deploy decisions</h2>"
        + _table(
            ["candidate", "live", "candidate RMSE", "live or baseline RMSE", "deployed?", "reason"],
            [
                [d.candidate_version, d.live_version, d.candidate_rmse, d.baseline_rmse, d.decision, d.reason]
                for d in decisions
            ],
        ),
        "<h2>Pipeline runs</h2>"
        + _table(
            ["at (s)", "pipeline", "backend", "run", "triggered by", "status", "reason"],
            [
                [
                    seconds(r.created_at),
                    r.pipeline,
                    r.backend,
                    r.external_run_id,
                    r.triggered_by,
                    r.status,
                    r.reason,
                ]
                for r in runs
            ],
        ),
    ]
    style = (
        "body{font-family:sans-serif;max-width:900px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>taxifare demo</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>"
    )
