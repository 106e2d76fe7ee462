"""The dashboard's charts as geometry for inline SVG (no script, no CDN): the daily trend as
stacked bars by outcome, and each official's outcome shares as a 100 % bar. The template draws
them; every label is a message id or a number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ivr.supervision.stats_schemas import DayStats, OfficialStats

# the outcomes a citizen call ends with (their sum is the call count), bottom to top / left
# to right, with their colours
PARTS: tuple[tuple[str, str], ...] = (("answered", "#2e7d32"), ("voicemail", "#1565c0"),
                                      ("missed", "#ef6c00"), ("abandoned", "#c62828"))


@dataclass(frozen=True, slots=True)
class Segment:
    part: str  # answered | voicemail | missed | abandoned
    count: int
    pct: float  # of the bar's calls
    x: float
    y: float
    width: float
    height: float
    color: str


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    calls: int
    x: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class StackChart:
    width: int
    height: int
    baseline: int
    bar: int  # a bar's width (vertical chart) or height (horizontal)
    columns: tuple[Column, ...]


def _pct(n: int, total: int) -> float:
    return round(100.0 * n / total, 1) if total else 0.0


def daily_trend(days: Sequence[DayStats]) -> StackChart:
    """One stacked bar per day: calls by outcome, the tallest day fills the height."""
    bar, gap, pad, height = 18, 8, 24, 200
    width = 40 + len(days) * (bar + gap)
    top = max((d.calls for d in days), default=0) or 1
    columns = []
    for i, d in enumerate(days):
        x, y = 36 + i * (bar + gap), float(height - pad)
        segments = []
        for part, color in PARTS:
            n = int(getattr(d, part))
            h = (height - 2 * pad) * n / top
            y -= h
            segments.append(Segment(part, n, _pct(n, d.calls), x, round(y, 1), bar,
                                    round(h, 1), color))
        columns.append(Column(d.day[5:], d.calls, x, tuple(segments)))
    return StackChart(max(width, 200), height, height - pad, bar, tuple(columns))


def official_shares(officials: Sequence[OfficialStats]) -> StackChart:
    """One horizontal 100 % bar per official with calls: the shares of each outcome."""
    bar, gap, left, span = 18, 10, 150, 420
    rows = [o for o in officials if o.calls]
    columns = []
    for i, o in enumerate(rows):
        y, x = 10 + i * (bar + gap), float(left)
        segments = []
        for part, color in PARTS:
            n = int(getattr(o, part))
            w = span * n / o.calls
            segments.append(Segment(part, n, _pct(n, o.calls), round(x, 1), y, round(w, 1),
                                    bar, color))
            x += w
        columns.append(Column(o.name, o.calls, y, tuple(segments)))
    height = 20 + len(rows) * (bar + gap)
    return StackChart(left + span + 60, max(height, 40), 0, bar, tuple(columns))
