"""Behaviour of the synthetic CRM generator and its oracles (small bases, fixed seeds)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from domain.errors import SyntheticDataError
from features.contract import CUSTOMERS_BASE_SCHEMA, INTERACTIONS_SCHEMA, TRANSACTIONS_SCHEMA, load_raw
from features.synth import (
    SyntheticBase,
    generate,
    oracle_churn_probability,
    oracle_expected_spend,
    write_synthetic,
)
from features.synth.calendar import purchase_seasonality, to_clock_time, to_uniform_clock
from features.synth.purchases import SAME_DAY_EXTRA_ORDER_PROBABILITY

END = date(2025, 12, 31)
AFTER_END = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def base() -> SyntheticBase:
    return generate(n_customers=3_000, seed=11)


@pytest.fixture(scope="module")
def truth(base: SyntheticBase) -> pl.DataFrame:
    return base.ground_truth


def _transactions_with_truth(base: SyntheticBase) -> pl.DataFrame:
    return base.raw.transactions.join(base.ground_truth, on="customer_id", how="left")


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = write_synthetic(generate(300, seed=5), tmp_path / "first")
    second = write_synthetic(generate(300, seed=5), tmp_path / "second")
    other = generate(300, seed=6)

    assert sorted(first) == ["customers", "ground_truth", "interactions", "transactions"]
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name
    assert not pl.read_parquet(first["transactions"]).equals(other.raw.transactions)


def test_frames_follow_the_canonical_schemas(base: SyntheticBase) -> None:
    assert base.raw.transactions.schema == pl.Schema(TRANSACTIONS_SCHEMA)
    assert base.raw.interactions.schema == pl.Schema(INTERACTIONS_SCHEMA)
    customers = base.raw.customers
    assert dict(list(customers.schema.items())[:2]) == CUSTOMERS_BASE_SCHEMA
    assert base.raw.attribute_columns == ["industry", "region", "company_size", "acquisition_channel"]
    assert all(customers.schema[c] == pl.String for c in base.raw.attribute_columns)
    assert customers["customer_id"].head(2).to_list() == ["C0000001", "C0000002"]
    assert customers["customer_id"].is_unique().all()
    assert base.raw.transactions["transaction_id"].is_unique().all()
    assert base.raw.transactions["transaction_id"].null_count() == 0


def test_written_folder_loads_through_the_contract_without_rejects(
    base: SyntheticBase, tmp_path: Path
) -> None:
    write_synthetic(base, tmp_path)

    loaded = load_raw(tmp_path)

    assert loaded.rejects.height == 0
    assert loaded.raw.transactions.height == base.raw.transactions.height
    assert loaded.raw.interactions.height == base.raw.interactions.height


def test_interaction_types_are_the_contract_vocabulary_and_surveys_score_1_to_5(base: SyntheticBase) -> None:
    interactions = base.raw.interactions
    assert set(interactions["type"].unique()) == {
        "visit",
        "email_open",
        "email_click",
        "call",
        "meeting",
        "inquiry",
        "support_ticket",
        "complaint",
        "survey",
    }
    surveys = interactions.filter(pl.col("type") == "survey")["value"]
    assert surveys.null_count() == 0
    assert set(surveys.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert interactions.filter(pl.col("type") != "survey")["value"].null_count() == interactions.height - len(
        surveys
    )


def test_revenue_is_heavy_tailed_and_key_accounts_carry_a_large_share(base: SyntheticBase) -> None:
    revenue = (
        _transactions_with_truth(base).group_by("customer_id", "is_key_account").agg(pl.col("amount").sum())
    )
    by_revenue = np.sort(revenue["amount"].to_numpy())[::-1]
    top_decile_share = by_revenue[: len(by_revenue) // 10].sum() / by_revenue.sum()
    key_share = revenue.filter("is_key_account")["amount"].sum() / by_revenue.sum()
    key_accounts = base.ground_truth["is_key_account"].mean()

    assert top_decile_share > 0.4
    assert 0.005 < key_accounts < 0.025  # type: ignore[operator]
    assert 0.2 < key_share < 0.6


def test_refunds_are_a_few_percent_and_reverse_an_earlier_order_of_the_same_customer(
    base: SyntheticBase,
) -> None:
    transactions = base.raw.transactions
    refunds = transactions.filter(pl.col("amount") < 0)
    orders = transactions.filter(pl.col("amount") > 0)
    matched = refunds.join(
        orders.select(
            "customer_id", (-pl.col("amount")).alias("amount"), pl.col("timestamp").alias("ordered_at")
        ),
        on=["customer_id", "amount"],
    ).filter(pl.col("ordered_at") < pl.col("timestamp"))

    assert 0.02 < refunds.height / orders.height < 0.07
    assert matched["transaction_id"].n_unique() == refunds.height


def test_some_customers_order_twice_on_the_same_day(base: SyntheticBase) -> None:
    per_day = (
        base.raw.transactions.filter(pl.col("amount") > 0)
        .group_by("customer_id", pl.col("timestamp").dt.date())
        .len()
    )
    assert per_day.filter(pl.col("len") > 1).height > 0.02 * per_day.height


def test_prospects_interact_but_never_buy(base: SyntheticBase, truth: pl.DataFrame) -> None:
    prospects = truth.filter("is_prospect")["customer_id"]
    interacting = base.raw.interactions["customer_id"].unique()

    assert 0.1 < len(prospects) / truth.height < 0.15
    assert prospects.is_in(interacting.implode()).all()
    assert not prospects.is_in(base.raw.transactions["customer_id"].unique().implode()).any()


def _rate_per_customer_day(events: pl.DataFrame, churned: pl.DataFrame, *, last_days: bool) -> float:
    """Events per customer-day in the 90 days before dropout, or from signup until those 90 days."""
    window = churned.with_columns(
        (pl.col("dropout_date") - timedelta(days=90)).clip(lower_bound=pl.col("signup_date")).alias("cut")
    ).select(
        "customer_id",
        (pl.col("cut") if last_days else pl.col("signup_date")).alias("from"),
        (pl.col("dropout_date") if last_days else pl.col("cut")).alias("until"),
    )
    exposure_days = window.select((pl.col("until") - pl.col("from")).dt.total_seconds().sum() / 86_400).item()
    inside = events.join(window, on="customer_id").filter(
        (pl.col("timestamp") >= pl.col("from")) & (pl.col("timestamp") < pl.col("until"))
    )
    return inside.height / exposure_days


def test_before_dropout_complaints_rise_and_engagement_and_satisfaction_fall(
    base: SyntheticBase, truth: pl.DataFrame
) -> None:
    churned = truth.filter(pl.col("dropout_date").is_not_null())
    interactions = base.raw.interactions

    def rates(kind: str) -> tuple[float, float]:
        events = interactions.filter(pl.col("type") == kind)
        return (
            _rate_per_customer_day(events, churned, last_days=False),
            _rate_per_customer_day(events, churned, last_days=True),
        )

    complaints_before, complaints_last = rates("complaint")
    visits_before, visits_last = rates("visit")
    surveys = interactions.filter(pl.col("type") == "survey").join(churned, on="customer_id")
    late = pl.col("timestamp") >= pl.col("dropout_date") - timedelta(days=90)

    assert complaints_last > 2 * complaints_before
    assert visits_last < 0.7 * visits_before
    assert surveys.filter(late)["value"].mean() < surveys.filter(~late)["value"].mean() - 0.5  # type: ignore[operator]


def test_only_some_lapsed_customers_still_open_emails_after_dropout(
    base: SyntheticBase, truth: pl.DataFrame
) -> None:
    after = base.raw.interactions.join(truth, on="customer_id").filter(
        pl.col("timestamp") >= pl.col("dropout_date")
    )
    churned = truth.filter(pl.col("dropout_date").is_not_null()).height

    assert set(after["type"].unique()) == {"email_open"}
    assert 0.1 * churned < after["customer_id"].n_unique() < 0.7 * churned


def test_no_event_after_end_before_signup_or_purchase_after_dropout(base: SyntheticBase) -> None:
    customers = base.raw.customers.select("customer_id", "signup_date")
    transactions = _transactions_with_truth(base)
    for events in (base.raw.transactions, base.raw.interactions):
        assert events["timestamp"].max() < AFTER_END  # type: ignore[operator]
        assert (
            events.join(customers, on="customer_id")
            .filter(pl.col("timestamp") < pl.col("signup_date"))
            .is_empty()
        )
    purchases = transactions.filter(pl.col("amount") > 0)
    assert purchases.filter(pl.col("timestamp") > pl.col("lifetime_end")).is_empty()
    assert purchases.filter(pl.col("timestamp") < pl.col("first_order_at")).is_empty()
    assert customers["signup_date"].max() < AFTER_END  # type: ignore[operator]


def test_ground_truth_dropout_date_is_null_exactly_when_the_customer_outlives_the_data(
    truth: pl.DataFrame,
) -> None:
    buyers = truth.filter(~pl.col("is_prospect"))
    alive = buyers.filter(pl.col("dropout_date").is_null())

    assert (alive["lifetime_end"] >= AFTER_END).all()
    assert (buyers.filter(pl.col("dropout_date").is_not_null())["dropout_date"] < AFTER_END).all()
    assert 0.1 * buyers.height < alive.height < 0.9 * buyers.height


def test_attributes_shift_order_values(base: SyntheticBase) -> None:
    order_value = (
        base.raw.transactions.filter(pl.col("amount") > 0)
        .join(base.raw.customers, on="customer_id")
        .group_by("company_size")
        .agg(pl.col("amount").median())
    )
    median = dict(zip(order_value["company_size"], order_value["amount"], strict=True))

    assert median["enterprise"] > 3 * median["individual"]


def test_seasonality_peaks_in_q4_dips_at_weekends_and_averages_about_one() -> None:
    year = np.datetime64("2023-01-01") + np.arange(365)
    seasonality = purchase_seasonality(year)
    monday, saturday = purchase_seasonality(np.array(["2023-11-27", "2023-12-02"], dtype="datetime64[D]"))

    assert seasonality.mean() == pytest.approx(1.0, abs=0.01)
    assert seasonality[300:365].mean() > 1.2 * seasonality[120:181].mean()
    assert saturday < monday


def test_clock_time_keeps_the_day_and_order_and_inverts_exactly() -> None:
    uniform = np.array([0.0, 0.1, 0.5, 0.9, 3.25, 3.999])

    clock = to_clock_time(uniform)

    assert np.array_equal(np.floor(clock), np.floor(uniform))
    assert np.all(np.diff(clock) > 0)
    assert to_uniform_clock(clock) == pytest.approx(uniform)
    half_of_the_days_activity_done_at_hour = to_clock_time(np.array([0.5]))[0] * 24
    assert 13 < half_of_the_days_activity_done_at_hour < 15


def _one_customer_truth(**overrides: object) -> pl.DataFrame:
    row: dict[str, object] = {
        "customer_id": "C0000001",
        "is_prospect": False,
        "is_key_account": False,
        "signup_date": datetime(2023, 1, 1),
        "first_order_at": datetime(2023, 1, 2),
        "dropout_date": None,
        "lifetime_end": datetime(2030, 1, 1),
        "purchase_rate_per_day": 0.1,
        "dropout_rate_per_day": 0.001,
        "mean_order_value": 100.0,
        "refund_rate": 0.1,
    }
    row.update(overrides)
    return pl.DataFrame([row], schema_overrides={"dropout_date": pl.Datetime("us")})


def test_oracle_on_a_hand_made_customer_alive_through_a_week() -> None:
    truth = _one_customer_truth()
    monday = datetime(2024, 6, 3)
    week = purchase_seasonality(np.datetime64("2024-06-03") + np.arange(7)).sum()

    spend = oracle_expected_spend(truth, monday, 7)["expected_spend"].item()
    churn = oracle_churn_probability(truth, monday, 7)["churn_probability"].item()

    assert spend == pytest.approx(0.1 * week * (1 + SAME_DAY_EXTRA_ORDER_PROBABILITY) * 100.0 * 0.9)
    assert churn == pytest.approx(np.exp(-0.1 * week))


def test_oracle_is_additive_over_adjacent_windows() -> None:
    truth = _one_customer_truth(lifetime_end=datetime(2024, 7, 20, 15, 30))
    as_of = datetime(2024, 6, 3)

    whole = oracle_expected_spend(truth, as_of, 60)["expected_spend"].item()
    halves = (
        oracle_expected_spend(truth, as_of, 30)["expected_spend"].item()
        + oracle_expected_spend(truth, as_of + timedelta(days=30), 30)["expected_spend"].item()
    )

    assert whole == pytest.approx(halves)
    assert oracle_expected_spend(truth, datetime(2024, 7, 21), 30)["expected_spend"].item() == 0.0


@pytest.mark.parametrize(
    ("overrides", "spend", "churn"),
    [
        ({"lifetime_end": datetime(2024, 5, 1)}, 0.0, 1.0),  # dropped out before the window
        ({"first_order_at": datetime(2024, 6, 10), "lifetime_end": datetime(2024, 6, 10)}, 106 * 0.9, 0.0),
        (
            {
                "is_prospect": True,
                "purchase_rate_per_day": 0.0,
                "first_order_at": None,
                "lifetime_end": None,
                "mean_order_value": None,
                "refund_rate": None,
            },
            0.0,
            1.0,
        ),
    ],
    ids=["dropped-out", "only-the-first-order", "prospect"],
)
def test_oracle_edge_cases(overrides: dict[str, object], spend: float, churn: float) -> None:
    truth = _one_customer_truth(**overrides).cast(
        {"first_order_at": pl.Datetime("us"), "lifetime_end": pl.Datetime("us")}
    )
    as_of = datetime(2024, 6, 3)

    assert oracle_expected_spend(truth, as_of, 30)["expected_spend"].item() == pytest.approx(spend)
    assert oracle_churn_probability(truth, as_of, 30)["churn_probability"].item() == churn


def test_oracle_agrees_with_realised_spend_and_activity(base: SyntheticBase, truth: pl.DataFrame) -> None:
    as_of, horizon_days = datetime(2024, 6, 1), 365
    in_window = base.raw.transactions.filter(
        (pl.col("timestamp") >= as_of) & (pl.col("timestamp") < as_of + timedelta(days=horizon_days))
    )
    expected = oracle_expected_spend(truth, as_of, horizon_days)
    churn = oracle_churn_probability(truth, as_of, horizon_days)
    dropped = truth.filter(pl.col("lifetime_end") < as_of)["customer_id"]

    assert expected["expected_spend"].sum() == pytest.approx(in_window["amount"].sum(), rel=0.1)
    active = in_window.filter(pl.col("amount") > 0)["customer_id"].n_unique()
    assert (1 - churn["churn_probability"]).sum() == pytest.approx(active, rel=0.05)
    assert (expected.filter(pl.col("customer_id").is_in(dropped.implode()))["expected_spend"] == 0).all()
    assert len(dropped) > 100


def test_generate_rejects_impossible_requests() -> None:
    with pytest.raises(SyntheticDataError, match="n_customers"):
        generate(0, seed=1)
    with pytest.raises(SyntheticDataError, match="must come after start"):
        generate(10, seed=1, start=date(2024, 1, 1), end=date(2023, 1, 1))
    with pytest.raises(ValueError, match="horizon_days"):
        oracle_expected_spend(_one_customer_truth(), datetime(2024, 1, 1), 0)


def test_a_short_custom_period_keeps_every_event_inside_it() -> None:
    short = generate(200, seed=3, start=date(2024, 1, 1), end=date(2024, 3, 31))
    for events in (short.raw.transactions, short.raw.interactions):
        assert events["timestamp"].min() >= datetime(2024, 1, 1)  # type: ignore[operator]
        assert events["timestamp"].max() < datetime(2024, 4, 1)  # type: ignore[operator]
    assert short.raw.transactions.height > 0
