"""From a training table to model inputs: the out-of-time split and the categorical levels of the matrix.

Time is the only honest split for churn and value (Kaufman et al. 2012, "Leakage in data mining"):
the newest snapshot validates, the one before it calibrates probabilities and stops boosting early,
and older snapshots train. A label window that is still open (as_of + horizon after the end of the
data) would count customers as churned only because their future is not recorded yet, so callers
check every snapshot they train or validate on with `check_label_window` against the data end date.
When snapshots are closer together than the horizon, an older snapshot's label window overlaps the
later snapshots' dates: no feature sees the future, but training labels share calendar time with the
validation labels (a seasonal shock reaches both), so validation is as-if-deployed only for a gap of
at least one horizon between the last training snapshot and the validation one.

Categorical levels are learned on training rows only and stored with the model; the matrix itself is
the model contract's (`model_contract.matrix`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple, TypeAlias

import pandas as pd
import polars as pl

from domain.errors import InsufficientSnapshotsError, LabelWindowOpenError

logger = logging.getLogger(__name__)

MIN_SNAPSHOTS = 3
MAX_CATEGORICAL_LEVELS = 50

Table: TypeAlias = pl.DataFrame | pd.DataFrame


def learn_categorical_levels(
    table: pl.DataFrame, feature_names: Sequence[str], max_levels: int = MAX_CATEGORICAL_LEVELS
) -> dict[str, list[str]]:
    """Levels of every string feature, learned on training rows only.

    At most `max_levels` per feature, the most frequent first (ties by name), stored sorted; rarer
    levels become missing like unseen ones, which keeps high-cardinality attributes (postcodes)
    from producing thousands of one-row splits.
    """
    levels: dict[str, list[str]] = {}
    for name in feature_names:
        if table.schema[name] != pl.String:
            continue
        counts = (
            table.get_column(name)
            .drop_nulls()
            .value_counts(name="count", sort=False)
            .sort(["count", name], descending=[True, False])
        )
        levels[name] = sorted(counts.get_column(name).head(max_levels).to_list())
    return levels


class OutOfTimeSplit(NamedTuple):
    """Three disjoint groups of whole snapshots, oldest to newest: train, calibration, validation."""

    train: pl.DataFrame
    calibration: pl.DataFrame
    validation: pl.DataFrame


def out_of_time_split(table: pl.DataFrame, validation_as_of: datetime | None = None) -> OutOfTimeSplit:
    """Split by snapshot date: never a random split across time.

    Validation is the latest snapshot (or `validation_as_of`), calibration the one just before it,
    training every earlier one; snapshots after `validation_as_of` are left out. Rows of one
    customer appear in several snapshots, each group seeing only its own dates.
    """
    as_ofs = table.get_column("as_of").unique().sort().to_list()
    if validation_as_of is not None:
        if validation_as_of not in as_ofs:
            raise InsufficientSnapshotsError(
                f"validation_as_of {validation_as_of} is not a snapshot of the table; it has {as_ofs}"
            )
        as_ofs = [as_of for as_of in as_ofs if as_of <= validation_as_of]
    if len(as_ofs) < MIN_SNAPSHOTS:
        raise InsufficientSnapshotsError(
            f"an out-of-time split needs at least {MIN_SNAPSHOTS} as_of snapshots up to validation "
            f"(at least 1 to train, 1 to calibrate, 1 to validate) but the table has {len(as_ofs)}: "
            f"{as_ofs}; build the training table with --snapshots {MIN_SNAPSHOTS} or more"
        )
    *train_dates, calibration_date, validation_date = as_ofs
    as_of = pl.col("as_of")
    split = OutOfTimeSplit(
        train=table.filter(as_of.is_in(train_dates)),
        calibration=table.filter(as_of == calibration_date),
        validation=table.filter(as_of == validation_date),
    )
    logger.info(
        "out-of-time split: train %s (%d rows), calibration %s (%d), validation %s (%d)",
        [str(d) for d in train_dates],
        split.train.height,
        calibration_date,
        split.calibration.height,
        validation_date,
        split.validation.height,
    )
    return split


def check_label_window(as_of: datetime | date, horizon_days: int, data_end: datetime | date) -> None:
    """Raise unless the label window [as_of, as_of + horizon_days) closed by `data_end`.

    `data_end` is the moment the data stops (e.g. the day after the last transaction); a window that
    ends later would label customers as churned, or worth nothing, only because their future is missing.
    """
    window_end = as_of + timedelta(days=horizon_days)
    if _as_datetime(window_end) > _as_datetime(data_end):
        raise LabelWindowOpenError(
            f"the snapshot as of {as_of} needs labels up to {window_end} (horizon {horizon_days} days) "
            f"but the data ends {data_end}; choose an earlier --as-of or shorter "
            "--churn-horizon-days / --value-horizon-days"
        )


def _as_datetime(moment: datetime | date) -> datetime:
    return moment if isinstance(moment, datetime) else datetime(moment.year, moment.month, moment.day)
