"""The CDNOW converter: a hand-written sample, malformed lines, and the real reference file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from domain.errors import DataContractError
from features.contract import TRANSACTIONS_SCHEMA, load_raw
from features.sources.cdnow import import_cdnow, read_cdnow

# The reference data lives in ../shared/data beside the repository (CI clones it there too).
CDNOW_MASTER = Path(__file__).resolve().parents[3] / "shared" / "data" / "CDNOW_master.txt"

SAMPLE = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"
    " 00010 19980630  2    0.00\r\n"
)


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "cdnow_sample.txt"
    path.write_bytes(SAMPLE.encode())
    return path


def test_read_cdnow_gives_canonical_transactions(sample_file: Path) -> None:
    transactions = read_cdnow(sample_file)

    assert transactions.schema == pl.Schema(TRANSACTIONS_SCHEMA)
    assert transactions.select("customer_id", "timestamp", "amount", "quantity").rows() == [
        ("00001", datetime(1997, 1, 1), 11.77, 1.0),
        ("00002", datetime(1997, 1, 12), 12.0, 1.0),
        ("00002", datetime(1997, 1, 12), 77.0, 5.0),
        ("00010", datetime(1998, 6, 30), 0.0, 2.0),
    ]
    assert transactions.select(pl.col("transaction_id", "category", "channel").null_count()).row(0) == (
        4,
        4,
        4,
    )


def test_import_cdnow_round_trips_through_load_raw_without_rejects(sample_file: Path, tmp_path: Path) -> None:
    written = import_cdnow(sample_file, tmp_path / "cdnow")

    assert written == {"transactions": tmp_path / "cdnow" / "transactions.csv"}
    assert written["transactions"].read_text().splitlines()[:2] == [
        "customer_id,timestamp,amount,quantity",
        "00001,1997-01-01,11.77,1.0",
    ]
    result = load_raw(tmp_path / "cdnow")
    assert result.rejects.is_empty()
    assert result.raw.transactions.equals(read_cdnow(sample_file))
    assert result.raw.customers.is_empty() and result.raw.interactions.is_empty()


def test_malformed_line_is_an_error_naming_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text(
        " customer_id  date number_of_cds  dollar_value\n 00001 19970101 1 11.77\n 00002 1997-01-12 1 12\n"
    )
    with pytest.raises(DataContractError, match=r"broken\.txt line 3 is not 'customer_id YYYYMMDD"):
        read_cdnow(path)


def test_impossible_date_is_an_error_naming_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text(" customer_id  date number_of_cds  dollar_value\n 00001 19970231 1 11.77\n")
    with pytest.raises(DataContractError, match=r"broken\.txt line 2: the date is not a calendar date"):
        read_cdnow(path)


def test_real_cdnow_file_imports_whole(tmp_path: Path) -> None:
    import_cdnow(CDNOW_MASTER, tmp_path)
    result = load_raw(tmp_path)
    transactions = result.raw.transactions

    assert result.rejects.is_empty()
    assert transactions.height == 69_659
    assert transactions.get_column("customer_id").n_unique() == 23_570
    assert round(transactions.get_column("amount").sum(), 2) == 2_500_315.63
    assert transactions.get_column("quantity").sum() == 167_881
    assert transactions.get_column("timestamp").min() == datetime(1997, 1, 1)
    assert transactions.get_column("timestamp").max() == datetime(1998, 6, 30)
    assert transactions.get_column("customer_id").head(2).to_list() == ["00001", "00002"]
