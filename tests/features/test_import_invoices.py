"""Invoice-line exports: a hand-made file in the UCI Online Retail layout, and the real data set."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from domain.errors import DataContractError
from features.contract import FileCounts, load_raw
from features.sources.invoices import import_invoices

# The reference data lives in ../shared/data beside the repository (CI clones it there too).
ONLINE_RETAIL = Path(__file__).resolve().parents[3] / "shared" / "data" / "online_retail.csv.gz"

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
LINES = (
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom\n"
    "536370,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583,France\n"
    "536370,POST,POSTAGE,3,2010-12-01 08:46:00,18,12583,France\n"  # a later minute on the same invoice
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,17850,United Kingdom\n"
    "536414,22139,RETROSPOT TEA SET,56,2010-12-01 11:52:00,0,,United Kingdom\n"  # guest
    "536415,22139,RETROSPOT TEA SET,six,2010-12-01 11:53:00,4.95,12583,France\n"  # bad quantity
    "536420,22900,SET 2 TEA TOWELS,5,2010-12-02,2.95,13047,Germany\n"
    "536420,22900,SET 2 TEA TOWELS,-2,2010-12-02,2.95,13047,Germany\n"  # a return on the invoice
    "536421,21754,HOME BUILDING BLOCK,1,2010-12-03 10:00,5.95,13047,Austria\n"
    "536422,21754,HOME BUILDING BLOCK,1,yesterday,5.95,13047,Austria\n"  # bad date
    "536423,84029G,HOT WATER BOTTLE,2,2010-12-05 09:00,,,EIRE\n"  # guest, and no price
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-04 08:28:00,1.85,17850,EIRE\n"
)


@pytest.fixture
def invoice_file(tmp_path: Path) -> Path:
    path = tmp_path / "online_retail_sample.csv"
    path.write_text(HEADER + LINES, encoding="utf-8")
    return path


def test_invoice_lines_become_one_transaction_per_invoice_and_customer(
    invoice_file: Path, tmp_path: Path
) -> None:
    result = import_invoices(invoice_file, tmp_path / "data")

    assert result.paths == {
        "transactions": tmp_path / "data" / "transactions.csv",
        "customers": tmp_path / "data" / "customers.csv",
    }
    assert result.paths["transactions"].read_text().splitlines() == [
        "customer_id,timestamp,amount,transaction_id,quantity",
        "17850,2010-12-01T08:26:00,35.64,536365,12.0",  # 6 x 2.55 + 6 x 3.39, exactly
        "12583,2010-12-01T08:45:00,144.0,536370,27.0",  # the invoice's first line gives the time
        "17850,2010-12-01T09:41:00,-27.5,C536379,1.0",  # a cancellation is a refund
        "13047,2010-12-02T00:00:00,8.85,536420,3.0",  # 5 bought, 2 returned
        "13047,2010-12-03T10:00:00,5.95,536421,1.0",
        "17850,2010-12-04T08:28:00,11.1,536366,6.0",
    ]
    # Signed up at the first invoice. Country: 17850 has two invoices in the UK and one in EIRE; 13047
    # one each in Germany and Austria, the tie going to the alphabetically first.
    assert result.paths["customers"].read_text().splitlines() == [
        "customer_id,signup_date,country",
        "12583,2010-12-01T08:45:00,France",
        "13047,2010-12-02T00:00:00,Austria",
        "17850,2010-12-01T08:26:00,United Kingdom",
    ]
    assert result.lines == FileCounts("online_retail_sample.csv", accepted=9, rejected=4)
    assert result.guest_lines == 2
    assert result.refunds == 1
    assert result.tables == {
        "transactions": FileCounts("transactions.csv", accepted=6, rejected=0),
        "customers": FileCounts("customers.csv", accepted=3, rejected=0),
    }


def test_guest_and_bad_lines_go_to_the_rejects_with_reasons(invoice_file: Path, tmp_path: Path) -> None:
    result = import_invoices(invoice_file, tmp_path / "data")

    assert result.rejects_path == tmp_path / "data" / "transactions.rejects.csv"
    rejects = pl.read_csv(result.rejects_path, infer_schema=False)
    assert rejects.select("file", "row_number", "reason").rows() == [
        (
            "online_retail_sample.csv",
            "6",
            "guest purchase: no CustomerID, so it cannot be attributed to a customer",
        ),
        ("online_retail_sample.csv", "7", "Quantity 'six' is not a number"),
        ("online_retail_sample.csv", "11", "InvoiceDate 'yesterday' is not an ISO date"),
        (
            "online_retail_sample.csv",
            "12",
            "guest purchase: no CustomerID, so it cannot be attributed to a customer; empty UnitPrice",
        ),
    ]
    assert json.loads(rejects.get_column("record")[1]) == {
        "InvoiceNo": "536415",
        "StockCode": "22139",
        "Description": "RETROSPOT TEA SET",
        "Quantity": "six",
        "InvoiceDate": "2010-12-01 11:53:00",
        "UnitPrice": "4.95",
        "CustomerID": "12583",
        "Country": "France",
    }


def test_the_written_folder_loads_without_rejects(invoice_file: Path, tmp_path: Path) -> None:
    import_invoices(invoice_file, tmp_path / "data")

    loaded = load_raw(tmp_path / "data")

    assert loaded.rejects.is_empty()
    assert loaded.raw.attribute_columns == ["country"]
    assert loaded.raw.transactions.filter(pl.col("transaction_id") == "C536379").select(
        "customer_id", "timestamp", "amount", "quantity"
    ).rows() == [("17850", datetime(2010, 12, 1, 9, 41), -27.5, 1.0)]


def test_gzip_export_gives_the_same_files(invoice_file: Path, tmp_path: Path) -> None:
    compressed = tmp_path / "online_retail_sample.csv.gz"
    compressed.write_bytes(gzip.compress(invoice_file.read_bytes()))

    plain = import_invoices(invoice_file, tmp_path / "plain")
    zipped = import_invoices(compressed, tmp_path / "zipped")

    for table in ("transactions", "customers"):
        assert plain.paths[table].read_text() == zipped.paths[table].read_text()


def test_an_invoice_billed_to_two_customers_keeps_both(tmp_path: Path) -> None:
    path = tmp_path / "shared.csv"
    path.write_text(
        HEADER
        + "1001,A,a,1,2011-01-01 10:00,2,C1,UK\n"
        + "1001,A,a,2,2011-01-01 10:00,2,C2,UK\n"
        + "1002,A,a,1,2011-01-02 10:00,2,C1,UK\n"
    )

    result = import_invoices(path, tmp_path / "data")

    transactions = pl.read_csv(result.paths["transactions"], infer_schema=False)
    assert transactions.select("customer_id", "transaction_id", "amount").rows() == [
        ("C1", "1001/C1", "2.0"),
        ("C2", "1001/C2", "4.0"),
        ("C1", "1002", "2.0"),
    ]


def test_another_layout_through_the_map_with_formats(tmp_path: Path) -> None:
    path = tmp_path / "rechnungen.csv"
    path.write_text(
        "Beleg;Kunde;Datum;Menge;Preis\n"
        "R1;K1;05.01.2024;2;1.000,50\n"
        "R1;K1;05.01.2024;1;0,25\n"
        "GR2;K1;07.01.2024;-1;0,25\n"
    )

    result = import_invoices(
        path,
        tmp_path / "data",
        {
            "invoice": "Beleg",
            "customer_id": "Kunde",
            "timestamp": "Datum",
            "quantity": "Menge",
            "unit_price": "Preis",
        },
        date_format="%d.%m.%Y",
        decimal_comma=True,
    )

    assert result.paths["transactions"].read_text().splitlines() == [
        "customer_id,timestamp,amount,transaction_id,quantity",
        "K1,2024-01-05T00:00:00,2001.25,R1,3.0",
        "K1,2024-01-07T00:00:00,-0.25,GR2,1.0",
    ]
    # Without a country column the customers file holds no attribute.
    assert result.paths["customers"].read_text().splitlines() == [
        "customer_id,signup_date",
        "K1,2024-01-05T00:00:00",
    ]


def test_unknown_field_and_missing_column_are_errors(invoice_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DataContractError) as unknown:
        import_invoices(invoice_file, tmp_path / "data", {"price": "UnitPrice"})
    assert str(unknown.value) == (
        "--map price=UnitPrice: 'price' is not an invoice-line field "
        "(invoice, customer_id, timestamp, quantity, unit_price, country)"
    )
    with pytest.raises(DataContractError) as missing:
        import_invoices(invoice_file, tmp_path / "data", {"customer_id": "Customer"})
    assert str(missing.value).startswith(
        "online_retail_sample.csv has no column 'Customer' for the invoice-line field 'customer_id' (columns: "
    )
    assert str(missing.value).endswith("name it with --map customer_id=<column>")


@pytest.mark.slow
@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="../shared/data/online_retail.csv.gz is not present")
def test_real_online_retail_matches_its_readme(tmp_path: Path) -> None:
    result = import_invoices(ONLINE_RETAIL, tmp_path / "retail")

    # ../shared/data/README.md: 541,909 lines, 406,829 with a CustomerID, 4,372 customers.
    assert result.lines == FileCounts("online_retail.csv.gz", accepted=406_829, rejected=541_909 - 406_829)
    assert result.guest_lines == 541_909 - 406_829
    assert result.tables["customers"] == FileCounts("customers.csv", accepted=4_372, rejected=0)
    assert result.tables["transactions"].rejected == 0
    loaded = load_raw(tmp_path / "retail")
    assert loaded.rejects.is_empty()
    transactions = loaded.raw.transactions
    assert transactions.get_column("customer_id").n_unique() == 4_372
    assert transactions.get_column("timestamp").min() == datetime(2010, 12, 1, 8, 26)
    assert transactions.get_column("timestamp").max() == datetime(2011, 12, 9, 12, 50)
    # Every cancellation invoice (C...) is a refund, and every refund is a cancellation.
    is_cancellation = transactions.get_column("transaction_id").str.starts_with("C")
    assert (is_cancellation == (transactions.get_column("amount") < 0)).all()
