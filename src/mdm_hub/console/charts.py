"""Small charts drawn as inline SVG by the templates (as the review page's waterfall): no
script, no library, nothing from outside the hub. Pure: the coordinates only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Line:
    key: str  # message key of the label
    css: str  # line-1 … line-5: the colour
    points: str  # the polyline's "x,y x,y …" (gaps: days without the figure are skipped)
    dots: list[tuple[float, float, str, str]]  # x, y, day, value as shown (one per point)
    last: str  # the latest value as shown


@dataclass
class LineChart:
    """Lines over days. ``percent``: values are shares (0–1), the axis runs 0–100 %."""

    width: int
    height: int
    left: int
    bottom: int
    days: list[str]
    lines: list[Line] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # y, label
    labels: list[tuple[float, str]] = field(default_factory=list)  # x, day (a few)

    @property
    def plot_height(self) -> int:
        return self.height - self.bottom - 8


def _shown(value: float, percent: bool) -> str:
    return f"{value * 100:.1f}%" if percent else f"{value:,.0f}"


def _nice_max(value: float) -> float:
    """The axis top for counts: 4 × (1, 2 or 5 × 10ⁿ) at or above ``value``, so that the
    quarter ticks are whole numbers."""
    quarter = max(value / 4, 1.0)
    scale = 1.0
    while scale * 10 <= quarter:
        scale *= 10
    for step in (1, 2, 5, 10):
        if step * scale >= quarter:
            return 4 * step * scale
    return 40 * scale


def line_chart(
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    percent: bool,
    width: int = 640,
    height: int = 220,
) -> LineChart:
    """One line per (label key, values by day); None where a day has no figure."""
    left, bottom = 56, 26
    chart = LineChart(width, height, left, bottom, list(days))
    top = 1.0 if percent else _nice_max(max((v for _, vs in series for v in vs if v), default=0))
    plot_w = width - left - 28  # room for the last day's label
    plot_h = chart.plot_height
    n = len(days)

    def x(i: int) -> float:
        return round(left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y(v: float) -> float:
        return round(8 + plot_h * (1 - v / top), 1)

    chart.ticks = [(y(top * f), _shown(top * f, percent)) for f in (0, 0.25, 0.5, 0.75, 1)]
    if n:
        picks = sorted({0, n - 1, *(round((n - 1) * f) for f in (0.25, 0.5, 0.75))})
        chart.labels = [(x(i), days[i][5:]) for i in picks] if n > 1 else [(x(0), days[0][5:])]
    for number, (key, values) in enumerate(series, start=1):
        dots = [
            (x(i), y(v), days[i], _shown(v, percent)) for i, v in enumerate(values) if v is not None
        ]
        last = next((_shown(v, percent) for v in reversed(values) if v is not None), "—")
        chart.lines.append(
            Line(key, f"line-{number}", " ".join(f"{a},{b}" for a, b, _, _ in dots), dots, last)
        )
    return chart
