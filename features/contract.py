"""The raw-data contract: what a company's CRM export must look like, in memory and on disk.

Every stage downstream (features, training, serving) works on `RawData`, whose frames always carry
the canonical columns and dtypes below, whatever file format or API payload they came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

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
_TIMESTAMP_PATTERN = (
    r"^(\d{4}-\d{2}-\d{2})"  # date
    r"(?:[T ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?)?"  # optional time, optional seconds and fraction
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"  # optional UTC offset
)
_NAIVE_FORMAT = "%Y-%m-%d %H:%M:%S%.f"


class DataContractError(ValueError):
    """A data folder or record set breaks the raw-data contract in a way no row-level reject can fix."""


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


@dataclass(frozen=True)
class _Parsed:
    """A column parsed to its canonical dtype, and the reasons (null when fine) a row fails it."""

    value: pl.Expr
    reasons: list[pl.Expr]


_ColumnParser = Callable[[str, pl.DataType, str], _Parsed]


@dataclass(frozen=True)
class _TableSpec:
    name: str
    schema: dict[str, pl.DataType]
    required: tuple[str, ...]
    parsers: dict[str, _ColumnParser]
    unique_key: str | None
    extra_columns_are_attributes: bool


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
        path = _find_table_file(data_dir, spec.name, required=spec.name == "transactions")
        if path is None:
            logger.info("no %s file in %s: using an empty table", spec.name, data_dir)
            frames[spec.name] = empty_frame(spec.schema)
            continue
        accepted, rejected = _check_table(_read_table(path), spec, path.name)
        frames[spec.name] = accepted
        rejects.append(rejected)
        counts[spec.name] = FileCounts(path.name, accepted.height, rejected.height)
        logger.info("%s: %d rows accepted, %d rejected", path.name, accepted.height, rejected.height)
    raw = RawData(frames["transactions"], frames["customers"], frames["interactions"])
    all_rejects = pl.concat(rejects) if rejects else empty_frame(REJECTS_SCHEMA)
    return LoadResult(raw=raw, rejects=all_rejects, counts=counts)


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


def _find_table_file(data_dir: Path, table: str, *, required: bool) -> Path | None:
    candidates = [data_dir / f"{table}.{suffix}" for suffix in ("csv", "parquet")]
    present = [p for p in candidates if p.is_file()]
    if len(present) > 1:
        raise DataContractError(
            f"{data_dir} holds both {table}.csv and {table}.parquet; keep only one of them"
        )
    if present:
        return present[0]
    if required:
        raise DataContractError(f"{data_dir} has no {table}.csv or {table}.parquet; it is required")
    return None


def _read_table(path: Path) -> pl.DataFrame:
    """CSV is read with every column as text so that parsing, not type inference, decides what is bad."""
    try:
        table = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataContractError(f"{path.name} cannot be read as {path.suffix[1:]}: {exc}") from exc
    names = [str(c).strip() for c in table.columns]
    if len(set(names)) != len(names):
        raise DataContractError(f"{path.name} has duplicate column names {names}; rename them")
    return table.rename(dict(zip(table.columns, names, strict=True)))


def _check_table(table: pl.DataFrame, spec: _TableSpec, file_name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    missing = [c for c in spec.required if c not in table.columns]
    if missing:
        raise DataContractError(
            f"{file_name} lacks required column {missing[0]!r} (required: {', '.join(spec.required)}; "
            f"found: {', '.join(table.columns) or 'none'}); add it or rename the matching column"
        )
    extra = [c for c in table.columns if c not in spec.schema]
    if extra and not spec.extra_columns_are_attributes:
        logger.info("%s: ignoring columns not in the contract: %s", file_name, ", ".join(extra))
    parsers = dict(spec.parsers)
    if spec.extra_columns_are_attributes:
        parsers.update({c: _parse_text for c in extra})
    parsed = {c: parser(c, table.schema[c], file_name) for c, parser in parsers.items() if c in table.columns}
    checked = table.select(
        *(p.value.alias(c) for c, p in parsed.items()),
        _join_reasons([r for p in parsed.values() for r in p.reasons]).alias("__reason"),
    )
    if spec.unique_key is not None:
        checked = _add_duplicate_reason(checked, spec.unique_key)
    is_rejected = checked.get_column("__reason").is_not_null()
    columns = [*spec.schema, *(c for c in extra if spec.extra_columns_are_attributes)]
    accepted = checked.filter(~is_rejected).select(
        pl.col(c) if c in checked.columns else pl.lit(None, dtype=spec.schema[c]).alias(c) for c in columns
    )
    return accepted, _rejected_rows(table, checked.get_column("__reason"), is_rejected, file_name)


def _add_duplicate_reason(checked: pl.DataFrame, key: str) -> pl.DataFrame:
    """Reject every repeat of a key after its first row, naming the row that came first."""
    is_repeat = pl.col(key).is_not_null() & ~pl.col(key).is_first_distinct()
    if not checked.select(is_repeat.any()).item():
        return checked
    numbered = checked.with_row_index("__row", offset=1)
    first_rows = numbered.filter(pl.col(key).is_not_null() & pl.col(key).is_first_distinct()).select(
        key, pl.col("__row").alias("__first_row")
    )
    reason = pl.when(is_repeat).then(
        pl.format("duplicate {} '{}' (first seen at row {})", pl.lit(key), pl.col(key), pl.col("__first_row"))
    )
    return (
        numbered.join(first_rows, on=key, how="left", maintain_order="left")
        .with_columns(_join_reasons([pl.col("__reason"), reason]).alias("__reason"))
        .drop("__row", "__first_row")
    )


def _join_reasons(reasons: list[pl.Expr]) -> pl.Expr:
    """All of a row's failures in one message; null when the row is fine."""
    if not reasons:
        return pl.lit(None, dtype=pl.String)
    joined = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    return pl.when(joined.str.len_bytes() > 0).then(joined)


