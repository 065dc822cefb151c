"""The CDNOW purchase log, turned into the raw-data contract.

CDNOW_master.txt is the classic data set of Fader, Hardie & Lee ("Counting your customers the easy
way", Marketing Science 24(2), 2005; "Forecasting Repeat Sales at CDNOW", Interfaces 31(3), 2001):
every purchase of the 23,570 people who first bought at CDNOW in the first quarter of 1997, up to
the end of June 1998. The file is whitespace-separated with one header line:
`customer_id  date(YYYYMMDD)  number_of_cds  dollar_value`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from domain.errors import DataContractError
from features.contract import TRANSACTIONS_SCHEMA

logger = logging.getLogger(__name__)

_LINE_PATTERN = r"^\s*(\d+)\s+(\d{8})\s+(\d+)\s+(-?\d+(?:\.\d*)?)\s*$"
_CSV_COLUMNS = ("customer_id", "timestamp", "amount", "quantity")


def read_cdnow(path: Path) -> pl.DataFrame:
    """Read the CDNOW log as canonical transactions (`TRANSACTIONS_SCHEMA`, one row per line).

    customer_id keeps its zero padding ("00001"), the date becomes a midnight timestamp,
    number_of_cds the quantity and dollar_value the amount. A line that is not four fields of the
    expected shape raises `DataContractError` naming its line number.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataContractError(f"cannot read the CDNOW file {path}: {exc}") from exc
    first_data_line = 1 if lines and not lines[0].strip()[:1].isdigit() else 0
    text = pl.Series("line", lines[first_data_line:], dtype=pl.String)
    fields = (
        pl.DataFrame({"line": text, "line_number": pl.int_range(1, text.len() + 1, eager=True)})
        .with_columns(pl.col("line_number") + first_data_line)
        .filter(pl.col("line").str.strip_chars() != "")
        .with_columns(pl.col("line").str.extract_groups(_LINE_PATTERN).alias("fields"))
        .unnest("fields")
    )
    _raise_on_malformed_line(fields, path)
    transactions = fields.select(
        pl.col("1").alias("customer_id"),
        pl.col("2").str.strptime(pl.Datetime("us"), "%Y%m%d", strict=False).alias("timestamp"),
        pl.col("4").cast(pl.Float64).alias("amount"),
        pl.col("3").cast(pl.Float64).alias("quantity"),
        pl.col("line_number"),
    )
    bad_dates = transactions.filter(pl.col("timestamp").is_null())
    if not bad_dates.is_empty():
        line_number = bad_dates.get_column("line_number")[0]
        raise DataContractError(f"{path.name} line {line_number}: the date is not a calendar date (YYYYMMDD)")
    return transactions.select(
        pl.col(c) if c in transactions.columns else pl.lit(None, dtype=dtype).alias(c)
        for c, dtype in TRANSACTIONS_SCHEMA.items()
    )


def import_cdnow(path: Path, out_dir: Path) -> dict[str, Path]:
    """Write the CDNOW log as a contract data folder (`transactions.csv` only) that `load_raw` reads back
    with no rejects. Returns the written files by table name."""
    transactions = read_cdnow(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "transactions.csv"
    transactions.select(_CSV_COLUMNS).with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%d")).write_csv(
        target
    )
    logger.info(
        "wrote %d CDNOW purchases of %d customers to %s",
        transactions.height,
        transactions.get_column("customer_id").n_unique(),
        target,
    )
    return {"transactions": target}


def _raise_on_malformed_line(fields: pl.DataFrame, path: Path) -> None:
    malformed = fields.filter(pl.col("1").is_null())
    if malformed.is_empty():
        return
    line_number, line = malformed.select("line_number", "line").row(0)
    raise DataContractError(
        f"{path.name} line {line_number} is not 'customer_id YYYYMMDD number_of_cds dollar_value': {line!r}"
        f" ({malformed.height} such lines)"
    )
