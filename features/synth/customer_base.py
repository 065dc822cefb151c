"""Put a synthetic customer base together: draw it, shape it into contract frames, write it out."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from domain.errors import SyntheticDataError
from features.contract import CUSTOMERS_BASE_SCHEMA, INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, RawData
from features.synth.calendar import MICROSECONDS_PER_DAY, purchase_seasonality, to_clock_time
from features.synth.engagement import INTERACTION_TYPES, Interactions, simulate_interactions
from features.synth.population import ATTRIBUTES, Population, draw_population
from features.synth.purchases import CATEGORIES, ORDER_CHANNELS, Transactions, simulate_transactions
from features.synth.shift import ShiftEffect, SyntheticShift, resolve_shift

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class SyntheticBase:
    """A synthetic customer base: what a company would export, and the truth behind it.

    `ground_truth` holds one row per customer with the parameters the simulation used
    (`is_prospect`, `is_key_account`, `signup_date`, `first_order_at`, `dropout_date` (null when the
    customer is still alive at `end`), `lifetime_end` (the drawn dropout moment even when it lies past
    `end`, so the oracles stay exact for any window), `purchase_rate_per_day` (purchase occasions per
    day at average seasonality), `dropout_rate_per_day`, `mean_order_value`, `refund_rate`).
    Models must never read it; benchmarks use it through the oracles.

    With a drift scenario (`shift`, see `features.synth.shift`), the dropout moments are those after
    the shift and a last column `shift_affected` marks the customers whose behaviour it changes.
    """

    raw: RawData
    ground_truth: pl.DataFrame
    shift: SyntheticShift | None = None


def generate(
    n_customers: int,
    seed: int,
    start: date = date(2022, 1, 1),
    end: date = date(2025, 12, 31),
    shift: SyntheticShift | None = None,
) -> SyntheticBase:
    """Simulate `n_customers` customers acquired between `start` and `end` (both days included).

    The same seed gives identical frames. Everything is vectorised over customers and events.
    `shift` changes prices, engagement or a segment's churn hazard from a date on; every event
    before that date is the same as without it.
    """
    if n_customers < 1:
        raise SyntheticDataError(f"n_customers must be at least 1, got {n_customers}")
    if end <= start:
        raise SyntheticDataError(f"end ({end}) must come after start ({start})")
    if seed < 0:
        raise SyntheticDataError(f"seed must be a non-negative integer, got {seed}")
    n_days = (end - start).days + 1
    rng = np.random.default_rng(seed)
    seasonality_by_day = purchase_seasonality(np.datetime64(start, "D") + np.arange(n_days))
    population = draw_population(rng, n_customers, n_days)
    effect = None if shift is None else resolve_shift(shift, population, start, end)
    transactions = simulate_transactions(rng, population, seasonality_by_day, effect)
    interactions = simulate_interactions(rng, population, n_days)
    if effect is not None:
        interactions = effect.interactions(interactions, population, seed)

    origin = datetime.combine(start, datetime.min.time())
    clock = _Clock(origin_us=_microseconds(origin), limit_us=_microseconds(origin + timedelta(days=n_days)))
    customer_ids = _customer_ids(n_customers)
    raw = RawData(
        transactions=_transactions_frame(transactions, customer_ids, clock),
        customers=_customers_frame(population, customer_ids, clock),
        interactions=_interactions_frame(interactions, customer_ids, clock),
    )
    logger.info(
        "Synthesised %d customers, %d transactions, %d interactions (seed %d)",
        n_customers,
        raw.transactions.height,
        raw.interactions.height,
        seed,
    )
    return SyntheticBase(
        raw=raw, ground_truth=_ground_truth(population, effect, customer_ids, clock, n_days), shift=shift
    )


def _ground_truth(
    population: Population, effect: ShiftEffect | None, customer_ids: pl.Series, clock: _Clock, n_days: int
) -> pl.DataFrame:
    if effect is None:
        return _ground_truth_frame(population, customer_ids, clock, n_days)
    frame = _ground_truth_frame(effect.population(population), customer_ids, clock, n_days)
    return frame.with_columns(pl.Series("shift_affected", effect.affected))


def write_synthetic(base: SyntheticBase, out_dir: Path) -> dict[str, Path]:
    """Write the three contract files and `ground_truth.parquet` into `out_dir`, and `shift.json`
    describing the drift scenario when there is one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "transactions": base.raw.transactions,
        "customers": base.raw.customers,
        "interactions": base.raw.interactions,
        "ground_truth": base.ground_truth,
    }
    paths = {}
    for name, frame in frames.items():
        path = out_dir / f"{name}.parquet"
        frame.write_parquet(path)
        paths[name] = path
    if base.shift is not None:
        paths["shift"] = out_dir / "shift.json"
        paths["shift"].write_text(json.dumps(base.shift.describe(), indent=2) + "\n", encoding="utf-8")
    logger.info("Wrote synthetic customer base to %s", out_dir)
    return paths


