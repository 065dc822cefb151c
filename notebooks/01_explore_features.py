# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The raw data and the features
#
# What clvchurn reads (transactions, customers, interactions) and the point-in-time features it builds
# from them, first on a synthetic customer base whose true parameters are known, then on the CDNOW
# purchase log (Fader, Hardie & Lee 2005), which has transactions only.
#
# Every number comes from the library code (`features.build`, `features.definitions`,
# `features.populations`, and the lookback of the packaged playbook `policy/playbook.yaml`): the notebook
# adds no feature or label logic of its own, and it writes nothing to disk.
#
# **Parameters** (environment variables; the defaults suit an interactive session, the test suite runs
# the notebook small):
#
# | variable | meaning | default |
# |---|---|---|
# | `CLVCHURN_NB_CUSTOMERS` | synthetic customers to generate | 20000 |
# | `CLVCHURN_NB_SEED` | seed of the synthetic base | 7 |
# | `CLVCHURN_NB_AS_OF` | feature cutoff on the synthetic base | 2025-01-01 |
# | `CLVCHURN_NB_CDNOW` | CDNOW_master.txt, relative paths from the repository root | `../shared/data/CDNOW_master.txt` |

# %%
import os
from datetime import datetime
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl
from IPython.display import display

from features.build import build_features, build_training_table, feature_columns
from features.contract import CUSTOMERS_BASE_SCHEMA, INTERACTIONS_SCHEMA, RawData, empty_frame
from features.definitions import describe
from features.populations import POPULATION_COLUMN, POPULATION_LABELS
from features.sources.cdnow import read_cdnow
from features.synth import generate
from policy.playbook import DEFAULT_PLAYBOOK, Playbook


def repository_root(start: Path) -> Path:
    """The folder holding pyproject.toml; Jupyter starts the kernel in the notebook's own folder."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(
        f"no pyproject.toml in {start} or above: open the notebook inside the clvchurn repository"
    )


def from_root(path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (ROOT / candidate).resolve()


ROOT = repository_root(Path.cwd().resolve())
N_CUSTOMERS = int(os.environ.get("CLVCHURN_NB_CUSTOMERS", "20000"))
SEED = int(os.environ.get("CLVCHURN_NB_SEED", "7"))
AS_OF = datetime.fromisoformat(os.environ.get("CLVCHURN_NB_AS_OF", "2025-01-01"))
CDNOW_PATH = from_root(os.environ.get("CLVCHURN_NB_CDNOW", "../shared/data/CDNOW_master.txt"))
CHURN_HORIZON_DAYS = 180
VALUE_HORIZON_DAYS = 365
LOOKBACK_DAYS = Playbook.load(DEFAULT_PLAYBOOK).lifecycle.lookback_days

pl.Config.set_tbl_rows(60)
pl.Config.set_tbl_cols(12)
pl.Config.set_fmt_str_lengths(90)
pl.Config.set_tbl_width_chars(160)
print(
    f"repository {ROOT}\nsynthetic customers {N_CUSTOMERS:,} (seed {SEED}), cutoff {AS_OF:%Y-%m-%d}\nCDNOW {CDNOW_PATH}"
)
print(f"active customers ordered within the last {LOOKBACK_DAYS} days (the playbook's dormant silence)")


# %%
def percent(share: float | None) -> str:
    """A share as a percentage, or n/a when the rows it is taken over are absent."""
    return "n/a" if share is None else f"{share:.1%}"


def quantile_bins(column: str, bins: int = 5) -> pl.Expr:
    """Equal-count bins 1..bins of a numeric column (ties split by row order, nulls stay null)."""
    rank = pl.col(column).rank("ordinal")
    return ((rank - 1) * bins // pl.col(column).count() + 1).alias(f"{column}_bin")


def label_rate_by_bins(
    frame: pl.DataFrame, column: str, label: str = "churned", bins: int = 5
) -> pl.DataFrame:
    """Observed rate of a population's label (null outside it) per equal-count bin of a feature, with
    the feature's range in each bin: bins are taken over the rows that carry the label."""
    return (
        frame.filter(pl.col(label).is_not_null() & pl.col(column).is_not_null())
        .with_columns(quantile_bins(column, bins))
        .group_by(f"{column}_bin")
        .agg(
            pl.len().alias("customers"),
            pl.col(column).min().alias("from"),
            pl.col(column).max().alias("to"),
            pl.col(label).mean().alias(f"{label}_rate"),
        )
        .sort(f"{column}_bin")
    )


