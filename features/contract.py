"""The raw-data contract: what a company's CRM export must look like, in memory and on disk.

Every stage downstream (features, training, serving) works on `RawData`, whose frames always carry
the canonical columns and dtypes below, whatever file format or API payload they came from.

Beside it: the limits on values (`features.limits`), the column parsers (`features.column_parsers`),
typed records from the API (`features.records`) and the optional actions file
(`features.actions_contract`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from domain.errors import DataContractError
from domain.vocabulary import ContractTable
from features.column_parsers import (
    Check,
    ColumnParser,
    from_decimal_comma,
    number_parser,
    parse_customer_id,
    parse_formatted,
    parse_interaction_type,
    parse_iso_timestamps,
    parse_text,
    require_date_format,
    stripped_text,
    timestamp_parser,
)
from features.limits import INTERNAL_COLUMN_PREFIX, RESERVED_KEY_COLUMNS

TRANSACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "amount": pl.Float64(),
    "transaction_id": pl.String(),
    "quantity": pl.Float64(),
    "category": pl.String(),
    "channel": pl.String(),
}
INTERACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "type": pl.String(),
    "value": pl.Float64(),
}
CUSTOMERS_BASE_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "signup_date": pl.Datetime("us"),
}


def is_reserved_attribute(name: str) -> bool:
    """Whether a customer attribute may not take `name`: a key, feature or label, or an internal column."""
    return name.startswith(INTERNAL_COLUMN_PREFIX) or name in reserved_attribute_names()


@functools.cache
def reserved_attribute_names() -> frozenset[str]:
    """Names a customer attribute may not take: the keys, every feature and every label column.

    An attribute under one of these names would stand in for a column clvchurn computes or keys
    predictions on; the API refuses it with a 422 and a customers file with a `DataContractError`.
    """
    from features.build import KEY_COLUMNS, LABEL_COLUMNS  # features.build imports this module
    from features.definitions import FEATURES

    return frozenset((*RESERVED_KEY_COLUMNS, *KEY_COLUMNS, *LABEL_COLUMNS, *(spec.name for spec in FEATURES)))


@dataclass(frozen=True)
class RawData:
    """One company's CRM history in canonical form.

    `customers` holds `customer_id`, `signup_date` and any profile attribute columns (strings).
    Optional columns absent from the source are present and null, so feature code never branches
    on the source.
    """

    transactions: pl.DataFrame
    customers: pl.DataFrame
    interactions: pl.DataFrame

    @property
    def attribute_columns(self) -> list[str]:
        """Profile attributes: every customers column beyond id and signup date."""
        return [c for c in self.customers.columns if c not in CUSTOMERS_BASE_SCHEMA]


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


# --- Loading a data folder -------------------------------------------------------------------------

logger = logging.getLogger(__name__)

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "row_number": pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
}


@dataclass(frozen=True)
class FileCounts:
    """How many data rows of one file were accepted and how many went to the rejects."""

    file: str
    accepted: int
    rejected: int


@dataclass(frozen=True)
class LoadResult:
    """The canonical data plus every row that was turned away, with the reason why.

    `counts` is keyed by table name (`transactions`, `customers`, `interactions`) and holds only the
    files that were present.
    """

    raw: RawData
    rejects: pl.DataFrame
    counts: dict[str, FileCounts]


def load_raw(data_dir: Path) -> LoadResult:
    """Read and validate a company's raw CRM folder into canonical frames.

    Structural problems (missing file, missing required column, unreadable file) raise
    `DataContractError` at once; row-level problems never stop the load and never vanish silently:
    each bad row lands in `rejects` with its file, 1-based data row number, reason and original record.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataContractError(f"data folder {data_dir} does not exist or is not a folder")
    frames: dict[str, pl.DataFrame] = {}
    rejects: list[pl.DataFrame] = []
    counts: dict[str, FileCounts] = {}
    for spec in _TABLE_SPECS:
        path = find_table_file(data_dir, spec.name, required=spec.name == "transactions")
        if path is None:
            logger.info("no %s file in %s: using an empty table", spec.name, data_dir)
            frames[spec.name] = empty_frame(spec.schema)
            continue
        accepted, rejected = check_with_spec(read_table(path), spec, path.name)
        frames[spec.name] = accepted
        rejects.append(rejected)
        counts[spec.name] = FileCounts(path.name, accepted.height, rejected.height)
        logger.info("%s: %d rows accepted, %d rejected", path.name, accepted.height, rejected.height)
    raw = RawData(frames["transactions"], frames["customers"], frames["interactions"])
    all_rejects = pl.concat(rejects) if rejects else empty_frame(REJECTS_SCHEMA)
    return LoadResult(raw=raw, rejects=all_rejects, counts=counts)


