"""The portfolio: scored customers filtered, ranked and paged on the server with polars.

The portfolio has one view per population, each ranked by its own expected value: active customers by
value at risk (churn probability x value if retained), lapsed customers by the value of a comeback
(reactivation probability x value if retained), prospects by the value of a first order (conversion
probability x predicted value). That `priority` and the population's `probability` are derived once per
loaded snapshot, and the frame is pre-sorted by them, so the default page of a 100,000-row base is a
filter and a slice, not a sort. Only the rows of the page shown are put into words: their action title
and owner label in the page language.

The portfolio also filters by a playbook tag (`tag`, a code of `policy.tags`) and by the customer's named
account manager (`manager`); `mine` asks for the signed-in user's own customers, the manager their API key
is mapped to (`Settings.account_manager_for_key`), so a manager opens "my customers" in one click. A
snapshot written before tags and managers existed shows neither filter.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Final, Literal, cast, get_args

import polars as pl

from domain.vocabulary import DEFAULT_LANGUAGE, LIFECYCLE_STAGES, POPULATIONS, RISK_BANDS, Language
from domain.vocabulary import TIERS as TIER_CODES
from serving.serialise import tag_labels
from serving.snapshot_store import SnapshotStore
from serving.text import Texts

SortKey = Literal["priority", "probability", "predicted_value", "expected_value_saved"]
SORT_KEYS: Final[tuple[str, ...]] = get_args(SortKey)
TIERS: Final[tuple[str, ...]] = TIER_CODES
RISKS: Final[tuple[str, ...]] = RISK_BANDS
STAGES: Final[tuple[str, ...]] = LIFECYCLE_STAGES
SEARCH_MAX_CHARS: Final = 100
TAG_CODE: Final = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class PortfolioQuery:
    """What the portfolio form asks for; unknown filter values are dropped rather than matching nothing."""

    population: str = "active"
    tier: str | None = None
    stage: str | None = None
    risk: str | None = None
    owner: str | None = None
    search: str | None = None
    sort: SortKey = "priority"
    page: int = 1
    page_size: int = 25
    tag: str | None = None
    manager: str | None = None
    mine: bool = False

    @classmethod
    def from_params(
        cls,
        params: dict[str, str],
        page_size: int,
        owners: tuple[str, ...],
        signed_in_manager: str | None = None,
    ) -> PortfolioQuery:
        """The query of a portfolio URL. `signed_in_manager` is the account manager the signed-in key is
        mapped to: with ``mine=1`` the page shows only their customers (without a mapping, ``mine`` is
        dropped like any unknown filter value)."""

        def one_of(name: str, allowed: tuple[str, ...]) -> str | None:
            value = params.get(name) or None
            return value if value in allowed else None

        sort = params.get("sort", "priority")
        search = (params.get("q") or "").strip()[:SEARCH_MAX_CHARS] or None
        return cls(
            population=one_of("population", POPULATIONS) or "active",
            tier=one_of("tier", TIERS),
            stage=one_of("stage", STAGES),
            risk=one_of("risk", RISKS),
            owner=one_of("owner", owners),
            search=search,
            sort=sort if sort in SORT_KEYS else "priority",  # type: ignore[arg-type]
            page=max(1, _int(params.get("page"), 1)),
            page_size=page_size,
            tag=tag if TAG_CODE.match(tag := params.get("tag") or "") else None,
            manager=(params.get("manager") or "").strip()[:SEARCH_MAX_CHARS] or None,
            mine=params.get("mine") == "1" and bool(signed_in_manager),
        )._for_manager(signed_in_manager)

    def _for_manager(self, signed_in_manager: str | None) -> PortfolioQuery:
        """``mine`` is the signed-in manager's name as the manager filter."""
        return replace(self, manager=signed_in_manager) if self.mine else self

    def as_params(self, **changes: object) -> dict[str, str]:
        """The query string that shows this query with `changes` (for paging and sort links)."""
        values = {
            "population": None if self.population == "active" else self.population,
            "tier": self.tier,
            "stage": self.stage,
            "risk": self.risk,
            "owner": self.owner,
            "q": self.search,
            "sort": None if self.sort == "priority" else self.sort,
            "page": None if self.page == 1 else self.page,
            "tag": self.tag,
            "manager": None if self.mine else self.manager,
            "mine": "1" if self.mine else None,
            **changes,
        }
        return {name: str(value) for name, value in values.items() if value not in (None, "", 1)}


@dataclass(frozen=True)
class PortfolioPage:
    rows: list[dict[str, object]]
    total: int
    page: int
    pages: int
    total_priority: float
    high_risk: int
    currency: str | None = None
    owners: tuple[str, ...] = field(default=())
    tags: tuple[str, ...] = field(default=())
    managers: tuple[str, ...] = field(default=())