def population_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Customers per population at the cutoff, the label each population is trained on and its rate."""
    rows = []
    for population, (label, positive_when_ordered) in POPULATION_LABELS.items():
        members = table.filter(pl.col(POPULATION_COLUMN) == population)
        rows.append(
            {
                "population": population,
                "customers": members.height,
                "share": members.height / max(table.height, 1),
                "label": label,
                "label_is_1_when": "orders in the horizon"
                if positive_when_ordered
                else "no order in the horizon",
                "label_rate": members[label].mean() if members.height else None,
                "mean_future_value": members["future_value"].mean() if members.height else None,
            }
        )
    return pl.DataFrame(rows)


def feature_catalogue(features: pl.DataFrame) -> pl.DataFrame:
    """One row per feature: its unit and meaning from `features.definitions`, and how it is spread."""
    rows = []
    for name in feature_columns(features):
        spec, column = describe(name), features.get_column(name)
        numeric = column.dtype.is_numeric()
        rows.append(
            {
                "feature": name,
                "unit": spec.unit,
                "missing_share": column.null_count() / max(features.height, 1),
                "zero_share": float((column == 0).mean() or 0.0) if numeric else None,
                "median": float(column.median()) if numeric and column.drop_nulls().len() else None,
                "p90": float(column.quantile(0.9)) if numeric and column.drop_nulls().len() else None,
                "distinct": column.n_unique(),
                "description": spec.description,
            }
        )
    return pl.DataFrame(rows)


# %% [markdown]
# ## 1. A synthetic customer base
#
# `features.synth.generate` simulates a B2B/B2C mix with seasonality, refunds, key accounts, prospects
# who never buy and a latent dropout per customer (the "buy till you die" story). The three frames are
# exactly what a company export looks like after `features.contract.load_raw`.

# %%
synthetic = generate(N_CUSTOMERS, SEED)
raw = synthetic.raw
for table_name in ("transactions", "customers", "interactions"):
    frame = getattr(raw, table_name)
    print(f"{table_name}: {frame.height:,} rows, columns {frame.columns}")
raw.transactions.head(5)

# %%
raw.customers.head(5)

# %% [markdown]
# Profile attributes become categorical features `profile_<attribute>`; their levels:

# %%
pl.concat(
    [
        raw.customers.group_by(attribute)
        .len("customers")
        .select(pl.lit(attribute).alias("attribute"), pl.col(attribute).alias("level"), "customers")
        for attribute in raw.attribute_columns
    ]
).sort(["attribute", "customers"], descending=[False, True])

# %% [markdown]
# ### Orders, refunds and spend over time
# An order is a transaction with a positive amount, a refund one with a negative amount.

# %%
monthly = (
    raw.transactions.with_columns(pl.col("timestamp").dt.truncate("1mo").alias("month"))
    .group_by("month")
    .agg(
        (pl.col("amount") > 0).sum().alias("orders"),
        (pl.col("amount") < 0).sum().alias("refunds"),
        pl.col("amount").sum().alias("net_spend"),
        pl.col("customer_id").n_unique().alias("active_customers"),
    )
    .sort("month")
)
figure, (orders_axis, spend_axis) = plt.subplots(1, 2, figsize=(12, 3.5))
orders_axis.plot(monthly["month"], monthly["orders"], label="orders")
orders_axis.plot(monthly["month"], monthly["refunds"], label="refunds")
orders_axis.set_title("Transactions per month")
orders_axis.legend()
spend_axis.plot(monthly["month"], monthly["net_spend"])
spend_axis.set_title("Net spend per month")
figure.autofmt_xdate()
plt.show()
print(
    f"refund share of transactions {float((raw.transactions['amount'] < 0).mean()):.1%}, "
    f"customers without any transaction {1 - raw.transactions['customer_id'].n_unique() / raw.customers.height:.1%}"
)

# %%
orders_per_customer = (
    raw.transactions.filter(pl.col("amount") > 0).group_by("customer_id").agg(pl.len().alias("orders"))
)
figure, axis = plt.subplots(figsize=(6, 3.5))
axis.hist(orders_per_customer["orders"].clip(upper_bound=60), bins=60)
axis.set_xlabel("orders per buying customer (clipped at 60)")
axis.set_ylabel("customers")
axis.set_title("Purchase frequency is heavy-tailed")
plt.show()
orders_per_customer["orders"].describe()

# %% [markdown]
# ### Interactions
# Interaction types are lower-case; surveys carry a satisfaction score in `value`.

# %%
raw.interactions.group_by("type").agg(
    pl.len().alias("interactions"),
    pl.col("customer_id").n_unique().alias("customers"),
    pl.col("value").mean().alias("mean_value"),
).sort("interactions", descending=True)

# %% [markdown]
# ## 2. Features as of a cutoff
#
# `build_features(raw, as_of)` gives one row per customer known before the cutoff, using only events
# strictly before it. The catalogue below lists every feature with its meaning (from
# `features.definitions`) and how it is spread on this base.

# %%
features = build_features(raw, AS_OF)
print(f"{features.height:,} customers x {len(feature_columns(features))} features as of {AS_OF:%Y-%m-%d}")
catalogue = feature_catalogue(features)
print("feature catalogue")
display(catalogue)

# %% [markdown]
# ### Populations and their labels
# Each customer belongs to one population at the cutoff (`features.populations`): **active** (an order
# within the playbook's lookback, the silence after which a customer is dormant), **lapsed** (ordered
# before, not within the lookback) or **prospect** (never ordered). Each population has its own label
# over the churn horizon, and its own model: `churned` (no order) for active customers, `reactivated` (an
# order) for lapsed ones, `converted` (a first order) for prospects; a label is null outside its
# population. `future_value` is everyone's net spend within the value horizon (refunds included).
# `build_training_table` builds the features, the outcomes and the labels in one call.

# %%
table = build_training_table(raw, [AS_OF], CHURN_HORIZON_DAYS, VALUE_HORIZON_DAYS, LOOKBACK_DAYS)
active = table.filter(pl.col(POPULATION_COLUMN) == "active")
print(
    f"{active.height:,} active customers, churn rate {percent(active['churned'].mean())} over {CHURN_HORIZON_DAYS} days; "
    f"{float((table['future_value'] > 0).mean()):.1%} of customers spend in the next {VALUE_HORIZON_DAYS} days"
)
print(f"populations and labels as of {AS_OF:%Y-%m-%d} (lookback {LOOKBACK_DAYS} days)")
display(population_summary(table))
table.group_by(POPULATION_COLUMN).agg(
    pl.col("future_value").quantile(q).alias(f"future_value_p{int(q * 100)}") for q in (0.5, 0.9, 0.99)
).sort(POPULATION_COLUMN)

# %% [markdown]
# ### Which features separate churners?
# Observed churn rate of active customers by quintile of a few behavioural features: a steep, monotone
# profile means the feature carries signal on its own; interactions between features are the model's job.

# %%
signal_features = ["days_since_last_order", "recency_vs_usual_interval", "orders_365d", "interactions_90d"]
figure, axes = plt.subplots(1, len(signal_features), figsize=(4 * len(signal_features), 3.2), sharey=True)
for axis, name in zip(axes, signal_features, strict=True):
    by_bin = label_rate_by_bins(table, name)
    axis.bar(by_bin[f"{name}_bin"], by_bin["churned_rate"])
    axis.set_title(name, fontsize=9)
    axis.set_xlabel("quintile (1 = lowest)")
axes[0].set_ylabel("observed churn rate (active customers)")
plt.show()
label_rate_by_bins(table, "days_since_last_order")

# %% [markdown]
# The other two populations have their own labels: whether a lapsed customer comes back depends on how
# long they have been silent, and a prospect's recent contacts are the main trace of a first order to
# come.

# %%
print("reactivation rate of lapsed customers by quintile of days since the last order")
display(label_rate_by_bins(table, "days_since_last_order", "reactivated"))
print("conversion rate of prospects by quintile of interactions in the last 90 days")
label_rate_by_bins(table, "interactions_90d", "converted")

# %% [markdown]
# ### Against the synthetic truth
# The simulation knows each customer's true purchase rate and whether they had already dropped out
# before the cutoff. Recency is the observable trace of that latent dropout; the models never see the
# truth, only these features.

# %%
truth = synthetic.ground_truth.select(
    "customer_id",
    "purchase_rate_per_day",
    (pl.col("dropout_date").is_not_null() & (pl.col("dropout_date") < AS_OF)).alias(
        "dropped_out_before_cutoff"
    ),
)
with_truth = table.join(truth, on="customer_id", how="left").filter(pl.col("orders_lifetime") > 0)
print("rank correlation of features with the true purchase rate")
print(
    with_truth.select(
        pl.corr(name, "purchase_rate_per_day", method="spearman").alias(name)
        for name in ("orders_365d", "orders_lifetime", "mean_days_between_orders", "days_since_last_order")
    )
)
with_truth.group_by(POPULATION_COLUMN, "dropped_out_before_cutoff").agg(
    pl.len().alias("customers"),
    pl.col("days_since_last_order").median().alias("median_days_since_last_order"),
    pl.col("churned").mean().alias("churn_rate"),
    pl.col("reactivated").mean().alias("reactivation_rate"),
).sort(POPULATION_COLUMN, "dropped_out_before_cutoff")

# %% [markdown]
# ### One code path for one customer or the whole base
# The features of a customer computed from their own history alone equal their row in the whole-base
# table: this is what lets the API score a posted history with the training code.

# %%
one_id = table.filter(pl.col("orders_lifetime") > 0)["customer_id"][0]
only_one = RawData(
    transactions=raw.transactions.filter(pl.col("customer_id") == one_id),
    customers=raw.customers.filter(pl.col("customer_id") == one_id),
    interactions=raw.interactions.filter(pl.col("customer_id") == one_id),
)
alone = build_features(only_one, AS_OF)
in_base = features.filter(pl.col("customer_id") == one_id)
print(f"customer {one_id}: features alone equal the whole-base row: {alone.equals(in_base)}")
alone.transpose(include_header=True, header_name="feature", column_names=["value"]).head(15)

# %% [markdown]
# ## 3. CDNOW
#
# The purchase log of the 23,570 people who first bought at CDNOW in the first quarter of 1997, followed
# to the end of June 1998 (Fader, Hardie & Lee, "Counting your customers the easy way", 2005). It has
# transactions only: no customer records, profiles, categories, channels or interactions. The classic
# split calibrates on the first 39 weeks (to 1997-09-30) and forecasts the next 39, so the cutoff is
# 1997-10-01 with a value horizon of 273 days.

# %%
if not CDNOW_PATH.is_file():
    raise FileNotFoundError(
        f"CDNOW_master.txt not found at {CDNOW_PATH}: set CLVCHURN_NB_CDNOW to the file "
        "(relative paths start at the repository root)"
    )
cdnow = RawData(
    transactions=read_cdnow(CDNOW_PATH),
    customers=empty_frame(CUSTOMERS_BASE_SCHEMA),
    interactions=empty_frame(INTERACTIONS_SCHEMA),
)
CDNOW_AS_OF = datetime(1997, 10, 1)
CDNOW_VALUE_HORIZON_DAYS = 273
print(
    f"{cdnow.transactions.height:,} purchases by {cdnow.transactions['customer_id'].n_unique():,} customers, "
    f"{cdnow.transactions['timestamp'].min():%Y-%m-%d} to {cdnow.transactions['timestamp'].max():%Y-%m-%d}"
)

# %%
weekly = (
    cdnow.transactions.with_columns(pl.col("timestamp").dt.truncate("1w").alias("week"))
    .group_by("week")
    .agg(pl.len().alias("purchases"), pl.col("amount").sum().alias("dollars"))
    .sort("week")
)
figure, axis = plt.subplots(figsize=(10, 3.2))
axis.plot(weekly["week"], weekly["purchases"])
axis.axvline(CDNOW_AS_OF, color="grey", linestyle="--", label="cutoff (end of the 39 calibration weeks)")
axis.set_title("CDNOW purchases per week: acquisition in Q1 1997, then repeat buying only")
axis.legend()
plt.show()

# %%
cdnow_features = build_features(cdnow, CDNOW_AS_OF)
cdnow_table = build_training_table(
    cdnow, [CDNOW_AS_OF], CHURN_HORIZON_DAYS, CDNOW_VALUE_HORIZON_DAYS, LOOKBACK_DAYS
)
cdnow_catalogue = feature_catalogue(cdnow_features)
uninformative = cdnow_catalogue.filter(pl.col("distinct") <= 1)["feature"].to_list()
print(
    f"{cdnow_features.height:,} customers x {len(feature_columns(cdnow_features))} features as of "
    f"{CDNOW_AS_OF:%Y-%m-%d}; churn rate of active customers {percent(cdnow_table['churned'].mean())}, "
    f"reactivation rate of lapsed customers {percent(cdnow_table['reactivated'].mean())} over {CHURN_HORIZON_DAYS} days"
)
display(population_summary(cdnow_table))
print(f"{len(uninformative)} features are constant on CDNOW (no interactions, profiles or categories):")
print(", ".join(uninformative))
print("CDNOW feature catalogue (informative features)")
cdnow_catalogue.filter(pl.col("distinct") > 1)

# %% [markdown]
# Every CDNOW customer made a first purchase in the first quarter of 1997: the few prospects are those
# whose purchases are all recorded at $0 (not an order), and customers silent for more than the
# lookback at the cutoff are lapsed. Recency and frequency still carry the signal for active customers,
# as the RFM literature expects:

# %%
label_rate_by_bins(cdnow_table, "days_since_last_order")

# %%
label_rate_by_bins(cdnow_table, "orders_lifetime")
