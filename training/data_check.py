"""Is the data enough? What a data folder holds, and whether each model can be trained honestly on it.

`check_data` answers before anyone trains, with training's own code rather than a restatement of it:

- the **schedule** of each model family is `training.schedule.plan_backtest`, called with the options of
  `clvchurn train` (defaults `training.train.TrainingConfig`): the probability models (churn,
  reactivation, conversion) on the churn horizon, the value models (value, value if retained) on the
  value horizon, as `training.train` plans them. A family whose backtest does not fit gets the longest
  horizon that does, found by calling `plan_backtest` with shorter ones, rounded down to a
  conventional horizon (`CONVENTIONAL_HORIZONS`) in the advice;
- the **populations and labels** at each family's calibration and validation cutoffs are
  `features.build.build_training_table` with the playbook's lookback, and each model's rows are
  `training.recipe.ModelSpec.rows`: churn (`churned`) among active customers, reactivation among lapsed
  ones, conversion among prospects, the value (`future_value > 0`) among everyone and the value if
  retained among active and lapsed customers who ordered within the churn horizon;
- the populations at the report's cutoff are `features.populations.population_expr` on
  `features.build.build_features`.

Besides: the history span; buyers with two or more orders; events per customer; the reject share of
each file; which label windows fit the data at all; and, per value tier, the label counts.

Which models block: the churn model and both value models have no fallback in training (the playbook's
risk bands and value at risk rest on them), so a shortfall there stops `clvchurn train`
(`require_trainable`). Reactivation and conversion have a documented fallback
(`training.recipe.ModelSpec.fallback_allowed`: the population's base rate), so their shortfall is
reported, with the fallback it leads to, and does not block. Per-tier counts never block.

The minimums. Predictive CRMs gate their predictions on hidden minimums, and none says which segment
falls short:
- Klaviyo's predictive analytics need at least 500 customers who have placed an order, at least 180
  days of order history, orders within the last 30 days and some customers with 3 or more orders
  (help.klaviyo.com/hc/en-us/articles/360020919731, on predictive analytics in profiles).
- GA4's predictive metrics (purchase and churn probability) need at least 1,000 returning users who
  triggered the predicted condition and 1,000 who did not, over a 7-day period within the last 28
  days (Analytics Help, "[GA4] Predictive metrics").
clvchurn adopts Klaviyo's first two for the base (`MIN_CUSTOMERS_WHO_ORDERED`, `MIN_HISTORY_DAYS`) and
reports, without gating on them, the buyers with two or more orders and the last event. Its label
minimum applies per snapshot instead of over one period: 100 positives and 100 negatives at the
calibration cutoff (where probabilities are calibrated) and at the validation cutoff (where the
backtest is scored); the value if retained, fitted on customers who stay, needs 100 of them who spend.
With 100 of each class the standard error of a ROC-AUC near 0.8 is about 0.03 (Hanley & McNeil,
Radiology 143(1), 1982), small enough to tell a model from a baseline; GA4's 1,000 serves one model
per property with no out-of-time split. Per value tier, whose metrics are read apart, the minimum is 30
of each class, the usual floor for a proportion's normal approximation. These minimums are above the
recipe's own floors (`training.models.probability.MIN_CALIBRATION_MINORITY`,
`training.models.value.MIN_BUYERS`), so data that pass the check do not stop training halfway.

Value tiers are approximated from the data alone (no model yet): customers are ranked by net spend in
the 365 days before the cutoff (the feature `net_spend_365d`), and A is the first 10% of the
population, B the next 20%, C the next 40%, D the rest, customers without positive spend always D
(ties by customer id). The trained tiers rank predicted value instead, so these are a guide to size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from domain.errors import InsufficientDataError, InvalidCutoffError, ScheduleError
from domain.vocabulary import POPULATIONS, TIERS, ModelName, Population, Tier
from features.build import build_features, build_training_table
from features.contract import FileCounts, RawData
from features.populations import POPULATION_COLUMN, population_expr
from policy.playbook import DEFAULT_PLAYBOOK, Playbook
from training.models.probability import MIN_CALIBRATION_MINORITY
from training.recipe import SPECS, ModelSpec
from training.schedule import Schedule, plan_backtest
from training.train import TrainingConfig

MIN_HISTORY_DAYS = 180
"""Days from the first event to the data end (Klaviyo's minimum order history)."""
MIN_CUSTOMERS_WHO_ORDERED = 500
"""Customers with at least one order before the cutoff (Klaviyo's minimum)."""
MIN_LABELS_PER_CLASS = 100
"""Positives and negatives each model needs at the calibration and at the validation cutoff."""
MIN_TIER_LABELS_PER_CLASS = 30
"""Positives and negatives per value tier at those cutoffs, for per-tier metrics to mean something."""
MAX_REJECT_SHARE = 0.05
"""Above this share of rejected rows in a file the check advises reading the rejects first."""
TIER_SPEND_FEATURE = "net_spend_365d"
DEFAULT_TIER_SHARES = (0.10, 0.20, 0.40)
CONVENTIONAL_HORIZONS = (365, 270, 180, 120, 90, 60, 30, 14, 7)
"""Horizons the advice rounds down to, so that it suggests 90 days rather than 97."""

Horizon = Literal["churn", "value"]
Snapshot = Literal["calibration", "validation"]
HORIZON_OPTIONS: dict[Horizon, str] = {"churn": "--churn-horizon-days", "value": "--value-horizon-days"}
FAMILY_NAMES: dict[Horizon, str] = {
    "churn": "churn, reactivation and conversion",
    "value": "value and value if retained",
}
"""Each family as `training.train` names it in its schedule notes."""

_TRAINING = TrainingConfig()


@dataclass(frozen=True)
class _ModelTerms:
    """How a model's labels are spoken of in the report, and which way a horizon moves its positives."""

    eligible: str
    positives: str
    negatives: str
    positives_grow_with_horizon: bool
    needs_negatives: bool = True


_TERMS: dict[ModelName, _ModelTerms] = {
    "churn": _ModelTerms("active customers", "churners", "stayers", False),
    "reactivation": _ModelTerms("lapsed customers", "reactivated", "still lapsed", True),
    "conversion": _ModelTerms("prospects", "converted", "not converted", True),
    "value": _ModelTerms("customers", "buyers", "non-buyers", True),
    "value_if_retained": _ModelTerms(
        "retained customers", "buyers", "non-buyers", True, needs_negatives=False
    ),
}
CHECKED_MODELS: tuple[ModelName, ...] = tuple(name for name in SPECS if name in _TERMS)
"""The population and value models. The order, next-order and value-range models are not checked:
each falls back by itself (a constant, or the value model's range) when its rows are too few."""
BLOCKING_MODELS: tuple[ModelName, ...] = tuple(
    name for name in CHECKED_MODELS if not SPECS[name].fallback_allowed
)
"""The models training cannot replace by a base rate: `require_trainable` checks these by default."""
TIER_MODELS: tuple[ModelName, ...] = ("churn", "value")


def _default_lookback() -> int:
    return Playbook.load(DEFAULT_PLAYBOOK).lifecycle.lookback_days


@dataclass(frozen=True)
class Minimums:
    """The thresholds a check applies; the defaults are the module's documented constants."""

    history_days: int = MIN_HISTORY_DAYS
    customers_who_ordered: int = MIN_CUSTOMERS_WHO_ORDERED
    labels_per_class: int = MIN_LABELS_PER_CLASS
    tier_labels_per_class: int = MIN_TIER_LABELS_PER_CLASS


@dataclass(frozen=True)
class CheckSettings:
    """The options of `clvchurn train` that decide what the data must hold, with its defaults
    (`training.train.TrainingConfig`; the lookback is the packaged playbook's)."""

    lookback_days: int = field(default_factory=_default_lookback)
    churn_horizon_days: int = _TRAINING.churn_horizon_days
    value_horizon_days: int = _TRAINING.value_horizon_days
    snapshots: int = _TRAINING.snapshots
    step_days: int = _TRAINING.step_days
    min_history_days: int = _TRAINING.min_history_days
    validation_as_of: datetime | None = None
    tier_shares: tuple[float, float, float] = DEFAULT_TIER_SHARES
    minimums: Minimums = field(default_factory=Minimums)

    @classmethod
    def for_training(cls, config: TrainingConfig, lookback_days: int) -> CheckSettings:
        """The check `clvchurn train` runs for `config` with the playbook's lookback."""
        return cls(
            lookback_days=lookback_days,
            churn_horizon_days=config.churn_horizon_days,
            value_horizon_days=config.value_horizon_days,
            snapshots=config.snapshots,
            step_days=config.step_days,
            min_history_days=config.min_history_days,
            validation_as_of=config.validation_as_of,
        )

    def horizon_days(self, horizon: Horizon) -> int:
        return self.churn_horizon_days if horizon == "churn" else self.value_horizon_days


@dataclass(frozen=True)
class HistorySpan:
    """First and last event (transactions and interactions) and the midnight after the last one."""

    first_event: datetime | None
    last_event: datetime | None
    data_end: datetime | None
    days: float


@dataclass(frozen=True)
class Spread:
    median: float
    p90: float


@dataclass(frozen=True)
class FileShare:
    file: str
    accepted: int
    rejected: int
    reject_share: float


@dataclass(frozen=True)
class LabelWindow:
    """Whether one label window fits at all: its latest cutoff (data end minus horizon) is after the
    first event. Training needs more: see `ScheduleCheck`."""

    label: Horizon
    horizon_days: int
    latest_cutoff: datetime | None
    fits: bool


@dataclass(frozen=True)
class ScheduleCheck:
    """One family's backtest schedule (`training.schedule.plan_backtest`) on this data, or why it
    does not fit, and the longest horizon that would."""

    horizon: Horizon
    horizon_days: int
    option: str
    models: tuple[ModelName, ...]
    fits: bool
    training: tuple[datetime, ...]
    calibration: datetime | None
    validation: datetime | None
    notes: tuple[str, ...]
    """The schedule's own notes, or the `ScheduleError` message when it does not fit."""
    longest_fitting_horizon_days: int | None


@dataclass(frozen=True)
class LabelCounts:
    snapshot: Snapshot
    cutoff: datetime
    eligible: int
    positives: int
    negatives: int


@dataclass(frozen=True)
class Readiness:
    """Whether one model (for one tier, or the whole base when `tier` is None) meets the minimums."""

    model: ModelName
    tier: Tier | None
    populations: tuple[Population, ...]
    horizon: Horizon
    minimum: int
    snapshots: tuple[LabelCounts, ...]
    ready: bool
    blocks_training: bool
    """A shortfall stops `clvchurn train` (the model has no base-rate fallback)."""
    advice: tuple[str, ...]


@dataclass(frozen=True)
class DataCheck:
    """The whole report; `to_dict` gives it as JSON-ready values (datetimes as ISO text)."""

    as_of: datetime | None
    settings: CheckSettings
    span: HistorySpan
    customers: int
    populations: dict[Population, int]
    customers_who_ordered: int
    repeat_buyers: int
    transactions_per_customer: Spread
    interactions_per_customer: Spread
    tiers: dict[Tier, int]
    files: tuple[FileShare, ...]
    windows: tuple[LabelWindow, ...]
    schedules: dict[Horizon, ScheduleCheck]
    models: tuple[Readiness, ...]
    tier_models: tuple[Readiness, ...]
    blocking: tuple[str, ...]
    """Shortfalls of the base that stop every model (history, buyers, schedules)."""
    notes: tuple[str, ...]
    """Advice that does not stop training (reject shares, fallbacks, customers without a signup date)."""

    def readiness(self, model: ModelName) -> Readiness:
        return next(r for r in self.models if r.model == model)

    @property
    def trainable(self) -> bool:
        """Whether `clvchurn train` may go on: nothing blocking, every blocking model ready."""
        return not self.blocking and all(r.ready for r in self.models if r.blocks_training)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def check_data(
    raw: RawData,
    as_of: datetime | None = None,
    *,
    counts: Mapping[str, FileCounts] | None = None,
    settings: CheckSettings | None = None,
) -> DataCheck:
    """Report what `raw` holds and whether each model can be trained honestly on it.

    Parameters
    ----------
    raw: the canonical data (`features.contract.load_raw(...).raw`).
    as_of: the cutoff for populations, events and tiers; default the data end (midnight after the
        last event), i.e. the base as it stands today.
    counts: accepted and rejected rows per file (`LoadResult.counts`), for the reject shares.
    settings: horizons, lookback, schedule and minimums; default those of `clvchurn train`.

    Raises
    ------
    InvalidCutoffError: `as_of` carries a time zone (raw timestamps are naive).
    """
    settings = settings or CheckSettings()
    if as_of is not None and as_of.tzinfo is not None:
        raise InvalidCutoffError(f"--as-of {as_of.isoformat()} carries a time zone; pass a naive date")
    span = _history_span(raw)
    cutoff = as_of or span.data_end
    summary = _summary(raw, cutoff, settings) if cutoff is not None else _EMPTY_SUMMARY
    schedules = {horizon: _schedule(span, settings, horizon) for horizon in HORIZON_OPTIONS}
    labelled = _labelled(raw, schedules, settings)
    files = tuple(_file_share(c) for c in (counts or {}).values())
    models = tuple(
        _readiness(name, None, labelled, schedules, settings.minimums.labels_per_class, settings)
        for name in CHECKED_MODELS
    )
    return DataCheck(
        as_of=cutoff,
        settings=settings,
        span=span,
        customers=summary.height,
        populations={p: int((summary[POPULATION_COLUMN] == p).sum()) for p in POPULATIONS},
        customers_who_ordered=int((summary["orders"] > 0).sum()),
        repeat_buyers=int((summary["orders"] >= 2).sum()),
        transactions_per_customer=_spread(summary["transactions"]),
        interactions_per_customer=_spread(summary["interactions"]),
        tiers={t: int((summary["tier"] == t).sum()) for t in TIERS},
        files=files,
        windows=tuple(_windows(span, settings)),
        schedules=schedules,
        models=models,
        tier_models=tuple(
            _readiness(name, tier, labelled, schedules, settings.minimums.tier_labels_per_class, settings)
            for tier in TIERS
            for name in TIER_MODELS
        ),
        blocking=tuple(dict.fromkeys(_base_shortfalls(span, schedules, summary, cutoff, settings))),
        notes=(
            *_reject_notes(files),
            *_fallback_notes(models),
            *_unanchored_note(raw, schedules["churn"]),
        ),
    )


def require_trainable(check: DataCheck, models: Sequence[ModelName] = BLOCKING_MODELS) -> None:
    """Stop with the check's advice unless every one of `models` can be trained honestly.

    Raises
    ------
    InsufficientDataError: the base falls short (history, buyers, schedules) or a model lacks labels
        at its calibration or validation cutoff; the message holds every piece of advice.
    """
    advice = list(check.blocking)
    for model in models:
        readiness = check.readiness(model)
        if not readiness.ready and readiness.snapshots:  # else its schedule's advice is in `blocking`
            advice.extend(a for a in readiness.advice if a not in advice)
    if advice:
        named = ", ".join(models[:-1]) + (" and " if len(models) > 1 else "") + models[-1]
        raise InsufficientDataError(
            f"the data cannot train the {named} model{'s' if len(models) > 1 else ''} honestly "
            f"(`clvchurn data check` gives the whole report): {'; '.join(advice)}"
        )


# --- The base at one cutoff --------------------------------------------------------------------------

_EMPTY_SUMMARY = pl.DataFrame(
    schema={
        "customer_id": pl.String(),
        "transactions": pl.UInt32(),
        "interactions": pl.UInt32(),
        "orders": pl.Float64(),
        POPULATION_COLUMN: pl.String(),
        "tier": pl.String(),
    }
)


def _history_span(raw: RawData) -> HistorySpan:
    """The span `training.train` plans on: first event to the midnight after the last."""
    stamps = pl.concat([raw.transactions.select("timestamp"), raw.interactions.select("timestamp")])[
        "timestamp"
    ]
    first, last = stamps.min(), stamps.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return HistorySpan(None, None, None, 0.0)
    data_end = datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)
    return HistorySpan(first, last, data_end, (data_end - first) / timedelta(days=1))


