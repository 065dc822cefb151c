"""How the synthetic customers truly respond to retention actions: the world the uplift models must learn.

A campaign assigns actions at a date; who gets which action, and who is held out, is decided outside
this module (the playbook, `training.uplift.campaigns`). Here each assigned customer gets a true
response that depends on who they are, read from their features at the assignment date:

- a customer who would not have ordered in the action's window is *won* with the action's lift
  probability: the action brings one order (at a uniform moment of the window, of the customer's usual
  value);
- a customer who would have ordered is *put off* with its backfire probability: the action takes away
  their orders in the window.

Everyone else stays or leaves whatever we do (the "sure things" and "lost causes" of uplift modelling;
Radcliffe & Surry 2011). The responses of the default playbook's actions:

| action | lift | backfire |
|---|---|---|
| vip_service_recovery | 0.45 with a complaint or support ticket in the last 90 days, else 0.03 | 0 |
| vip_rescue_call | 0.30 for customers who like contact | 0.35 for those who dislike it (acquired through paid social, paid or organic search) |
| dormant_reactivation | 0.30 for price-sensitive customers (individuals and small companies), else 0.03 | 0 |
| mid_value_growth | 0 (no effect at all) | 0 |
| prospect_case_studies | 0.20 in manufacturing, healthcare and finance, else 0.05 | 0 |
| vip_check_in 0.10, vip_care 0.05, win_back_campaign 0.05, prospect_welcome 0.02, low_value_nurture 0.02 | | 0 |

Every assigned customer's response is drawn, control customers' too, so the ground truth knows each
one's outcome with and without the action; only the treatment group's responses are applied to the
transactions a company would export.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import polars as pl

from features.contract import TRANSACTIONS_SCHEMA
from features.synth.population import BASE_MEAN_ORDER_VALUE
from features.synth.purchases import ORDER_VALUE_SHAPE

Probability = Callable[[pl.DataFrame], np.ndarray]
"""Per row of a feature table, a probability."""

DISLIKES_CONTACT: Final = ("paid_social", "paid_search")
PRICE_SENSITIVE: Final = ("individual", "small")
CASE_STUDY_INDUSTRIES: Final = ("manufacturing", "healthcare", "finance")


def _constant(value: float) -> Probability:
    return lambda features: np.full(features.height, value)


def _where(condition: Callable[[pl.DataFrame], pl.Series], yes: float, no: float) -> Probability:
    return lambda features: np.where(condition(features).fill_null(False).to_numpy(), yes, no)


def _has_open_issue(features: pl.DataFrame) -> pl.Series:
    return (features["complaints_90d"] > 0) | (features["support_tickets_90d"] > 0)


def _dislikes_contact(features: pl.DataFrame) -> pl.Series:
    return features["profile_acquisition_channel"].is_in(DISLIKES_CONTACT)


@dataclass(frozen=True)
class Response:
    """An action's true effect on each customer: the chance it wins a non-buyer, the chance it puts off
    a buyer."""

    lift: Probability
    backfire: Probability = field(default_factory=lambda: _constant(0.0))


RESPONSES: Final[Mapping[str, Response]] = {
    "vip_service_recovery": Response(_where(_has_open_issue, 0.45, 0.03)),
    "vip_rescue_call": Response(_where(_dislikes_contact, 0.0, 0.30), _where(_dislikes_contact, 0.35, 0.0)),
    "dormant_reactivation": Response(
        _where(lambda f: f["profile_company_size"].is_in(PRICE_SENSITIVE), 0.30, 0.03)
    ),
    "mid_value_growth": Response(_constant(0.0)),
    "prospect_case_studies": Response(
        _where(lambda f: f["profile_industry"].is_in(CASE_STUDY_INDUSTRIES), 0.20, 0.05)
    ),
    "vip_check_in": Response(_constant(0.10)),
    "vip_care": Response(_constant(0.05)),
    "win_back_campaign": Response(_constant(0.05)),
    "prospect_welcome": Response(_constant(0.02)),
    "low_value_nurture": Response(_constant(0.02)),
}
"""The synthetic world's responses per action id (module docstring); an action not named has none."""
NO_RESPONSE: Final = Response(_constant(0.0))


@dataclass(frozen=True)
class Responses:
    """Each assigned row's drawn response, whether applied (treatment) or not (control).

    `added` holds the order a won customer places (transactions columns plus `row`, the assignment's
    row); `removed` the transaction ids a put-off customer no longer places, with their `row`.
    """

    lift: np.ndarray
    backfire: np.ndarray
    won: np.ndarray
    put_off: np.ndarray
    added: pl.DataFrame
    removed: pl.DataFrame


