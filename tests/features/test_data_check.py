"""The data check: populations, spreads, label windows, per-model and per-tier minimums, advice."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from domain.errors import InsufficientDataError
from features.contract import FileCounts, RawData, raw_from_records
from features.data_check import (
    CheckSettings,
    LabelCounts,
    Minimums,
    Spread,
    check_data,
    require_trainable,
)

# Seven customers over the first half of 2024 (the last event, on 2024-06-30, puts the data end at
# 2024-07-01). With 30-day horizons, 3 snapshots 30 days apart and a 60-day lookback the cutoffs are:
# validation 2024-06-01, calibration 2024-05-02, training 2024-04-02.
SMALL = CheckSettings(
    lookback_days=60,
    churn_horizon_days=30,
    value_horizon_days=30,
    snapshots=3,
    step_days=30,
    minimums=Minimums(history_days=180, customers_who_ordered=5, labels_per_class=1, tier_labels_per_class=1),
)


def small_base() -> RawData:
    def order(customer: str, day: str, amount: float) -> dict[str, object]:
        return {"customer_id": customer, "timestamp": datetime.fromisoformat(day), "amount": amount}

    def event(customer: str, moment: str, kind: str) -> dict[str, object]:
        return {"customer_id": customer, "timestamp": datetime.fromisoformat(moment), "type": kind}

    return raw_from_records(
        customers=[
            {"customer_id": "D", "signup_date": datetime(2024, 1, 1)},
            {"customer_id": "E", "signup_date": datetime(2024, 1, 1)},
            {"customer_id": "F", "signup_date": None},
            {"customer_id": "G", "signup_date": datetime(2024, 8, 1)},  # signs up after the data
            {"customer_id": "H", "signup_date": None},
        ],
        transactions=[
            order("A", "2024-01-10", 100),
            order("A", "2024-05-10", 100),
            order("A", "2024-06-10", 100),
            order("B", "2024-01-15", 50),
            order("C", "2024-03-10", 30),
            order("C", "2024-05-20", 30),
            order("C", "2024-06-15", -10),  # a refund is not an order
            order("E", "2024-05-15", 80),
            order("H", "2024-05-20", 40),
        ],
        interactions=[
            event("D", "2024-01-01T09:00", "visit"),
            event("A", "2024-02-01", "email_open"),
            event("A", "2024-03-01", "email_open"),
            event("F", "2024-06-30T10:00", "visit"),
        ],
    )


def test_populations_buyers_and_events_at_the_data_end() -> None:
    check = check_data(small_base(), settings=SMALL)

    assert check.as_of == datetime(2024, 7, 1)
    assert check.span.first_event == datetime(2024, 1, 1, 9)
    assert check.span.last_event == datetime(2024, 6, 30, 10)
    assert check.span.data_end == datetime(2024, 7, 1)
    assert check.span.days == pytest.approx(181.625)
    assert check.customers == 7  # G signs up later
    assert check.populations == {"active": 4, "lapsed": 1, "prospect": 2}
    assert check.customers_who_ordered == 5
    assert check.repeat_buyers == 2
    # transactions per customer: 0, 0, 1, 1, 1, 3, 3; interactions: 0, 0, 0, 0, 1, 1, 2
    assert check.transactions_per_customer == Spread(median=1.0, p90=3.0)
    assert check.interactions_per_customer == Spread(median=0.0, p90=pytest.approx(1.4))
    # Net spend over the last 365 days: A 300, E 80, B 50, C 50, H 40, D and F nothing; the tiers take
    # round(7 x 10%) = 1, round(7 x 30%) - 1 = 1 and round(7 x 70%) - 2 = 3 customers, the rest is D.
    assert check.tiers == {"A": 1, "B": 1, "C": 3, "D": 2}


def test_populations_at_an_earlier_cutoff_and_with_a_longer_lookback() -> None:
    at_calibration = check_data(small_base(), datetime(2024, 5, 2), settings=SMALL)
    assert at_calibration.populations == {"active": 1, "lapsed": 2, "prospect": 4}

    longer = CheckSettings(**{**SMALL.__dict__, "lookback_days": 120})
    assert check_data(small_base(), datetime(2024, 5, 2), settings=longer).populations == {
        "active": 3,
        "lapsed": 0,
        "prospect": 4,
    }


def test_label_counts_per_model_at_calibration_and_validation() -> None:
    check = check_data(small_base(), settings=SMALL)

    assert check.schedule.fits
    assert (check.schedule.calibration, check.schedule.validation) == (
        datetime(2024, 5, 2),
        datetime(2024, 6, 1),
    )
    counts = {r.model: r.snapshots for r in check.models}
    calibration, validation = datetime(2024, 5, 2), datetime(2024, 6, 1)
    assert counts == {
        "churn": (
            LabelCounts("calibration", calibration, 1, 0, 1),
            LabelCounts("validation", validation, 4, 3, 1),
        ),
        "reactivation": (
            LabelCounts("calibration", calibration, 2, 1, 1),
            LabelCounts("validation", validation, 1, 0, 1),
        ),
        "conversion": (
            LabelCounts("calibration", calibration, 4, 2, 2),
            LabelCounts("validation", validation, 2, 0, 2),
        ),
        "value": (
            LabelCounts("calibration", calibration, 7, 4, 3),
            LabelCounts("validation", validation, 7, 1, 6),
        ),
    }
    assert {r.model: r.ready for r in check.models} == {
        "churn": False,
        "reactivation": False,
        "conversion": False,
        "value": True,
    }


def test_advice_names_the_shortfall_and_the_option_that_moves_it() -> None:
    check = check_data(small_base(), settings=SMALL)

    assert check.readiness("churn").advice == (
        "churn model: 0 churners and 1 stayers among 1 active customers at the calibration cutoff 2024-05-02 "
        "(at least 1 of each are needed); use a shorter --churn-horizon-days or more customers",
    )
    assert check.readiness("reactivation").advice == (
        "reactivation model: 0 reactivated and 1 still lapsed among 1 lapsed customers at the validation "
        "cutoff 2024-06-01 (at least 1 of each are needed); use a longer --churn-horizon-days or more customers",
    )
    assert check.readiness("value").advice == ()
    assert check.blocking == ()


def test_tiers_are_checked_per_model() -> None:
    check = check_data(small_base(), settings=SMALL)

    # At the calibration cutoff the 365-day spend ranks A (100), B (50), C (30): tiers A, B, C, and C is
    # the one active customer. At the validation cutoff A (200) is A, E (80) B, and C (60), B (50) and
    # H (40) are C, of whom C and H are active and both churn.
    tier_c_churn = next(r for r in check.tier_models if r.tier == "C" and r.model == "churn")
    assert tier_c_churn.snapshots == (
        LabelCounts("calibration", datetime(2024, 5, 2), 1, 0, 1),
        LabelCounts("validation", datetime(2024, 6, 1), 2, 2, 0),
    )
    assert not tier_c_churn.ready
    assert tier_c_churn.advice[0].startswith("tier C, churn model: 0 churners and 1 stayers")
    assert {(r.tier, r.model) for r in check.tier_models} == {
        (t, m) for t in "ABCD" for m in ("churn", "value")
    }


def test_require_trainable_stops_with_the_advice_of_the_models_asked_for() -> None:
    check = check_data(small_base(), settings=SMALL)

    with pytest.raises(InsufficientDataError) as caught:
        require_trainable(check)
    assert str(caught.value) == (
        "the data cannot train the churn and value models honestly (run `clvchurn data check` for the whole "
        "report): " + check.readiness("churn").advice[0]
    )
    require_trainable(check, ["value"])  # the value model has what it needs


def test_default_minimums_block_a_small_base() -> None:
    check = check_data(small_base(), settings=CheckSettings(**{**SMALL.__dict__, "minimums": Minimums()}))

    assert check.blocking == (
        "5 customers ordered before 2024-07-01; at least 500 are needed (Klaviyo's minimum): import more customers",
    )
    with pytest.raises(InsufficientDataError, match="at least 500 are needed"):
        require_trainable(check, ["value"])


def test_short_history_is_blocking() -> None:
    base = small_base()
    recent = RawData(
        base.transactions.filter(base.transactions["timestamp"] >= datetime(2024, 3, 1)),
        base.customers,
        base.interactions.filter(base.interactions["timestamp"] >= datetime(2024, 3, 1)),
    )

    check = check_data(recent, settings=SMALL)

    assert check.span.days == pytest.approx(122.0)
    assert check.blocking[0] == (
        "the data hold 4 months of history (2024-03-01 to 2024-06-30), 122 days; at least 180 days are needed "
        "(Klaviyo's minimum): import older history"
    )


def test_windows_that_do_not_fit_give_the_longest_horizon_that_does() -> None:
    settings = CheckSettings(**{**SMALL.__dict__, "churn_horizon_days": 90, "value_horizon_days": 90})

    check = check_data(small_base(), settings=settings)

    assert not check.schedule.fits
    assert check.schedule.longest_fitting_horizon_days == 75
    assert [(w.label, w.horizon_days, w.latest_cutoff, w.fits) for w in check.windows] == [
        ("churn", 90, datetime(2024, 4, 2), True),
        ("value", 90, datetime(2024, 4, 2), True),
    ]
    assert check.blocking == (
        "with 6 months of history (2024-01-01 to 2024-06-30), 3 snapshots 30 days apart and 90-day label "
        "windows need more than 210 days: use --churn-horizon-days 60 --value-horizon-days 60 (the longest "
        "that fits is 75 days)",
    )
    assert all(not r.ready and r.snapshots == () for r in check.models)


def test_validation_cutoff_after_the_data_is_advised_against() -> None:
    settings = CheckSettings(**{**SMALL.__dict__, "validation_as_of": datetime(2024, 6, 15)})

    check = check_data(small_base(), settings=settings)

    assert check.blocking == (
        "--as-of 2024-06-15 leaves a 30-day label window that ends after the data (2024-07-01); "
        "use --as-of 2024-06-01 or earlier",
    )


def test_reject_shares_and_customers_without_signup_dates_are_noted() -> None:
    counts = {
        "transactions": FileCounts("transactions.csv", accepted=90, rejected=10),
        "customers": FileCounts("customers.csv", accepted=5, rejected=0),
    }

    check = check_data(small_base(), counts=counts, settings=SMALL)

    assert [(f.file, f.reject_share) for f in check.files] == [
        ("transactions.csv", 0.1),
        ("customers.csv", 0.0),
    ]
    assert check.notes == (
        "transactions.csv: 10.0% of the rows were rejected (10 of 100); read the reasons in the rejects file "
        "before training",
        # H is listed without a signup date and first buys after the calibration cutoff.
        "1 customer(s) have no signup date and no event before the calibration cutoff 2024-05-02 but "
        "transactions after it: they count as prospects before they were customers; give the customers file "
        "a signup_date (e.g. the first order)",
    )


def test_the_report_is_json_serialisable() -> None:
    report = check_data(small_base(), settings=SMALL).to_dict()

    decoded = json.loads(json.dumps(report))
    assert decoded["as_of"] == "2024-07-01T00:00:00"
    assert decoded["populations"] == {"active": 4, "lapsed": 1, "prospect": 2}
    assert decoded["schedule"]["calibration"] == "2024-05-02T00:00:00"
    assert decoded["settings"]["minimums"]["labels_per_class"] == 1
    assert decoded["models"][0]["snapshots"][0] == {
        "snapshot": "calibration",
        "cutoff": "2024-05-02T00:00:00",
        "eligible": 1,
        "positives": 0,
        "negatives": 1,
    }


def test_empty_data_is_reported_not_raised() -> None:
    check = check_data(raw_from_records([], [], []))

    assert check.customers == 0
    assert check.blocking == ("the data hold no transactions or interactions",)
    with pytest.raises(InsufficientDataError):
        require_trainable(check)