def _summary(raw: RawData, cutoff: datetime, settings: CheckSettings) -> pl.DataFrame:
    """One row per customer of `build_features` at `cutoff`: event counts, orders, population, tier."""
    features = build_features(raw, cutoff).select(
        "customer_id",
        pl.col("orders_lifetime").alias("orders"),
        TIER_SPEND_FEATURE,
        population_expr(settings.lookback_days),
    )
    moment = pl.lit(cutoff, dtype=pl.Datetime("us"))
    events = [
        frame.lazy()
        .filter(pl.col("timestamp") < moment)
        .group_by("customer_id")
        .agg(pl.len().alias(name))
        .collect()
        for name, frame in (("transactions", raw.transactions), ("interactions", raw.interactions))
    ]
    summary = features
    for counted in events:
        summary = summary.join(counted, on="customer_id", how="left")
    summary = summary.with_columns(pl.col("transactions", "interactions").fill_null(0))
    return _with_tiers(summary, settings.tier_shares).drop(TIER_SPEND_FEATURE).sort("customer_id")


def _with_tiers(table: pl.DataFrame, shares: tuple[float, float, float]) -> pl.DataFrame:
    """Tier by rank of 365-day net spend within `table` (one cutoff); no positive spend is always D."""
    spend = pl.col(TIER_SPEND_FEATURE).fill_null(0.0)
    ranked = table.sort([spend, pl.col("customer_id")], descending=[True, False])
    rank = pl.int_range(pl.len())
    bounds = [round(ranked.height * sum(shares[: i + 1])) for i in range(3)]  # 0.1 + 0.2 is not 0.3
    tier = (
        pl.when(spend <= 0)
        .then(pl.lit("D"))
        .when(rank < bounds[0])
        .then(pl.lit("A"))
        .when(rank < bounds[1])
        .then(pl.lit("B"))
        .when(rank < bounds[2])
        .then(pl.lit("C"))
        .otherwise(pl.lit("D"))
        .alias("tier")
    )
    return ranked.with_columns(tier)


