"""The training rows of every schedule, built once: features per cutoff, labels per cutoff, populations.

Several models share cutoffs (their backtests and refits step back from the same data end), so each
cutoff's feature table (`features.build.build_features`, the one feature function) and labels are built
once and reused. A deployment can name profile attributes that must not become features
(`excluded_attributes`): they are dropped from every table here, before any model sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import polars as pl

from features.build import KEY_COLUMNS, build_features, build_labels, feature_columns
from features.contract import RawData
from features.definitions import profile_column
from features.populations import POPULATION_COLUMN, with_population_labels
from training.schedule import HELD_OUT_SHARE, Schedule

logger = logging.getLogger(__name__)


class TrainingTables:
    """Features and labels of `raw` at any cutoff, computed on first use and kept."""

    def __init__(
        self,
        raw: RawData,
        churn_horizon_days: int,
        value_horizon_days: int,
        lookback_days: int,
        excluded_attributes: Sequence[str] = (),
    ) -> None:
        self.raw = raw
        self.churn_horizon_days = churn_horizon_days
        self.value_horizon_days = value_horizon_days
        self.lookback_days = lookback_days
        self.excluded = [profile_column(attribute) for attribute in excluded_attributes]
        self._tables: dict[datetime, pl.DataFrame] = {}

    def features(self, as_of: datetime) -> pl.DataFrame:
        """The feature table at `as_of` with its population, no labels (what serving sees)."""
        return self.at(as_of, labels=False)

    def at(self, as_of: datetime, labels: bool = True) -> pl.DataFrame:
        """The table at one cutoff: keys, features, population and (with `labels`) every label."""
        if as_of not in self._tables:
            features = build_features(self.raw, as_of).drop(self.excluded, strict=False)
            outcomes = build_labels(self.raw, as_of, self.churn_horizon_days, self.value_horizon_days)
            table = features.join(outcomes, on=list(KEY_COLUMNS), how="left")
            self._tables[as_of] = with_population_labels(table, self.lookback_days)
            logger.info("training table as of %s: %d customers", as_of.date(), table.height)
        table = self._tables[as_of]
        if labels:
            return table
        return table.select(*KEY_COLUMNS, *feature_columns(table), POPULATION_COLUMN)

    def folds(self, schedule: Schedule, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The fit rows and the calibration rows of `schedule` (see `training.schedule`).

        Out of time: the stacked fit cutoffs, and the table at the calibration cutoff. Held out: the
        stacked fit cutoffs split by customer, `HELD_OUT_SHARE` of the customers (drawn with `seed`)
        in the calibration fold at every cutoff, so no customer is on both sides.
        """
        stacked = self.stacked(schedule.training)
        if not schedule.held_out:
            return stacked, self.at(schedule.calibration)
        customers = stacked["customer_id"].unique().sort()
        rng = np.random.default_rng(seed)
        chosen = rng.random(customers.len()) < HELD_OUT_SHARE
        held_out = stacked["customer_id"].is_in(customers.filter(pl.Series(chosen)).implode())
        return stacked.filter(~held_out), stacked.filter(held_out)

    def stacked(self, cutoffs: Iterable[datetime]) -> pl.DataFrame:
        """The tables of several cutoffs, oldest first; `as_of` tells the snapshots apart."""
        return pl.concat([self.at(as_of) for as_of in sorted(cutoffs)], how="vertical")

    @property
    def feature_names(self) -> list[str]:
        """The feature columns every model reads (any cached table has them all)."""
        if not self._tables:
            raise ValueError("no table built yet")
        return feature_columns(next(iter(self._tables.values())))
