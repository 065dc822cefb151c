"""The scored snapshot: every customer's latest prediction in one parquet file, and fast lookups in it.

`clvchurn score` writes the file with `write_snapshot`; GET /v1/customers/{id} reads it through a
`SnapshotStore`. Format, one row per customer:

- scalar prediction fields as columns: customer_id, as_of, tier, lifecycle_stage, churn_probability,
  churn_risk, predicted_value, currency, horizon_days, value_at_risk, action_id, churn_model_version,
  value_model_version (analysts can query these directly);
- nested fields as JSON strings: `explanations` ({churn: [Reason], value: [Reason]}) and
  `recommended_action` (the full action), exactly as the API serialises them.

The file is written to a temporary name and renamed over the old one, so readers never see half a file;
the store reloads when the file's modification time or size changes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from serving.schemas import Prediction

logger = logging.getLogger(__name__)

SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "as_of": pl.Datetime("us"),
    "tier": pl.String(),
    "lifecycle_stage": pl.String(),
    "churn_probability": pl.Float64(),
    "churn_risk": pl.String(),
    "predicted_value": pl.Float64(),
    "currency": pl.String(),
    "horizon_days": pl.Int64(),
    "value_at_risk": pl.Float64(),
    "action_id": pl.String(),
    "churn_model_version": pl.String(),
    "value_model_version": pl.String(),
    "explanations": pl.String(),
    "recommended_action": pl.String(),
}


class SnapshotFormatError(ValueError):
    """The snapshot file does not follow the format above (missing columns, duplicated customers)."""


class SnapshotMissingError(FileNotFoundError):
    """No snapshot has been written yet at the configured path."""


def snapshot_frame(predictions: Sequence[Prediction]) -> pl.DataFrame:
    """Predictions as a frame in the snapshot format, sorted by customer_id."""
    rows = {
        "customer_id": [p.customer_id for p in predictions],
        "as_of": [p.as_of for p in predictions],
        "tier": [p.tier for p in predictions],
        "lifecycle_stage": [p.lifecycle_stage for p in predictions],
        "churn_probability": [p.churn_probability for p in predictions],
        "churn_risk": [p.churn_risk for p in predictions],
        "predicted_value": [p.predicted_value.amount for p in predictions],
        "currency": [p.predicted_value.currency for p in predictions],
        "horizon_days": [p.predicted_value.horizon_days for p in predictions],
        "value_at_risk": [p.value_at_risk for p in predictions],
        "action_id": [p.recommended_action.id for p in predictions],
        "churn_model_version": [p.model_versions.churn for p in predictions],
        "value_model_version": [p.model_versions.value for p in predictions],
        "explanations": [p.explanations.model_dump_json() for p in predictions],
        "recommended_action": [p.recommended_action.model_dump_json() for p in predictions],
    }
    return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA).sort("customer_id")


def write_snapshot(predictions: Sequence[Prediction], path: Path) -> Path:
    """Write `predictions` (one per customer) to `path` atomically; returns the path."""
    frame = snapshot_frame(predictions)
    _check_unique(frame, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    frame.write_parquet(partial)
    os.replace(partial, path)
    logger.info("Wrote %d scored customers to %s", frame.height, path)
    return path


def prediction_from_row(row: dict[str, object]) -> Prediction:
    """Rebuild the API's `Prediction` from one snapshot row."""
    scalars = ("customer_id", "as_of", "tier", "lifecycle_stage", "churn_probability", "churn_risk")
    return Prediction.model_validate(
        {
            **{name: row[name] for name in scalars},
            "predicted_value": {
                "amount": row["predicted_value"],
                "currency": row["currency"],
                "horizon_days": row["horizon_days"],
            },
            "value_at_risk": row["value_at_risk"],
            "explanations": json.loads(str(row["explanations"])),
            "recommended_action": json.loads(str(row["recommended_action"])),
            "model_versions": {"churn": row["churn_model_version"], "value": row["value_model_version"]},
        }
    )


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

    def get(self, customer_id: str) -> Prediction | None:
        """The customer's latest scored prediction, or None if the snapshot does not list them."""
        frame = self._current().frame
        ids = frame["customer_id"]
        index = ids.search_sorted(customer_id)
        if not isinstance(index, int) or index >= frame.height or ids[index] != customer_id:
            return None
        return prediction_from_row(frame.row(index, named=True))

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
        return status.st_mtime_ns, status.st_size

    def _read(self) -> pl.DataFrame:
        frame = pl.read_parquet(self.path)
        missing = [column for column in SNAPSHOT_SCHEMA if column not in frame.columns]
        if missing:
            raise SnapshotFormatError(
                f"Snapshot {self.path} lacks columns {missing}; rewrite it with `clvchurn score`"
            )
        frame = frame.select(list(SNAPSHOT_SCHEMA)).cast(pl.Schema(SNAPSHOT_SCHEMA)).sort("customer_id")
        _check_unique(frame, self.path)
        logger.info("Loaded %d scored customers from %s", frame.height, self.path)
        return frame
