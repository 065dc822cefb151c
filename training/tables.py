"""The training rows of every schedule, built once: features per cutoff, labels per cutoff, populations.

Several models share cutoffs (their backtests and refits step back from the same data end), so each
cutoff's feature table (`features.build.build_features`, the one feature function) and labels are built
once and reused. A deployment can name profile attributes that must not become features
(`excluded_attributes`): they are dropped from every table here, before any model sees them.

By default the tables are built here, in process, one cutoff at a time. A `TableBuilder` builds them
elsewhere instead, all the cutoffs of a run in one go (`spark_engine.training` builds them on Spark and
collects them to the driver); it must give exactly the table `build_training_table` gives for each
cutoff, rows in customer order, and may say what it did (a sample, say) in notes and run parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import polars as pl

from domain.errors import TableBuilderError
from features.build import KEY_COLUMNS, build_features, build_labels, feature_columns
from features.contract import RawData
from features.definitions import profile_column
from features.populations import POPULATION_COLUMN, with_population_labels
from training.schedule import HELD_OUT_SHARE, Schedule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltTables:
    """The tables a `TableBuilder` built, one per cutoff, and what it wants recorded with the run."""

    tables: dict[datetime, pl.DataFrame]
    notes: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)


class TableBuilder(Protocol):
    """Builds the training tables of several cutoffs at once, somewhere other than this process."""

    def data_span(self) -> tuple[datetime, datetime]:
        """The first event, and the midnight after the last one (what `training.train` plans from)."""
        ...

    def build(
        self,
        as_ofs: Sequence[datetime],
        *,
        churn_horizon_days: int,
        value_horizon_days: int,
        lookback_days: int,
    ) -> BuiltTables:
        """`build_training_table` of each cutoff in `as_ofs`, every cutoff present, rows in customer order."""
        ...


class TrainingTables:
    """Features and labels of `raw` at any cutoff, computed on first use and kept.

    With a `builder`, the tables come from it instead of `raw`: `prefetch` hands it every cutoff of
    the run at once, and its notes and parameters are kept in `notes` and `params`.
    """

    def __init__(
        self,
        raw: RawData,
        churn_horizon_days: int,
        value_horizon_days: int,
        lookback_days: int,
        excluded_attributes: Sequence[str] = (),
        builder: TableBuilder | None = None,
    ) -> None:
        self.raw = raw
        self.churn_horizon_days = churn_horizon_days
        self.value_horizon_days = value_horizon_days
        self.lookback_days = lookback_days
        self.excluded = [profile_column(attribute) for attribute in excluded_attributes]
        self.builder = builder
        self.notes: list[str] = []
        self.params: dict[str, str] = {}
        self._tables: dict[datetime, pl.DataFrame] = {}

    def prefetch(self, cutoffs: Iterable[datetime]) -> None:
        """Build the tables of `cutoffs` not built yet: all in one call to the builder, if there is one."""
        missing = sorted(set(cutoffs) - set(self._tables))
        if not missing:
            return
        if self.builder is None:
            for as_of in missing:
                self.at(as_of)
            return
        built = self.builder.build(
            missing,
            churn_horizon_days=self.churn_horizon_days,
            value_horizon_days=self.value_horizon_days,
            lookback_days=self.lookback_days,
        )
        absent = [as_of.date().isoformat() for as_of in missing if as_of not in built.tables]
        if absent:
            raise TableBuilderError(
                f"the table builder {type(self.builder).__name__} gave no table for the cutoffs {absent}"
            )
        for as_of in missing:
            self._tables[as_of] = built.tables[as_of].drop(self.excluded, strict=False)
            logger.info("training table as of %s: %d customers", as_of.date(), self._tables[as_of].height)
        self.notes.extend(built.notes)
        self.params.update(built.params)

    def features(self, as_of: datetime) -> pl.DataFrame:
        """The feature table at `as_of` with its population, no labels (what serving sees)."""
        return self.at(as_of, labels=False)

    def at(self, as_of: datetime, labels: bool = True) -> pl.DataFrame:
        """The table at one cutoff: keys, features, population and (with `labels`) every label."""
        if as_of not in self._tables and self.builder is not None:
            self.prefetch([as_of])
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