def _spread(values: pl.Series) -> Spread:
    if values.is_empty():
        return Spread(0.0, 0.0)
    quantiles = (
        values.cast(pl.Float64)
        .to_frame("v")
        .select(pl.col("v").median().alias("median"), pl.col("v").quantile(0.9, "linear").alias("p90"))
    )
    median, p90 = quantiles.row(0)
    return Spread(median, p90)


def _file_share(counts: FileCounts) -> FileShare:
    rows = counts.accepted + counts.rejected
    return FileShare(counts.file, counts.accepted, counts.rejected, counts.rejected / rows if rows else 0.0)


# --- Label windows and the training schedules --------------------------------------------------------


def _windows(span: HistorySpan, settings: CheckSettings) -> list[LabelWindow]:
    windows = []
    for horizon in HORIZON_OPTIONS:
        days = settings.horizon_days(horizon)
        latest = span.data_end - timedelta(days=days) if span.data_end else None
        fits = latest is not None and span.first_event is not None and latest > span.first_event
        windows.append(LabelWindow(horizon, days, latest, fits))
    return windows


def _plan(span: HistorySpan, settings: CheckSettings, horizon: Horizon, days: int) -> Schedule:
    """`training.schedule.plan_backtest` as `training.train` calls it for this family."""
    assert span.first_event is not None and span.data_end is not None
    return plan_backtest(
        span.first_event,
        span.data_end,
        days,
        settings.snapshots,
        settings.step_days,
        settings.min_history_days,
        settings.validation_as_of,
        what=FAMILY_NAMES[horizon],
    )


