"""The synthetic drift scenario: the shift shows in the data from its date on, and nowhere before."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from domain.errors import SyntheticDataError
from features.contract import load_raw
from features.synth import SyntheticBase, SyntheticShift, generate, oracle_expected_spend, write_synthetic
from features.synth.shift import ENGAGEMENT_TYPES

AFTER = date(2025, 1, 1)
CUT = datetime(2025, 1, 1)
N, SEED = 3_000, 11


@pytest.fixture(scope="module")
def unshifted() -> SyntheticBase:
    return generate(N, seed=SEED)


def _shifted(kind: str, factor: float | None = None) -> SyntheticBase:
    return generate(N, seed=SEED, shift=SyntheticShift(kind, AFTER, factor))  # type: ignore[arg-type]


def _before(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("timestamp") < CUT)


def _after(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("timestamp") >= CUT)


@pytest.mark.parametrize("kind", ["price", "engagement", "hazard"])
def test_everything_before_the_date_is_exactly_the_unshifted_base(
    unshifted: SyntheticBase, kind: str
) -> None:
    shifted = _shifted(kind)

    assert _before(shifted.raw.transactions).equals(_before(unshifted.raw.transactions))
    assert _before(shifted.raw.interactions).equals(_before(unshifted.raw.interactions))
    assert shifted.raw.customers.equals(unshifted.raw.customers)


def test_price_shift_lowers_every_order_from_the_date_on_by_the_factor(unshifted: SyntheticBase) -> None:
    shifted = _shifted("price")
    keys = ["transaction_id", "customer_id", "timestamp"]
    pairs = _after(unshifted.raw.transactions).join(
        _after(shifted.raw.transactions), on=keys, how="full", suffix="_shifted", coalesce=True
    )

    assert pairs["amount_shifted"].null_count() == 0 and pairs["amount"].null_count() == 0
    orders = pairs.filter(pl.col("amount") > 0)
    expected = (orders["amount"] * 0.8).round(2).clip(lower_bound=0.01)
    assert (orders["amount_shifted"] - expected).abs().max() < 0.0051  # type: ignore[operator]
    assert orders["amount_shifted"].sum() / orders["amount"].sum() == pytest.approx(0.8, abs=1e-4)
    assert orders["quantity"].equals(orders["quantity_shifted"])


def test_engagement_shift_thins_only_the_engagement_types_after_the_date(unshifted: SyntheticBase) -> None:
    shifted = _shifted("engagement")

    def counts(base: SyntheticBase) -> dict[str, int]:
        rows = _after(base.raw.interactions).group_by("type").len().iter_rows()
        return dict(rows)  # type: ignore[arg-type]

    before, after = counts(unshifted), counts(shifted)
    for kind, count in before.items():
        if kind in ENGAGEMENT_TYPES:
            assert 0.15 * count <= after[kind] <= 0.35 * count, kind
        else:
            assert after[kind] == count, kind
    assert (
        _after(shifted.raw.interactions)
        .join(_after(unshifted.raw.interactions), on=["customer_id", "timestamp", "type"], how="anti")
        .is_empty()
    )


def test_hazard_shift_ends_small_companies_lives_sooner_and_records_it(unshifted: SyntheticBase) -> None:
    shifted = _shifted("hazard")
    truth = shifted.ground_truth.join(
        unshifted.ground_truth.select("customer_id", pl.col("lifetime_end").alias("unshifted_end")),
        on="customer_id",
    ).join(shifted.raw.customers.select("customer_id", "company_size"), on="customer_id")
    affected = truth.filter("shift_affected")
    untouched = truth.filter(~pl.col("shift_affected"))

    assert affected.height > 100
    assert (affected["company_size"] == "small").all()
    assert (affected["unshifted_end"] > CUT).all()
    days = 86_400e6
    halved = affected.filter(pl.col("first_order_at") < CUT).select(
        (pl.col("lifetime_end") - CUT).dt.total_microseconds() / days
        - (pl.col("unshifted_end") - CUT).dt.total_microseconds() / days / 2
    )
    assert halved.to_series().abs().max() < 1.0  # remaining life halved (up to the time of day)
    assert untouched["lifetime_end"].equals(untouched["unshifted_end"])

    last_order = (
        shifted.raw.transactions.filter(pl.col("amount") > 0)
        .group_by("customer_id")
        .agg(pl.col("timestamp").max().alias("last_order"))
    )
    lived = affected.join(last_order, on="customer_id")
    assert (lived["last_order"] < lived["lifetime_end"]).all()
    assert shifted.raw.transactions.height < unshifted.raw.transactions.height


def test_oracles_stay_exact_under_the_hazard_shift(unshifted: SyntheticBase) -> None:
    shifted = _shifted("hazard")
    affected = shifted.ground_truth.filter("shift_affected")["customer_id"].implode()
    year = (pl.col("timestamp") >= CUT) & (pl.col("timestamp") < CUT + timedelta(days=365))

    def realised_spend(base: SyntheticBase) -> float:
        return float(
            base.raw.transactions.filter(year & pl.col("customer_id").is_in(affected))["amount"].sum()
        )

    def oracle_spend(base: SyntheticBase) -> float:
        spend = oracle_expected_spend(base.ground_truth, CUT, 365)
        return float(spend.filter(pl.col("customer_id").is_in(affected))["expected_spend"].sum())

    assert realised_spend(shifted) < 0.95 * realised_spend(unshifted)  # shorter lives, less spend
    assert oracle_spend(shifted) == pytest.approx(realised_spend(shifted), rel=0.03)
    assert oracle_spend(unshifted) == pytest.approx(realised_spend(unshifted), rel=0.03)


def test_shifted_folder_loads_and_describes_the_shift(tmp_path: Path) -> None:
    paths = write_synthetic(generate(300, seed=5, shift=SyntheticShift("hazard", AFTER)), tmp_path)

    assert json.loads(paths["shift"].read_text()) == {
        "kind": "hazard",
        "after": "2025-01-01",
        "factor": 2.0,
        "segment": {"attribute": "company_size", "level": "small"},
        "change": "the dropout hazard of buyers with company_size = small is multiplied by 2 from 2025-01-01 on",
    }
    assert load_raw(tmp_path).rejects.height == 0
    assert pl.read_parquet(paths["ground_truth"]).columns[-1] == "shift_affected"


def test_without_a_shift_no_shift_file_or_column(tmp_path: Path) -> None:
    paths = write_synthetic(generate(300, seed=5), tmp_path)

    assert "shift" not in paths and not (tmp_path / "shift.json").exists()
    assert "shift_affected" not in pl.read_parquet(paths["ground_truth"]).columns


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (SyntheticShift("price", date(2022, 1, 1)), "must fall after the first day"),
        (SyntheticShift("price", date(2026, 1, 1)), "on or before the last day"),
        (SyntheticShift("engagement", AFTER, 1.5), "factor (--shift-factor) must be in (0, 1]"),
        (SyntheticShift("hazard", AFTER, 0.0), "must be a positive number"),
        (SyntheticShift("hazard", AFTER, segment=("shoe_size", "large")), "'shoe_size' is not one of"),
        (SyntheticShift("hazard", AFTER, segment=("company_size", "huge")), "'huge' is not a level"),
    ],
)
def test_impossible_shifts_are_refused_with_the_option_named(shift: SyntheticShift, message: str) -> None:
    with pytest.raises(SyntheticDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate(50, seed=1, shift=shift)


def test_the_synth_command_writes_the_scenario_and_names_bad_options(tmp_path: Path) -> None:
    from support.cli import run_cli

    shifted = run_cli(
        [
            "data",
            "synth",
            "--customers",
            "200",
            "--out",
            str(tmp_path / "shifted"),
            "--shift-after",
            "2025-03-01",
            "--shift-kind",
            "engagement",
        ],
    )
    plain = run_cli(["data", "synth", "--customers", "200", "--out", str(tmp_path / "plain")])
    late = run_cli(
        [
            "data",
            "synth",
            "--customers",
            "200",
            "--out",
            str(tmp_path / "late"),
            "--shift-after",
            "2030-01-01",
        ],
    )
    loose = run_cli(["data", "synth", "--out", str(tmp_path / "loose"), "--shift-factor", "0.5"])

    assert shifted.exit_code == 0, shifted.output
    description = json.loads((tmp_path / "shifted" / "shift.json").read_text())
    assert (description["kind"], description["after"], description["factor"]) == (
        "engagement",
        "2025-03-01",
        0.25,
    )
    assert plain.exit_code == 0 and not (tmp_path / "plain" / "shift.json").exists()
    assert late.exit_code == 2 and "--shift-after 2030-01-01 must fall" in " ".join(late.output.split())
    assert loose.exit_code == 2 and "--shift-factor needs --shift-after" in " ".join(loose.output.split())
