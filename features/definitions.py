"""Every behavioural feature of clvchurn, defined once: name, meaning, unit and polars expression.

The same expressions serve training (millions of customers), batch scoring and the online API (one
customer's posted history): `features.build` evaluates them in one lazy plan, so there is no second
implementation to drift apart.

Conventions
- Time is measured in **fractional days** before the cutoff: an event at ``timestamp`` has
  ``age_days = (as_of - timestamp) / 1 day`` (e.g. 1.5 = a day and a half ago). Only events strictly
  before the cutoff exist, so ``age_days > 0``. A trailing window of N days holds the events with
  ``age_days <= N``; "the previous 90 days" holds ``90 < age_days <= 180``.
- Gaps between orders are counted between distinct calendar order days, so they are whole numbers of days.
- An order is a transaction with ``amount > 0``; a refund one with ``amount < 0``. Net spend sums every
  amount, refunds included.
- Counts and sums are 0 for a customer without any such event; values that cannot exist without an event
  (days since the last order of a prospect, average order value without orders, ...) are null.

The recency/frequency/monetary families follow Fader, Hardie & Lee (2005), "RFM and CLV: Using
iso-value curves for customer base analysis", Journal of Marketing Research 42(4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from domain.errors import UnknownFeatureError

Unit = Literal["days", "count", "currency", "ratio", "score", "category"]
Kind = Literal["numeric", "categorical"]
Source = Literal["transactions", "interactions", "customer"]

PROFILE_PREFIX = "profile_"
# The interaction types the features know, each with the noun of its count features and its words.
INTERACTION_TYPE_WORDS: dict[str, tuple[str, str]] = {
    "visit": ("visits", "Website or store visits"),
    "email_open": ("email_opens", "Marketing emails opened"),
    "email_click": ("email_clicks", "Links clicked in marketing emails"),
    "call": ("calls", "Phone calls with the customer"),
    "meeting": ("meetings", "Meetings with the customer"),
    "inquiry": ("inquiries", "Inquiries the customer made"),
    "support_ticket": ("support_tickets", "Support tickets the customer opened"),
    "complaint": ("complaints", "Complaints the customer made"),
    "survey": ("surveys", "Surveys the customer answered"),
}
INTERACTION_TYPES = tuple(INTERACTION_TYPE_WORDS)
"""Interaction types that have features of their own; others still count as interactions."""
INTERACTION_TYPE_NOUNS = {kind: noun for kind, (noun, _) in INTERACTION_TYPE_WORDS.items()}
TRAILING_WINDOWS_DAYS = (30, 90, 180, 365)

# Columns that `events_before` adds to every event before aggregating.
AGE_DAYS = "age_days"
ORDER_DAY = "order_day"
EXACT_AMOUNT = "amount_exact"
EXACT_VALUE = "value_exact"
IS_ORDER = "_is_order"
IS_REFUND = "_is_refund"
IS_VALUED_SURVEY = "_is_valued_survey"
IN_PREVIOUS_90_DAYS = "_in_previous_90d"
# Money and scores are summed as fixed-point decimals (to the millionth): integer sums are exact, so a
# total does not depend on the order rows arrive in, and a customer's features are the same bit for bit
# whether computed alone, in a partition or in the whole base (floating-point addition is not
# associative, and polars sums a group differently when it is a contiguous slice).
EXACT = pl.Decimal(38, 6)
# A product, not a quotient: polars divides a column by a scalar through its reciprocal, except for a
# one-row column, which it divides exactly; a one-customer call would then differ in the last bit.
_DAYS_PER_MICROSECOND = 1 / 86_400_000_000
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
# Column that `features.build` derives from the customer record: age of a signup before the cutoff.
SIGNUP_AGE_DAYS = "_signup_age_days"
# Per-customer intermediate aggregates that derived features use; they are not features themselves.
FIRST_TRANSACTION_AGE_DAYS = "_first_transaction_age_days"
FIRST_INTERACTION_AGE_DAYS = "_first_interaction_age_days"
FIRST_ORDER_DAY = "_first_order_day"
LAST_ORDER_DAY = "_last_order_day"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: what an account manager reads about it and how it is computed.

    `source` tells where `expression` is evaluated: as an aggregation per customer over the
    transactions or the interactions before the cutoff, or (`customer`) on the joined
    one-row-per-customer frame, where it reads the aggregates (before `absent_value` filling) and
    `INTERMEDIATE_AGGREGATIONS`. `absent_value` replaces the null that a customer without any event
    of that source gets (0 for counts and sums; None keeps null). A derived expression must give the
    same result whether such a customer's counts and sums read null or already 0: the grouped plan
    gives null, one customer's plan (no grouping) gives 0 (tests compare the two on every customer).
    """

    name: str
    description: str
    unit: Unit
    kind: Kind
    source: Source = "customer"
    expression: pl.Expr | None = field(default=None, compare=False, hash=False, repr=False)
    absent_value: float | None = None


