"""Past campaigns on synthetic data: the default playbook assigns actions with random control groups at
several dates, the synthetic customers respond as they truly would (`features.synth.campaigns`), and
the ground truth records every assigned customer's outcome with and without the action.

At each date the playbook decides for every customer known then, with near-best scores in place of a
model (the oracles of `features.synth`: the true churn probability over 180 days, blurred by
`SCORE_NOISE`, sets the risk band, and the true value if retained the tier; the top reason is a complaint or support
ticket in the last 90 days when there is one, else the silence since the last order), and the control
groups are drawn by the same keyed hash as in production (`policy.experiments`). Tiers are cut on the
value if retained (true purchase rate x a year x net order value), not on the expected spend: the
expected spend already discounts churn, so with exact churn probabilities no high-value customer would
ever be at high risk, whereas a company's model, less sure, flags some. Responses of the
treatment group are applied to the transactions before the next date, so later campaigns see earlier
ones' effects, as a company would.

The truth file has one row per action row: the window's orders and net spend without and with the
action (everything else as it happened), the net spend of the window before, each world's success by
the action's metric (`policy.outcomes`, the same function the evaluation uses), the response
probabilities, and the exact oracle scores at assignment (churn probability and value if retained) that
churn-probability and value-at-risk targeting rank by.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl
from scipy.special import expit, logit

from domain.errors import SyntheticDataError
from features.actions_contract import ACTIONS_SCHEMA
from features.build import build_features, data_end
from features.contract import RawData
from features.populations import population_expr
from features.synth import SyntheticBase, oracle_churn_probability, oracle_expected_spend
from features.synth.campaigns import RESPONSES, Response, Responses, apply_responses, draw_responses
from model_contract import TierCutpoints, absolute_tiers, assign_tier, fit_tiers
from policy.experiments import ControlAssigner
from policy.outcomes import success_expr, window_outcomes, with_success_definitions
from policy.playbook import Playbook
from policy.tiers import RANKED_TIERS, TierPolicy

logger = logging.getLogger(__name__)

DEFAULT_CAMPAIGN_DATES: Final = (date(2024, 10, 1), date(2025, 1, 15), date(2025, 5, 1), date(2025, 8, 15))
"""Four campaigns at least 90 days apart, so most windows close before the generator's last day."""
ACTIONS_FILE: Final = "actions.parquet"
CAMPAIGN_TRUTH_FILE: Final = "campaign_truth.parquet"
CHURN_HORIZON_DAYS: Final = 180
VALUE_HORIZON_DAYS: Final = 365
ISSUE_REASONS: Final = ("complaints_90d", "support_tickets_90d")
SCORE_NOISE: Final = 2.0
"""Standard deviation, on the log-odds scale, of the error added to the true churn probability: the
planner's model is good but not exact, as a company's is."""


@dataclass(frozen=True)
class SyntheticCampaigns:
    """The observed data (transactions with the treated customers' responses), the actions file and the
    truth behind it (module docstring)."""

    raw: RawData
    actions: pl.DataFrame
    truth: pl.DataFrame
    dates: tuple[datetime, ...]