def check_rows(
    table: pl.DataFrame, table_name: str, file_name: str, *, first_seen: pl.Series | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`load_raw`'s checks on rows of one table, for engines that read a table in slices (Spark).

    The unique-key rule needs the whole table, so a caller that sees a slice finds the repeats itself
    and passes `first_seen`: per row of `table`, where its key was first seen (a row number, or a text
    such as "12 of part-00001.csv"), null if the row repeats no earlier one. Without it, repeats are
    looked for within `table`, as `load_raw` does.

    Parameters
    ----------
    table: the rows as read (columns as in the file; CSV columns as text).
    table_name: "transactions", "customers" or "interactions".
    file_name: the file the rows come from, as the rejects and error messages name it.

    Returns
    -------
    The accepted rows in canonical form, and the rejects (`REJECTS_SCHEMA`) whose `row_number` is the
    1-based position in `table`.

    Raises
    ------
    DataContractError: a required column is missing or a column has a type the contract cannot read;
    an empty `table` with the file's columns and types is enough to find out.
    """
    return check_with_spec(table, SPECS_BY_TABLE[table_name], file_name, first_seen)


def parse_unique_key(column: pl.Series, table_name: str, file_name: str) -> pl.Series:
    """The unique key of `table_name` (`UNIQUE_KEYS`) as the duplicate rule compares it: stripped text,
    blank as null. For engines that look for repeats across slices of a table."""
    spec = SPECS_BY_TABLE[table_name]
    return spec.parsers[UNIQUE_KEYS[table_name]](column, file_name).value


def write_rejects(rejects: pl.DataFrame, path: Path) -> Path | None:
    """Write the rejected rows so a person can fix them; parquet if `path` ends in .parquet, else CSV."""
    if rejects.is_empty():
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        rejects.write_parquet(path)
    else:
        rejects.write_csv(path)
    logger.info("wrote %d rejected rows to %s", rejects.height, path)
    return path


def check_table(
    table: pl.DataFrame,
    name: ContractTable,
    file_name: str,
    *,
    date_format: str | None = None,
    decimal_comma: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate one table already in memory exactly as `load_raw` validates a file of that name.

    For importers of other exports (`features.sources`): they rename the columns, this applies the
    contract's rules and rejects unchanged.

    Parameters
    ----------
    table: the rows as read (text columns are parsed; typed columns are checked), named as the contract.
    name: which contract table the rows are.
    file_name: the file named in errors and in the rejects' `file` column.
    date_format: a strftime pattern (e.g. `%m/%d/%Y`) for text timestamps; values that do not match it
        are still accepted when they are ISO-8601, so that Excel date cells (read as ISO) also pass.
    decimal_comma: text numbers are written `1.234,56` (dot or space thousands, comma decimals).

    Returns
    -------
    The accepted rows in canonical columns and dtypes, and the rejects (`REJECTS_SCHEMA`).

    Raises
    ------
    DataContractError: a required column is missing, a column has an unusable type, or the date
        format is not a strftime pattern.
    """
    if date_format is not None:
        require_date_format(date_format)
    spec = next(s for s in _table_specs(date_format, decimal_comma) if s.name == name)
    return check_with_spec(table, spec, file_name)


def parse_timestamp_text(text: pl.Series, date_format: str | None = None) -> pl.Series:
    """Text to naive UTC datetimes as the contract reads it (ISO-8601, or `date_format` first), null
    where it does not parse. Blank text is null."""
    if date_format is not None:
        require_date_format(date_format)
    text = stripped_text(text)
    return parse_iso_timestamps(text) if date_format is None else parse_formatted(text, date_format)


def parse_number_text(text: pl.Series, *, decimal_comma: bool = False) -> pl.Series:
    """Text to Float64 as the contract reads numbers (`1234.56`, or `1.234,56` with `decimal_comma`),
    null where it does not parse. Blank text is null."""
    text = stripped_text(text)
    return (from_decimal_comma(text) if decimal_comma else text).cast(pl.Float64, strict=False)


def find_table_file(data_dir: Path, table: str, *, required: bool) -> Path | None:
    """`<table>.csv` or `<table>.parquet` in the folder (not both); None when absent and not required."""
    present = [p for p in (data_dir / f"{table}.csv", data_dir / f"{table}.parquet") if p.is_file()]
    if len(present) > 1:
        raise DataContractError(
            f"{data_dir} holds both {table}.csv and {table}.parquet; keep only one of them"
        )
    if present:
        return present[0]
    if required:
        raise DataContractError(f"{data_dir} has no {table}.csv or {table}.parquet; it is required")
    return None


def read_table(path: Path) -> pl.DataFrame:
    """CSV is read with every column as text so that parsing, not type inference, decides what is bad."""
    try:
        table = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataContractError(f"{path.name} cannot be read as {path.suffix[1:]}: {exc}") from exc
    names = [str(c).strip() for c in table.columns]
    if len(set(names)) != len(names):
        raise DataContractError(f"{path.name} has duplicate column names {names}; rename them")
    return table.rename(dict(zip(table.columns, names, strict=True)))


# --- Checking a table: each column parsed to its dtype, each broken rule recorded per row ----------


@dataclass(frozen=True)
class TableSpec:
    """One table's rules: canonical schema, required columns, a parser per column, the unique key, and
    whether columns beyond the schema are kept as customer attributes."""

    name: str
    schema: dict[str, pl.DataType]
    required: tuple[str, ...]
    parsers: dict[str, ColumnParser]
    unique_key: str | None
    extra_columns_are_attributes: bool


def check_with_spec(
    table: pl.DataFrame, spec: TableSpec, file_name: str, first_seen: pl.Series | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accepted rows of `table` under `spec` in canonical form, and the rejects with every reason
    (`first_seen` as in `check_rows`). Shared by the contract's tables and the actions file."""
    missing = [c for c in spec.required if c not in table.columns]
    if missing:
        raise DataContractError(
            f"{file_name} lacks required column {missing[0]!r} (required: {', '.join(spec.required)}; "
            f"found: {', '.join(table.columns) or 'none'}); add it or rename the matching column"
        )
    extra = [c for c in table.columns if c not in spec.schema]
    parsers = dict(spec.parsers)
    if spec.extra_columns_are_attributes:
        _refuse_reserved_attributes(extra, file_name)
        parsers.update(dict.fromkeys(extra, parse_text))
    elif extra:
        logger.info("%s: ignoring columns not in the contract: %s", file_name, ", ".join(extra))
    parsed = {
        c: parser(table.get_column(c), file_name) for c, parser in parsers.items() if c in table.columns
    }
    checks = [check for p in parsed.values() for check in p.checks if check.failed.any()]
    if spec.unique_key in parsed:
        key = parsed[spec.unique_key].value
        if first_seen is None:
            checks.extend(_duplicate_checks(key, spec.unique_key))
        elif first_seen.is_not_null().any():
            checks.append(_repeat_check(key, spec.unique_key, first_seen))
    is_rejected = pl.repeat(False, table.height, dtype=pl.Boolean, eager=True)
    for check in checks:
        is_rejected = is_rejected | check.failed.fill_null(False)
    values = pl.DataFrame([p.value.alias(c) for c, p in parsed.items()], height=table.height)
    if checks:
        values = values.filter(~is_rejected)
    columns = [*spec.schema, *(extra if spec.extra_columns_are_attributes else [])]
    accepted = values.select(
        pl.col(c) if c in parsed else pl.lit(None, dtype=spec.schema[c]).alias(c) for c in columns
    )
    return accepted, rejected_rows(table, checks, is_rejected.arg_true(), file_name)


def _refuse_reserved_attributes(attributes: list[str], file_name: str) -> None:
    reserved = sorted(name for name in attributes if is_reserved_attribute(name))
    if reserved:
        raise DataContractError(
            f"{file_name} has an attribute column named {reserved[0]!r}, a name clvchurn reserves for its "
            f"keys, features, labels and internal columns (those starting with '_'); rename the column "
            f"(e.g. to 'crm_{reserved[0].lstrip('_')}')"
        )


def _duplicate_checks(key: pl.Series, key_name: str) -> list[Check]:
    """Every repeat of a key after its first row is rejected, naming the row that came first.

    Exact distinctness on ten million strings is slow, so keys are hashed, the hashes sorted, and only
    rows whose hash occurs twice are compared exactly (equal keys always have equal hashes).
    """
    hashes = key.hash()
    sorted_hashes = hashes.filter(key.is_not_null()).sort()
    same_as_previous = sorted_hashes.slice(1) == sorted_hashes.slice(0, max(sorted_hashes.len() - 1, 0))
    collided = sorted_hashes.slice(1).filter(same_as_previous)
    if collided.is_empty():
        return []
    candidates = (hashes.is_in(collided.unique().implode()) & key.is_not_null()).arg_true()
    repeats = (
        pl.DataFrame({"key": key.gather(candidates), "row": candidates.cast(pl.Int64)})
        .with_columns(pl.col("row").min().over("key").alias("first_row"))
        .filter(pl.col("row") != pl.col("first_row"))
    )
    if repeats.is_empty():
        return []
    rows = repeats.get_column("row")
    first_seen = pl.repeat(None, key.len(), dtype=pl.Int64, eager=True).scatter(
        rows, repeats.get_column("first_row") + 1
    )
    return [_repeat_check(key, key_name, first_seen)]


def _repeat_check(key: pl.Series, key_name: str, first_seen: pl.Series) -> Check:
    """Rows whose `first_seen` is set repeat a key first seen at that row (a number or a text)."""
    return Check(
        first_seen.is_not_null(), f"duplicate {key_name} '{{}}' (first seen at row {{}})", (key, first_seen)
    )


def rejected_rows(table: pl.DataFrame, checks: list[Check], rows: pl.Series, file_name: str) -> pl.DataFrame:
    """One line per rejected row with all of its reasons joined by '; ' and the original record as JSON."""
    if rows.is_empty():
        return empty_frame(REJECTS_SCHEMA)
    messages = pl.DataFrame([c.messages(rows).alias(f"m{i}") for i, c in enumerate(checks)])
    reasons = messages.select(pl.concat_str(pl.all(), separator="; ", ignore_nulls=True)).to_series()
    return pl.DataFrame(
        {
            "file": [file_name] * rows.len(),
            "row_number": rows.cast(pl.Int64) + 1,
            "reason": reasons,
            "record": table[rows].select(pl.struct(pl.all()).struct.json_encode()).to_series(),
        },
        schema=REJECTS_SCHEMA,
    )


def _table_specs(date_format: str | None = None, decimal_comma: bool = False) -> tuple[TableSpec, ...]:
    """The three tables' rules; text dates and numbers read as ISO and with a decimal point by default."""
    return (
        TableSpec(
            name="transactions",
            schema=TRANSACTIONS_SCHEMA,
            required=("customer_id", "timestamp", "amount"),
            parsers={
                "customer_id": parse_customer_id,
                "timestamp": timestamp_parser(required=True, date_format=date_format),
                "amount": number_parser(required=True, non_negative=False, decimal_comma=decimal_comma),
                "transaction_id": parse_text,
                "quantity": number_parser(required=False, non_negative=True, decimal_comma=decimal_comma),
                "category": parse_text,
                "channel": parse_text,
            },
            unique_key="transaction_id",
            extra_columns_are_attributes=False,
        ),
        TableSpec(
            name="customers",
            schema=CUSTOMERS_BASE_SCHEMA,
            required=("customer_id",),
            parsers={
                "customer_id": parse_customer_id,
                "signup_date": timestamp_parser(required=False, date_format=date_format),
            },
            unique_key="customer_id",
            extra_columns_are_attributes=True,
        ),
        TableSpec(
            name="interactions",
            schema=INTERACTIONS_SCHEMA,
            required=("customer_id", "timestamp", "type"),
            parsers={
                "customer_id": parse_customer_id,
                "timestamp": timestamp_parser(required=True, date_format=date_format),
                "type": parse_interaction_type,
                "value": number_parser(required=False, non_negative=False, decimal_comma=decimal_comma),
            },
            unique_key=None,
            extra_columns_are_attributes=False,
        ),
    )


_TABLE_SPECS = _table_specs()


# Each contract table's rules by name: schema, required columns, parsers, unique key.
SPECS_BY_TABLE = {spec.name: spec for spec in _TABLE_SPECS}
# The column whose values must not repeat within a table, for the tables that have one.
UNIQUE_KEYS = {spec.name: spec.unique_key for spec in _TABLE_SPECS if spec.unique_key is not None}