def _schedule(span: HistorySpan, settings: CheckSettings, horizon: Horizon) -> ScheduleCheck:
    days = settings.horizon_days(horizon)
    models = tuple(name for name in CHECKED_MODELS if SPECS[name].horizon == horizon)
    empty = ScheduleCheck(horizon, days, HORIZON_OPTIONS[horizon], models, False, (), None, None, (), None)
    if span.first_event is None or span.data_end is None:
        return empty
    try:
        plan = _plan(span, settings, horizon, days)
    except ScheduleError as error:
        longest = _longest_fitting(span, settings, horizon, days - 1)
        return ScheduleCheck(
            horizon, days, HORIZON_OPTIONS[horizon], models, False, (), None, None, (str(error),), longest
        )
    return ScheduleCheck(
        horizon,
        days,
        HORIZON_OPTIONS[horizon],
        models,
        True,
        plan.training,
        plan.calibration,
        plan.validation,
        plan.notes,
        days,
    )


def _longest_fitting(span: HistorySpan, settings: CheckSettings, horizon: Horizon, start: int) -> int | None:
    """The longest horizon of at most `start` days whose backtest `plan_backtest` can place."""
    for days in range(start, 0, -1):
        try:
            _plan(span, settings, horizon, days)
        except ScheduleError:
            continue
        return days
    return None


