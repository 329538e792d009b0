"""The comparison as a printed table and as an HTML page with plots (matplotlib, inline SVG)."""

import html
import io
from datetime import date

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

COLUMNS = (
    ("policy", "policy"),
    ("retrains", "retrains"),
    ("deployed", "deployed"),
    ("rejected", "rejected"),
    ("max_rejected_in_a_row", "rejected in a row"),
    ("checks_saying_retrain", "checks saying retrain"),
    ("failed_pipeline_runs", "failed runs"),
    ("mae", "MAE"),
    ("excess_mae_over_oracle", "MAE - oracle's"),
    ("total_cost", "cost $"),
    ("training_seconds", "training s"),
    ("wall_seconds", "wall s"),
)


def rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: the columns above, then one detection-delay column per event."""
    events = [e["name"] for e in results[0]["events"]] if results else []
    header = [title for _, title in COLUMNS] + [f"delay: {_short(name)} (days)" for name in events]
    cells = []
    for r in results:
        line = [_cell(r.get(key)) for key, _ in COLUMNS]
        line += [_cell(r["detection_delay_days"].get(name), none="none") for name in events]
        cells.append(line)
    return header, cells


def table(results: list[dict]) -> str:
    header, cells = rows(results)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def write_html(results: list[dict], title: str, path) -> None:
    header, cells = rows(results)
    events = results[0]["events"] if results else []
    event_items = "".join(
        f"<li>{html.escape(e['start'])}{'' if e['full'] == e['start'] else ' .. ' + html.escape(e['full'])}: "
        f"{html.escape(e['name'])}{' (benign: the live model handles it)' if e['benign'] else ''}</li>"
        for e in events
    )
    table_html = "<table><tr>{}</tr>{}</table>".format(
        "".join(f"<th>{html.escape(h)}</th>" for h in header),
        "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in cells),
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Events (shaded in the plots):</p><ul>{event_items or "<li>none</li>"}</ul>
{table_html}
<p>Daily MAE of the served predictions against their real fares; a circle marks a retrain whose
candidate was deployed, a cross one whose candidate was rejected.</p>
{_daily_plot(results)}
{_retrains_plot(results)}
</body></html>
"""
    path.write_text(page)


def _daily_plot(results: list[dict]) -> str:
    figure, axes = plt.subplots(figsize=(11, 4.5))
    for i, r in enumerate(results):
        color = f"C{i}"
        days = [date.fromisoformat(d["day"]) for d in r["daily"]]
        mae = [d["mae"] for d in r["daily"]]
        axes.plot(days, mae, color=color, linewidth=1.2, label=r["policy"])
        by_day = dict(zip(days, mae, strict=True))
        for retrain in r["retrain_log"]:
            day = date.fromisoformat(retrain["at"][:10])
            y = by_day.get(day)
            if y is None or retrain["deployed"] is None:
                continue
            axes.plot([day], [y], marker="o" if retrain["deployed"] else "x", color=color, markersize=6,
                      fillstyle="full" if retrain["deployed"] else "none", linestyle="none")  # fmt: skip
    return _finished(figure, axes, results, "daily MAE ($)")


def _retrains_plot(results: list[dict]) -> str:
    figure, axes = plt.subplots(figsize=(11, 3))
    for i, r in enumerate(results):
        times = [date.fromisoformat(x["at"][:10]) for x in r["retrain_log"]]
        if times:
            axes.step(times, range(1, len(times) + 1), where="post", color=f"C{i}", label=r["policy"])
    return _finished(figure, axes, results, "retrains so far")


def _finished(figure, axes, results: list[dict], ylabel: str) -> str:
    """The events shaded, the axes labelled, the figure as inline SVG."""
    _shade_events(axes, results)
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    return _svg(figure)


def _shade_events(axes, results: list[dict]) -> None:
    for event in results[0]["events"] if results else []:
        start, full = date.fromisoformat(event["start"]), date.fromisoformat(event["full"])
        color = "tab:green" if event["benign"] else "tab:red"
        if full > start:
            axes.axvspan(start, full, color=color, alpha=0.12)
        axes.axvline(start, color=color, alpha=0.5, linestyle="--", linewidth=1)


def _svg(figure) -> str:
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _cell(value, none: str = "-") -> str:
    if value is None:
        return none
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _short(name: str) -> str:
    return name.split(":", maxsplit=1)[0]