def _rejected_rows(
    table: pl.DataFrame, reasons: pl.Series, is_rejected: pl.Series, file_name: str
) -> pl.DataFrame:
    bad = table.with_row_index("__row", offset=1).filter(is_rejected)
    return pl.DataFrame(
        {
            "file": pl.Series([file_name] * bad.height, dtype=pl.String),
            "row_number": bad.get_column("__row").cast(pl.Int64),
            "reason": reasons.filter(is_rejected),
            "record": bad.select(pl.struct(table.columns).struct.json_encode()).to_series(),
        },
        schema=REJECTS_SCHEMA,
    )


# --- Column parsers: each turns one source column into its canonical dtype plus reject reasons -----


def _text(name: str) -> pl.Expr:
    """The column as stripped text, empty strings as null."""
    stripped = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped)


def _parse_text(name: str, dtype: pl.DataType, file_name: str) -> _Parsed:
    return _Parsed(_text(name), [])


def _parse_customer_id(name: str, dtype: pl.DataType, file_name: str) -> _Parsed:
    if not (dtype == pl.String or dtype.is_integer() or dtype == pl.Null):
        raise DataContractError(
            f"{file_name} column {name!r} has type {dtype}; store customer ids as text or integers"
        )
    return _Parsed(_text(name), [pl.when(_text(name).is_null()).then(pl.lit(f"empty {name}"))])


def _parse_interaction_type(name: str, dtype: pl.DataType, file_name: str) -> _Parsed:
    value = _text(name).str.to_lowercase()
    return _Parsed(value, [pl.when(value.is_null()).then(pl.lit(f"empty {name}"))])


def _number_parser(*, required: bool, non_negative: bool) -> _ColumnParser:
    def parse(name: str, dtype: pl.DataType, file_name: str) -> _Parsed:
        if not (dtype == pl.String or dtype.is_numeric() or dtype == pl.Null):
            raise DataContractError(f"{file_name} column {name!r} has type {dtype}; store it as a number")
        text = _text(name)
        value = text.cast(pl.Float64, strict=False) if dtype == pl.String else pl.col(name).cast(pl.Float64)
        reasons: list[pl.Expr] = [
            pl.when(text.is_not_null() & value.is_null()).then(
                pl.format("{} '{}' is not a number", pl.lit(name), text)
            ),
            pl.when(value.is_nan() | value.is_infinite()).then(
                pl.format("{} '{}' is not a finite number", pl.lit(name), text)
            ),
        ]
        if required:
            reasons.insert(0, pl.when(text.is_null()).then(pl.lit(f"empty {name}")))
        if non_negative:
            reasons.append(pl.when(value < 0).then(pl.format("{} {} is negative", pl.lit(name), text)))
        return _Parsed(value, reasons)

    return parse