def age_in_days(column: str, cutoff: pl.Expr) -> pl.Expr:
    """Fractional days from the moment in `column` to the cutoff."""
    return (cutoff - pl.col(column)).dt.total_microseconds() * _DAYS_PER_MICROSECOND


def in_last_column(days: int) -> str:
    """Name of the event flag: the event is in the trailing window of `days` days."""
    return f"_in_last_{days}d"


def _window_flags(windows: tuple[int, ...]) -> tuple[pl.Expr, ...]:
    age = pl.col(AGE_DAYS)
    return (
        *((age <= float(days)).alias(in_last_column(days)) for days in windows),
        ((age > 90.0) & (age <= 180.0)).alias(IN_PREVIOUS_90_DAYS),
    )


# Per source: the columns derived from one event's own fields, then the flags that read its age.
_EVENT_COLUMNS: dict[Source, tuple[pl.Expr, ...]] = {
    "transactions": (
        pl.col("timestamp").dt.date().cast(pl.Int32).alias(ORDER_DAY),
        pl.col("amount").cast(EXACT).alias(EXACT_AMOUNT),
        (pl.col("amount") > 0).alias(IS_ORDER),
        (pl.col("amount") < 0).alias(IS_REFUND),
    ),
    "interactions": (
        pl.col("value").cast(EXACT).alias(EXACT_VALUE),
        ((pl.col("type") == "survey") & pl.col("value").is_not_null()).alias(IS_VALUED_SURVEY),
    ),
}
# Interaction features look at the last 90 and 365 days only.
_WINDOW_FLAGS: dict[Source, tuple[pl.Expr, ...]] = {
    "transactions": _window_flags(TRAILING_WINDOWS_DAYS),
    "interactions": _window_flags((90, 365)),
}


