"""The data check: populations, spreads, training's schedules, per-model and per-tier minimums, advice."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from domain.errors import InsufficientDataError
from features.contract import FileCounts, RawData
from features.records import raw_from_records
from features.synth import generate
from training.data_check import (
    BLOCKING_MODELS,
    CHECKED_MODELS,
    CheckSettings,
    LabelCounts,
    Minimums,
    Spread,
    check_data,
    require_trainable,
)
from training.recipe import SPECS
from training.tables import TrainingTables
from training.train import TrainingConfig, _schedules

# Seven customers over the first half of 2024 (the last event, on 2024-06-30, puts the data end at
# 2024-07-01). With 30-day horizons, 3 snapshots 30 days apart, 30 days of history before a fit cutoff
# and a 60-day lookback, `plan_backtest` validates on 2024-06-01, calibrates on 2024-05-02 and fits on
# 2024-02-02, 2024-03-03 and 2024-04-02 (the first event is on 2024-01-01, so the earliest fit cutoff
# may be 2024-01-31).
SMALL = CheckSettings(
    lookback_days=60,
    churn_horizon_days=30,
    value_horizon_days=30,
    snapshots=3,
    step_days=30,
    min_history_days=30,
    minimums=Minimums(history_days=180, customers_who_ordered=5, labels_per_class=1, tier_labels_per_class=1),
)
CALIBRATION, VALIDATION = datetime(2024, 5, 2), datetime(2024, 6, 1)


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
    # Ordered within 60 days of 2024-07-01: A, C (the refund is no order), E, H; B ordered in January.
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
    at_calibration = check_data(small_base(), CALIBRATION, settings=SMALL)
    assert at_calibration.populations == {"active": 1, "lapsed": 2, "prospect": 4}

    longer = replace(SMALL, lookback_days=120)
    assert check_data(small_base(), CALIBRATION, settings=longer).populations == {
        "active": 3,
        "lapsed": 0,
        "prospect": 4,
    }


def test_each_family_is_scheduled_by_training_s_own_plan() -> None:
    check = check_data(small_base(), settings=SMALL)

    for horizon in ("churn", "value"):
        schedule = check.schedules[horizon]  # type: ignore[index]
        assert schedule.fits
        assert (schedule.calibration, schedule.validation) == (CALIBRATION, VALIDATION)
        assert schedule.training == (datetime(2024, 2, 2), datetime(2024, 3, 3), datetime(2024, 4, 2))
    assert check.schedules["churn"].models == ("churn", "reactivation", "conversion")
    assert check.schedules["value"].models == ("value", "value_if_retained")
    assert check.schedules["churn"].notes[0] == (
        "churn, reactivation and conversion backtest: validated as of 2024-06-01, calibrated as of "
        "2024-05-02, fitted on 2024-02-02, 2024-03-03, 2024-04-02"
    )


def test_label_counts_per_model_at_its_family_s_cutoffs() -> None:
    check = check_data(small_base(), settings=SMALL)

    counts = {r.model: r.snapshots for r in check.models}
    assert counts == {
        # Active on 2024-05-02: C, who orders again (a stayer); on 2024-06-01: A, C, E, H, of whom only
        # A orders in June.
        "churn": (
            LabelCounts("calibration", CALIBRATION, 1, 0, 1),
            LabelCounts("validation", VALIDATION, 4, 3, 1),
        ),
        "reactivation": (
            LabelCounts("calibration", CALIBRATION, 2, 1, 1),
            LabelCounts("validation", VALIDATION, 1, 0, 1),
        ),
        "conversion": (
            LabelCounts("calibration", CALIBRATION, 4, 2, 2),
            LabelCounts("validation", VALIDATION, 2, 0, 2),
        ),
        "value": (
            LabelCounts("calibration", CALIBRATION, 7, 4, 3),
            LabelCounts("validation", VALIDATION, 7, 1, 6),
        ),
        # Active or lapsed customers who order within the churn window: A and C, then A alone.
        "value_if_retained": (
            LabelCounts("calibration", CALIBRATION, 2, 2, 0),
            LabelCounts("validation", VALIDATION, 1, 1, 0),
        ),
    }
    assert {r.model: r.ready for r in check.models} == {
        "churn": False,
        "reactivation": False,
        "conversion": False,
        "value": True,
        "value_if_retained": True,  # needs buyers only
    }
    assert {r.model: r.blocks_training for r in check.models} == {
        "churn": True,
        "reactivation": False,
        "conversion": False,
        "value": True,
        "value_if_retained": True,
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
    assert not check.trainable


def test_models_with_a_base_rate_fallback_are_noted_not_blocking() -> None:
    check = check_data(small_base(), settings=SMALL)

    assert check.notes == (
        # One reactivated customer and two converted ones at the calibration cutoff: fewer than the recipe's
        # 10 of a class, so both fall back to the base rate.
        check.readiness("reactivation").advice[0] + "; training will give lapsed customers the population's "
        "base rate as their reactivation probability (the documented fallback, without reasons)",
        check.readiness("conversion").advice[0] + "; training will give prospect customers the population's "
        "base rate as their conversion probability (the documented fallback, without reasons)",
        # H is listed without a signup date and first buys after the calibration cutoff.
        "1 customer(s) have no signup date and no event before the calibration cutoff 2024-05-02 but "
        "transactions after it: they count as prospects before they were customers; give the customers file "
        "a signup_date (e.g. the first order)",
    )
    with pytest.raises(InsufficientDataError) as caught:
        require_trainable(check)
    assert "reactivation" not in str(caught.value) and "conversion" not in str(caught.value)


def test_tiers_are_checked_per_model() -> None:
    check = check_data(small_base(), settings=SMALL)

    # At the calibration cutoff the 365-day spend ranks A (100), B (50), C (30): tiers A, B, C, and C is
    # the one active customer. At the validation cutoff A (200) is A, E (80) B, and C (60), B (50) and
    # H (40) are C, of whom C and H are active and both churn.
    tier_c_churn = next(r for r in check.tier_models if r.tier == "C" and r.model == "churn")
    assert tier_c_churn.snapshots == (
        LabelCounts("calibration", CALIBRATION, 1, 0, 1),
        LabelCounts("validation", VALIDATION, 2, 2, 0),
    )
    assert not tier_c_churn.ready and not tier_c_churn.blocks_training
    assert tier_c_churn.advice[0].startswith("tier C, churn model: 0 churners and 1 stayers")
    assert {(r.tier, r.model) for r in check.tier_models} == {
        (t, m) for t in "ABCD" for m in ("churn", "value")
    }


def test_require_trainable_stops_with_the_advice_of_the_models_asked_for() -> None:
    check = check_data(small_base(), settings=SMALL)

    assert BLOCKING_MODELS == ("churn", "value", "value_if_retained")
    with pytest.raises(InsufficientDataError) as caught:
        require_trainable(check)
    assert str(caught.value) == (
        "the data cannot train the churn, value and value_if_retained models honestly (`clvchurn data check` "
        "gives the whole report): " + check.readiness("churn").advice[0]
    )
    require_trainable(check, ["value"])  # the value model has what it needs


def test_default_minimums_block_a_small_base() -> None:
    check = check_data(small_base(), settings=replace(SMALL, minimums=Minimums()))

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


def test_a_family_that_does_not_fit_gets_the_longest_conventional_horizon_that_does() -> None:
    settings = replace(SMALL, churn_horizon_days=90, value_horizon_days=90)

    check = check_data(small_base(), settings=settings)

    # 2024-07-01 - 3 x 50 days is 2024-02-02, the last fit cutoff with 30 days of history: 51 days is
    # one day too many.
    for schedule in check.schedules.values():
        assert not schedule.fits and schedule.longest_fitting_horizon_days == 50
        assert "no fit cutoff has 30 days of history" in schedule.notes[0]  # the ScheduleError's message
    assert [(w.label, w.horizon_days, w.latest_cutoff, w.fits) for w in check.windows] == [
        ("churn", 90, datetime(2024, 4, 2), True),
        ("value", 90, datetime(2024, 4, 2), True),
    ]
    room = (
        "label windows (validation, calibration one window earlier, fit cutoffs one more window back with "
        "30 days of history before them)"
    )
    assert check.blocking == (
        "with 6 months of history (2024-01-01 to 2024-06-30) the churn, reactivation and conversion backtest "
        f"has no room for 90-day {room}: use --churn-horizon-days 30 (the longest that fits is 50 days)",
        "with 6 months of history (2024-01-01 to 2024-06-30) the value and value if retained backtest has no "
        f"room for 90-day {room}: use --value-horizon-days 30 --churn-horizon-days 30 (the longest that fits is "
        "50 days)",
    )
    assert all(not r.ready and r.snapshots == () for r in check.models)
    with pytest.raises(InsufficientDataError) as caught:
        require_trainable(check)
    assert "cannot be checked" not in str(caught.value)  # the schedule's advice says it all


def test_the_value_horizon_alone_can_be_too_long() -> None:
    check = check_data(small_base(), settings=replace(SMALL, value_horizon_days=60))

    assert check.schedules["churn"].fits and not check.schedules["value"].fits
    assert check.blocking[0].endswith("use --value-horizon-days 30 (the longest that fits is 50 days)")
    assert check.readiness("churn").snapshots  # the churn family is still counted


def test_suggested_horizons_fit_when_retried() -> None:
    """The advice is a promise: the suggested options give a schedule that fits."""
    settings = replace(SMALL, churn_horizon_days=90, value_horizon_days=90)
    suggested = replace(settings, churn_horizon_days=30, value_horizon_days=30)

    assert all(schedule.fits for schedule in check_data(small_base(), settings=suggested).schedules.values())


def test_a_churn_horizon_beyond_the_value_horizon_is_blocking() -> None:
    check = check_data(small_base(), settings=replace(SMALL, churn_horizon_days=40))

    assert check.blocking == (
        "--churn-horizon-days (40) must not exceed --value-horizon-days (30): the value if retained is "
        "conditioned on an order within the churn horizon",
    )


def test_validation_cutoff_after_the_data_is_advised_against() -> None:
    settings = replace(SMALL, validation_as_of=datetime(2024, 6, 15))

    check = check_data(small_base(), settings=settings)

    assert check.blocking == (
        "--as-of 2024-06-15 leaves a 30-day label window that ends after the data (2024-07-01); "
        "use --as-of 2024-06-01 or earlier",
    )


def test_reject_shares_are_noted() -> None:
    counts = {
        "transactions": FileCounts("transactions.csv", accepted=90, rejected=10),
        "customers": FileCounts("customers.csv", accepted=5, rejected=0),
    }

    check = check_data(small_base(), counts=counts, settings=SMALL)

    assert [(f.file, f.reject_share) for f in check.files] == [
        ("transactions.csv", 0.1),
        ("customers.csv", 0.0),
    ]
    assert check.notes[0] == (
        "transactions.csv: 10.0% of the rows were rejected (10 of 100); read the reasons in the rejects file "
        "before training"
    )


def test_the_report_is_json_serialisable() -> None:
    report = check_data(small_base(), settings=SMALL).to_dict()

    decoded = json.loads(json.dumps(report))
    assert decoded["as_of"] == "2024-07-01T00:00:00"
    assert decoded["populations"] == {"active": 4, "lapsed": 1, "prospect": 2}
    assert decoded["schedules"]["churn"]["calibration"] == "2024-05-02T00:00:00"
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


def test_defaults_are_training_s() -> None:
    settings = CheckSettings()
    config = TrainingConfig()

    assert (
        settings.churn_horizon_days,
        settings.value_horizon_days,
        settings.snapshots,
        settings.step_days,
        settings.min_history_days,
        settings.lookback_days,
    ) == (config.churn_horizon_days, config.value_horizon_days, config.snapshots, config.step_days, 180, 180)
    assert CheckSettings.for_training(replace(config, churn_horizon_days=90), 120) == replace(
        settings, churn_horizon_days=90, lookback_days=120
    )


@pytest.fixture(scope="module")
def synthetic() -> RawData:
    return generate(400, seed=3).raw


def test_schedules_and_counts_are_those_training_would_use(synthetic: RawData) -> None:
    """On a synthetic base: the same cutoffs as `training.train`, the same rows as `training.recipe`."""
    config = TrainingConfig(snapshots=3)
    check = check_data(synthetic, settings=CheckSettings.for_training(config, 180))
    assert check.span.first_event is not None and check.span.data_end is not None
    planned = _schedules(check.span.first_event, check.span.data_end, config)
    tables = TrainingTables(synthetic, config.churn_horizon_days, config.value_horizon_days, 180)

    for horizon, (backtest, _) in planned.items():
        schedule = check.schedules[horizon]  # type: ignore[index]
        assert (schedule.training, schedule.calibration, schedule.validation) == (
            backtest.training,
            backtest.calibration,
            backtest.validation,
        )
    for name in CHECKED_MODELS:
        spec = SPECS[name]
        backtest = planned[spec.horizon][0]
        for counts, cutoff in zip(
            check.readiness(name).snapshots, (backtest.calibration, backtest.validation), strict=True
        ):
            assert counts.cutoff == cutoff
            assert counts.eligible == spec.rows(tables.at(cutoff)).height, (name, cutoff)
