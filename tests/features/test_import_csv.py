"""Importing any CSV or Excel export into the contract: mapping, formats, rejects and errors."""

from __future__ import annotations

import gzip
import json
import zipfile
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
import pytest

from domain.errors import DataContractError
from features.contract import FileCounts, load_raw
from features.sources.csv_export import import_csv, parse_column_map, read_export


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def rejects_of(path: Path | None) -> list[tuple[int, str, dict[str, object]]]:
    assert path is not None, "no rejects file was written"
    rejects = pl.read_csv(path, infer_schema=False)
    return [(int(row), reason, json.loads(record)) for _, row, reason, record in rejects.iter_rows()]


# The layout of a common retail export: customer, US dates, amount.
RETAIL = (
    "customer_id,trans_date,tran_amount,store\n"
    "CS5295,02/11/2013,35,north\n"
    "CS4768,03/15/2015,39.5,south\n"
    "CS2122,2/26/2013,52,north\n"
)


def test_mapped_export_becomes_a_contract_file_that_loads_unchanged(tmp_path: Path) -> None:
    source = write(tmp_path, "retail.csv", RETAIL)

    result = import_csv(
        source,
        "transactions",
        tmp_path / "data",
        {"timestamp": "trans_date", "amount": "tran_amount"},
        date_format="%m/%d/%Y",
    )

    assert result.path == tmp_path / "data" / "transactions.csv"
    assert result.counts == FileCounts("retail.csv", accepted=3, rejected=0)
    assert result.rejects_path is None
    assert result.ignored_columns == ("store",)
    assert result.path.read_text().splitlines() == [
        "customer_id,timestamp,amount",
        "CS5295,2013-02-11T00:00:00,35.0",
        "CS4768,2015-03-15T00:00:00,39.5",
        "CS2122,2013-02-26T00:00:00,52.0",
    ]
    loaded = load_raw(tmp_path / "data")
    assert loaded.rejects.is_empty()
    assert loaded.raw.transactions.select("customer_id", "timestamp", "amount").rows() == [
        ("CS5295", datetime(2013, 2, 11), 35.0),
        ("CS4768", datetime(2015, 3, 15), 39.5),
        ("CS2122", datetime(2013, 2, 26), 52.0),
    ]


def test_bad_rows_go_to_the_rejects_with_row_number_reason_and_source_record(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "orders.csv",
        "Client,Date,Total,Order\n"
        "C1,01/05/2024,10,O1\n"
        ",01/06/2024,11,O2\n"  # no customer
        "C3,31/01/2024,12,O3\n"  # day and month swapped
        "C4,2024-01-08,13,O4\n"  # ISO text is accepted whatever the format
        "C5,01/09/2024,abc,O5\n"
        "C6,01/10/2024,14,O1\n",  # repeated order id
    )

    result = import_csv(
        source,
        "transactions",
        tmp_path / "data",
        {"customer_id": "Client", "timestamp": "Date", "amount": "Total", "transaction_id": "Order"},
        date_format="%m/%d/%Y",
    )

    assert result.counts == FileCounts("orders.csv", accepted=2, rejected=4)
    assert result.rejects_path == tmp_path / "data" / "transactions.rejects.csv"
    assert rejects_of(result.rejects_path) == [
        (2, "empty customer_id", {"Client": None, "Date": "01/06/2024", "Total": "11", "Order": "O2"}),
        (
            3,
            "timestamp '31/01/2024' matches neither the date format '%m/%d/%Y' nor ISO-8601",
            {"Client": "C3", "Date": "31/01/2024", "Total": "12", "Order": "O3"},
        ),
        (
            5,
            "amount 'abc' is not a number",
            {"Client": "C5", "Date": "01/09/2024", "Total": "abc", "Order": "O5"},
        ),
        (
            6,
            "duplicate transaction_id 'O1' (first seen at row 1)",
            {"Client": "C6", "Date": "01/10/2024", "Total": "14", "Order": "O1"},
        ),
    ]
    assert pl.read_csv(result.rejects_path).get_column("file").unique().to_list() == ["orders.csv"]
    assert load_raw(tmp_path / "data").raw.transactions.select("customer_id", "timestamp").rows() == [
        ("C1", datetime(2024, 1, 5)),
        ("C4", datetime(2024, 1, 8)),
    ]


def test_semicolon_export_with_decimal_commas(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "umsatz.csv",
        "Kunde;Datum;Betrag;Menge\n"
        "K1;05.01.2024 14:30;1.234,56;2\n"
        "K2;06.01.2024 09:00;-12,5;1\n"
        "K3;07.01.2024 10:00;1.5;1\n"  # a decimal point is not what --decimal-comma promised
        "K4;08.01.2024 11:00;1 000;3,5\n",
    )

    result = import_csv(
        source,
        "transactions",
        tmp_path / "data",
        {"customer_id": "Kunde", "timestamp": "Datum", "amount": "Betrag", "quantity": "Menge"},
        date_format="%d.%m.%Y %H:%M",
        decimal_comma=True,
    )

    assert result.counts == FileCounts("umsatz.csv", accepted=3, rejected=1)
    assert [(row, reason) for row, reason, _ in rejects_of(result.rejects_path)] == [
        (3, "amount '1.5' is not a number with a decimal comma such as 1.234,56")
    ]
    assert load_raw(tmp_path / "data").raw.transactions.select(
        "customer_id", "timestamp", "amount", "quantity"
    ).rows() == [
        ("K1", datetime(2024, 1, 5, 14, 30), 1234.56, 2.0),
        ("K2", datetime(2024, 1, 6, 9), -12.5, 1.0),
        ("K4", datetime(2024, 1, 8, 11), 1000.0, 3.5),
    ]