@dataclass(frozen=True)
class _Clock:
    """Turns uniform-clock days into wall-clock timestamps; events stay before `limit_us`."""

    origin_us: float
    limit_us: float

    def timestamps(self, name: str, uniform_days: np.ndarray, *, is_event: bool = True) -> pl.Series:
        microseconds = np.floor(to_clock_time(uniform_days) * MICROSECONDS_PER_DAY) + self.origin_us
        if is_event:
            microseconds = np.minimum(microseconds, self.limit_us - 1)
        return pl.Series(name, microseconds, nan_to_null=True).cast(pl.Int64).cast(pl.Datetime("us"))


def _microseconds(moment: datetime) -> float:
    return float((moment - _EPOCH) // timedelta(microseconds=1))


def _customer_ids(n_customers: int) -> pl.Series:
    return pl.select(
        _numbered("C", pl.int_range(1, n_customers + 1), width=max(7, len(str(n_customers))))
    ).to_series()


def _numbered(prefix: str, numbers: pl.Expr, width: int) -> pl.Expr:
    """`prefix` plus the zero-padded number ("C0000042"), via an offset rather than the slower zfill."""
    return prefix + (numbers.cast(pl.Int64) + 10**width).cast(pl.String).str.slice(1)


def _levels(name: str, levels: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    """Level names for codes; code -1 (missing) becomes null."""
    lookup = pl.Series(name, [*levels, None], dtype=pl.String)
    return lookup.gather(np.where(codes < 0, len(levels), codes))


def _transactions_frame(transactions: Transactions, customer_ids: pl.Series, clock: _Clock) -> pl.DataFrame:
    timestamp = clock.timestamps("timestamp", transactions.time)
    order = np.argsort(timestamp.to_numpy(), kind="stable")
    frame = pl.DataFrame(
        [
            customer_ids.gather(transactions.customer[order]).alias("customer_id"),
            timestamp.gather(order),
            pl.Series("amount", transactions.amount[order]),
            pl.Series("quantity", transactions.quantity[order]),
            _levels("category", CATEGORIES, transactions.category[order]),
            _levels("channel", ORDER_CHANNELS, transactions.channel[order]),
        ]
    )
    transaction_id = _numbered("T", pl.int_range(1, pl.len() + 1), width=10)
    return frame.with_columns(transaction_id.alias("transaction_id")).select(
        [pl.col(column).cast(dtype) for column, dtype in TRANSACTIONS_SCHEMA.items()]
    )


def _customers_frame(population: Population, customer_ids: pl.Series, clock: _Clock) -> pl.DataFrame:
    attributes = [
        _levels(name, attribute.levels, population.attribute_codes[name])
        for name, attribute in ATTRIBUTES.items()
    ]
    frame = pl.DataFrame(
        [customer_ids.alias("customer_id"), clock.timestamps("signup_date", population.signup)]
    )
    return frame.cast(CUSTOMERS_BASE_SCHEMA).hstack(attributes)  # type: ignore[arg-type]


def _interactions_frame(interactions: Interactions, customer_ids: pl.Series, clock: _Clock) -> pl.DataFrame:
    timestamp = clock.timestamps("timestamp", interactions.time)
    order = np.argsort(timestamp.to_numpy(), kind="stable")
    frame = pl.DataFrame(
        [
            customer_ids.gather(interactions.customer[order]).alias("customer_id"),
            timestamp.gather(order),
            _levels("type", INTERACTION_TYPES, interactions.type_code[order].astype(np.int64)),
            pl.Series("value", interactions.value[order], nan_to_null=True),
        ]
    )
    return frame.cast(INTERACTIONS_SCHEMA)  # type: ignore[arg-type]


def _ground_truth_frame(
    population: Population, customer_ids: pl.Series, clock: _Clock, n_days: int
) -> pl.DataFrame:
    buyer_only = np.where(population.is_prospect, np.nan, 1.0)
    dropped_in_data = np.where(population.lifetime_end < n_days, population.lifetime_end, np.nan)
    return pl.DataFrame(
        [
            customer_ids.alias("customer_id"),
            pl.Series("is_prospect", population.is_prospect),
            pl.Series("is_key_account", population.is_key_account),
            clock.timestamps("signup_date", population.signup),
            clock.timestamps("first_order_at", population.first_order, is_event=False),
            clock.timestamps("dropout_date", dropped_in_data),
            clock.timestamps("lifetime_end", population.lifetime_end, is_event=False),
            pl.Series("purchase_rate_per_day", population.purchase_rate),
            pl.Series("dropout_rate_per_day", population.dropout_rate * buyer_only, nan_to_null=True),
            pl.Series("mean_order_value", population.mean_order_value * buyer_only, nan_to_null=True),
            pl.Series("refund_rate", population.refund_rate * buyer_only, nan_to_null=True),
        ]
    )