def run_synthetic_campaigns(
    base: SyntheticBase,
    playbook: Playbook,
    assigner: ControlAssigner,
    *,
    dates: Sequence[date] = DEFAULT_CAMPAIGN_DATES,
    seed: int = 0,
    reach: float = 1.0,
    control_share: float | None = None,
    responses: dict[str, Response] | None = None,
) -> SyntheticCampaigns:
    """Run the campaigns on `base` (module docstring).

    Parameters
    ----------
    reach: the share of customers each campaign considers (drawn afresh per date), for large bases.
    control_share: the control share of every rule that keeps a control group, instead of the playbook's.
    """
    if not 0 < reach <= 1:
        raise SyntheticDataError(f"reach must be in (0, 1], got {reach}")
    if control_share is not None and not 0 < control_share < 1:
        raise SyntheticDataError(f"control_share must be in (0, 1), got {control_share}")
    moments = tuple(datetime.combine(day, datetime.min.time()) for day in sorted(dates))
    end = data_end(base.raw)
    if not moments or end is None or moments[-1] >= end:
        raise SyntheticDataError(f"campaign dates {list(dates)} must fall before the data end {end}")
    rng = np.random.default_rng([seed, 14])
    raw = base.raw
    truth = base.ground_truth
    mean_order_values = truth.select("customer_id", "mean_order_value")
    transactions = raw.transactions
    plans: list[pl.DataFrame] = []
    first_id = 1
    for as_of in moments:
        current = RawData(transactions, raw.customers, raw.interactions)
        features = build_features(_sample(current, rng, reach), as_of)
        plan = plan_with_playbook(
            playbook, assigner, features, _oracle(truth, as_of), as_of, control_share, rng
        )
        drawn = draw_responses(
            rng, plan, features, transactions, mean_order_values, first_id, responses or RESPONSES
        )
        first_id += drawn.added.height
        treated = (plan["group"] == "treatment").to_numpy()
        plans.append(_with_responses(plan, drawn, transactions))
        transactions = apply_responses(transactions, drawn, treated)
        logger.info(
            "Campaign of %s: %d actions, %d in control", as_of.date(), plan.height, int((~treated).sum())
        )
    observed = RawData(transactions.sort("timestamp", maintain_order=True), raw.customers, raw.interactions)
    assigned = pl.concat(plans)
    actions = assigned.select([pl.col(name).cast(dtype) for name, dtype in ACTIONS_SCHEMA.items()])
    return SyntheticCampaigns(observed, actions, _truth(assigned, actions, observed, playbook), moments)