# --- Labels at each family's calibration and validation cutoffs --------------------------------------


def _labelled(
    raw: RawData, schedules: Mapping[Horizon, ScheduleCheck], settings: CheckSettings
) -> dict[datetime, pl.DataFrame]:
    """The training table (features, population, labels, approximate tier) at every cutoff the
    fitting schedules calibrate or validate on, built in one `build_training_table` call."""
    cutoffs = sorted(
        {
            cutoff
            for schedule in schedules.values()
            if schedule.fits
            for cutoff in (schedule.calibration, schedule.validation)
            if cutoff is not None
        }
    )
    if not cutoffs:
        return {}
    table = build_training_table(
        raw, cutoffs, settings.churn_horizon_days, settings.value_horizon_days, settings.lookback_days
    )
    return {
        cutoff: _with_tiers(part, settings.tier_shares)
        for (cutoff,), part in table.partition_by("as_of", as_dict=True).items()
        if isinstance(cutoff, datetime)
    }


def _label_counts(spec: ModelSpec, snapshot: Snapshot, cutoff: datetime, table: pl.DataFrame) -> LabelCounts:
    rows = spec.rows(table)
    label = rows[spec.target]
    positives = int((label > 0).sum()) if spec.target == "future_value" else int((label == 1).sum())
    return LabelCounts(snapshot, cutoff, rows.height, positives, rows.height - positives)


