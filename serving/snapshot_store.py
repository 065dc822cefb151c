"""The scored snapshot: every customer's latest prediction in one parquet file, and fast lookups in it.

`clvchurn score` writes the file with `write_snapshot`; GET /v1/customers/{id}, the pages and exports
read it through a `SnapshotStore`. Its columns are `serving.serialise.SNAPSHOT_SCHEMA`: scalar fields
analysts can query directly, the reason codes of each model as lists of structs, and the decision as
codes (rule, action, owner, due date). No words are stored: readers render them in their own language
(`serving.serialise.prediction_from_record`), so adding a language never needs a new scoring run.
A file of an older format (texts stored per language) is refused with a `SnapshotFormatError` that
asks for `clvchurn score` to be run again.

The file is written to a temporary name and renamed over the old one, so readers never see half a file;
the store reloads when the file's modification time or size changes.

The snapshot may also be a Parquet dataset: a folder of part files, as `clvchurn score --engine spark`
writes it (swapped in whole, `spark_engine.storage`). The store reads every `*.parquet` file in it
(Spark's `_SUCCESS` and checksum files are skipped) and reloads when the folder or any part changes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from domain.errors import SnapshotFormatError, SnapshotMissingError
from serving.serialise import SNAPSHOT_SCHEMA

logger = logging.getLogger(__name__)

_OLD_FORMAT_COLUMNS = ("explanations_en", "recommended_action_en", "explanations")


def write_snapshot(frame: pl.DataFrame, path: Path) -> Path:
    """Write a frame in the snapshot format (any row order) to `path` atomically; returns the path.

    Rows are sorted by customer_id, so lookups can bisect.
    """
    missing = [column for column in SNAPSHOT_SCHEMA if column not in frame.columns]
    unknown = [column for column in frame.columns if column not in SNAPSHOT_SCHEMA]
    if missing or unknown:
        raise SnapshotFormatError(
            f"Snapshot {path}: the frame lacks columns {missing} and has unknown columns {unknown}; "
            "score with `serving.batch.score_base`"
        )
    frame = _canonical(frame).sort("customer_id")
    _check_unique(frame, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    frame.write_parquet(partial)
    os.replace(partial, path)
    logger.info("Wrote %d scored customers to %s", frame.height, path)
    return path


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(list(SNAPSHOT_SCHEMA)).cast(pl.Schema(SNAPSHOT_SCHEMA))


def _check_unique(frame: pl.DataFrame, path: Path) -> None:
    duplicated = frame.filter(pl.col("customer_id").is_duplicated())["customer_id"].unique().sort()
    if duplicated.len():
        raise SnapshotFormatError(
            f"Snapshot {path} would hold several rows for customers {duplicated.head(5).to_list()}; "
            "score each customer once"
        )


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]
    frame: pl.DataFrame


class SnapshotStore:
    """Looks customers up in the snapshot file, re-reading it whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def record(self, customer_id: str) -> Mapping[str, Any] | None:
        """The customer's latest scored record (`SNAPSHOT_SCHEMA`), or None if the snapshot lacks them."""
        frame = self.frame()
        ids = frame["customer_id"]
        index = ids.search_sorted(customer_id)
        if not isinstance(index, int) or index >= frame.height or ids[index] != customer_id:
            return None
        return frame.row(index, named=True)

    def frame(self) -> pl.DataFrame:
        """The whole snapshot, sorted by customer_id (re-read when the file changed).

        The same frame object is returned until the file changes, so callers may cache what they
        derive from it by identity.
        """
        return self._current().frame

    def _current(self) -> _Loaded:
        stamp = self._stamp()
        loaded = self._loaded
        if loaded is not None and loaded.stamp == stamp:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.stamp != stamp:
                self._loaded = _Loaded(stamp, self._read())
            return self._loaded

    def _stamp(self) -> tuple[int, int]:
        try:
            status = self.path.stat()
        except FileNotFoundError as error:
            raise SnapshotMissingError(
                f"No scored snapshot at {self.path} (CLVCHURN_SNAPSHOT_PATH): run `clvchurn score` first"
            ) from error
        if self.path.is_dir():
            return _folder_stamp(self.path, status.st_mtime_ns)
        return status.st_mtime_ns, status.st_size

    def _read(self) -> pl.DataFrame:
        frame = _read_dataset(self.path) if self.path.is_dir() else pl.read_parquet(self.path)
        missing = [column for column in SNAPSHOT_SCHEMA if column not in frame.columns]
        if missing and any(column in frame.columns for column in _OLD_FORMAT_COLUMNS):
            raise SnapshotFormatError(
                f"Snapshot {self.path} holds texts instead of reason codes (the format of an earlier "
                "clvchurn); run `clvchurn score` again"
            )
        if missing:
            raise SnapshotFormatError(
                f"Snapshot {self.path} lacks columns {missing}; rewrite it with `clvchurn score`"
            )
        frame = _canonical(frame).sort("customer_id")
        _check_unique(frame, self.path)
        logger.info("Loaded %d scored customers from %s", frame.height, self.path)
        return frame


def _folder_stamp(folder: Path, folder_mtime_ns: int) -> tuple[int, int]:
    """A dataset folder's version: the newest modification time of it and its parts, and their size."""
    parts = [part.stat() for part in folder.glob("*.parquet")]
    newest = max([folder_mtime_ns, *(part.st_mtime_ns for part in parts)])
    return newest, sum(part.st_size for part in parts)


def _read_dataset(folder: Path) -> pl.DataFrame:
    """Every part file of a dataset folder as one frame; an empty folder is an empty snapshot."""
    if not any(folder.glob("*.parquet")):
        return pl.DataFrame(schema=SNAPSHOT_SCHEMA)
    return pl.read_parquet(folder / "*.parquet", hive_partitioning=False)
