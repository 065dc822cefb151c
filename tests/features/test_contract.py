"""The raw-data contract: loading a CRM folder, rejecting bad rows, and building frames from records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from domain.errors import DataContractError
from features.contract import (
    CUSTOMERS_BASE_SCHEMA,
    INTERACTIONS_SCHEMA,
    REJECTS_SCHEMA,
    TRANSACTIONS_SCHEMA,
    FileCounts,
    load_raw,
    write_rejects,
)
from features.records import raw_from_records


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rejects_of(rejects: pl.DataFrame, file: str) -> list[tuple[int, str]]:
    return [(row, reason) for _, row, reason, _ in rejects.filter(pl.col("file") == file).iter_rows()]


MINIMAL_TRANSACTIONS = "customer_id,timestamp,amount\nC1,2024-01-05,10\n"


# --- structural errors -----------------------------------------------------------------------------


def test_missing_transactions_file_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "customers.csv", "customer_id\nC1\n")
    with pytest.raises(DataContractError, match=r"no transactions\.csv or transactions\.parquet"):
        load_raw(tmp_path)


def test_both_csv_and_parquet_of_one_table_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", MINIMAL_TRANSACTIONS)
    pl.read_csv(tmp_path / "transactions.csv").write_parquet(tmp_path / "transactions.parquet")
    with pytest.raises(DataContractError, match=r"both transactions\.csv and transactions\.parquet"):
        load_raw(tmp_path)


@pytest.mark.parametrize(
    ("file", "text", "column"),
    [
        ("transactions.csv", "customer_id,timestamp,price\nC1,2024-01-05,10\n", "amount"),
        ("transactions.csv", "customer,timestamp,amount\nC1,2024-01-05,10\n", "customer_id"),
        ("customers.csv", "id,signup_date\nC1,2024-01-01\n", "customer_id"),
        ("interactions.csv", "customer_id,timestamp,kind\nC1,2024-01-01,visit\n", "type"),
    ],
)
def test_missing_required_column_names_file_and_column(
    tmp_path: Path, file: str, text: str, column: str
) -> None:
    if file != "transactions.csv":
        write(tmp_path, "transactions.csv", MINIMAL_TRANSACTIONS)
    write(tmp_path, file, text)
    with pytest.raises(DataContractError) as caught:
        load_raw(tmp_path)
    assert f"{file} lacks required column '{column}'" in str(caught.value)


def test_parquet_timestamp_of_unsupported_type_is_an_error(tmp_path: Path) -> None:
    pl.DataFrame({"customer_id": ["C1"], "timestamp": [1704412800], "amount": [1.0]}).write_parquet(
        tmp_path / "transactions.parquet"
    )
    with pytest.raises(DataContractError, match=r"transactions\.parquet column 'timestamp' has type Int64"):
        load_raw(tmp_path)


# --- good data ----------------------------------------------------------------------------------


def test_optional_files_absent_give_empty_canonical_frames(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", MINIMAL_TRANSACTIONS)
    result = load_raw(tmp_path)
    assert result.raw.customers.schema == pl.Schema(CUSTOMERS_BASE_SCHEMA)
    assert result.raw.interactions.schema == pl.Schema(INTERACTIONS_SCHEMA)
    assert result.raw.customers.is_empty() and result.raw.interactions.is_empty()
    assert result.raw.transactions.schema == pl.Schema(TRANSACTIONS_SCHEMA)
    assert result.rejects.schema == pl.Schema(REJECTS_SCHEMA) and result.rejects.is_empty()
    assert result.counts == {"transactions": FileCounts("transactions.csv", accepted=1, rejected=0)}


def test_values_are_stripped_and_optional_columns_filled_with_nulls(tmp_path: Path) -> None:
    write(
        tmp_path,
        "transactions.csv",
        "customer_id , timestamp,amount,channel,note\n C1 ,2024-01-05 , 10.5 ,  ,ignored\n",
    )
    transactions = load_raw(tmp_path).raw.transactions
    assert transactions.rows() == [("C1", datetime(2024, 1, 5), 10.5, None, None, None, None)]
    assert transactions.columns == list(TRANSACTIONS_SCHEMA)


def test_customer_profile_attributes_become_text_columns(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", MINIMAL_TRANSACTIONS)
    write(tmp_path, "customers.csv", "customer_id,segment,signup_date,age\nC1,gold,2023-03-01,41\nC2,,,\n")
    customers = load_raw(tmp_path).raw.customers
    assert customers.columns == ["customer_id", "signup_date", "segment", "age"]
    assert customers.dtypes == [pl.String, pl.Datetime("us"), pl.String, pl.String]
    assert customers.rows() == [("C1", datetime(2023, 3, 1), "gold", "41"), ("C2", None, None, None)]


def test_interaction_types_are_lower_cased_and_customers_need_not_be_listed(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", MINIMAL_TRANSACTIONS)
    write(tmp_path, "customers.csv", "customer_id\nC1\n")
    write(tmp_path, "interactions.csv", "customer_id,timestamp,type,value\nC7,2024-02-01, Email_Open ,\n")
    interactions = load_raw(tmp_path).raw.interactions
    assert interactions.rows() == [("C7", datetime(2024, 2, 1), "email_open", None)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", datetime(2024, 3, 5)),
        ("2024-03-05 14:07", datetime(2024, 3, 5, 14, 7)),
        ("2024-03-05T14:07:09", datetime(2024, 3, 5, 14, 7, 9)),
        ("2024-03-05 14:07:09.25", datetime(2024, 3, 5, 14, 7, 9, 250000)),
        ("2024-03-05T14:07:09Z", datetime(2024, 3, 5, 14, 7, 9)),
        ("2024-03-05T14:07:09+02:00", datetime(2024, 3, 5, 12, 7, 9)),
        ("2024-03-05T14:07:09.5-0530", datetime(2024, 3, 5, 19, 37, 9, 500000)),
        ("2024-03-05 01:00+03", datetime(2024, 3, 4, 22, 0)),
    ],
)
def test_timestamps_are_read_as_naive_utc(tmp_path: Path, text: str, expected: datetime) -> None:
    write(tmp_path, "transactions.csv", f"customer_id,timestamp,amount\nC1,{text},1\n")
    assert load_raw(tmp_path).raw.transactions.get_column("timestamp").to_list() == [expected]


def test_mixed_timestamp_formats_in_one_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "transactions.csv",
        "customer_id,timestamp,amount\nC1,2024-03-05T10:00:00,1\nC1,2024-03-06,2\nC1,2024-03-07T10:00:00+01:00,3\n",
    )
    timestamps = load_raw(tmp_path).raw.transactions.get_column("timestamp").to_list()
    assert timestamps == [datetime(2024, 3, 5, 10), datetime(2024, 3, 6), datetime(2024, 3, 7, 9)]


def test_parquet_and_csv_give_identical_frames(tmp_path: Path) -> None:
    csv_dir, parquet_dir = tmp_path / "csv", tmp_path / "parquet"
    csv_dir.mkdir()
    parquet_dir.mkdir()
    write(
        csv_dir,
        "transactions.csv",
        "customer_id,timestamp,amount,transaction_id,quantity,category,channel\n"
        "C1,2024-01-05T10:00:00+02:00,10.5,T1,2,books,web\n"
        "C2,2024-01-06T00:00:00Z,-3,T2,,,store\n",
    )
    write(csv_dir, "customers.csv", "customer_id,signup_date,segment\nC1,2023-03-01,gold\nC2,,\n")
    write(csv_dir, "interactions.csv", "customer_id,timestamp,type,value\nC1,2024-01-02 09:30,survey,4\n")
    pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "timestamp": pl.Series(
                [
                    datetime(2024, 1, 5, 10, tzinfo=timezone(timedelta(hours=2))),
                    datetime(2024, 1, 6, tzinfo=UTC),
                ]
            ).dt.convert_time_zone("Europe/Paris"),
            "amount": [10.5, -3.0],
            "transaction_id": ["T1", "T2"],
            "quantity": [2, None],
            "category": ["books", None],
            "channel": ["web", "store"],
        }
    ).write_parquet(parquet_dir / "transactions.parquet")
    pl.DataFrame(
        {"customer_id": ["C1", "C2"], "signup_date": [date(2023, 3, 1), None], "segment": ["gold", None]}
    ).write_parquet(parquet_dir / "customers.parquet")
    pl.DataFrame(
        {
            "customer_id": ["C1"],
            "timestamp": pl.Series([datetime(2024, 1, 2, 9, 30)], dtype=pl.Datetime("ns")),
            "type": ["survey"],
            "value": [4],
        }
    ).write_parquet(parquet_dir / "interactions.parquet")

    from_csv, from_parquet = load_raw(csv_dir), load_raw(parquet_dir)

    assert from_csv.rejects.is_empty() and from_parquet.rejects.is_empty()
    for table in ("transactions", "customers", "interactions"):
        assert getattr(from_csv.raw, table).equals(getattr(from_parquet.raw, table)), table
        assert getattr(from_csv.raw, table).schema == getattr(from_parquet.raw, table).schema, table
    assert from_csv.raw.transactions.get_column("timestamp").to_list() == [
        datetime(2024, 1, 5, 8),
        datetime(2024, 1, 6),
    ]


# --- bad rows -------------------------------------------------------------------------------------


def test_each_kind_of_bad_transaction_is_rejected_with_row_and_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        "transactions.csv",
        "customer_id,timestamp,amount,transaction_id,quantity\n"
        "C1,2024-01-05,10,T1,1\n"  # 1 good
        ",2024-01-05,10,T2,1\n"  # 2 empty id
        "C3,abc,10,T3,1\n"  # 3 bad timestamp
        "C4,2024-02-30,10,T4,1\n"  # 4 not a calendar date
        "C5,2024-01-05,x,T5,1\n"  # 5 amount not a number
        "C6,2024-01-05,10,T6,-2\n"  # 6 negative quantity
        "C7,2024-01-05,10,T1,1\n"  # 7 duplicate transaction id
        "C8,2024-01-05,,T8,\n"  # 8 empty amount
        "C9,2024-01-05,inf,T9,x\n"  # 9 two problems
        "C1,2024-01-06,-4.5,,\n",  # 10 good refund without id
    )
    result = load_raw(tmp_path)

    assert rejects_of(result.rejects, "transactions.csv") == [
        (2, "empty customer_id"),
        (3, "timestamp 'abc' is not an ISO date"),
        (4, "timestamp '2024-02-30' is not an ISO date"),
        (5, "amount 'x' is not a number"),
        (6, "quantity -2 is negative"),
        (7, "duplicate transaction_id 'T1' (first seen at row 1)"),
        (8, "empty amount"),
        (9, "amount 'inf' is not a finite number; quantity 'x' is not a number"),
    ]
    assert result.raw.transactions.select("customer_id", "timestamp", "amount").rows() == [
        ("C1", datetime(2024, 1, 5), 10.0),
        ("C1", datetime(2024, 1, 6), -4.5),
    ]
    assert result.counts["transactions"] == FileCounts("transactions.csv", accepted=2, rejected=8)


def test_rejected_record_is_the_original_row_as_json(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount,extra\n C1 ,abc,,z\n")
    rejects = load_raw(tmp_path).rejects
    assert json.loads(rejects.get_column("record")[0]) == {
        "customer_id": " C1 ",
        "timestamp": "abc",
        "amount": None,
        "extra": "z",
    }
    assert rejects.get_column("reason").to_list() == ["timestamp 'abc' is not an ISO date; empty amount"]


def test_bad_customers_and_interactions_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", MINIMAL_TRANSACTIONS)
    write(
        tmp_path,
        "customers.csv",
        "customer_id,signup_date\nC1,2023-01-01\nC2,01/02/2023\nC1,2023-05-05\n,2023-01-01\n",
    )
    write(
        tmp_path,
        "interactions.csv",
        "customer_id,timestamp,type,value\n"
        "C1,2024-01-01,visit,\nC1,2024-01-02,  ,\nC1,2024-01-03,survey,good\n",
    )
    result = load_raw(tmp_path)

    assert rejects_of(result.rejects, "customers.csv") == [
        (2, "signup_date '01/02/2023' is not an ISO date"),
        (3, "duplicate customer_id 'C1' (first seen at row 1)"),
        (4, "empty customer_id"),
    ]
    assert rejects_of(result.rejects, "interactions.csv") == [
        (2, "empty type"),
        (3, "value 'good' is not a number"),
    ]
    assert result.raw.customers.rows() == [("C1", datetime(2023, 1, 1))]
    assert result.raw.interactions.rows() == [("C1", datetime(2024, 1, 1), "visit", None)]


def test_write_rejects_writes_csv_or_parquet_and_nothing_when_clean(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\nC1,2024-01-05,x\n")
    rejects = load_raw(tmp_path).rejects

    assert write_rejects(rejects.clear(), tmp_path / "none.rejects.csv") is None
    assert not (tmp_path / "none.rejects.csv").exists()
    csv_path = write_rejects(rejects, tmp_path / "out" / "features.rejects.csv")
    parquet_path = write_rejects(rejects, tmp_path / "out" / "features.rejects.parquet")
    assert csv_path is not None and parquet_path is not None
    assert pl.read_csv(csv_path, schema=REJECTS_SCHEMA).equals(rejects)
    assert pl.read_parquet(parquet_path).equals(rejects)


# --- records from the API -------------------------------------------------------------------------


def test_raw_from_records_matches_load_raw(tmp_path: Path) -> None:
    write(
        tmp_path,
        "transactions.csv",
        "customer_id,timestamp,amount,transaction_id,quantity,category,channel\n"
        "C1,2024-01-05T10:00:00+02:00,10.5,T1,2,books,web\nC1,2024-01-06,-3,,,,\n",
    )
    write(tmp_path, "customers.csv", "customer_id,signup_date,segment\nC1,2023-03-01,gold\n")
    write(tmp_path, "interactions.csv", "customer_id,timestamp,type,value\nC1,2024-01-02 09:30,Survey,4\n")
    loaded = load_raw(tmp_path).raw

    built = raw_from_records(
        customers=[{"customer_id": "C1", "signup_date": date(2023, 3, 1), "segment": "gold"}],
        transactions=[
            {
                "customer_id": "C1",
                "timestamp": datetime(2024, 1, 5, 10, tzinfo=timezone(timedelta(hours=2))),
                "amount": 10.5,
                "transaction_id": "T1",
                "quantity": 2,
                "category": "books",
                "channel": "web",
            },
            {"customer_id": "C1", "timestamp": datetime(2024, 1, 6), "amount": -3},
        ],
        interactions=[
            {"customer_id": "C1", "timestamp": "2024-01-02T09:30:00", "type": "Survey", "value": 4.0}
        ],
    )

    for table in ("transactions", "customers", "interactions"):
        assert getattr(built, table).schema == getattr(loaded, table).schema, table
        assert getattr(built, table).equals(getattr(loaded, table)), table


def test_raw_from_records_with_no_records_gives_empty_canonical_frames() -> None:
    raw = raw_from_records([], [], [])
    assert raw.transactions.schema == pl.Schema(TRANSACTIONS_SCHEMA) and raw.transactions.is_empty()
    assert raw.customers.schema == pl.Schema(CUSTOMERS_BASE_SCHEMA)
    assert raw.interactions.schema == pl.Schema(INTERACTIONS_SCHEMA)


def test_raw_from_records_turns_attribute_values_into_text() -> None:
    raw = raw_from_records([{"customer_id": "C1", "age": 41, "plan": None}], [], [])
    assert raw.customers.rows() == [("C1", None, "41", None)]
    assert raw.attribute_columns == ["age", "plan"]


@pytest.mark.parametrize(
    ("transactions", "message"),
    [
        ([{"customer_id": "C1", "amount": 1.0}], "transactions record 0 has no timestamp"),
        (
            [{"customer_id": "C1", "timestamp": datetime(2024, 1, 1), "amount": 1.0}, {"customer_id": " "}],
            "transactions record 1 has an empty customer_id",
        ),
        (
            [{"customer_id": "C1", "timestamp": "yesterday", "amount": 1.0}],
            "transactions field 'timestamp': 'yesterday' is not an ISO date",
        ),
        (
            [{"customer_id": "C1", "timestamp": date(2024, 1, 1), "amount": "lots"}],
            "transactions field 'amount' must hold Float64 values",
        ),
        (
            [
                {"customer_id": "C1", "timestamp": date(2024, 1, 1), "amount": 1.0, "transaction_id": "T1"},
                {"customer_id": "C1", "timestamp": date(2024, 1, 2), "amount": 1.0, "transaction_id": "T1"},
            ],
            "transactions records repeat transaction_id 'T1'",
        ),
    ],
)
def test_raw_from_records_rejects_invalid_records_at_once(transactions: list[dict], message: str) -> None:
    with pytest.raises(DataContractError) as caught:
        raw_from_records([], transactions, [])
    assert message in str(caught.value)


def test_raw_from_records_rejects_an_empty_customer_id() -> None:
    with pytest.raises(DataContractError, match="customers record 0 has an empty customer_id"):
        raw_from_records([{"customer_id": "  "}], [], [])
