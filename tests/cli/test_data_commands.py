"""`clvchurn data import-csv`, `import-invoices` and `check` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from clvchurn.cli import app
from clvchurn.commands import console as console_module
from domain.errors import ClvchurnError, DataContractError


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module.console, "width", 200)


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def output_of(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def error_of(result: Result) -> str:
    """The error's message, whether it reached the CLI's one-line handler (exit 2) or escaped it."""
    assert result.exit_code != 0
    if isinstance(result.exception, ClvchurnError):
        return str(result.exception)
    return " ".join(result.output.split())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_help_lists_the_new_commands() -> None:
    out = output_of(run("data", "--help"))
    for command in ("import-csv", "import-invoices", "check"):
        assert command in out


def test_import_csv_writes_the_contract_file_and_prints_counts(tmp_path: Path) -> None:
    source = write(
        tmp_path / "umsatz.csv",
        "Kunde;Datum;Betrag;Filiale\nK1;05.01.2024;1.234,56;Nord\nK2;06.01.2024;12,5;Sued\nK3;07.01.2024;x;Nord\n",
    )

    out = output_of(
        run(
            "data",
            "import-csv",
            str(source),
            "--kind",
            "transactions",
            "--map",
            "customer_id=Kunde,timestamp=Datum",
            "--map",
            "amount=Betrag",
            "--date-format",
            "%d.%m.%Y",
            "--decimal-comma",
            "--out",
            str(tmp_path / "data"),
        )
    )

    assert "│ umsatz.csv │ 2 │ 1 │" in out
    assert "Columns not written (not in the transactions contract): Filiale" in out
    assert "1 rejected rows with reasons in" in out
    assert (tmp_path / "data" / "transactions.csv").read_text().splitlines() == [
        "customer_id,timestamp,amount",
        "K1,2024-01-05T00:00:00,1234.56",
        "K2,2024-01-06T00:00:00,12.5",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "transactions", "--map", "amout=Betrag"], "'amout' is not a column of transactions"),
        (["--kind", "transactions", "--map", "amount=Total"], "umsatz.csv has no column 'Total'"),
        (["--kind", "orders"], "--kind 'orders' is not a contract table"),
        (
            ["--kind", "transactions", "--map", "amount"],
            "--map 'amount' is not contract_column=source_column",
        ),
        (
            ["--kind", "transactions", "--date-format", "dd.mm.yyyy"],
            "--date-format 'dd.mm.yyyy' holds no % code",
        ),
    ],
)
def test_import_csv_errors_name_the_option(tmp_path: Path, args: list[str], message: str) -> None:
    source = write(tmp_path / "umsatz.csv", "customer_id;timestamp;Betrag\nK1;05.01.2024;1\n")

    result = run("data", "import-csv", str(source), *args, "--out", str(tmp_path / "data"))

    assert message in error_of(result)
    assert not (tmp_path / "data" / "transactions.csv").exists()


def test_import_csv_of_a_missing_file_is_a_contract_error(tmp_path: Path) -> None:
    result = run(
        "data", "import-csv", str(tmp_path / "nope.csv"), "--kind", "customers", "--out", str(tmp_path)
    )
    assert "nope.csv does not exist" in error_of(result)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert isinstance(result.exception, DataContractError)


INVOICES = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,17850,United Kingdom\n"
    "536414,22139,TEA SET,56,2010-12-01 11:52:00,0,,United Kingdom\n"
)


def test_import_invoices_prints_lines_transactions_customers_and_guests(tmp_path: Path) -> None:
    source = write(tmp_path / "retail.csv", INVOICES)

    out = output_of(run("data", "import-invoices", str(source), "--out", str(tmp_path / "data")))

    assert "│ retail.csv │ 2 │ 1 │" in out
    assert "│ transactions.csv │ 2 │ 0 │" in out
    assert "│ customers.csv │ 1 │ 0 │" in out
    assert "Wrote 2 transactions (1 refunds) of 1 customers to" in out
    assert "1 guest lines (no customer id) cannot be attributed and were rejected" in out
    assert (tmp_path / "data" / "transactions.rejects.csv").exists()


def test_check_prints_the_report_and_writes_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write(
        data / "transactions.csv",
        "customer_id,timestamp,amount\nA,2024-01-10,100\nA,2024-05-10,100\nB,2024-01-15,50\nB,2024-06-30,x\n",
    )

    out = output_of(run("data", "check", str(data), "--json", str(tmp_path / "check.json")))

    assert "│ customers │ 2 │" in out
    assert "│ transactions.csv │ 3 │ 1 │ 25.0% │" in out
    assert "blocking: 2 customers ordered before 2024-05-11; at least 500 are needed" in out
    assert "note: transactions.csv: 25.0% of the rows were rejected (1 of 4)" in out
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["populations"] == {"active": 2, "lapsed": 0, "prospect": 0}
    assert report["settings"]["churn_horizon_days"] == 180


def test_check_options_reach_the_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write(data / "transactions.csv", "customer_id,timestamp,amount\nA,2024-01-10,100\nB,2024-05-10,1\n")

    run(
        "data",
        "check",
        str(data),
        "--as-of",
        "2024-05-01",
        "--lookback-days",
        "30",
        "--churn-horizon-days",
        "30",
        "--value-horizon-days",
        "60",
        "--json",
        str(tmp_path / "check.json"),
    )

    report = json.loads((tmp_path / "check.json").read_text())
    assert report["as_of"] == "2024-05-01T00:00:00"
    assert report["populations"] == {"active": 0, "lapsed": 1, "prospect": 0}
    assert [w["horizon_days"] for w in report["windows"]] == [30, 60]


def test_check_of_a_folder_without_transactions_is_a_contract_error(tmp_path: Path) -> None:
    assert "has no transactions.csv or transactions.parquet" in error_of(run("data", "check", str(tmp_path)))
