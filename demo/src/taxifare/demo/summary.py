"""The summary printed at the end: model versions, realised error, checks and deploys, as text tables."""

import sqlalchemy as sa

from taxifare.demo import results
from taxifare.demo.loop import DemoResult
from taxifare.demo.timeline import format_seconds


def text_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers, *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def _short(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def summary(engine: sa.Engine, result: DemoResult, wall_seconds: float) -> str:
    names = {result.v1: "v1", result.v2: "v2"}
    with engine.connect() as conn:
        versions = results.versions(conn)
        checks = results.checks(conn)
        decisions = results.decisions(conn)
    sections = [
        "Model versions",
        text_table(
            ["", "version", "status", "data", "train rows", "eval rows", "eval RMSE", "eval MAE"],
            [
                [
                    names.get(v.version, ""),
                    v.version,
                    v.status,
                    f"{v.data_start} .. {v.data_end}",
                    v.train_rows,
                    v.eval_rows,
                    v.eval_rmse,
                    v.eval_mae,
                ]
                for v in versions
            ],
        ),
        "",
        "Realised MAE on served requests whose fare is known",
        text_table(
            ["traffic", "model", "predictions", "with fare", "MAE"],
            [
                [phase, names.get(r.model_version, r.model_version), r.predictions, r.with_actuals, r.mae]
                for phase, realised in result.realised.items()
                for r in realised
            ],
        ),
        "",
        "Retraining checks (full reasons above and in the report)",
        text_table(
            ["#", "model", "predictions", "fares", "retrain?", "reason"],
            [
                [
                    c.id,
                    names.get(c.model_version, c.model_version),
                    c.n_predictions,
                    c.n_actuals,
                    c.decision,
                    _short(c.reason),
                ]
                for c in checks
            ],
        ),
        "",
        "Deploy decisions (candidate and live model scored on the same fresh evaluation data)",
        text_table(
            ["candidate", "live", "candidate RMSE", "live/baseline RMSE", "deployed?", "reason"],
            [
                [
                    names.get(d.candidate_version, d.candidate_version),
                    names.get(d.live_version, d.live_version),
                    d.candidate_rmse,
                    d.baseline_rmse,
                    d.decision,
                    _short(d.reason),
                ]
                for d in decisions
            ],
        ),
        "",
        f"Wall time: {format_seconds(wall_seconds)} (m:ss)",
    ]
    return "\n".join(sections)
