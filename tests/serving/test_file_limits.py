"""A huge amount or a far date in a file is a reject with its reason, never a crash of scoring or training.

On the trained pair: a small data folder cut from the session's synthetic base, with a few rows
beyond the contract's limits (`features.contract.MAX_ABS_NUMBER`, `EARLIEST_TIMESTAMP`,
`LATEST_TIMESTAMP`), is loaded, scored by `clvchurn score`'s function and built into a training table.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from support.trained import AS_OF, TrainedModels

from domain.errors import DataContractError
from features.build import build_features, build_training_table
from features.contract import load_raw
from serving.batch import score_base

CUSTOMERS = 40


def small_folder(trained: TrainedModels, folder: Path) -> list[str]:
    """The first CUSTOMERS customers of the session's base as CSV files in `folder`; their ids."""
    ids = trained.raw.customers["customer_id"].sort().head(CUSTOMERS).to_list()
    mine = pl.col("customer_id").is_in(ids)
    trained.raw.customers.filter(mine).write_csv(folder / "customers.csv")
    trained.raw.transactions.filter(mine).write_csv(folder / "transactions.csv")
    trained.raw.interactions.filter(mine).write_csv(folder / "interactions.csv")
    return ids


def append_rows(path: Path, rows: list[str]) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("".join(f"{row}\n" for row in rows))


def test_rows_beyond_the_limits_are_rejected_and_the_rest_is_scored_and_trained(
    trained: TrainedModels, tmp_path: Path
) -> None:
    ids = small_folder(trained, tmp_path)
    header = (tmp_path / "transactions.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:3] == ["customer_id", "timestamp", "amount"]
    blanks = "," * (len(header) - 3)
    append_rows(
        tmp_path / "transactions.csv",
        [
            f"{ids[0]},2025-01-05T00:00:00,1e32{blanks}",
            f"{ids[1]},9999-12-31T00:00:00,10.0{blanks}",
            f"{ids[2]},1850-01-01T00:00:00,10.0{blanks}",
            f"{ids[3]},2025-01-05T00:00:00,-2e12{blanks}",
        ],
    )
    append_rows(tmp_path / "interactions.csv", [f"{ids[4]},2025-01-05T00:00:00,survey,1e32"])

    loaded = load_raw(tmp_path)

    reasons = loaded.rejects.select("file", "row_number", "reason").rows()
    rows = {name: loaded.counts[name].accepted for name in ("transactions", "interactions")}
    assert reasons == [
        ("transactions.csv", rows["transactions"] + 1, "amount 1e32 is beyond the limit of -1e+12..1e+12"),
        (
            "transactions.csv",
            rows["transactions"] + 2,
            "timestamp 9999-12-31 00:00:00 is outside 1900-01-01..2200-01-01 (exclusive)",
        ),
        (
            "transactions.csv",
            rows["transactions"] + 3,
            "timestamp 1850-01-01 00:00:00 is outside 1900-01-01..2200-01-01 (exclusive)",
        ),
        ("transactions.csv", rows["transactions"] + 4, "amount -2e12 is beyond the limit of -1e+12..1e+12"),
        ("interactions.csv", rows["interactions"] + 1, "value 1e32 is beyond the limit of -1e+12..1e+12"),
    ]
    scored = score_base(loaded.raw, AS_OF, trained.engine)
    assert scored["customer_id"].to_list() == build_features(loaded.raw, AS_OF)["customer_id"].to_list()
    assert scored.height > CUSTOMERS // 2
    table = build_training_table(loaded.raw, [AS_OF.replace(year=2024)], 180, 365, lookback_days=365)
    assert table.height > 0


def test_a_signup_date_beyond_the_limits_rejects_the_customer_row(
    trained: TrainedModels, tmp_path: Path
) -> None:
    ids = small_folder(trained, tmp_path)
    columns = (tmp_path / "customers.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    append_rows(tmp_path / "customers.csv", ["LATE,9999-12-31" + "," * (len(columns) - 2)])

    loaded = load_raw(tmp_path)

    reason = "signup_date 9999-12-31 00:00:00 is outside 1900-01-01..2200-01-01 (exclusive)"
    assert loaded.rejects.select("file", "reason").rows() == [("customers.csv", reason)]
    assert "LATE" not in loaded.raw.customers["customer_id"].to_list()
    assert score_base(loaded.raw, AS_OF, trained.engine)["customer_id"].is_in(ids).all()


@pytest.mark.parametrize("column", ["as_of", "orders_365d", "churned", "_is_order"])
def test_an_attribute_column_named_like_a_reserved_column_stops_the_load_naming_it(
    trained: TrainedModels, tmp_path: Path, column: str
) -> None:
    small_folder(trained, tmp_path)
    customers = pl.read_csv(tmp_path / "customers.csv")
    customers.with_columns(pl.lit("x").alias(column)).write_csv(tmp_path / "customers.csv")

    with pytest.raises(DataContractError, match=f"customers.csv has an attribute column named '{column}'"):
        load_raw(tmp_path)
