"""Charts as SVG geometry (pure): the templates draw the shapes, with every text escaped.

A chart is numbers in, coordinates out: `line_chart` for the overview's alerts per day per
profile, `sparkline` for one row of a table. Colours are presentation attributes (the
page's CSP allows no inline style).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: str          # "x,y x,y ..." for a <polyline>
    total: int


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    series: tuple[Series, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    title: str


def _nice_max(value: int) -> int:
    """A round upper bound for the y axis (1, 2, 5 times a power of ten)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _polyline(values: Sequence[int], x0: float, y0: float, width: float, height: float,
              top: int) -> str:
    n = len(values)
    dx = width / (n - 1) if n > 1 else 0.0
    return " ".join(f"{x0 + i * dx:.1f},{y0 + height - (v / top) * height:.1f}"
                    for i, v in enumerate(values))


def line_chart(data: Mapping[str, Sequence[int]], labels: Sequence[str], *, title: str,
               width: int = 720, height: int = 260) -> LineChart:
    """One line per series over the same days; `labels` names each day (x axis)."""
    left, top, right, bottom = 40, 10, 10, 40
    pw, ph = width - left - right, height - top - bottom
    peak = _nice_max(max((v for values in data.values() for v in values), default=0))
    series = tuple(
        Series(name, PALETTE[i % len(PALETTE)], _polyline(values, left, top, pw, ph, peak),
               sum(values))
        for i, (name, values) in enumerate(sorted(data.items())))
    n = len(labels)
    every = max(1, n // 6)
    dx = pw / (n - 1) if n > 1 else 0.0
    x_ticks = tuple(Tick(left + i * dx, labels[i]) for i in range(0, n, every))
    y_ticks = tuple(Tick(top + ph - (v / peak) * ph, str(v))
                    for v in sorted({0, peak // 2, peak}))
    return LineChart(width, height, left, top, pw, ph, series, x_ticks, y_ticks, title)


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    points: str
    total: int
    peak: int


def sparkline(values: Sequence[int], *, width: int = 120, height: int = 24) -> Sparkline:
    """A small line of daily counts, scaled to its own peak."""
    peak = max(values, default=0)
    return Sparkline(width, height, _polyline(values, 1, 1, width - 2, height - 2, max(peak, 1)),
                     sum(values), peak)


def daily(counts: Mapping[int, int], days: int) -> list[int]:
    """Day number → count, as a list of `days` values (missing days are 0)."""
    return [counts.get(d, 0) for d in range(days)]
