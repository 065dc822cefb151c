"""Invoice-line exports (one row per product line of an invoice) turned into contract transactions.

The default layout is the UCI Online Retail data set (Chen, Sain & Guo, "Data mining for the online
retail industry", Journal of Database Marketing and Customer Strategy Management 19(3), 2012):
`InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country`. Other
shops' exports name their columns in a map over the fields of `UCI_ONLINE_RETAIL`.

How lines become transactions:
- One transaction per invoice and customer: `transaction_id` is the invoice number (with `/customer`
  appended in the rare export that bills one invoice to several customers), `timestamp` the invoice's
  first line, `amount` the sum of quantity x unit price in exact decimals (6 places, so 6 x 2.55 is
  15.30, not 15.299999999999999), `quantity` the absolute sum of the quantities: items bought, or
  items returned by a refund, since the contract's quantity is never negative. Postage, discount and
  fee lines count as the export bills them.
- A cancellation (invoice number starting with C, negative quantities) is a refund: a negative amount.
  A negative line on an ordinary invoice is a return on that invoice and lowers its amount.
- A line without a customer id is a guest purchase that cannot be attributed to anyone: it goes to
  the rejects with that reason (counted apart), never silently away. Other bad lines (no invoice
  number, a quantity, price or date that does not parse) go there too, with their reasons.
- `customers.csv` holds every customer with an accepted line, `signup_date` (their first invoice: the
  export holds no registration date, and a customer without one would count as a prospect at every
  earlier cutoff, before they existed for the shop) and the `country` attribute: the country of most
  of their invoices, ties to the alphabetically first, so that a rerun gives the same file.

Both written tables pass `features.contract.check_table` before they are written, so the folder loads
with `load_raw` exactly as written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from domain.errors import DataContractError
from features.contract import (
    REJECTS_SCHEMA,
    FileCounts,
    check_table,
    empty_frame,
    parse_number_text,
    parse_timestamp_text,
    write_rejects,
)
from features.sources.csv_export import read_export

logger = logging.getLogger(__name__)

UCI_ONLINE_RETAIL: dict[str, str] = {
    "invoice": "InvoiceNo",
    "customer_id": "CustomerID",
    "timestamp": "InvoiceDate",
    "quantity": "Quantity",
    "unit_price": "UnitPrice",
    "country": "Country",
}
"""Invoice-line field -> source column in the UCI layout (the defaults that `column_map` overrides)."""
OPTIONAL_FIELDS = frozenset({"country"})
CANCELLATION_PREFIX = "C"
_AMOUNT_DECIMAL = pl.Decimal(38, 6)
_ISO_DATETIME = "%Y-%m-%dT%H:%M:%S%.f"


@dataclass(frozen=True)
class InvoiceImport:
    """What an invoice import wrote and counted.

    `lines` counts the export's lines (accepted, rejected); `guest_lines` is how many of the rejected
    lines had no customer id; `tables` counts the written contract files by table name.
    """

    paths: dict[str, Path]
    rejects_path: Path | None
    lines: FileCounts
    guest_lines: int
    tables: dict[str, FileCounts]
    refunds: int


def import_invoices(
    path: Path,
    out_dir: Path,
    column_map: Mapping[str, str] | None = None,
    *,
    date_format: str | None = None,
    decimal_comma: bool = False,
) -> InvoiceImport:
    """Write an invoice-line export as `<out_dir>/transactions.csv` and `<out_dir>/customers.csv`.

    Parameters
    ----------
    path: CSV (optionally gzip, e.g. online_retail.csv.gz) or Excel export with one row per line.
    out_dir: the data folder to write into.
    column_map: field -> source column, over the UCI defaults (fields: those of `UCI_ONLINE_RETAIL`).
    date_format: strftime pattern of text invoice dates (ISO text is accepted too).
    decimal_comma: text quantities and prices are written `1.234,56`.

    Raises
    ------
    DataContractError: unreadable file, a field the map does not know, or a source column missing.
    """
    path, out_dir = Path(path), Path(out_dir)
    lines = read_export(path)
    columns = _source_columns(lines, column_map or {}, path.name)
    parsed, reasons = _parse_lines(lines, columns, date_format, decimal_comma)
    is_rejected = reasons.is_not_null()
    rejects = _line_rejects(lines, reasons, path.name)
    is_guest = parsed.get_column("customer_id").is_null()
    good = parsed.filter(~is_rejected)

    transactions, rejected_transactions = check_table(_transactions(good), "transactions", "transactions")
    customers, rejected_customers = check_table(
        _customers(good, "country" in columns), "customers", "customers"
    )
    rejects = pl.concat([rejects, rejected_transactions, rejected_customers])

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"transactions": out_dir / "transactions.csv", "customers": out_dir / "customers.csv"}
    transactions.select("customer_id", "timestamp", "amount", "transaction_id", "quantity").write_csv(
        paths["transactions"], datetime_format=_ISO_DATETIME
    )
    customers.write_csv(paths["customers"], datetime_format=_ISO_DATETIME)
    rejects_path = out_dir / "transactions.rejects.csv"
    rejects_path.unlink(missing_ok=True)  # a stale file from an earlier import would mislead
    result = InvoiceImport(
        paths=paths,
        rejects_path=write_rejects(rejects, rejects_path),
        lines=FileCounts(path.name, good.height, int(is_rejected.sum())),
        guest_lines=int(is_guest.sum()),
        tables={
            "transactions": FileCounts("transactions.csv", transactions.height, rejected_transactions.height),
            "customers": FileCounts("customers.csv", customers.height, rejected_customers.height),
        },
        refunds=int((transactions.get_column("amount") < 0).sum()),
    )
    logger.info(
        "%s: %d lines accepted, %d rejected (%d guest); %d transactions of %d customers written to %s",
        path.name,
        result.lines.accepted,
        result.lines.rejected,
        result.guest_lines,
        transactions.height,
        customers.height,
        out_dir,
    )
    return result


def _source_columns(lines: pl.DataFrame, column_map: Mapping[str, str], file_name: str) -> dict[str, str]:
    """Field -> source column: the UCI defaults overridden by the map; an absent optional default is
    dropped, any other absent column is an error."""
    unknown = [field for field in column_map if field not in UCI_ONLINE_RETAIL]
    if unknown:
        raise DataContractError(
            f"--map {unknown[0]}={column_map[unknown[0]]}: {unknown[0]!r} is not an invoice-line field "
            f"({', '.join(UCI_ONLINE_RETAIL)})"
        )
    columns = {**UCI_ONLINE_RETAIL, **column_map}
    for field, source in list(columns.items()):
        if source in lines.columns:
            continue
        if field in OPTIONAL_FIELDS and field not in column_map:
            del columns[field]
            continue
        raise DataContractError(
            f"{file_name} has no column {source!r} for the invoice-line field {field!r} "
            f"(columns: {', '.join(lines.columns)}); name it with --map {field}=<column>"
        )
    return columns


def _parse_lines(
    lines: pl.DataFrame, columns: Mapping[str, str], date_format: str | None, decimal_comma: bool
) -> tuple[pl.DataFrame, pl.Series]:
    """Each line's fields in canonical types, and per line the reasons it is rejected (null if none)."""
    invoice = _text(lines.get_column(columns["invoice"]))
    customer = _ids(lines.get_column(columns["customer_id"]))
    timestamp = _timestamps(lines.get_column(columns["timestamp"]), date_format)
    quantity = _numbers(lines.get_column(columns["quantity"]), decimal_comma)
    unit_price = _numbers(lines.get_column(columns["unit_price"]), decimal_comma)
    country = _text(lines.get_column(columns["country"])) if "country" in columns else None
    date_problem = (
        "is not an ISO date"
        if date_format is None
        else f"matches neither the date format '{date_format}' nor ISO-8601"
    )
    number_problem = (
        "is not a number with a decimal comma such as 1.234,56" if decimal_comma else "is not a number"
    )
    checks = [
        (invoice.is_null(), pl.lit(f"empty {columns['invoice']}")),
        (
            customer.is_null(),
            pl.lit(f"guest purchase: no {columns['customer_id']}, so it cannot be attributed to a customer"),
        ),
        *_value_checks(lines, columns["timestamp"], timestamp, date_problem),
        *_value_checks(lines, columns["quantity"], quantity, number_problem),
        *_value_checks(lines, columns["unit_price"], unit_price, number_problem),
    ]
    frame = pl.DataFrame({f"failed{i}": failed for i, (failed, _) in enumerate(checks)})
    reasons = frame.select(
        pl.concat_str(
            [pl.when(f"failed{i}").then(message) for i, (_, message) in enumerate(checks)],
            separator="; ",
            ignore_nulls=True,
        ).replace("", None)
    ).to_series()
    parsed = pl.DataFrame(
        {
            "invoice": invoice,
            "customer_id": customer,
            "timestamp": timestamp,
            "quantity": quantity,
            "unit_price": unit_price,
            "country": country
            if country is not None
            else pl.repeat(None, lines.height, dtype=pl.String, eager=True),
        }
    )
    return parsed, reasons