def _readiness(
    model: ModelName,
    tier: Tier | None,
    labelled: Mapping[datetime, pl.DataFrame],
    schedules: Mapping[Horizon, ScheduleCheck],
    minimum: int,
    settings: CheckSettings,
) -> Readiness:
    spec = SPECS[model]
    horizon: Horizon = "churn" if spec.horizon == "churn" else "value"
    schedule = schedules[horizon]
    subject = f"{model} model" if tier is None else f"tier {tier}, {model} model"

    def readiness(counts: tuple[LabelCounts, ...], advice: tuple[str, ...]) -> Readiness:
        blocks = tier is None and not spec.fallback_allowed
        return Readiness(model, tier, spec.populations, horizon, minimum, counts, not advice, blocks, advice)

    if not schedule.fits or schedule.calibration is None or schedule.validation is None:
        return readiness(
            (),
            (f"{subject}: cannot be checked until its {schedule.horizon_days}-day schedule fits the data",),
        )
    counts = []
    for snapshot, cutoff in (("calibration", schedule.calibration), ("validation", schedule.validation)):
        table = labelled[cutoff]
        if tier is not None:
            table = table.filter(pl.col("tier") == tier)
        counts.append(_label_counts(spec, snapshot, cutoff, table))  # type: ignore[arg-type]
    advice = tuple(
        _label_advice(subject, model, c, minimum, settings) for c in counts if _short(model, c, minimum)
    )
    return readiness(tuple(counts), advice)


def _short(model: ModelName, counts: LabelCounts, minimum: int) -> bool:
    if not _TERMS[model].needs_negatives:
        return counts.positives < minimum
    return min(counts.positives, counts.negatives) < minimum