def _timestamp_parser(*, required: bool) -> _ColumnParser:
    def parse(name: str, dtype: pl.DataType, file_name: str) -> _Parsed:
        if isinstance(dtype, pl.Datetime):
            value = pl.col(name)
            if dtype.time_zone is not None:
                value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            value = value.cast(pl.Datetime("us"))
        elif dtype == pl.Date:
            value = pl.col(name).cast(pl.Datetime("us"))
        elif dtype == pl.String or dtype == pl.Null:
            value = _parse_iso_timestamp(_text(name))
        else:
            raise DataContractError(
                f"{file_name} column {name!r} has type {dtype}; store it as a timestamp, a date "
                "or ISO-8601 text such as 2024-05-31 or 2024-05-31T14:05:00+02:00"
            )
        text = _text(name)
        reasons: list[pl.Expr] = [
            pl.when(text.is_not_null() & value.is_null()).then(
                pl.format("{} '{}' is not an ISO date", pl.lit(name), text)
            )
        ]
        if required:
            reasons.insert(0, pl.when(text.is_null()).then(pl.lit(f"empty {name}")))
        return _Parsed(value, reasons)

    return parse


def _parse_iso_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 date or datetime text to naive UTC: 'T' or space, optional seconds and fraction,
    optional offset (Z, +02:00, -0530, +02) that is applied and dropped. Null where it does not parse.
    """
    parts = text.str.extract_groups(_TIMESTAMP_PATTERN)
    date, hours_minutes, seconds, offset = (parts.struct.field(str(i)) for i in range(1, 5))
    clock = pl.coalesce(
        pl.concat_str([hours_minutes, pl.coalesce(seconds, pl.lit(":00"))]), pl.lit("00:00:00")
    )
    naive = pl.concat_str([date, pl.lit(" "), clock]).str.strptime(
        pl.Datetime("us"), _NAIVE_FORMAT, strict=False
    )
    digits = offset.str.replace(":", "", literal=True)
    offset_minutes = (
        digits.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
        + digits.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    ) * pl.when(digits.str.starts_with("-")).then(-1).otherwise(1)
    return naive - pl.duration(minutes=offset_minutes.fill_null(0))


_TABLE_SPECS = (
    _TableSpec(
        name="transactions",
        schema=TRANSACTIONS_SCHEMA,
        required=("customer_id", "timestamp", "amount"),
        parsers={
            "customer_id": _parse_customer_id,
            "timestamp": _timestamp_parser(required=True),
            "amount": _number_parser(required=True, non_negative=False),
            "transaction_id": _parse_text,
            "quantity": _number_parser(required=False, non_negative=True),
            "category": _parse_text,
            "channel": _parse_text,
        },
        unique_key="transaction_id",
        extra_columns_are_attributes=False,
    ),
    _TableSpec(
        name="customers",
        schema=CUSTOMERS_BASE_SCHEMA,
        required=("customer_id",),
        parsers={"customer_id": _parse_customer_id, "signup_date": _timestamp_parser(required=False)},
        unique_key="customer_id",
        extra_columns_are_attributes=True,
    ),
    _TableSpec(
        name="interactions",
        schema=INTERACTIONS_SCHEMA,
        required=("customer_id", "timestamp", "type"),
        parsers={
            "customer_id": _parse_customer_id,
            "timestamp": _timestamp_parser(required=True),
            "type": _parse_interaction_type,
            "value": _number_parser(required=False, non_negative=False),
        },
        unique_key=None,
        extra_columns_are_attributes=False,
    ),
)
