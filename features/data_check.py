"""Is the data enough? What a data folder holds, and whether each model can be trained honestly on it.

`check_data` answers before anyone trains: the history span; the customers per population at a cutoff
(active: ordered within the lookback; lapsed: ordered before it only; prospect: never ordered; the
population of `features.build.build_features`); buyers with two or more orders; events per customer;
the reject share of each file; which label windows fit the data; and, per model and per value tier,
whether the labels at the calibration and validation cutoffs reach the minimums below, with advice
that names the option to change. `require_trainable` turns a shortfall into `InsufficientDataError`,
so that `clvchurn train` stops with that advice instead of fitting a model on a handful of labels.

Predictive CRMs gate their predictions on hidden minimums, and none says which segment falls short:
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
backtest is scored). With 100 of each class the standard error of a ROC-AUC near 0.8 is about 0.03
(Hanley & McNeil, Radiology 143(1), 1982), small enough to tell a model from a baseline; GA4's 1,000
serves one model per property with no out-of-time split. Per value tier, whose metrics are read
apart, the minimum is 30 of each class, the usual floor for a proportion's normal approximation.

Value tiers are approximated from the data alone (no model yet): customers are ranked by net spend in
the 365 days before the cutoff, and A is the first 10% of the population, B the next 20%, C the next
40%, D the rest, customers without positive spend always D (ties by customer id). The trained tiers
rank predicted value instead (`training.tiers`), so the check's tiers are a guide to their size.

The training schedule is the one `training.schedule.plan_cutoffs` places (restated here because
features imports no other package; a test compares the two): validation at the data end minus the
longer horizon, calibration one horizon earlier, training cutoffs `step_days` apart before that, the
oldest after the first event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from domain.errors import InsufficientDataError, InvalidCutoffError
from domain.vocabulary import POPULATIONS, TIERS, Population, Tier
from features.contract import FileCounts, RawData

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
TIER_SPEND_DAYS = 365
DEFAULT_TIER_SHARES = (0.10, 0.20, 0.40)
CONVENTIONAL_HORIZONS = (365, 270, 180, 120, 90, 60, 30, 14, 7)
"""Horizons the advice rounds down to, so that it suggests 90 days rather than 97."""

CheckedModel = Literal["churn", "reactivation", "conversion", "value"]
Snapshot = Literal["calibration", "validation"]


@dataclass(frozen=True)
class _ModelTerms:
    """How a model's labels are spoken of in the report, and which option moves each class."""

    population: Population | None
    eligible: str
    positives: str
    negatives: str
    horizon_option: str
    positives_grow_with_horizon: bool


_MODELS: dict[CheckedModel, _ModelTerms] = {
    "churn": _ModelTerms("active", "active customers", "churners", "stayers", "--churn-horizon-days", False),
    "reactivation": _ModelTerms(
        "lapsed", "lapsed customers", "reactivated", "still lapsed", "--churn-horizon-days", True
    ),
    "conversion": _ModelTerms(
        "prospect", "prospects", "converted", "not converted", "--churn-horizon-days", True
    ),
    "value": _ModelTerms(None, "customers", "buyers", "non-buyers", "--value-horizon-days", True),
}
CHECKED_MODELS: tuple[CheckedModel, ...] = tuple(_MODELS)
TRAINED_MODELS: tuple[CheckedModel, ...] = ("churn", "value")
"""The models `clvchurn train` fits today; `require_trainable` checks these by default."""


@dataclass(frozen=True)
class Minimums:
    """The thresholds a check applies; the defaults are the module's documented constants."""

    history_days: int = MIN_HISTORY_DAYS
    customers_who_ordered: int = MIN_CUSTOMERS_WHO_ORDERED
    labels_per_class: int = MIN_LABELS_PER_CLASS
    tier_labels_per_class: int = MIN_TIER_LABELS_PER_CLASS