def test_customers_keep_unmapped_columns_as_attributes(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "accounts.csv",
        "Account,Since,Region,customer_id\nA1,2023-12-31,EU,old-1\nA2,,US,old-2\n",
    )

    result = import_csv(
        source, "customers", tmp_path / "data", {"customer_id": "Account", "signup_date": "Since"}
    )

    # The file's own customer_id column is shadowed by the mapped one and not written.
    assert result.ignored_columns == ("customer_id",)
    customers = load_raw(write_minimal_transactions(tmp_path / "data")).raw.customers
    assert customers.columns == ["customer_id", "signup_date", "Region"]
    assert customers.rows() == [("A1", datetime(2023, 12, 31), "EU"), ("A2", None, "US")]


def test_interactions_map_type_and_value(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "events.csv",
        "who,when,what,score,agent\nC1,2024-02-01T10:00:00+01:00,Survey,4,ann\nC2,2024-02-02,Visit,,bob\n",
    )

    result = import_csv(
        source,
        "interactions",
        tmp_path / "data",
        {"customer_id": "who", "timestamp": "when", "type": "what", "value": "score"},
    )

    assert result.ignored_columns == ("agent",)
    interactions = load_raw(write_minimal_transactions(tmp_path / "data")).raw.interactions
    assert interactions.rows() == [
        ("C1", datetime(2024, 2, 1, 9), "survey", 4.0),
        ("C2", datetime(2024, 2, 2), "visit", None),
    ]


def write_minimal_transactions(folder: Path) -> Path:
    write(folder, "transactions.csv", "customer_id,timestamp,amount\nA1,2024-01-05,10\n")
    return folder


def test_gzip_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(gzip.compress(RETAIL.replace(",", "|").encode()))

    result = import_csv(
        path,
        "transactions",
        tmp_path / "data",
        {"timestamp": "trans_date", "amount": "tran_amount"},
        date_format="%m/%d/%Y",
    )

    assert result.counts == FileCounts("retail.csv.gz", accepted=3, rejected=0)


def test_a_later_clean_import_removes_the_stale_rejects(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.csv", "customer_id,timestamp,amount\nC1,2024-01-05,x\n")
    good = write(tmp_path, "good.csv", "customer_id,timestamp,amount\nC1,2024-01-05,1\n")
    assert import_csv(bad, "transactions", tmp_path / "data").rejects_path is not None

    import_csv(good, "transactions", tmp_path / "data")

    assert not (tmp_path / "data" / "transactions.rejects.csv").exists()


# --- Excel -------------------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    """A minimal one-sheet workbook: text as inline strings, numbers as numbers, `("date", serial)` as
    a date-formatted number (Excel's day count: 45296 is 2024-01-05)."""
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(value, tuple):
                cells.append(f'<c r="{ref}" s="1"><v>{value[1]}</v></c>')
            elif isinstance(value, str):
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
            elif value is not None:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    ooxml = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ooxml}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ooxml}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{ooxml}.styles+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{rels}"><Relationship Id="rId1" '
            f'Type="{office}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{office}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{rels}">'
            f'<Relationship Id="rId1" Type="{office}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{office}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{main}"><fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
            '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs>'
            "</styleSheet>"
        ),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w") as workbook:
        for name, xml in parts.items():
            workbook.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + xml)
    return path


def test_excel_export_with_typed_cells_and_text_cells(tmp_path: Path) -> None:
    source = write_xlsx(
        tmp_path / "export.xlsx",
        [
            ["Customer", "Ordered", "Net", "Note"],
            [17850, ("date", 45296), 12.5, "first"],
            [17851, "01/06/2024", 3, None],  # a date typed as text, in the export's format
            [17852, "soon", 7, "bad date"],
            [None, ("date", 45298), 8, "no customer"],
        ],
    )

    result = import_csv(
        source,
        "transactions",
        tmp_path / "data",
        {"customer_id": "Customer", "timestamp": "Ordered", "amount": "Net"},
        date_format="%m/%d/%Y",
    )

    assert result.counts == FileCounts("export.xlsx", accepted=2, rejected=2)
    assert [(row, reason) for row, reason, _ in rejects_of(result.rejects_path)] == [
        (3, "timestamp 'soon' matches neither the date format '%m/%d/%Y' nor ISO-8601"),
        (4, "empty customer_id"),
    ]
    assert load_raw(tmp_path / "data").raw.transactions.select(
        "customer_id", "timestamp", "amount"
    ).rows() == [
        ("17850", datetime(2024, 1, 5), 12.5),
        ("17851", datetime(2024, 1, 6), 3.0),
    ]


