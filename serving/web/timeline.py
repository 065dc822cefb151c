"""A customer's orders, refunds and interactions over time, for the timeline on the customer page.

`clvchurn score` writes the events it scored from beside the snapshot (`serving.events`). The file is
optional: without it the page says there are no events. It is read once per file change, sorted by
customer, so one customer's events are a binary search and a slice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import polars as pl

from domain.errors import EventsFormatError

logger = logging.getLogger(__name__)

ORDER_KINDS: Final = frozenset({"order", "refund"})
CHART_WIDTH: Final = 1000.0
SHOWN_COLUMNS: Final[dict[str, pl.DataType]] = {
    "customer_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "kind": pl.String(),
    "amount": pl.Float64(),
}


@dataclass(frozen=True)
class TimelineEvent:
    timestamp: datetime
    kind: str
    amount: float | None

    @property
    def is_order(self) -> bool:
        return self.kind in ORDER_KINDS


@dataclass(frozen=True)
class TimelineMark:
    """One event placed on the chart: x in chart units (0 to CHART_WIDTH), row 0 orders, 1 others."""

    x: float
    row: int
    kind: str
    title: str


class EventsStore:
    """Looks up one customer's events in the events file, re-reading it when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._frame: pl.DataFrame | None = None
        self._lock = threading.Lock()

    def events(self, customer_id: str) -> list[TimelineEvent]:
        """The customer's events, oldest first; empty when the file or the customer is absent."""
        frame = self._current()
        if frame is None or frame.height == 0:
            return []
        ids = frame["customer_id"]
        start = int(ids.search_sorted(customer_id, side="left"))  # type: ignore[arg-type]
        end = int(ids.search_sorted(customer_id, side="right"))  # type: ignore[arg-type]
        rows = frame.slice(start, end - start).iter_rows()
        return [TimelineEvent(timestamp, kind, amount) for _, timestamp, kind, amount in rows]

    def _current(self) -> pl.DataFrame | None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._frame = self._read()
                self._stamp = stamp
            return self._frame

    def _read(self) -> pl.DataFrame:
        frame = pl.read_parquet(self.path)
        if "amount" not in frame.columns and "value" in frame.columns:
            frame = frame.rename({"value": "amount"})
        if "amount" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Float64()).alias("amount"))
        missing = [column for column in SHOWN_COLUMNS if column not in frame.columns]
        if missing:
            raise EventsFormatError(
                f"Events file {self.path} lacks columns {missing}; rewrite it with `clvchurn score`"
            )
        frame = (
            frame.select(list(SHOWN_COLUMNS)).cast(pl.Schema(SHOWN_COLUMNS)).sort("customer_id", "timestamp")
        )
        logger.info("Loaded %d customer events from %s", frame.height, self.path)
        return frame


def timeline_marks(
    events: list[TimelineEvent],
    until: datetime | None = None,
    kind_label: Callable[[str], str] = str,
) -> list[TimelineMark]:
    """Events placed on a time axis from the first event to `until` (the scoring date) or the last event.

    `kind_label` names an event kind in the page language (the title shown when hovering a mark).
    """
    if not events:
        return []
    start = events[0].timestamp
    end = max(until or events[-1].timestamp, events[-1].timestamp)
    span = (end - start).total_seconds() or 1.0
    return [
        TimelineMark(
            x=round((event.timestamp - start).total_seconds() / span * CHART_WIDTH, 1),
            row=0 if event.is_order else 1,
            kind=event.kind,
            title=f"{event.timestamp:%Y-%m-%d} {kind_label(event.kind)}"
            + (f" {event.amount:,.2f}" if event.amount is not None else ""),
        )
        for event in events
    ]