def draw_responses(
    rng: np.random.Generator,
    assignments: pl.DataFrame,
    features: pl.DataFrame,
    transactions: pl.DataFrame,
    mean_order_values: pl.DataFrame,
    first_id: int,
    responses: Mapping[str, Response] = RESPONSES,
) -> Responses:
    """Draw every assigned row's response (module docstring).

    Parameters
    ----------
    assignments: one row per assignment: `customer_id`, `action_id`, `assigned_at`, `window_days`.
    features: the features at the assignment date, one row per assigned customer, in `assignments`' order.
    transactions: the transactions as they stand (earlier campaigns applied).
    mean_order_values: `customer_id`, `mean_order_value` (ground truth; null for prospects).
    first_id: number of the first added transaction (ids `TC<number>`), so ids never repeat.
    """
    rows = assignments.height
    lift, backfire = np.zeros(rows), np.zeros(rows)
    action_ids = assignments["action_id"].to_numpy()
    for action_id in np.unique(action_ids).tolist():
        members = np.flatnonzero(action_ids == action_id)
        response = responses.get(action_id, NO_RESPONSE)
        subset = features[members]
        lift[members], backfire[members] = response.lift(subset), response.backfire(subset)
    window = _orders_in_window(assignments, transactions)
    ordering = np.bincount(window["row"].to_numpy(), minlength=rows) > 0
    draws = rng.random(rows)
    won = ~ordering & (draws < lift)
    put_off = ordering & (draws < backfire)
    return Responses(
        lift=lift,
        backfire=backfire,
        won=won,
        put_off=put_off,
        added=_won_orders(rng, assignments, np.flatnonzero(won), mean_order_values, first_id),
        removed=window.filter(pl.col("row").is_in(np.flatnonzero(put_off).tolist())).select(
            "row", "transaction_id"
        ),
    )


def apply_responses(transactions: pl.DataFrame, responses: Responses, treated: np.ndarray) -> pl.DataFrame:
    """The transactions with the treated rows' responses applied: won orders added, put-off ones gone."""
    treated_rows = np.flatnonzero(treated).tolist()
    added = responses.added.filter(pl.col("row").is_in(treated_rows)).drop("row")
    removed = responses.removed.filter(pl.col("row").is_in(treated_rows))["transaction_id"]
    kept = transactions.filter(~pl.col("transaction_id").is_in(removed.implode()))
    return pl.concat([kept, added.select(list(TRANSACTIONS_SCHEMA))])


def _orders_in_window(assignments: pl.DataFrame, transactions: pl.DataFrame) -> pl.DataFrame:
    """(row, transaction_id) of every order (positive amount) in each assignment's window."""
    windows = assignments.select(
        pl.int_range(pl.len()).alias("row"),
        "customer_id",
        "assigned_at",
        (pl.col("assigned_at") + pl.duration(days=pl.col("window_days"))).alias("window_end"),
    )
    return (
        windows.join(
            transactions.filter(pl.col("amount") > 0).select("customer_id", "timestamp", "transaction_id"),
            on="customer_id",
        )
        .filter((pl.col("timestamp") >= pl.col("assigned_at")) & (pl.col("timestamp") < pl.col("window_end")))
        .select("row", "transaction_id")
    )


def _won_orders(
    rng: np.random.Generator,
    assignments: pl.DataFrame,
    rows: np.ndarray,
    mean_order_values: pl.DataFrame,
    first_id: int,
) -> pl.DataFrame:
    """One order per won row, at a uniform moment of its window, of the customer's usual value."""
    won = assignments[rows].join(mean_order_values, on="customer_id", how="left", maintain_order="left")
    mean_value = won["mean_order_value"].fill_null(BASE_MEAN_ORDER_VALUE).to_numpy()
    days = won["window_days"].to_numpy()
    offset_us = np.floor(rng.random(rows.size) * days * 86_400e6).astype(np.int64)
    amount = np.round(rng.gamma(ORDER_VALUE_SHAPE, mean_value / ORDER_VALUE_SHAPE), 2)
    return pl.DataFrame(
        {
            "row": rows.astype(np.int64),
            "customer_id": won["customer_id"],
            "timestamp": won["assigned_at"] + pl.Series(offset_us).cast(pl.Duration("us")),
            "amount": np.maximum(amount, 0.01),
            "transaction_id": [f"TC{first_id + i:09d}" for i in range(rows.size)],
            "quantity": np.ones(rows.size),
            "category": pl.Series([None] * rows.size, dtype=pl.String),
            "channel": pl.Series(["campaign"] * rows.size, dtype=pl.String),
        }
    ).cast({"timestamp": pl.Datetime("us")})