@dataclass(frozen=True)
class CheckSettings:
    """The options of `clvchurn train` that decide what the data must hold, with its defaults."""

    lookback_days: int = 180
    churn_horizon_days: int = 180
    value_horizon_days: int = 365
    snapshots: int = 4
    step_days: int = 90
    validation_as_of: datetime | None = None
    tier_shares: tuple[float, float, float] = DEFAULT_TIER_SHARES
    minimums: Minimums = field(default_factory=Minimums)

    @property
    def label_horizon_days(self) -> int:
        """Training places every cutoff by the longer of the two label windows."""
        return max(self.churn_horizon_days, self.value_horizon_days)


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
    """Whether one label window fits: its latest cutoff (data end minus horizon) is after the first event."""

    label: Literal["churn", "value"]
    horizon_days: int
    latest_cutoff: datetime | None
    fits: bool


@dataclass(frozen=True)
class Schedule:
    """The training cutoffs the settings give on this data, and the longest horizon that would fit."""

    horizon_days: int
    snapshots: int
    step_days: int
    validation: datetime | None
    calibration: datetime | None
    oldest_training: datetime | None
    fits: bool
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

    model: CheckedModel
    tier: Tier | None
    population: Population | None
    minimum: int
    snapshots: tuple[LabelCounts, ...]
    ready: bool
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
    schedule: Schedule
    models: tuple[Readiness, ...]
    tier_models: tuple[Readiness, ...]
    blocking: tuple[str, ...]
    """Shortfalls of the base that stop every model (history, buyers, label windows)."""
    notes: tuple[str, ...]
    """Advice that does not stop training (reject shares)."""

    def readiness(self, model: CheckedModel) -> Readiness:
        return next(r for r in self.models if r.model == model)

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
    populations = {p: int((summary["population"] == p).sum()) for p in POPULATIONS}
    schedule = _schedule(span, settings)
    labelled = _labelled_snapshots(raw, schedule, settings) if schedule.fits else {}
    files = tuple(_file_share(c) for c in (counts or {}).values())
    blocking = tuple(_base_shortfalls(span, schedule, summary, cutoff, settings))
    return DataCheck(
        as_of=cutoff,
        settings=settings,
        span=span,
        customers=summary.height,
        populations=populations,
        customers_who_ordered=int((summary["orders"] > 0).sum()),
        repeat_buyers=int((summary["orders"] >= 2).sum()),
        transactions_per_customer=_spread(summary["transactions"]),
        interactions_per_customer=_spread(summary["interactions"]),
        tiers={t: int((summary["tier"] == t).sum()) for t in TIERS},
        files=files,
        windows=tuple(_windows(span, settings)),
        schedule=schedule,
        models=tuple(
            _readiness(m, None, labelled, schedule, settings.minimums.labels_per_class, settings)
            for m in CHECKED_MODELS
        ),
        tier_models=tuple(
            _readiness(m, t, labelled, schedule, settings.minimums.tier_labels_per_class, settings)
            for t in TIERS
            for m in TRAINED_MODELS
        ),
        blocking=blocking,
        notes=(*_reject_notes(files), *_unanchored_note(labelled, schedule)),
    )


def require_trainable(check: DataCheck, models: Sequence[CheckedModel] = TRAINED_MODELS) -> None:
    """Stop with the check's advice unless every one of `models` can be trained honestly.

    Raises
    ------
    InsufficientDataError: the base falls short (history, buyers, label windows) or a model lacks
        labels at the calibration or validation cutoff; the message holds every piece of advice.
    """
    advice = list(check.blocking)
    for model in models:
        readiness = check.readiness(model)
        if not readiness.ready:
            advice.extend(a for a in readiness.advice if a not in advice)
    if advice:
        raise InsufficientDataError(
            f"the data cannot train the {' and '.join(models)} model{'s' if len(models) > 1 else ''} "
            f"honestly (run `clvchurn data check` for the whole report): {'; '.join(advice)}"
        )


# --- The base at one cutoff --------------------------------------------------------------------------

_EMPTY_SUMMARY = pl.DataFrame(
    schema={
        "customer_id": pl.String(),
        "transactions": pl.UInt32(),
        "interactions": pl.UInt32(),
        "orders": pl.UInt32(),
        "population": pl.String(),
        "tier": pl.String(),
    }
)


def _history_span(raw: RawData) -> HistorySpan:
    stamps = pl.concat([raw.transactions.select("timestamp"), raw.interactions.select("timestamp")])[
        "timestamp"
    ]
    first, last = stamps.min(), stamps.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return HistorySpan(None, None, None, 0.0)
    data_end = datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)
    return HistorySpan(first, last, data_end, (data_end - first) / timedelta(days=1))