def test_excel_column_types_come_from_every_row(tmp_path: Path) -> None:
    rows: list[list[object]] = [["id", "amount"], *([i, i * 1.5] for i in range(150)), ["X9", "abc"]]
    table = read_export(write_xlsx(tmp_path / "long.xlsx", rows))
    assert table.height == 151
    assert table.row(-1) == ("X9", "abc")


# --- errors --------------------------------------------------------------------------------------------


def test_unknown_contract_column_in_the_map_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    source = write(tmp_path, "retail.csv", RETAIL)
    with pytest.raises(DataContractError) as caught:
        import_csv(source, "transactions", tmp_path / "data", {"amout": "tran_amount"})
    assert str(caught.value) == (
        "--map amout=tran_amount: 'amout' is not a column of transactions (customer_id, timestamp, amount, "
        "transaction_id, quantity, category, channel); did you mean 'amount'?"
    )


def test_missing_source_column_is_an_error_naming_file_and_columns(tmp_path: Path) -> None:
    source = write(tmp_path, "retail.csv", RETAIL)
    with pytest.raises(DataContractError) as caught:
        import_csv(source, "transactions", tmp_path / "data", {"amount": "tran_amt"})
    assert str(caught.value) == (
        "--map amount=tran_amt: retail.csv has no column 'tran_amt' (columns: customer_id, trans_date, "
        "tran_amount, store); did you mean 'tran_amount'?"
    )


def test_missing_required_column_is_the_contract_error(tmp_path: Path) -> None:
    source = write(tmp_path, "retail.csv", RETAIL)
    with pytest.raises(DataContractError, match=r"retail\.csv lacks required column 'amount'"):
        import_csv(source, "transactions", tmp_path / "data", {"timestamp": "trans_date"})


@pytest.mark.parametrize(
    ("date_format", "problem"),
    [
        ("mm/dd/yyyy", "holds no % code"),
        ("%Q/%d", "is not a valid strftime pattern"),
        ("%m/%Y", "does not describe a date"),
    ],
)
def test_bad_date_format_is_an_error_naming_the_option(
    tmp_path: Path, date_format: str, problem: str
) -> None:
    source = write(tmp_path, "retail.csv", RETAIL)
    with pytest.raises(DataContractError) as caught:
        import_csv(
            source,
            "transactions",
            tmp_path / "data",
            {"timestamp": "trans_date", "amount": "tran_amount"},
            date_format=date_format,
        )
    assert str(caught.value).startswith(f"--date-format {date_format!r} {problem}")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, r"missing\.csv does not exist"),
        ("empty.csv", b"", r"empty\.csv is empty"),
        ("latin.csv", "customer_id,amount\nJos\xe9,1\n".encode("latin-1"), r"latin\.csv is not UTF-8 text"),
        ("broken.xlsx", b"not a zip", r"broken\.xlsx cannot be read as an Excel workbook"),
    ],
)
def test_unreadable_files_are_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataContractError, match=message):
        import_csv(path, "transactions", tmp_path / "data")


def test_a_parquet_file_of_the_same_table_is_an_error(tmp_path: Path) -> None:
    source = write(tmp_path, "t.csv", "customer_id,timestamp,amount\nC1,2024-01-05,1\n")
    (tmp_path / "data").mkdir()
    pl.DataFrame({"customer_id": ["C1"]}).write_parquet(tmp_path / "data" / "transactions.parquet")
    with pytest.raises(DataContractError, match=r"already holds transactions\.parquet"):
        import_csv(source, "transactions", tmp_path / "data")


# --- the map option ------------------------------------------------------------------------------------


def test_column_map_accepts_commas_repeats_and_inner_spaces() -> None:
    assert parse_column_map(["customer_id = Customer ID, amount=Total", "timestamp=Date,"]) == {
        "customer_id": "Customer ID",
        "amount": "Total",
        "timestamp": "Date",
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("customer_id", "--map 'customer_id' is not contract_column=source_column"),
        ("amount=", "--map 'amount=' is not contract_column=source_column"),
        ("amount=A,amount=B", "--map maps 'amount' twice ('A' and 'B'); keep one"),
    ],
)
def test_malformed_column_map_is_an_error(spec: str, message: str) -> None:
    with pytest.raises(DataContractError) as caught:
        parse_column_map([spec])
    assert str(caught.value).startswith(message)


def test_unknown_table_is_an_error_naming_the_option(tmp_path: Path) -> None:
    source = write(tmp_path, "retail.csv", RETAIL)
    with pytest.raises(DataContractError) as caught:
        import_csv(source, "orders", tmp_path / "data")  # type: ignore[arg-type]
    assert (
        str(caught.value)
        == "--kind 'orders' is not a contract table; use one of transactions, customers, interactions"
    )