def write_campaigns(campaigns: SyntheticCampaigns, out_dir: Path) -> dict[str, Path]:
    """Write the observed transactions (over the generator's), the actions file and the truth file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "transactions": out_dir / "transactions.parquet",
        "actions": out_dir / ACTIONS_FILE,
        "campaign_truth": out_dir / CAMPAIGN_TRUTH_FILE,
    }
    campaigns.raw.transactions.write_parquet(paths["transactions"])
    campaigns.actions.write_parquet(paths["actions"])
    campaigns.truth.write_parquet(paths["campaign_truth"])
    return paths


def plan_with_playbook(
    playbook: Playbook,
    assigner: ControlAssigner,
    features: pl.DataFrame,
    oracle: pl.DataFrame,
    as_of: datetime,
    control_share: float | None = None,
    rng: np.random.Generator | None = None,
) -> pl.DataFrame:
    """Every customer of `features` with the playbook's action and group at `as_of`, oracle scores in
    place of a model (module docstring); in the row order of `features`."""
    scores = features.select("customer_id").join(oracle, on="customer_id", how="left", maintain_order="left")
    populations = features.select(population_expr(playbook.lifecycle.lookback_days)).to_series().to_numpy()
    active = populations == "active"
    rng = rng or np.random.default_rng(0)
    exact = scores["oracle_churn_probability"].fill_null(1.0).to_numpy()
    churn = expit(logit(np.clip(exact, 1e-4, 1 - 1e-4)) + rng.normal(0.0, SCORE_NOISE, len(exact)))
    risks = playbook.churn_risks(np.where(active, churn, np.nan))
    stages = playbook.lifecycle_stages(features, risks)
    value = scores["oracle_value_if_retained"].fill_null(0.0).to_numpy()
    tiers = assign_tier(_cutpoints(playbook.tiers, value[active]), value, features["orders_365d"].to_numpy())
    decisions = playbook.decide(
        tiers.astype(object),
        populations.astype(object),
        risks,
        stages,
        _top_reasons(features),
        np.where(active, churn, 1.0 - churn),
    )
    shares = playbook.control_shares(decisions.rule_ids)
    if control_share is not None:
        shares = np.where(shares > 0, control_share, 0.0)
    ids = features["customer_id"].to_list()
    groups = assigner.assign(ids, decisions.rule_ids, [assigner.period(as_of)] * len(ids), shares)
    actions = playbook.actions()
    due = np.asarray(
        [actions[action_id].due_within_days for action_id in decisions.action_ids], dtype=np.float64
    )
    contact = rng.random(len(ids)) * due
    treated = groups != "control"
    return pl.DataFrame(
        {
            "customer_id": ids,
            "action_id": decisions.action_ids,
            "assigned_at": pl.repeat(as_of, len(ids), eager=True, dtype=pl.Datetime("us")),
            "group": np.where(treated, "treatment", "control"),
            "rule_id": decisions.rule_ids,
            "taken_at": [
                as_of + timedelta(days=float(d)) if t else None for d, t in zip(contact, treated, strict=True)
            ],
            "channel": pl.Series([None] * len(ids), dtype=pl.String),
            "owner": [actions[action_id].owner for action_id in decisions.action_ids],
            "cost": pl.Series([None] * len(ids), dtype=pl.Float64),
            "tier": tiers.tolist(),
            "lifecycle_stage": stages.tolist(),
            "window_days": [_window_days(playbook, action_id) for action_id in decisions.action_ids],
            "oracle_churn_probability": exact,
            "oracle_value_if_retained": scores["oracle_value_if_retained"].fill_null(0.0).to_numpy(),
        },
        schema_overrides={"taken_at": pl.Datetime("us")},
    )


def _window_days(playbook: Playbook, action_id: str) -> int:
    action = playbook.action(action_id)
    return action.success.days if action is not None and action.success is not None else 60


def _cutpoints(policy: TierPolicy, active_values: np.ndarray) -> TierCutpoints:
    minimums = dict(policy.minimum_orders_365d)
    if policy.thresholds is not None:
        a, b, c = (policy.thresholds[tier] for tier in RANKED_TIERS)
        return absolute_tiers(a, b, c, minimums)
    assert policy.shares is not None
    return fit_tiers(active_values, [policy.shares[tier] for tier in RANKED_TIERS], minimums)


def _top_reasons(features: pl.DataFrame) -> list[str | None]:
    """The oracle's stand-in for the top churn driver: an open issue when there is one, else silence."""
    reasons = (
        pl.when(pl.col("complaints_90d") > 0)
        .then(pl.lit(ISSUE_REASONS[0]))
        .when(pl.col("support_tickets_90d") > 0)
        .then(pl.lit(ISSUE_REASONS[1]))
    )
    return features.select(reasons.otherwise(pl.lit("days_since_last_order"))).to_series().to_list()