def moment_literal(moment: datetime) -> pl.Expr:
    """A naive microsecond datetime literal, built from its integer: `pl.lit(datetime)` costs ~0.1 ms."""
    return pl.lit((moment - _EPOCH) // _MICROSECOND).cast(pl.Datetime("us"))


def events_before(events: pl.LazyFrame, source: Source, as_of: datetime) -> pl.LazyFrame:
    """The events of `source` strictly before `as_of`, with the columns its aggregations read.

    Conditions that several features share (an order, a trailing window, a valued survey) become one
    boolean column per event here instead of being re-evaluated inside every aggregation: one
    customer's call costs polars a few microseconds per expression node, so sharing them is what keeps
    the API path fast; over a large base they are cheap vectorised columns. Only the age depends on
    the cutoff; every other column is a module constant, so an API call builds almost no expressions.
    """
    cutoff = moment_literal(as_of)
    return (
        events.filter(pl.col("timestamp") < cutoff)
        .with_columns(age_in_days("timestamp", cutoff).alias(AGE_DAYS), *_EVENT_COLUMNS[source])
        .with_columns(*_WINDOW_FLAGS[source])
    )


def _age() -> pl.Expr:
    return pl.col(AGE_DAYS)


def _in_last(days: int) -> pl.Expr:
    return pl.col(in_last_column(days))


def _in_previous_90_days() -> pl.Expr:
    return pl.col(IN_PREVIOUS_90_DAYS)


def _is_order() -> pl.Expr:
    return pl.col(IS_ORDER)


def _is_refund() -> pl.Expr:
    return pl.col(IS_REFUND)


def _is_type(interaction_type: str) -> pl.Expr:
    return pl.col("type") == interaction_type


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.sum().cast(pl.Float64)


def _exact_sum(condition: pl.Expr | None = None, column: str = EXACT_AMOUNT) -> pl.Expr:
    """Sum of `column` over the rows meeting `condition`, as an exact decimal (0 without rows)."""
    values = pl.col(column) if condition is None else pl.col(column).filter(condition)
    return values.sum()


def _exact_mean(condition: pl.Expr, column: str = EXACT_AMOUNT) -> pl.Expr:
    """Mean over the rows meeting `condition` from the exact sum; null without rows."""
    count = condition.sum()
    return pl.when(count > 0).then(_exact_sum(condition, column).cast(pl.Float64) / count.cast(pl.Float64))


def _is_valued_survey() -> pl.Expr:
    return pl.col(IS_VALUED_SURVEY)


def _tx(name: str, description: str, unit: Unit, expression: pl.Expr, absent: float | None) -> FeatureSpec:
    return FeatureSpec(name, description, unit, "numeric", "transactions", expression.alias(name), absent)


def _ix(name: str, description: str, unit: Unit, expression: pl.Expr, absent: float | None) -> FeatureSpec:
    return FeatureSpec(name, description, unit, "numeric", "interactions", expression.alias(name), absent)


def _derived(name: str, description: str, unit: Unit, expression: pl.Expr) -> FeatureSpec:
    return FeatureSpec(name, description, unit, "numeric", "customer", expression.alias(name), None)


_WINDOW_WORDS = {30: "30 days", 90: "90 days", 180: "180 days", 365: "365 days"}


def _recency() -> list[FeatureSpec]:
    return [
        _tx(
            "days_since_last_order",
            "Days since the customer's last order",
            "days",
            _age().filter(_is_order()).min(),
            None,
        ),
        _tx(
            "days_since_first_order",
            "Days since the customer's first order",
            "days",
            _age().filter(_is_order()).max(),
            None,
        ),
    ]


def _frequency_and_spend() -> list[FeatureSpec]:
    specs = []
    for days in TRAILING_WINDOWS_DAYS:
        window = _WINDOW_WORDS[days]
        specs.append(
            _tx(
                f"orders_{days}d",
                f"Orders placed in the last {window}",
                "count",
                _count(_is_order() & _in_last(days)),
                0.0,
            )
        )
    specs.append(_tx("orders_lifetime", "Orders placed ever", "count", _count(_is_order()), 0.0))
    for days in TRAILING_WINDOWS_DAYS:
        window = _WINDOW_WORDS[days]
        specs.append(
            _tx(
                f"net_spend_{days}d",
                f"Money spent in the last {window}, minus refunds",
                "currency",
                _exact_sum(_in_last(days)).cast(pl.Float64),
                0.0,
            )
        )
    specs.append(
        _tx(
            "net_spend_lifetime",
            "Money spent ever, minus refunds",
            "currency",
            _exact_sum().cast(pl.Float64),
            0.0,
        )
    )
    return specs


def _order_values() -> list[FeatureSpec]:
    return [
        _tx(
            "average_order_value",
            "Average amount of one order",
            "currency",
            _exact_mean(_is_order()),
            None,
        ),
        _tx(
            "largest_order_value",
            "Amount of the customer's largest order",
            "currency",
            pl.col("amount").filter(_is_order()).max(),
            None,
        ),
    ]


def _trends() -> list[FeatureSpec]:
    recent, previous = _in_last(90), _in_previous_90_days()
    return [
        _tx(
            "orders_trend_90d",
            "Orders in the last 90 days minus orders in the 90 days before",
            "count",
            _count(_is_order() & recent) - _count(_is_order() & previous),
            0.0,
        ),
        _tx(
            "net_spend_trend_90d",
            "Net spend in the last 90 days minus net spend in the 90 days before",
            "currency",
            (_exact_sum(recent) - _exact_sum(previous)).cast(pl.Float64),
            0.0,
        ),
    ]


def _refunds() -> list[FeatureSpec]:
    return [
        _tx("refunds_lifetime", "Refunds or returns ever", "count", _count(_is_refund()), 0.0),
        _tx(
            "refund_amount_lifetime",
            "Money refunded to the customer ever",
            "currency",
            (-_exact_sum(_is_refund())).cast(pl.Float64),
            0.0,
        ),
    ]


def _assortment() -> list[FeatureSpec]:
    return [
        _tx(
            "distinct_categories_lifetime",
            "Different product categories the customer has ordered",
            "count",
            pl.col("category").filter(_is_order()).drop_nulls().n_unique().cast(pl.Float64),
            0.0,
        ),
        _tx(
            "distinct_channels_lifetime",
            "Different sales channels the customer has ordered through",
            "count",
            pl.col("channel").filter(_is_order()).drop_nulls().n_unique().cast(pl.Float64),
            0.0,
        ),
    ]


def _purchase_rhythm() -> list[FeatureSpec]:
    """Gaps between consecutive distinct calendar days with an order (`ORDER_DAY`, days since 1970)."""
    order_days = pl.col(ORDER_DAY).filter(_is_order())
    distinct_days = pl.col("order_days_lifetime")
    # The mean of consecutive gaps telescopes to (last day - first day) / (days - 1).
    gap = (pl.col(LAST_ORDER_DAY) - pl.col(FIRST_ORDER_DAY)) / (distinct_days - 1)
    mean_gap = pl.when(distinct_days >= 2).then(gap)
    return [
        _tx(
            "order_days_lifetime",
            "Different days on which the customer ordered",
            "count",
            order_days.n_unique().cast(pl.Float64),
            0.0,
        ),
        _derived("mean_days_between_orders", "Usual number of days between two order days", "days", mean_gap),
        _tx(
            "std_days_between_orders",
            "How irregular the gaps between order days are (standard deviation in days, 3+ order days)",
            "days",
            order_days.unique().sort().diff().std(ddof=1),
            None,
        ),
        _derived(
            "recency_vs_usual_interval",
            "Days since the last order divided by the usual gap between orders (above 1 = overdue)",
            "ratio",
            # Two or more distinct order days always make a positive mean gap.
            pl.when(distinct_days >= 2).then(pl.col("days_since_last_order") / gap),
        ),
    ]


def _interactions() -> list[FeatureSpec]:
    specs = []
    for interaction_type in INTERACTION_TYPES:
        plural, words = INTERACTION_TYPE_WORDS[interaction_type]
        specs.append(
            _ix(
                f"{plural}_90d",
                f"{words} in the last 90 days",
                "count",
                _count(_is_type(interaction_type) & _in_last(90)),
                0.0,
            )
        )
    specs += [
        _ix(
            "interactions_90d",
            "Interactions of any kind in the last 90 days",
            "count",
            _count(_in_last(90)),
            0.0,
        ),
        _ix(
            "interactions_lifetime",
            "Interactions of any kind ever",
            "count",
            pl.len().cast(pl.Float64),
            0.0,
        ),
        _ix(
            "interactions_trend_90d",
            "Interactions in the last 90 days minus interactions in the 90 days before",
            "count",
            _count(_in_last(90)) - _count(_in_previous_90_days()),
            0.0,
        ),
        _ix(
            "days_since_last_interaction",
            "Days since the customer's last interaction of any kind",
            "days",
            _age().min(),
            None,
        ),
        _ix(
            "complaints_365d",
            "Complaints the customer made in the last 365 days",
            "count",
            _count(_is_type("complaint") & _in_last(365)),
            0.0,
        ),
        _ix(
            "support_tickets_365d",
            "Support tickets the customer opened in the last 365 days",
            "count",
            _count(_is_type("support_ticket") & _in_last(365)),
            0.0,
        ),
        _ix(
            "inquiries_365d",
            "Inquiries the customer made in the last 365 days",
            "count",
            _count(_is_type("inquiry") & _in_last(365)),
            0.0,
        ),
        _ix(
            "meetings_365d",
            "Meetings with the customer in the last 365 days",
            "count",
            _count(_is_type("meeting") & _in_last(365)),
            0.0,
        ),
        _ix(
            "interactions_365d",
            "Interactions of any kind in the last 365 days",
            "count",
            _count(_in_last(365)),
            0.0,
        ),
        _ix(
            "satisfaction_last",
            "Score the customer gave in their latest survey",
            "score",
            # Of several surveys answered at the same latest moment, the highest score counts.
            pl.col("value")
            .filter(_is_valued_survey() & (_age() == _age().filter(_is_valued_survey()).min()))
            .max(),
            None,
        ),
        _ix(
            "satisfaction_mean",
            "Average score the customer gave in surveys",
            "score",
            _exact_mean(_is_valued_survey(), EXACT_VALUE),
            None,
        ),
    ]
    return specs


def _tenure_and_refund_share() -> list[FeatureSpec]:
    return [
        _derived(
            "tenure_days",
            "Days since the customer signed up (or, if unknown, since their first recorded event)",
            "days",
            pl.coalesce(
                pl.col(SIGNUP_AGE_DAYS),
                pl.max_horizontal(FIRST_TRANSACTION_AGE_DAYS, FIRST_INTERACTION_AGE_DAYS),
            ),
        ),
        _derived(
            "refund_share_of_spend",
            "Share of the money ever ordered that was refunded",
            "ratio",
            pl.when(pl.col("net_spend_lifetime") + pl.col("refund_amount_lifetime") > 0).then(
                pl.col("refund_amount_lifetime")
                / (pl.col("net_spend_lifetime") + pl.col("refund_amount_lifetime"))
            ),
        ),
    ]


FEATURES: tuple[FeatureSpec, ...] = (
    *_recency(),
    *_frequency_and_spend(),
    *_order_values(),
    *_purchase_rhythm(),
    *_trends(),
    *_refunds(),
    *_assortment(),
    *_interactions(),
    *_tenure_and_refund_share(),
)
_BY_NAME = {spec.name: spec for spec in FEATURES}

INTERMEDIATE_AGGREGATIONS: dict[Source, tuple[pl.Expr, ...]] = {
    "transactions": (
        _age().max().alias(FIRST_TRANSACTION_AGE_DAYS),
        pl.col(ORDER_DAY).filter(_is_order()).min().alias(FIRST_ORDER_DAY),
        pl.col(ORDER_DAY).filter(_is_order()).max().alias(LAST_ORDER_DAY),
    ),
    "interactions": (_age().max().alias(FIRST_INTERACTION_AGE_DAYS),),
}


def features_from(source: Source) -> list[FeatureSpec]:
    """The features computed from one source, in `FEATURES` order."""
    return [spec for spec in FEATURES if spec.source == source]


def profile_column(attribute: str) -> str:
    """Feature name of a profile attribute column of the customers table."""
    return f"{PROFILE_PREFIX}{attribute}"


def describe(name: str) -> FeatureSpec:
    """The spec of a feature, including the dynamic `profile_<attribute>` ones (categorical strings)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith(PROFILE_PREFIX) and len(name) > len(PROFILE_PREFIX):
        attribute = name[len(PROFILE_PREFIX) :]
        return FeatureSpec(
            name,
            f"Profile attribute '{attribute.replace('_', ' ')}' from the customer record",
            "category",
            "categorical",
        )
    raise UnknownFeatureError(
        f"unknown feature {name!r}: not in features.definitions.FEATURES and not a "
        f"'{PROFILE_PREFIX}<attribute>' profile column"
    )