class PortfolioIndex:
    """The snapshot as the portfolio page needs it, rebuilt only when the store loads a new file."""

    def __init__(self, store: SnapshotStore, texts: Texts) -> None:
        self.store = store
        self.texts = texts
        self._source: pl.DataFrame | None = None
        self._ranked = pl.DataFrame()
        self._owners: tuple[str, ...] = ()
        self._tags: tuple[str, ...] = ()
        self._managers: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def ranked(self) -> tuple[pl.DataFrame, tuple[str, ...]]:
        """Customers by priority (largest first, then id), and the owners present."""
        source = self.store.frame()
        with self._lock:
            if source is not self._source:
                self._ranked = _portfolio_columns(source)
                self._owners = tuple(self._ranked["owner"].drop_nulls().unique().sort().to_list())
                self._tags = _tags_present(self._ranked, self.texts)
                self._managers = tuple(self._ranked["account_manager"].drop_nulls().unique().sort().to_list())
                self._source = source
            return self._ranked, self._owners

    def owners(self) -> tuple[str, ...]:
        return self.ranked()[1]

    def tags(self) -> tuple[str, ...]:
        """The tag codes some customer carries, in the playbook's order (then any it no longer defines)."""
        self.ranked()
        return self._tags

    def managers(self) -> tuple[str, ...]:
        """The named account managers of the snapshot, sorted."""
        self.ranked()
        return self._managers

    def page(self, query: PortfolioQuery, lang: Language = DEFAULT_LANGUAGE) -> PortfolioPage:
        """One page of the selection, its texts (action title, owner label) in `lang`."""
        ranked, owners = self.ranked()
        selected = ranked.filter(_conditions(query, self.tags()))
        total = selected.height
        pages = max(1, -(-total // query.page_size))
        page = min(query.page, pages)
        if query.sort != "priority":
            selected = selected.sort([query.sort, "customer_id"], descending=[True, False], nulls_last=True)
        shown = selected.slice((page - 1) * query.page_size, query.page_size)
        return PortfolioPage(
            rows=[self._in_words(row, lang) for row in shown.to_dicts()],
            total=total,
            page=page,
            pages=pages,
            total_priority=float(selected["priority"].sum()),
            high_risk=int((selected["churn_risk"] == "high").sum()),
            currency=_single_currency(selected),
            owners=owners,
            tags=self.tags(),
            managers=self.managers(),
        )

    def _in_words(self, row: dict[str, object], lang: Language) -> dict[str, object]:
        actions = self.texts.actions
        return {
            **row,
            "action_title": actions.text(str(row["action_id"]), lang).title,
            "owner_label": actions.owner_label(str(row["owner"]), lang),
            "tag_labels": tag_labels(cast(list[str], row["tags"] or []), lang, self.texts),
        }


def _portfolio_columns(snapshot: pl.DataFrame) -> pl.DataFrame:
    population = pl.col("population")
    probability = pl.coalesce("churn_probability", "reactivation_probability", "conversion_probability")
    priority = (
        pl.when(population == "active")
        .then(pl.col("value_at_risk"))
        .when(population == "lapsed")
        .then(pl.col("reactivation_probability") * pl.col("value_if_retained"))
        .otherwise(pl.col("conversion_probability") * pl.col("predicted_value"))
    )
    return snapshot.select(
        "customer_id",
        "population",
        "tier",
        "lifecycle_stage",
        probability.alias("probability"),
        "churn_risk",
        "predicted_value",
        "value_if_retained",
        "currency",
        priority.alias("priority"),
        "action_id",
        pl.col("action_owner").alias("owner"),
        pl.col("action_due_date").dt.to_string("%Y-%m-%d").alias("due_date"),
        # The recommended action's expected value saved (issue 14); a snapshot from before has none.
        pl.col("expected_value_saved")
        if "expected_value_saved" in snapshot.columns
        else pl.lit(None, dtype=pl.Float64).alias("expected_value_saved"),
        _or_missing(snapshot, "tags", pl.List(pl.String())),
        _or_missing(snapshot, "account_manager", pl.String()),
    ).sort(["priority", "customer_id"], descending=[True, False], nulls_last=True)


def _or_missing(snapshot: pl.DataFrame, column: str, dtype: pl.DataType) -> pl.Expr:
    """A snapshot column, or nulls for a file written before the column existed."""
    return pl.col(column) if column in snapshot.columns else pl.lit(None, dtype=dtype).alias(column)


def _tags_present(ranked: pl.DataFrame, texts: Texts) -> tuple[str, ...]:
    present = set(ranked["tags"].explode().drop_nulls().to_list())
    ordered = [tag.id for tag in texts.playbook.tags if tag.id in present]
    return (*ordered, *sorted(present.difference(ordered)))


def _conditions(query: PortfolioQuery, tags: tuple[str, ...] = ()) -> pl.Expr:
    """The query's filters; a search looks through every population, so a customer id is always found.
    A tag no customer carries is dropped, as unknown filter values are; a manager filter is kept (a
    manager without customers sees an empty page, not everyone's)."""
    conditions = [pl.col("population") == query.population] if query.search is None else []
    if query.tag is not None and query.tag in tags:
        conditions.append(pl.col("tags").list.contains(query.tag))
    if query.manager is not None:
        conditions.append(pl.col("account_manager") == query.manager)
    for column, wanted in (
        ("tier", query.tier),
        ("lifecycle_stage", query.stage),
        ("churn_risk", query.risk),
        ("owner", query.owner),
    ):
        if wanted is not None:
            conditions.append(pl.col(column) == wanted)
    if query.search is not None:
        conditions.append(
            pl.col("customer_id").str.to_lowercase().str.contains(query.search.lower(), literal=True)
        )
    return pl.all_horizontal(conditions)


def _single_currency(selected: pl.DataFrame) -> str | None:
    """The currency of the total, when every selected customer is scored in the same one."""
    currencies = selected["currency"].unique()
    return currencies[0] if currencies.len() == 1 else None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