def _oracle(truth: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The true churn probability, expected spend and value if retained of every customer at `as_of`.

    The value if retained is the expected net spend over the value horizon of a customer who stays:
    purchase rate x days x mean order value x (1 - refund rate)."""
    churn = oracle_churn_probability(truth, as_of, CHURN_HORIZON_DAYS)
    spend = oracle_expected_spend(truth, as_of, VALUE_HORIZON_DAYS)
    retained = truth.select(
        "customer_id",
        (
            pl.col("purchase_rate_per_day")
            * VALUE_HORIZON_DAYS
            * pl.col("mean_order_value").fill_null(0.0)
            * (1 - pl.col("refund_rate").fill_null(0.0))
        ).alias("oracle_value_if_retained"),
    )
    return (
        churn.rename({"churn_probability": "oracle_churn_probability"})
        .join(spend.rename({"expected_spend": "oracle_expected_spend"}), on="customer_id")
        .join(retained, on="customer_id")
    )


def _sample(raw: RawData, rng: np.random.Generator, reach: float) -> RawData:
    if reach >= 1:
        return raw
    ids = raw.customers["customer_id"]
    kept = ids.filter(pl.Series(rng.random(ids.len()) < reach)).implode()
    return RawData(
        raw.transactions.filter(pl.col("customer_id").is_in(kept)),
        raw.customers.filter(pl.col("customer_id").is_in(kept)),
        raw.interactions.filter(pl.col("customer_id").is_in(kept)),
    )


def _with_responses(plan: pl.DataFrame, drawn: Responses, transactions: pl.DataFrame) -> pl.DataFrame:
    """The plan with each row's drawn response and what it adds to or takes from its window."""
    rows = pl.DataFrame({"row": np.arange(plan.height, dtype=np.int64)})
    added = drawn.added.group_by("row").agg(
        pl.len().cast(pl.Int64).alias("added_orders"), pl.col("amount").sum().alias("added_spend")
    )
    removed = (
        drawn.removed.join(transactions.select("transaction_id", "amount"), on="transaction_id")
        .group_by("row")
        .agg(pl.len().cast(pl.Int64).alias("removed_orders"), pl.col("amount").sum().alias("removed_spend"))
    )
    changes = (
        rows.join(added, on="row", how="left").join(removed, on="row", how="left").sort("row").fill_null(0)
    )
    return plan.with_columns(
        pl.Series("lift_probability", drawn.lift),
        pl.Series("backfire_probability", drawn.backfire),
        pl.Series("won", drawn.won),
        pl.Series("put_off", drawn.put_off),
        changes["added_orders"],
        changes["added_spend"].cast(pl.Float64),
        changes["removed_orders"],
        changes["removed_spend"].cast(pl.Float64),
    )


def _truth(
    assigned: pl.DataFrame, actions: pl.DataFrame, observed: RawData, playbook: Playbook
) -> pl.DataFrame:
    """Per action row: each world's window figures and success (module docstring)."""
    end = data_end(observed)
    assert end is not None
    outcomes = window_outcomes(with_success_definitions(actions, playbook), observed.transactions, end)
    treated = pl.col("group") == "treatment"
    change_orders = pl.col("added_orders") - pl.col("removed_orders")
    change_spend = pl.col("added_spend") - pl.col("removed_spend")
    table = pl.concat(
        [
            outcomes.select(
                "metric", "min_amount", "window_days", "window_end", "closed", "net_spend_before"
            ),
            outcomes.select("orders_in_window", "net_spend_in_window"),
            assigned.select(
                "customer_id",
                "action_id",
                "rule_id",
                "assigned_at",
                "group",
                "tier",
                "lifecycle_stage",
                "oracle_churn_probability",
                "oracle_value_if_retained",
                "lift_probability",
                "backfire_probability",
                "won",
                "put_off",
                "added_orders",
                "added_spend",
                "removed_orders",
                "removed_spend",
            ),
        ],
        how="horizontal",
    ).with_columns(
        pl.when(treated)
        .then(pl.col("orders_in_window") - change_orders)
        .otherwise(pl.col("orders_in_window"))
        .alias("orders_without"),
        pl.when(treated)
        .then(pl.col("orders_in_window"))
        .otherwise(pl.col("orders_in_window") + change_orders)
        .alias("orders_with"),
        pl.when(treated)
        .then(pl.col("net_spend_in_window") - change_spend)
        .otherwise(pl.col("net_spend_in_window"))
        .alias("net_spend_without"),
        pl.when(treated)
        .then(pl.col("net_spend_in_window"))
        .otherwise(pl.col("net_spend_in_window") + change_spend)
        .alias("net_spend_with"),
    )
    return table.with_columns(
        success_expr(orders="orders_without", net_spend="net_spend_without").alias("success_without"),
        success_expr(orders="orders_with", net_spend="net_spend_with").alias("success_with"),
    ).select(
        "customer_id",
        "action_id",
        "rule_id",
        "assigned_at",
        "group",
        "tier",
        "lifecycle_stage",
        "metric",
        "window_days",
        "window_end",
        "closed",
        "net_spend_before",
        "orders_without",
        "orders_with",
        "net_spend_without",
        "net_spend_with",
        "success_without",
        "success_with",
        "lift_probability",
        "backfire_probability",
        "won",
        "put_off",
        "oracle_churn_probability",
        "oracle_value_if_retained",
    )
