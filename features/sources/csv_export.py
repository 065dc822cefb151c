"""Any CSV or Excel export, renamed into one table of the raw-data contract and validated like one.

A CRM or shop export has its own column names, date format and number format (`trans_date` as
`%m/%d/%Y`, `tran_amount` as `1.234,56`). `import_csv` reads it, renames the columns named in a map
`contract column -> source column`, and hands the table to `features.contract.check_table`: the same
parsing, rules and rejects as a contract file, nothing re-implemented here.

- Reading: CSV with `,`, `;`, tab or `|` as separator (the one the header line uses most),
  gzip-compressed or not, UTF-8; Excel workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods: the first sheet,
  read by calamine with column types inferred from every row, since inferring from the first rows
  drops rows that disagree). Typed cells (Excel numbers and dates) need no format; text cells follow
  `date_format` and `decimal_comma`.
- Columns: a source column already named as a contract column is taken as it is, unless the map gives
  that contract column another source (then it is ignored). Columns neither mapped nor in the contract
  are profile attributes for customers (as in a contract customers file); for transactions and
  interactions they are not written, and are listed in `ImportResult.ignored_columns`.
- Output: `<out>/<table>.csv`, CSV rather than Parquet so that a person can open and check it, with
  ISO timestamps, which `load_raw` reads back unchanged. Bad rows go to `<out>/<table>.rejects.csv`
  with their data row number in the export (the header is not counted), the reason, and the row as it
  was read, source column names included.
"""

from __future__ import annotations

import difflib
import gzip
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import fastexcel
import polars as pl

from domain.errors import DataContractError
from domain.vocabulary import ContractTable
from features.contract import (
    CUSTOMERS_BASE_SCHEMA,
    INTERACTIONS_SCHEMA,
    TRANSACTIONS_SCHEMA,
    FileCounts,
    check_table,
    write_rejects,
)

logger = logging.getLogger(__name__)

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
CSV_SEPARATORS = (",", ";", "\t", "|")
CONTRACT_SCHEMAS: dict[ContractTable, dict[str, pl.DataType]] = {
    "transactions": TRANSACTIONS_SCHEMA,
    "customers": CUSTOMERS_BASE_SCHEMA,
    "interactions": INTERACTIONS_SCHEMA,
}
_ISO_DATETIME = "%Y-%m-%dT%H:%M:%S%.f"


@dataclass(frozen=True)
class ImportResult:
    """What one import wrote: the contract file, the rejects (None when every row passed), the counts
    (keyed by the export's file name) and the source columns that were not written."""

    table: ContractTable
    path: Path
    rejects_path: Path | None
    counts: FileCounts
    ignored_columns: tuple[str, ...]


def parse_column_map(specs: Sequence[str], option: str = "--map") -> dict[str, str]:
    """`["customer_id=Kunde,amount=Betrag", "timestamp=Datum"]` to `{contract column: source column}`.

    Pairs are separated by commas (or given as several options); names are stripped of surrounding
    spaces, inner spaces are kept (`customer_id=Customer ID`).

    Raises
    ------
    DataContractError: a pair is not `contract=source`, or a contract column is mapped twice.
    """
    column_map: dict[str, str] = {}
    for spec in specs:
        for pair in spec.split(","):
            if not pair.strip():
                continue
            target, equals, source = (part.strip() for part in pair.partition("="))
            if not equals or not target or not source:
                raise DataContractError(
                    f"{option} '{pair.strip()}' is not contract_column=source_column "
                    "(e.g. customer_id=CustomerID,timestamp=trans_date)"
                )
            if target in column_map:
                raise DataContractError(
                    f"{option} maps {target!r} twice ({column_map[target]!r} and {source!r}); keep one"
                )
            column_map[target] = source
    return column_map


def read_export(path: Path) -> pl.DataFrame:
    """The export's rows as read: every CSV column as text; Excel columns typed as the sheet holds them.

    Raises
    ------
    DataContractError: the file is missing, empty, not UTF-8, not a workbook, or repeats a column name.
    """
    path = Path(path)
    if not path.is_file():
        raise DataContractError(f"{path} does not exist or is not a file")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        try:
            table = pl.read_excel(path, engine="calamine", infer_schema_length=None)
        except (pl.exceptions.PolarsError, fastexcel.FastExcelError, OSError) as exc:
            raise DataContractError(f"{path.name} cannot be read as an Excel workbook: {exc}") from exc
    else:
        table = _read_csv(path)
    names = [str(c).strip() for c in table.columns]
    if len(set(names)) != len(names):
        raise DataContractError(f"{path.name} has duplicate column names {names}; rename them")
    return table.rename(dict(zip(table.columns, names, strict=True)))


