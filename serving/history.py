"""The snapshot history: every scored cutoff kept, with the model pair that scored it.

`clvchurn score` writes the served snapshot (`serving.snapshot_store`) and also files it here, one
Parquet dataset per cutoff::

    <history>/as_of=2025-07-01/snapshot.parquet
    <history>/as_of=2025-07-01/features.parquet

The snapshot file holds the snapshot's rows (`serving.serialise.SNAPSHOT_SCHEMA`, sorted by customer id) and,
in its key-value metadata under `clvchurn.pair`, what monitoring needs to know about the pair that
scored it: version, run, data end, horizons, lookback, tier cut-points, each model's populations,
horizon, `trained_through` and backtest figures, and the reference distribution drift is measured
against. Rows and pair travel in one file, so a reader can never pair a snapshot with another pair's
backtest, and monitoring needs no registry to judge an old snapshot.

Beside it, `features.parquet` keeps the features the snapshot was scored from (the columns of the
pair's reference distribution), so that drift is measured on what the models saw without building
the features again. Both files carry the same entry token in their metadata: features whose token
differs from the snapshot's (a re-scoring stopped between the two renames) are not used, and the
reader falls back to building them from the raw data.

Scoring a cutoff again replaces its file atomically (written under a temporary name, then renamed
over the old one): a reader sees the old entry or the new one, never half of either. The folder name
follows the Hive convention, but the file also holds an `as_of` column (a datetime): read a partition
with the functions below, or with Hive partitioning turned off.

Readers (monitoring, the CRM export's `--changed-since`): `history_cutoffs`, `read_history_snapshot`,
`read_history_pair`, `read_history_entry`, `read_history_features`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from domain.errors import SnapshotFormatError, SnapshotMissingError
from model_contract import PAIR_MODEL_NAME, LoadedPair
from serving.serialise import SNAPSHOT_SCHEMA

logger = logging.getLogger(__name__)

SNAPSHOT_FILE: Final = "snapshot.parquet"
FEATURES_FILE: Final = "features.parquet"
PAIR_METADATA_KEY: Final = "clvchurn.pair"
ENTRY_METADATA_KEY: Final = "clvchurn.entry"
HISTORY_FORMAT: Final = 1
_ENTRY_NAME: Final = re.compile(r"^as_of=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class HistoryEntry:
    """One scored cutoff: its rows and the pair that scored them (`pair_description`'s dict)."""

    as_of: date
    snapshot: pl.DataFrame
    pair: dict[str, Any]
    path: Path

    @property
    def pair_version(self) -> str:
        return str(self.pair["version"])


def entry_path(history_dir: Path, as_of: date | datetime) -> Path:
    """Where the snapshot of cutoff `as_of` lives: `<history>/as_of=YYYY-MM-DD/snapshot.parquet`."""
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    return Path(history_dir) / f"as_of={day.isoformat()}" / SNAPSHOT_FILE


def pair_description(loaded: LoadedPair) -> dict[str, Any]:
    """What the history keeps of a pair: enough to judge its snapshots without the registry."""
    metadata = loaded.pair.metadata
    return {
        "format": HISTORY_FORMAT,
        "name": PAIR_MODEL_NAME,
        "version": loaded.version,
        "run_id": loaded.run_id,
        "trained_at": metadata.trained_at.isoformat(),
        "data_end": metadata.data_end.isoformat(),
        "lookback_days": metadata.lookback_days,
        "churn_horizon_days": metadata.churn_horizon_days,
        "value_horizon_days": metadata.value_horizon_days,
        "tier_cutpoints": metadata.tier_cutpoints,
        "models": {
            name: {
                "populations": list(bundle.metadata.populations),
                "horizon_days": bundle.metadata.horizon_days,
                "trained_through": bundle.metadata.trained_through.isoformat(),
                "backtest_as_of": None
                if bundle.metadata.backtest_as_of is None
                else bundle.metadata.backtest_as_of.isoformat(),
                "backtest_metrics": dict(bundle.metadata.backtest_metrics),
                "fallback": bundle.metadata.fallback,
            }
            for name, bundle in loaded.pair.models.items()
        },
        "reference_distribution": metadata.reference_distribution,
    }


def write_history_entry(
    history_dir: Path,
    snapshot: pl.DataFrame,
    pair: dict[str, Any],
    features: pl.DataFrame | None = None,
) -> Path:
    """File `snapshot` (one cutoff, `SNAPSHOT_SCHEMA`) under its cutoff, replacing that cutoff's entry.

    Parameters
    ----------
    history_dir
        The history folder (created if missing).
    snapshot
        Every scored customer of one cutoff, as `serving.batch.score_base` returns them.
    pair
        `pair_description` of the pair that scored them.
    features
        The feature table the snapshot was scored from (`build_features` at the cutoff): its
        customer id and the columns of the pair's reference distribution are kept beside the
        snapshot for drift. Without it, an earlier entry's features file is removed.

    Returns
    -------
    Path
        The entry's file.

    Raises
    ------
    SnapshotFormatError
        The frame is empty, lacks snapshot columns, holds several cutoffs or a customer twice.
    """
    missing = [column for column in SNAPSHOT_SCHEMA if column not in snapshot.columns]
    if missing:
        raise SnapshotFormatError(
            f"the snapshot to file in the history {history_dir} lacks columns {missing}; score it with "
            "`clvchurn score`"
        )
    if snapshot.height == 0:
        raise SnapshotFormatError(f"an empty snapshot cannot be filed in the history {history_dir}")
    cutoffs = snapshot["as_of"].unique()
    if cutoffs.len() != 1:
        raise SnapshotFormatError(
            f"a history entry holds one cutoff, the snapshot holds {cutoffs.len()}: file each cutoff on its own"
        )
    frame = snapshot.select(list(SNAPSHOT_SCHEMA)).cast(pl.Schema(SNAPSHOT_SCHEMA)).sort("customer_id")
    if frame["customer_id"].n_unique() != frame.height:
        raise SnapshotFormatError(f"the snapshot to file in {history_dir} holds a customer more than once")
    path = entry_path(history_dir, cutoffs[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    partial = _partial(path)
    frame.write_parquet(partial, metadata={PAIR_METADATA_KEY: json.dumps(pair), ENTRY_METADATA_KEY: token})
    features_path = path.with_name(FEATURES_FILE)
    if features is not None:
        kept = _features_kept(features, pair)
        features_partial = _partial(features_path)
        kept.write_parquet(features_partial, metadata={ENTRY_METADATA_KEY: token})
        os.replace(features_partial, features_path)
    else:
        features_path.unlink(missing_ok=True)
    os.replace(partial, path)
    logger.info("Filed %d scored customers as of %s in %s", frame.height, cutoffs[0], path)
    return path


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def _features_kept(features: pl.DataFrame, pair: dict[str, Any]) -> pl.DataFrame:
    """The customer id and the reference distribution's feature columns, in id order."""
    if "customer_id" not in features.columns:
        raise SnapshotFormatError("the features to file in the history lack the customer_id column")
    described = (pair.get("reference_distribution") or {}).get("features") or {}
    columns = [name for name in described if name in features.columns and name != "customer_id"]
    return features.select("customer_id", *columns).sort("customer_id")


def history_cutoffs(history_dir: Path) -> list[date]:
    """Every cutoff the history holds, oldest first (an absent folder holds none)."""
    folder = Path(history_dir)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _ENTRY_NAME.match(child.name)
        if match and (child / SNAPSHOT_FILE).is_file():
            found.append(date.fromisoformat(match[1]))
        elif match and any(child.glob("part-*")):
            logger.warning(
                "%s was filed by `clvchurn score --engine spark` (part files, no %s): judge a history "
                "scored on Spark with `clvchurn monitor --engine spark`",
                child,
                SNAPSHOT_FILE,
            )
    return sorted(found)


def read_history_snapshot(
    history_dir: Path, as_of: date | datetime, columns: list[str] | None = None
) -> pl.DataFrame:
    """The rows scored as of `as_of` (all snapshot columns, or `columns`), sorted by customer id.

    Raises
    ------
    SnapshotMissingError
        The history holds no entry for that cutoff; the message lists the cutoffs it holds.
    """
    path = _existing(history_dir, as_of)
    return pl.read_parquet(path, columns=columns, hive_partitioning=False)


def read_history_entry(history_dir: Path, as_of: date | datetime) -> HistoryEntry:
    """The rows of cutoff `as_of` with the description of the pair that scored them.

    Raises
    ------
    SnapshotMissingError
        No entry for that cutoff.
    SnapshotFormatError
        The file lacks the pair's description or some snapshot columns (not written by `clvchurn score`).
    """
    path = _existing(history_dir, as_of)
    pair = _pair_of(path)
    snapshot = pl.read_parquet(path, hive_partitioning=False)
    missing = [column for column in SNAPSHOT_SCHEMA if column not in snapshot.columns]
    if missing:
        raise SnapshotFormatError(f"history entry {path} lacks columns {missing}; score that cutoff again")
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    return HistoryEntry(as_of=day, snapshot=snapshot, pair=pair, path=path)


def read_history_pair(history_dir: Path, as_of: date | datetime) -> dict[str, Any]:
    """`pair_description` of the pair that scored cutoff `as_of`, without reading the rows.

    Raises
    ------
    SnapshotMissingError, SnapshotFormatError
        As `read_history_entry`.
    """
    return _pair_of(_existing(history_dir, as_of))


def read_history_features(
    history_dir: Path, as_of: date | datetime, columns: list[str] | None = None
) -> pl.DataFrame | None:
    """The features cutoff `as_of` was scored from (customer id and `columns`, or all kept), or None
    when the entry keeps none, keeps them from another scoring, or lacks one of `columns`.

    Raises
    ------
    SnapshotMissingError
        The history holds no entry for that cutoff.
    """
    path = _existing(history_dir, as_of)
    features_path = path.with_name(FEATURES_FILE)
    if not features_path.is_file():
        return None
    token = pl.read_parquet_metadata(path).get(ENTRY_METADATA_KEY)
    if token is None or pl.read_parquet_metadata(features_path).get(ENTRY_METADATA_KEY) != token:
        logger.warning(
            "%s belongs to another scoring of %s than its snapshot: not used", features_path, as_of
        )
        return None
    held = pl.read_parquet_schema(features_path)
    wanted = (
        None if columns is None else ["customer_id", *(name for name in columns if name != "customer_id")]
    )
    if wanted is not None and any(name not in held for name in wanted):
        return None
    return pl.read_parquet(features_path, columns=wanted, hive_partitioning=False)


def _pair_of(path: Path) -> dict[str, Any]:
    described = pl.read_parquet_metadata(path).get(PAIR_METADATA_KEY)
    if described is None:
        raise SnapshotFormatError(
            f"history entry {path} does not say which model pair scored it; score that cutoff again "
            "with `clvchurn score --history`"
        )
    pair: dict[str, Any] = json.loads(described)
    return pair


def _existing(history_dir: Path, as_of: date | datetime) -> Path:
    path = entry_path(history_dir, as_of)
    if not path.is_file():
        held = ", ".join(day.isoformat() for day in history_cutoffs(history_dir)) or "none"
        raise SnapshotMissingError(
            f"the snapshot history {history_dir} has no entry for {path.parent.name} (it holds: {held}); "
            "score that cutoff with `clvchurn score --as-of DATE`"
        )
    return path