def _label_advice(
    subject: str, model: ModelName, counts: LabelCounts, minimum: int, settings: CheckSettings
) -> str:
    terms = _TERMS[model]
    option = HORIZON_OPTIONS["churn" if SPECS[model].horizon == "churn" else "value"]
    where = f"at the {counts.snapshot} cutoff {counts.cutoff.date()}"
    if counts.eligible == 0:
        fix = {
            "conversion": "list prospects (customers who have not ordered) in the customers file",
            "reactivation": f"lapsed customers need orders more than {settings.lookback_days} days before a cutoff",
        }.get(model, "import more customers")
        return f"{subject}: no {terms.eligible} {where}; {fix}"
    if not terms.needs_negatives:
        return (
            f"{subject}: {counts.positives} {terms.positives} among {counts.eligible} {terms.eligible} {where} "
            f"(at least {minimum} are needed); import more customers"
        )
    if counts.positives < minimum and counts.negatives < minimum:
        fix = "import more customers"
    else:
        longer = (counts.positives < minimum) == terms.positives_grow_with_horizon
        fix = f"use a {'longer' if longer else 'shorter'} {option} or more customers"
    return (
        f"{subject}: {counts.positives} {terms.positives} and {counts.negatives} {terms.negatives} among "
        f"{counts.eligible} {terms.eligible} {where} (at least {minimum} of each are needed); {fix}"
    )


# --- Advice on the base ----------------------------------------------------------------------------


def _base_shortfalls(
    span: HistorySpan,
    schedules: Mapping[Horizon, ScheduleCheck],
    summary: pl.DataFrame,
    cutoff: datetime | None,
    settings: CheckSettings,
) -> list[str]:
    minimums = settings.minimums
    if span.first_event is None or span.last_event is None:
        return ["the data hold no transactions or interactions"]
    shortfalls = []
    history = _history_words(span)
    if span.days < minimums.history_days:
        shortfalls.append(
            f"the data hold {history}, {span.days:.0f} days; at least {minimums.history_days} days are needed "
            "(Klaviyo's minimum): import older history"
        )
    ordered = int((summary["orders"] > 0).sum())
    if ordered < minimums.customers_who_ordered:
        shortfalls.append(
            f"{ordered} customers ordered before {cutoff.date() if cutoff else 'the cutoff'}; at least "
            f"{minimums.customers_who_ordered} are needed (Klaviyo's minimum): import more customers"
        )
    if settings.churn_horizon_days > settings.value_horizon_days:
        # The rule of `training.train._schedules`: the value if retained conditions on the churn window.
        shortfalls.append(
            f"--churn-horizon-days ({settings.churn_horizon_days}) must not exceed --value-horizon-days "
            f"({settings.value_horizon_days}): the value if retained is conditioned on an order within the "
            "churn horizon"
        )
    shortfalls.extend(_schedule_advice(span, schedules, settings, history))
    return shortfalls


def _schedule_advice(
    span: HistorySpan, schedules: Mapping[Horizon, ScheduleCheck], settings: CheckSettings, history: str
) -> list[str]:
    """One piece of advice per family whose backtest does not fit, naming the options that would."""
    suggested = {horizon: _suggestion(schedule) for horizon, schedule in schedules.items()}
    # The churn horizon may not exceed the value horizon training will use.
    value_days = suggested["value"] or settings.value_horizon_days
    churn = suggested["churn"]
    if churn is None and settings.churn_horizon_days > value_days:
        churn = next((h for h in CONVENTIONAL_HORIZONS if h <= value_days), None)
    elif churn is not None:
        churn = min(churn, value_days)
    suggested["churn"] = churn
    advice = []
    for horizon, schedule in schedules.items():
        if schedule.fits:
            continue
        if settings.validation_as_of is not None and _as_of_too_late(span, settings, schedule.horizon_days):
            advice.append(schedule.notes[0])
            continue
        plan = (
            f"with {history} the {FAMILY_NAMES[horizon]} backtest has no room for {schedule.horizon_days}-day "
            f"label windows (validation, calibration one window earlier, fit cutoffs one more window back with "
            f"{settings.min_history_days} days of history before them)"
        )
        longest = schedule.longest_fitting_horizon_days
        if longest is None or suggested[horizon] is None:
            advice.append(f"{plan}: use a smaller --min-history-days or import a longer history")
            continue
        options = [f"{schedule.option} {suggested[horizon]}"]
        if horizon == "value" and churn is not None and settings.churn_horizon_days > churn:
            options.append(f"{HORIZON_OPTIONS['churn']} {churn}")
        advice.append(f"{plan}: use {' '.join(options)} (the longest that fits is {longest} days)")
    return advice


