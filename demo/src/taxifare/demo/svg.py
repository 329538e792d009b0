"""Tiny SVG line charts for the demo report, so the report needs no plotting library.

A series may hold NaN values: the line breaks there (a gap in the traffic is not a trend).
"""

import math
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 66, 40
# Rows of event labels above the plot, so that labels of nearby events do not overlap.
LABEL_ROWS = 3


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    color: str
    dashed: bool = False


@dataclass
class Event:
    x: float
    label: str  # shown on hover
    color: str
    short: str = ""  # written above the plot


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _segments(xs: list[float], ys: list[float]) -> list[list[tuple[float, float]]]:
    segments, current = [], []
    for x, y in zip(xs, ys, strict=True):
        if math.isnan(y):
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        segments.append(current)
    return segments


def line_chart(title: str, x_label: str, y_label: str, series: list[Series], events: list[Event]) -> str:
    xs = [x for s in series for x in s.xs] + [e.x for e in events]
    ys = [y for s in series for y in s.ys if not math.isnan(y)]
    if not xs or not ys:
        return f"<p><b>{escape(title)}</b>: no data.</p>"
    x0, x1 = min(xs), max(xs)
    x1 += max(x1 - x0, 1.0) * 0.03  # room for the last point and its label
    y0, y1 = min(0.0, *ys), max(ys) * 1.1 or 1.0

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{py(y0)}" x2="{WIDTH - RIGHT}" y2="{py(y0)}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{(TOP + HEIGHT - BOTTOM) / 2}" transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for tick in nice_ticks(y0, y1):
        parts.append(f'<text x="{LEFT - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
        parts.append(
            f'<line x1="{LEFT}" y1="{py(tick):.1f}" x2="{WIDTH - RIGHT}" y2="{py(tick):.1f}" stroke="#eee"/>'
        )
    for tick in nice_ticks(x0, x1):
        parts.append(
            f'<text x="{px(tick):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{tick:g}</text>'
        )
    for i, event in enumerate(sorted(events, key=lambda e: e.x)):
        label_y = 30 + 12 * (i % LABEL_ROWS)
        parts.append(
            f'<line x1="{px(event.x):.1f}" y1="{label_y + 2}" x2="{px(event.x):.1f}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{event.color}" stroke-dasharray="2,3"><title>{escape(event.label)}</title></line>'
        )
        if event.short:
            parts.append(
                f'<text x="{px(event.x) + 2:.1f}" y="{label_y}" fill="{event.color}" font-size="10">'
                f"{escape(event.short)}<title>{escape(event.label)}</title></text>"
            )
    for i, s in enumerate(series):
        dash = ' stroke-dasharray="6,4"' if s.dashed else ""
        for segment in _segments(s.xs, s.ys):
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in segment)
            parts.append(
                f'<polyline fill="none" stroke="{s.color}" stroke-width="1.6"{dash} points="{points}"/>'
            )
        legend_x, legend_y = LEFT + 12, TOP + 4 + 14 * i
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 8}" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{legend_x + 15}" y="{legend_y + 1}">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