def _summary(raw: RawData, cutoff: datetime, settings: CheckSettings) -> pl.DataFrame:
    """One row per customer in the population at `cutoff`: event counts, orders, population, tier."""
    moment = pl.lit(cutoff, dtype=pl.Datetime("us"))
    is_order = pl.col("amount") > 0
    transactions = (
        raw.transactions.lazy()
        .filter(pl.col("timestamp") < moment)
        .group_by("customer_id")
        .agg(
            pl.len().alias("transactions"),
            is_order.sum().alias("orders"),
            pl.col("timestamp").filter(is_order).max().alias("last_order"),
            pl.col("amount")
            .filter(pl.col("timestamp") >= pl.lit(cutoff - timedelta(days=TIER_SPEND_DAYS)))
            .sum()
            .alias("recent_spend"),
        )
    )
    interactions = (
        raw.interactions.lazy()
        .filter(pl.col("timestamp") < moment)
        .group_by("customer_id")
        .agg(pl.len().alias("interactions"))
    )
    signup = pl.col("signup_date")
    population = (
        pl.concat(
            [
                raw.customers.lazy().filter(signup.is_null() | (signup < moment)).select("customer_id"),
                transactions.select("customer_id"),
                interactions.select("customer_id"),
            ]
        )
        .unique()
        .join(raw.customers.lazy().select("customer_id", "signup_date"), on="customer_id", how="left")
    )
    active_since = pl.lit(cutoff - timedelta(days=settings.lookback_days), dtype=pl.Datetime("us"))
    summary = (
        population.join(transactions, on="customer_id", how="left")
        .join(interactions, on="customer_id", how="left")
        .with_columns(
            pl.col("transactions", "orders", "interactions").fill_null(0),
            pl.col("recent_spend").fill_null(0.0),
            pl.when(pl.col("last_order").is_null())
            .then(pl.lit("prospect"))
            .when(pl.col("last_order") >= active_since)
            .then(pl.lit("active"))
            .otherwise(pl.lit("lapsed"))
            .alias("population"),
        )
        .sort(["recent_spend", "customer_id"], descending=[True, False])
        .collect()
    )
    return summary.with_columns(_approximate_tier(summary.height, settings.tier_shares)).sort("customer_id")