def _value_checks(
    lines: pl.DataFrame, source: str, value: pl.Series, problem: str
) -> list[tuple[pl.Series, pl.Expr]]:
    """Empty, unparseable and (for numbers) non-finite values of one source column."""
    shown = _text(lines.get_column(source))
    checks = [
        (shown.is_null(), pl.lit(f"empty {source}")),
        (shown.is_not_null() & value.is_null(), pl.format(f"{source} '{{}}' {problem}", pl.lit(shown))),
    ]
    if value.dtype == pl.Float64:
        not_finite = (value.is_nan() | value.is_infinite()).fill_null(False)
        checks.append((not_finite, pl.format(f"{source} '{{}}' is not a finite number", pl.lit(shown))))
    return checks


def _line_rejects(lines: pl.DataFrame, reasons: pl.Series, file_name: str) -> pl.DataFrame:
    rows = reasons.is_not_null().arg_true()
    if rows.is_empty():
        return empty_frame(REJECTS_SCHEMA)
    return pl.DataFrame(
        {
            "file": [file_name] * rows.len(),
            "row_number": rows.cast(pl.Int64) + 1,
            "reason": reasons.gather(rows),
            "record": lines[rows].select(pl.struct(pl.all()).struct.json_encode()).to_series(),
        },
        schema=REJECTS_SCHEMA,
    )