def _suggestion(schedule: ScheduleCheck) -> int | None:
    """A conventional horizon no longer than the longest that fits (the configured one when it fits)."""
    if schedule.fits:
        return schedule.horizon_days
    longest = schedule.longest_fitting_horizon_days
    if longest is None:
        return None
    return next((h for h in CONVENTIONAL_HORIZONS if h <= longest), longest)


def _as_of_too_late(span: HistorySpan, settings: CheckSettings, days: int) -> bool:
    assert span.data_end is not None and settings.validation_as_of is not None
    latest = datetime.combine((span.data_end - timedelta(days=days)).date(), datetime.min.time())
    return settings.validation_as_of > latest


def _history_words(span: HistorySpan) -> str:
    assert span.first_event is not None and span.last_event is not None
    return f"{_months(span.days)} months of history ({span.first_event.date()} to {span.last_event.date()})"


def _reject_notes(files: Sequence[FileShare]) -> list[str]:
    return [
        f"{f.file}: {f.reject_share:.1%} of the rows were rejected ({f.rejected:,} of {f.accepted + f.rejected:,}); "
        "read the reasons in the rejects file before training"
        for f in files
        if f.reject_share > MAX_REJECT_SHARE
    ]


def _fallback_notes(models: Sequence[Readiness]) -> list[str]:
    """Models short of labels that training fits anyway or replaces by a base rate, instead of stopping.

    The recipe falls back to the base rate when the calibration fold has fewer than
    `MIN_CALIBRATION_MINORITY` of a class (`training.recipe`); above that it fits the model on what
    there is, and the backtest figures carry the uncertainty this minimum is meant to avoid.
    """
    notes = []
    for readiness in models:
        if readiness.ready or readiness.blocks_training or not readiness.snapshots:
            continue
        calibration = readiness.snapshots[0]
        if min(calibration.positives, calibration.negatives) < MIN_CALIBRATION_MINORITY:
            outcome = (
                f"training will give {'/'.join(readiness.populations)} customers the population's base rate as "
                f"their {readiness.model} probability (the documented fallback, without reasons)"
            )
        else:
            outcome = "training still fits this model, but its backtest figures rest on few labels"
        notes.append(f"{readiness.advice[0]}; {outcome}")
    return notes


def _unanchored_note(raw: RawData, schedule: ScheduleCheck) -> list[str]:
    """Customers listed without a signup date are in the population at every cutoff, even before their
    first transaction: as prospects who then 'convert' they would teach the models a false pattern."""
    cutoff = schedule.calibration
    if cutoff is None or "signup_date" not in raw.customers.columns:
        return []
    moment = pl.lit(cutoff, dtype=pl.Datetime("us"))
    before = pl.concat(
        [
            raw.transactions.select("customer_id", "timestamp"),
            raw.interactions.select("customer_id", "timestamp"),
        ]
    ).filter(pl.col("timestamp") < moment)
    later = raw.transactions.filter(pl.col("timestamp") >= moment).select("customer_id").unique()
    unanchored = (
        raw.customers.filter(pl.col("signup_date").is_null())
        .select("customer_id")
        .join(before.select("customer_id").unique(), on="customer_id", how="anti")
        .join(later, on="customer_id", how="semi")
        .height
    )
    if not unanchored:
        return []
    return [
        f"{unanchored:,} customer(s) have no signup date and no event before the calibration cutoff "
        f"{cutoff.date()} but transactions after it: they count as prospects before they were "
        "customers; give the customers file a signup_date (e.g. the first order)"
    ]


def _months(days: float) -> int:
    return math.floor(days / 30.44 + 0.5)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
