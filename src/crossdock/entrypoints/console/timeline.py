"""A business transaction's timeline as the console draws it: entries with when, what kind, a title, a detail and a
duration, oldest first, from hub/trace.py's timeline (the same one GET /v1/trace and `crossdock trace` show), with
its API links turned into console pages.

Owns: that conversion and the latency chart's geometry. Must not: query stores itself, or produce HTML (the templates
do).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crossdock.hub import dashboard, operations
from crossdock.hub import trace as tracing
from crossdock.hub.runtime import Hub

DETAIL_CHARS = 4000  # a raw payload longer than this is cut on the page (the API has it whole)
# API paths of the things a timeline links to, and the console page for each.
CONSOLE_PAGES = {
    "/v1/orders/": "/orders/",
    "/v1/purchase-orders/": "/purchase-orders/",
    "/v1/deliveries/": "/dead-letters/",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # message, event, decision, posting, delivery, attempt, exception, action, xref, state
    title: str
    detail: tuple[tuple[str, str], ...] = ()
    duration_ms: float | None = None
    links: tuple[tuple[str, str], ...] = ()  # (label, console path without the mount prefix)


def for_key(hub: Hub, key: str, scope: tracing.Scope) -> list[Entry]:
    """Everything the hub holds about one business key (an order or PO number), in time order."""
    found = operations.trace(hub, key, scope)
    return [entry(e) for e in found.entries]


def entry(found: tracing.Entry) -> Entry:
    return Entry(
        found.at,
        found.kind,
        found.title,
        tuple((name, _text(value)) for name, value in found.detail.items() if value not in (None, "", [], {})),
        found.duration_ms,
        tuple((label, page) for label, link in found.links.items() if (page := console_page(link)) is not None),
    )


def console_page(api_path: str) -> str | None:
    """The console page showing what an API path names, or None when the console has no page for it."""
    for prefix, page in CONSOLE_PAGES.items():
        if api_path.startswith(prefix):
            return page + api_path.removeprefix(prefix)
    return None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + f"… ({len(text) - DETAIL_CHARS} more)"


# ---- the latency chart -----------------------------------------------------------------------------------------

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 180, 56, 24, 12


@dataclass(frozen=True)
class Chart:
    """An SVG line chart of p50 and p95 latency per slice; coordinates are ready to draw."""

    width: int
    height: int
    p50: str  # polyline points
    p95: str
    bars: list[tuple[float, float, float, float, str]]  # x, y, width, height, tooltip: sampled deliveries
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    empty: bool


def latency_chart(buckets: Sequence[dashboard.LatencyBucket]) -> Chart:
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    top = max((b.p95_ms or 0.0 for b in buckets), default=0.0)
    scale = _nice(top)
    most = max((b.sampled for b in buckets), default=0)
    step = plot_w / max(1, len(buckets))

    def x(index: int) -> float:
        return round(LEFT + step * index + step / 2, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h - plot_h * value / scale, 1)

    def line(values: list[tuple[int, float | None]]) -> str:
        return " ".join(f"{x(i)},{y(v)}" for i, v in values if v is not None)

    bars = []
    for i, b in enumerate(buckets):
        if b.sampled and most:
            h = round(plot_h * 0.25 * b.sampled / most, 1)
            label = f"{b.start:%H:%M}: {b.sampled} delivered, p50 {b.p50_ms or 0:.0f} ms, p95 {b.p95_ms or 0:.0f} ms"
            bars.append((round(LEFT + step * i + 2, 1), round(TOP + plot_h - h, 1), round(step - 4, 1), h, label))
    every = max(1, len(buckets) // 6)
    return Chart(
        WIDTH,
        HEIGHT,
        line([(i, b.p50_ms) for i, b in enumerate(buckets)]),
        line([(i, b.p95_ms) for i, b in enumerate(buckets)]),
        bars,
        [(y(scale * f), _ms(scale * f)) for f in (0, 0.5, 1)],
        [(x(i), f"{b.start:%H:%M}") for i, b in enumerate(buckets) if i % every == 0],
        empty=not any(b.sampled for b in buckets),
    )


def _nice(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten at or above the value (at least 10 ms)."""
    nice = 10.0
    while nice < value:
        for factor in (2, 2.5, 2):
            nice *= factor
            if nice >= value:
                break
    return nice


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"