def _approximate_tier(customers: int, shares: tuple[float, float, float]) -> pl.Expr:
    """Tier by rank of recent net spend (rows sorted highest first); no positive spend is always D."""
    rank = pl.int_range(pl.len())
    bounds = [round(customers * sum(shares[: i + 1])) for i in range(3)]  # 0.1 + 0.2 is not 0.3
    return (
        pl.when(pl.col("recent_spend") <= 0)
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


# --- Label windows and the training schedule -------------------------------------------------------


def _windows(span: HistorySpan, settings: CheckSettings) -> list[LabelWindow]:
    horizons: tuple[tuple[Literal["churn", "value"], int], ...] = (
        ("churn", settings.churn_horizon_days),
        ("value", settings.value_horizon_days),
    )
    windows = []
    for label, horizon in horizons:
        latest = span.data_end - timedelta(days=horizon) if span.data_end else None
        fits = latest is not None and span.first_event is not None and latest > span.first_event
        windows.append(LabelWindow(label, horizon, latest, fits))
    return windows


def _placed(
    span: HistorySpan, settings: CheckSettings, horizon_days: int
) -> tuple[datetime, datetime, datetime]:
    """Validation, calibration and oldest training cutoff for one label horizon."""
    assert span.data_end is not None
    horizon = timedelta(days=horizon_days)
    validation = settings.validation_as_of or span.data_end - horizon
    calibration = validation - horizon
    oldest = calibration - timedelta(days=settings.step_days * max(settings.snapshots - 2, 1))
    return validation, calibration, oldest


def _fits(span: HistorySpan, settings: CheckSettings, horizon_days: int) -> bool:
    """The conditions under which `training.schedule.plan_cutoffs` places the cutoffs without error."""
    if span.data_end is None or span.first_event is None or settings.snapshots < 3:
        return False
    validation, _, oldest = _placed(span, settings, horizon_days)
    return validation <= span.data_end - timedelta(days=horizon_days) and oldest > span.first_event


def _schedule(span: HistorySpan, settings: CheckSettings) -> Schedule:
    horizon = settings.label_horizon_days
    placed = _placed(span, settings, horizon) if span.data_end is not None else (None, None, None)
    longest = next((h for h in range(horizon, 0, -1) if _fits(span, settings, h)), None)
    return Schedule(
        horizon_days=horizon,
        snapshots=settings.snapshots,
        step_days=settings.step_days,
        validation=placed[0],
        calibration=placed[1],
        oldest_training=placed[2],
        fits=_fits(span, settings, horizon),
        longest_fitting_horizon_days=longest,
    )


# --- Labels at the calibration and validation cutoffs ----------------------------------------------


def _labelled_snapshots(
    raw: RawData, schedule: Schedule, settings: CheckSettings
) -> dict[Snapshot, pl.DataFrame]:
    """Per snapshot, the cutoff's summary with `ordered` (any order in the churn window) and `spent`
    (positive net spend in the value window)."""
    assert schedule.calibration is not None and schedule.validation is not None
    cutoffs: tuple[tuple[Snapshot, datetime], ...] = (
        ("calibration", schedule.calibration),
        ("validation", schedule.validation),
    )
    snapshots: dict[Snapshot, pl.DataFrame] = {}
    for name, cutoff in cutoffs:
        future = (
            raw.transactions.lazy()
            .filter(pl.col("timestamp") >= pl.lit(cutoff, dtype=pl.Datetime("us")))
            .group_by("customer_id")
            .agg(
                (
                    (pl.col("amount") > 0)
                    & (pl.col("timestamp") < pl.lit(cutoff + timedelta(days=settings.churn_horizon_days)))
                )
                .any()
                .alias("ordered"),
                pl.col("amount")
                .filter(pl.col("timestamp") < pl.lit(cutoff + timedelta(days=settings.value_horizon_days)))
                .sum()
                .alias("future_spend"),
            )
            .collect()
        )
        snapshots[name] = (
            _summary(raw, cutoff, settings)
            .join(future, on="customer_id", how="left")
            .with_columns(
                pl.col("ordered").is_not_null().alias("buys_later"),
                pl.col("ordered").fill_null(False),
                (pl.col("future_spend").fill_null(0.0) > 0).alias("spent"),
            )
        )
    return snapshots


def _label_counts(
    model: CheckedModel, snapshot: Snapshot, cutoff: datetime, frame: pl.DataFrame
) -> LabelCounts:
    terms = _MODELS[model]
    if terms.population is not None:
        frame = frame.filter(pl.col("population") == terms.population)
    positive = frame["spent"] if model == "value" else frame["ordered"]
    if model == "churn":
        positive = ~positive
    positives = int(positive.sum())
    return LabelCounts(snapshot, cutoff, frame.height, positives, frame.height - positives)


def _readiness(
    model: CheckedModel,
    tier: Tier | None,
    labelled: Mapping[Snapshot, pl.DataFrame],
    schedule: Schedule,
    minimum: int,
    settings: CheckSettings,
) -> Readiness:
    terms = _MODELS[model]
    subject = f"{model} model" if tier is None else f"tier {tier}, {model} model"
    if not labelled:
        advice: tuple[str, ...] = (
            f"{subject}: cannot be checked until the label windows fit the data (see the schedule)",
        )
        return Readiness(model, tier, terms.population, minimum, (), False, advice)
    counts = []
    for snapshot, frame in labelled.items():
        cutoff = schedule.calibration if snapshot == "calibration" else schedule.validation
        assert cutoff is not None
        counts.append(
            _label_counts(
                model, snapshot, cutoff, frame if tier is None else frame.filter(pl.col("tier") == tier)
            )
        )
    advice = tuple(_label_advice(subject, model, c, minimum, settings) for c in counts if _short(c, minimum))
    return Readiness(model, tier, terms.population, minimum, tuple(counts), not advice, advice)


def _short(counts: LabelCounts, minimum: int) -> bool:
    return min(counts.positives, counts.negatives) < minimum


def _label_advice(
    subject: str, model: CheckedModel, counts: LabelCounts, minimum: int, settings: CheckSettings
) -> str:
    terms = _MODELS[model]
    where = f"at the {counts.snapshot} cutoff {counts.cutoff.date()}"
    if counts.eligible == 0:
        fix = {
            "conversion": "list prospects (customers who have not ordered) in the customers file",
            "reactivation": f"lapsed customers need orders more than {settings.lookback_days} days before a cutoff",
        }.get(model, "import more customers")
        return f"{subject}: no {terms.eligible} {where}; {fix}"
    if counts.positives < minimum and counts.negatives < minimum:
        fix = "import more customers"
    else:
        longer = (counts.positives < minimum) == terms.positives_grow_with_horizon
        fix = f"use a {'longer' if longer else 'shorter'} {terms.horizon_option} or more customers"
    return (
        f"{subject}: {counts.positives} {terms.positives} and {counts.negatives} {terms.negatives} among "
        f"{counts.eligible} {terms.eligible} {where} (at least {minimum} of each are needed); {fix}"
    )


# --- Advice on the base ----------------------------------------------------------------------------


def _base_shortfalls(
    span: HistorySpan,
    schedule: Schedule,
    summary: pl.DataFrame,
    cutoff: datetime | None,
    settings: CheckSettings,
) -> list[str]:
    minimums = settings.minimums
    if span.first_event is None or span.last_event is None:
        return ["the data hold no transactions or interactions"]
    shortfalls = []
    history = (
        f"{_months(span.days)} months of history ({span.first_event.date()} to {span.last_event.date()})"
    )
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
    if not schedule.fits:
        shortfalls.append(_schedule_advice(span, schedule, settings, history))
    return shortfalls


def _schedule_advice(span: HistorySpan, schedule: Schedule, settings: CheckSettings, history: str) -> str:
    assert span.data_end is not None
    horizon = schedule.horizon_days
    if settings.snapshots < 3:
        return f"--snapshots {settings.snapshots} is too few: training needs at least 3"
    latest = span.data_end - timedelta(days=horizon)
    if settings.validation_as_of is not None and settings.validation_as_of > latest:
        return (
            f"--as-of {settings.validation_as_of.date()} leaves a {horizon}-day label window that ends after "
            f"the data ({span.data_end.date()}); use --as-of {latest.date()} or earlier"
        )
    needed = 2 * horizon + settings.step_days * (settings.snapshots - 2)
    plan = (
        f"with {history}, {settings.snapshots} snapshots {settings.step_days} days apart and {horizon}-day "
        f"label windows need more than {needed} days"
    )
    longest = schedule.longest_fitting_horizon_days
    if longest is None:
        return f"{plan}; use fewer --snapshots, a smaller --step-days, or import a longer history"
    suggestion = next((h for h in CONVENTIONAL_HORIZONS if h <= longest), longest)
    options = [
        f"{option} {suggestion}"
        for option, days in (
            ("--churn-horizon-days", settings.churn_horizon_days),
            ("--value-horizon-days", settings.value_horizon_days),
        )
        if days > longest
    ]
    return f"{plan}: use {' '.join(options)} (the longest that fits is {longest} days)"


def _reject_notes(files: Sequence[FileShare]) -> list[str]:
    return [
        f"{f.file}: {f.reject_share:.1%} of the rows were rejected ({f.rejected:,} of {f.accepted + f.rejected:,}); "
        "read the reasons in the rejects file before training"
        for f in files
        if f.reject_share > MAX_REJECT_SHARE
    ]


def _unanchored_note(labelled: Mapping[Snapshot, pl.DataFrame], schedule: Schedule) -> list[str]:
    """Customers listed without a signup date are in the population at every cutoff, even before their
    first transaction: as prospects who then 'convert' they would teach the models a false pattern."""
    if "calibration" not in labelled or schedule.calibration is None:
        return []
    frame = labelled["calibration"]
    unanchored = frame.filter(
        pl.col("signup_date").is_null()
        & (pl.col("transactions") == 0)
        & (pl.col("interactions") == 0)
        & pl.col("buys_later")
    ).height
    if not unanchored:
        return []
    return [
        f"{unanchored:,} customer(s) have no signup date and no event before the calibration cutoff "
        f"{schedule.calibration.date()} but transactions after it: they count as prospects before they were "
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
