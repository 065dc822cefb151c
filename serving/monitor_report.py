"""The latest monitor report, as the service reads it: `clvchurn monitor`'s JSON, re-read when it changes.

`clvchurn monitor` writes the report (`CLVCHURN_MONITOR_REPORT_PATH`) atomically; the /monitoring page
and the Prometheus gauges (`serving.monitoring_metrics`) read it through a `MonitorReportStore`, which
parses the file again only when its modification time or size changes. So every worker process
shows the same figures, the report of the last run, without any state of its own.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import MonitorReportError

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("as_of", "status", "realised", "estimated", "drift", "migration")


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write `report` as JSON to `path` atomically (a temporary name, then renamed over the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(
        json.dumps(report, indent=1, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(partial, path)
    return path


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]
    report: dict[str, Any]


class MonitorReportStore:
    """The report at `path`, parsed once per version of the file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def report(self) -> dict[str, Any] | None:
        """The latest report, or None while `clvchurn monitor` has written none.

        Raises
        ------
        MonitorReportError
            The file is not JSON or lacks the report's keys.
        """
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        loaded = self._loaded
        if loaded is not None and loaded.stamp == stamp:
            return loaded.report
        with self._lock:
            if self._loaded is None or self._loaded.stamp != stamp:
                self._loaded = _Loaded(stamp, self._read())
            return self._loaded.report

    def _read(self) -> dict[str, Any]:
        try:
            report = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise MonitorReportError(
                f"monitor report {self.path} (CLVCHURN_MONITOR_REPORT_PATH) cannot be read: {error}; run "
                "`clvchurn monitor` again"
            ) from error
        missing = [key for key in REQUIRED_KEYS if not isinstance(report, dict) or key not in report]
        if missing:
            raise MonitorReportError(
                f"monitor report {self.path} lacks {missing}: it was not written by `clvchurn monitor`; run it again"
            )
        logger.info("Loaded the monitor report of %s from %s", report["as_of"], self.path)
        return dict(report)