def rename_to_contract(
    table: pl.DataFrame, name: ContractTable, column_map: Mapping[str, str], file_name: str
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The export's columns renamed as the contract names them, and the source columns left out.

    Raises
    ------
    DataContractError: the map names a column that is not in the contract table (any name is an
        attribute of customers), or a source column the export does not have.
    """
    schema = CONTRACT_SCHEMAS[name]
    for target, source in column_map.items():
        if name != "customers" and target not in schema:
            raise DataContractError(
                f"--map {target}={source}: {target!r} is not a column of {name} "
                f"({', '.join(schema)}){_did_you_mean(target, list(schema))}"
            )
        if source not in table.columns:
            raise DataContractError(
                f"--map {target}={source}: {file_name} has no column {source!r} "
                f"(columns: {', '.join(table.columns)}){_did_you_mean(source, table.columns)}"
            )
    sources = set(column_map.values())
    unmapped = [c for c in table.columns if c not in sources]
    shadowed = [c for c in unmapped if c in column_map]
    kept = [c for c in unmapped if c not in column_map]
    ignored = [*shadowed, *(c for c in kept if c not in schema and name != "customers")]
    renamed = table.select(
        *(pl.col(source).alias(target) for target, source in column_map.items()),
        *(c for c in kept if c not in ignored),
    )
    return renamed, tuple(ignored)


def import_csv(
    path: Path,
    name: ContractTable,
    out_dir: Path,
    column_map: Mapping[str, str] | None = None,
    *,
    date_format: str | None = None,
    decimal_comma: bool = False,
) -> ImportResult:
    """Turn one export into `<out_dir>/<name>.csv`, validated and rejected as a contract file.

    Parameters
    ----------
    path: the CSV (optionally gzip) or Excel export.
    name: the contract table the export holds (`transactions`, `customers` or `interactions`).
    out_dir: the data folder to write into (created if needed; other tables there are kept).
    column_map: contract column -> source column; unmapped columns named as the contract are kept.
    date_format: strftime pattern of text timestamps and signup dates (ISO text is accepted too).
    decimal_comma: text numbers are written `1.234,56`.

    Raises
    ------
    DataContractError: unknown table, unreadable file, bad map, missing required column, bad date
        format, or a `<name>.parquet` already in `out_dir` (the folder would hold the table twice).
    """
    if name not in CONTRACT_SCHEMAS:
        raise DataContractError(
            f"--kind {name!r} is not a contract table; use one of {', '.join(CONTRACT_SCHEMAS)}"
        )
    path, out_dir = Path(path), Path(out_dir)
    target = out_dir / f"{name}.csv"
    if (out_dir / f"{name}.parquet").exists():
        raise DataContractError(
            f"{out_dir} already holds {name}.parquet; remove it or import into another folder"
        )
    table = read_export(path)
    renamed, ignored = rename_to_contract(table, name, column_map or {}, path.name)
    accepted, rejects = check_table(
        renamed, name, path.name, date_format=date_format, decimal_comma=decimal_comma
    )
    rejects = _with_source_records(rejects, table)
    written_columns = [c for c in accepted.columns if c in renamed.columns]
    out_dir.mkdir(parents=True, exist_ok=True)
    accepted.select(written_columns).write_csv(target, datetime_format=_ISO_DATETIME)
    rejects_path = out_dir / f"{name}.rejects.csv"
    rejects_path.unlink(missing_ok=True)  # a stale file from an earlier import would mislead
    written_rejects = write_rejects(rejects, rejects_path)
    if ignored:
        logger.info("%s: columns not written to %s: %s", path.name, target.name, ", ".join(ignored))
    logger.info("%s -> %s: %d rows accepted, %d rejected", path.name, target, accepted.height, rejects.height)
    return ImportResult(
        table=name,
        path=target,
        rejects_path=written_rejects,
        counts=FileCounts(path.name, accepted.height, rejects.height),
        ignored_columns=ignored,
    )


def _read_csv(path: Path) -> pl.DataFrame:
    separator = _separator(path)
    try:
        return pl.read_csv(path, separator=separator, infer_schema=False)
    except pl.exceptions.NoDataError as exc:
        raise DataContractError(f"{path.name} is empty; export it again with a header line") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        if "utf-8" in str(exc).lower():
            raise DataContractError(
                f"{path.name} is not UTF-8 text; save it as 'CSV UTF-8' (or import the Excel file)"
            ) from exc
        raise DataContractError(f"{path.name} cannot be read as CSV: {exc}") from exc


def _separator(path: Path) -> str:
    """The separator the header line uses most, outside quotes (a comma when none is used)."""
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(path, "rb") as stream:
            header = stream.readline().decode("utf-8", errors="replace")
    except (OSError, EOFError) as exc:
        raise DataContractError(f"{path.name} cannot be read: {exc}") from exc
    counts = dict.fromkeys(CSV_SEPARATORS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(CSV_SEPARATORS, key=lambda s: counts[s])  # first of equals: the comma
    return best if counts[best] else ","


def _with_source_records(rejects: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Each rejected row's record as the export holds it, so the person fixing it sees their columns."""
    if rejects.is_empty():
        return rejects
    rows = rejects.get_column("row_number") - 1
    records = table[rows].select(pl.struct(pl.all()).struct.json_encode()).to_series()
    return rejects.with_columns(records.alias("record"))


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"; did you mean {close[0]!r}?" if close else ""