def _transactions(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per (invoice, customer), in the order the invoices first appear."""
    amount = pl.col("quantity").cast(_AMOUNT_DECIMAL) * pl.col("unit_price").cast(_AMOUNT_DECIMAL)
    per_invoice = (
        lines.with_row_index("_line")
        .group_by("invoice", "customer_id")
        .agg(
            pl.col("_line").min(),
            pl.col("timestamp").min(),
            amount.sum().cast(pl.Float64).alias("amount"),
            pl.col("quantity").sum().abs().alias("quantity"),
        )
        .sort("_line")
    )
    shared = pl.col("invoice").count().over("invoice") > 1
    return per_invoice.select(
        "customer_id",
        "timestamp",
        "amount",
        pl.when(shared)
        .then(pl.concat_str("invoice", pl.lit("/"), "customer_id"))
        .otherwise("invoice")
        .alias("transaction_id"),
        "quantity",
    )


def _customers(lines: pl.DataFrame, with_country: bool) -> pl.DataFrame:
    """Every customer once, first seen at their first invoice, with the country of most of their
    invoices (ties: alphabetical)."""
    customers = (
        lines.group_by("customer_id").agg(pl.col("timestamp").min().alias("signup_date")).sort("customer_id")
    )
    if not with_country:
        return customers
    country = (
        lines.filter(pl.col("country").is_not_null())
        .group_by("customer_id", "country")
        .agg(pl.col("invoice").n_unique().alias("invoices"))
        .sort(["customer_id", "invoices", "country"], descending=[False, True, False])
        .unique("customer_id", keep="first", maintain_order=True)
        .select("customer_id", "country")
    )
    return customers.join(country, on="customer_id", how="left")


def _text(column: pl.Series) -> pl.Series:
    text = column.cast(pl.String).str.strip_chars()
    return text.set(text == "", None)


def _ids(column: pl.Series) -> pl.Series:
    """Customer ids as text; a spreadsheet's whole numbers stored as floats (17850.0) read as 17850."""
    if column.dtype.is_float() and ((column.drop_nulls() % 1) == 0).all():
        column = column.cast(pl.Int64)
    return _text(column)


def _numbers(column: pl.Series, decimal_comma: bool) -> pl.Series:
    """Typed cells (Excel numbers) as they are; text parsed as the contract reads numbers."""
    if column.dtype.is_numeric():
        return column.cast(pl.Float64)
    return parse_number_text(column, decimal_comma=decimal_comma)


def _timestamps(column: pl.Series, date_format: str | None) -> pl.Series:
    """Typed cells (Excel dates) as naive UTC; text parsed as the contract reads timestamps."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return column.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return column.cast(pl.Datetime("us"))
    return parse_timestamp_text(column, date_format)
