"""The raw-data contract: what a company's CRM export must look like, in memory and on disk.

Every stage downstream (features, training, serving) works on `RawData`, whose frames always carry
the canonical columns and dtypes below, whatever file format or API payload they came from.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from domain.errors import DataContractError
from domain.vocabulary import LIFECYCLE_STAGES, TIERS, ContractTable

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

# --- Limits: what the contract accepts, from a file or an API body alike ----------------------------

EARLIEST_TIMESTAMP: Final = datetime(1900, 1, 1)
LATEST_TIMESTAMP: Final = datetime(2200, 1, 1)
"""Every timestamp (event, signup, cutoff) lies in [EARLIEST_TIMESTAMP, LATEST_TIMESTAMP).

Why: a cutoff plus the longest horizon or the due date of an action must still be a date Python and
numpy can hold (9999-12-31 plus 30 days is not), and two centuries either side of today cover any CRM."""
MAX_ABS_NUMBER: Final = 1e12
"""Amounts, quantities and survey values lie within -1e12..1e12 (a trillion in any currency).

Why: features sum amounts exactly as Decimal(38, 6) (`features.definitions.EXACT`), which holds 32
integer digits; values up to 1e12 keep the sum of up to 1e19 rows exact, while a single 1e32 overflows."""
RESERVED_KEY_COLUMNS: Final = ("customer_id", "signup_date", "as_of")
"""Key columns no attribute may be named after (with every feature and label, `reserved_attribute_names`)."""
MAX_ATTRIBUTES: Final = 100
"""Most profile attributes one customer of an API body may carry (a file has one column per attribute)."""
MAX_ATTRIBUTE_NAME_CHARS: Final = 100
MAX_ATTRIBUTE_VALUE_CHARS: Final = 1000
"""Longest attribute name and value of an API body: profile attributes are categories, not documents."""


INTERNAL_COLUMN_PREFIX: Final = "_"
"""Columns clvchurn computes on the way to the features start with it (`features.definitions`)."""


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
    return _check_table(table, _SPECS_BY_TABLE[table_name], file_name, first_seen)


def parse_unique_key(column: pl.Series, table_name: str, file_name: str) -> pl.Series:
    """The unique key of `table_name` (`UNIQUE_KEYS`) as the duplicate rule compares it: stripped text,
    blank as null. For engines that look for repeats across slices of a table."""
    spec = _SPECS_BY_TABLE[table_name]
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
        _require_date_format(date_format)
    spec = next(s for s in _table_specs(date_format, decimal_comma) if s.name == name)
    return _check_table(table, spec, file_name)


def parse_timestamp_text(text: pl.Series, date_format: str | None = None) -> pl.Series:
    """Text to naive UTC datetimes as the contract reads it (ISO-8601, or `date_format` first), null
    where it does not parse. Blank text is null."""
    if date_format is not None:
        _require_date_format(date_format)
    text = _text(text)
    return _parse_iso_timestamps(text) if date_format is None else _parse_formatted(text, date_format)


def parse_number_text(text: pl.Series, *, decimal_comma: bool = False) -> pl.Series:
    """Text to Float64 as the contract reads numbers (`1234.56`, or `1.234,56` with `decimal_comma`),
    null where it does not parse. Blank text is null."""
    text = _text(text)
    return (_from_decimal_comma(text) if decimal_comma else text).cast(pl.Float64, strict=False)


def _find_table_file(data_dir: Path, table: str, *, required: bool) -> Path | None:
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


# --- Checking a table: each column parsed to its dtype, each broken rule recorded per row ----------


@dataclass(frozen=True)
class _Check:
    """One rule a column can break: which rows break it (`failed`, no nulls) and how to say so.

    The message is a `pl.format` template filled from `values`; it is built only for rejected rows,
    so a clean ten-million-row file never pays for string formatting.
    """

    failed: pl.Series
    template: str
    values: tuple[pl.Series, ...] = ()

    def messages(self, rows: pl.Series) -> pl.Series:
        """The message for each of `rows` (row indices), null where this rule holds."""
        frame = pl.DataFrame(
            {
                "failed": self.failed.gather(rows),
                **{f"v{i}": v.gather(rows) for i, v in enumerate(self.values)},
            }
        )
        message = pl.format(self.template, *(pl.col(f"v{i}") for i in range(len(self.values))))
        return frame.select(pl.when("failed").then(message)).to_series()


@dataclass(frozen=True)
class _Parsed:
    value: pl.Series
    checks: list[_Check]


_ColumnParser = Callable[[pl.Series, str], _Parsed]


@dataclass(frozen=True)
class _TableSpec:
    name: str
    schema: dict[str, pl.DataType]
    required: tuple[str, ...]
    parsers: dict[str, _ColumnParser]
    unique_key: str | None
    extra_columns_are_attributes: bool


def _check_table(
    table: pl.DataFrame, spec: _TableSpec, file_name: str, first_seen: pl.Series | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
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
        parsers.update(dict.fromkeys(extra, _parse_text))
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
    return accepted, _rejected_rows(table, checks, is_rejected.arg_true(), file_name)


def _refuse_reserved_attributes(attributes: list[str], file_name: str) -> None:
    reserved = sorted(name for name in attributes if is_reserved_attribute(name))
    if reserved:
        raise DataContractError(
            f"{file_name} has an attribute column named {reserved[0]!r}, a name clvchurn reserves for its "
            f"keys, features, labels and internal columns (those starting with '_'); rename the column "
            f"(e.g. to 'crm_{reserved[0].lstrip('_')}')"
        )


def _duplicate_checks(key: pl.Series, key_name: str) -> list[_Check]:
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


def _repeat_check(key: pl.Series, key_name: str, first_seen: pl.Series) -> _Check:
    """Rows whose `first_seen` is set repeat a key first seen at that row (a number or a text)."""
    return _Check(
        first_seen.is_not_null(), f"duplicate {key_name} '{{}}' (first seen at row {{}})", (key, first_seen)
    )


def _rejected_rows(
    table: pl.DataFrame, checks: list[_Check], rows: pl.Series, file_name: str
) -> pl.DataFrame:
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


# --- Column parsers: one source column in, canonical values and the rules each row broke out ---------


def _text(column: pl.Series) -> pl.Series:
    """The column as stripped text, blank values as null."""
    text = column.cast(pl.String).str.strip_chars()
    is_blank = text == ""
    return text.set(is_blank, None) if is_blank.any() else text


def _parse_text(column: pl.Series, file_name: str) -> _Parsed:
    return _Parsed(_text(column), [])


def _parse_customer_id(column: pl.Series, file_name: str) -> _Parsed:
    if not (column.dtype in (pl.String, pl.Null) or column.dtype.is_integer()):
        raise DataContractError(
            f"{file_name} column {column.name!r} has type {column.dtype}; "
            "store customer ids as text or integers"
        )
    value = _text(column)
    return _Parsed(value, [_Check(value.is_null(), f"empty {column.name}")])


def _parse_interaction_type(column: pl.Series, file_name: str) -> _Parsed:
    value = _text(column).str.to_lowercase()
    return _Parsed(value, [_Check(value.is_null(), f"empty {column.name}")])


def _number_parser(*, required: bool, non_negative: bool, decimal_comma: bool = False) -> _ColumnParser:
    def parse(column: pl.Series, file_name: str) -> _Parsed:
        name = column.name
        checks = []
        if column.dtype.is_numeric():
            value = shown = column.cast(pl.Float64)
        elif column.dtype in (pl.String, pl.Null):
            shown = _text(column)
            value = (_from_decimal_comma(shown) if decimal_comma else shown).cast(pl.Float64, strict=False)
            problem = (
                "is not a number with a decimal comma such as 1.234,56"
                if decimal_comma
                else "is not a number"
            )
            checks.append(_Check(shown.is_not_null() & value.is_null(), f"{name} '{{}}' {problem}", (shown,)))
        else:
            raise DataContractError(
                f"{file_name} column {name!r} has type {column.dtype}; store it as a number"
            )
        if required:
            checks.insert(0, _Check(shown.is_null(), f"empty {name}"))
        is_not_finite = value.is_nan() | value.is_infinite()
        checks.append(_Check(is_not_finite, f"{name} '{{}}' is not a finite number", (shown,)))
        beyond = ~is_not_finite & (value.abs() > MAX_ABS_NUMBER)
        checks.append(
            _Check(
                beyond,
                f"{name} {{}} is beyond the limit of -{MAX_ABS_NUMBER:g}..{MAX_ABS_NUMBER:g}",
                (shown,),
            )
        )
        if non_negative:
            checks.append(_Check(value < 0, f"{name} {{}} is negative", (shown,)))
        return _Parsed(value, checks)

    return parse


def _timestamp_parser(*, required: bool, date_format: str | None = None) -> _ColumnParser:
    def parse(column: pl.Series, file_name: str) -> _Parsed:
        name = column.name
        dtype = column.dtype
        checks = []
        if isinstance(dtype, pl.Datetime):
            value = shown = column
            if dtype.time_zone is not None:
                value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            value = value.cast(pl.Datetime("us"))
        elif dtype == pl.Date:
            value = shown = column.cast(pl.Datetime("us"))
        elif dtype in (pl.String, pl.Null):
            shown = _text(column)
            if date_format is None:
                value, problem = _parse_iso_timestamps(shown), "is not an ISO date"
            else:
                value = _parse_formatted(shown, date_format)
                problem = f"matches neither the date format '{date_format}' nor ISO-8601"
            checks.append(_Check(shown.is_not_null() & value.is_null(), f"{name} '{{}}' {problem}", (shown,)))
        else:
            raise DataContractError(
                f"{file_name} column {name!r} has type {dtype}; store it as a timestamp, a date "
                "or ISO-8601 text such as 2024-05-31 or 2024-05-31T14:05:00+02:00"
            )
        if required:
            checks.insert(0, _Check(shown.is_null(), f"empty {name}"))
        outside = (value < EARLIEST_TIMESTAMP) | (value >= LATEST_TIMESTAMP)
        checks.append(
            _Check(
                outside.fill_null(False),
                f"{name} {{}} is outside {EARLIEST_TIMESTAMP:%Y-%m-%d}..{LATEST_TIMESTAMP:%Y-%m-%d} (exclusive)",
                (value.dt.to_string("%Y-%m-%d %H:%M:%S"),),
            )
        )
        return _Parsed(value, checks)

    return parse


_FAST_TIMESTAMP_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
)
_ISO_TIMESTAMP_PATTERN = (
    r"^(\d{4}-\d{2}-\d{2})"  # date
    r"(?:[T ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?)?"  # optional time, optional seconds and fraction
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"  # optional UTC offset
)


def _parse_iso_timestamps(text: pl.Series) -> pl.Series:
    """ISO-8601 text to naive UTC datetimes, null where it does not parse.

    Exports usually write one format throughout, so the format of the first value is tried on the
    whole column (polars' fixed-format parser is several times faster than a regex), and only what it
    leaves unparsed goes through the general ISO-8601 parser.
    """
    first = text.drop_nulls().head(1)
    fast_format = next(
        (
            f
            for f in _FAST_TIMESTAMP_FORMATS
            if first.str.strptime(pl.Datetime("us"), f, strict=False).is_not_null().all()
        ),
        None,
    )
    if fast_format is None or first.is_empty():
        return _parse_iso_timestamps_general(text)
    value = text.str.strptime(pl.Datetime("us"), fast_format, strict=False)
    leftover = value.is_null() & text.is_not_null()
    if leftover.any():
        rows = leftover.arg_true()
        value = value.scatter(rows, _parse_iso_timestamps_general(text.gather(rows)))
    return value


def _parse_iso_timestamps_general(text: pl.Series) -> pl.Series:
    """Date or datetime, 'T' or space, optional seconds and fraction, optional offset (Z, +02:00,
    -0530, +02) which is applied so that the result is UTC, then dropped."""
    parts = (
        pl.DataFrame({"text": text})
        .select(pl.col("text").str.extract_groups(_ISO_TIMESTAMP_PATTERN))
        .unnest("text")
    )
    parts.columns = ["date", "hours_minutes", "seconds", "offset"]
    offset_digits = pl.col("offset").str.replace(":", "", literal=True)
    offset_minutes = (
        offset_digits.str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0) * 60
        + offset_digits.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    ) * pl.when(offset_digits.str.starts_with("-")).then(-1).otherwise(1)
    clock = pl.coalesce(
        pl.concat_str("hours_minutes", pl.coalesce("seconds", pl.lit(":00"))), pl.lit("00:00:00")
    )
    naive = pl.concat_str("date", pl.lit(" "), clock).str.strptime(
        pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False
    )
    return parts.select(naive - pl.duration(minutes=offset_minutes.fill_null(0))).to_series().alias(text.name)


def _parse_formatted(text: pl.Series, date_format: str) -> pl.Series:
    """Text in `date_format` (an offset given by %z is applied, giving UTC), else ISO-8601, else null."""
    value = text.str.strptime(pl.Datetime("us"), date_format, strict=False)
    dtype = value.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    leftover = value.is_null() & text.is_not_null()
    if leftover.any():
        rows = leftover.arg_true()
        value = value.scatter(rows, _parse_iso_timestamps_general(text.gather(rows)))
    return value


def _require_date_format(date_format: str) -> None:
    """A date format must be a strftime pattern that writes a date and reads the same date back."""
    example = datetime(2024, 1, 31, 13, 45, 30)
    problem = None
    if "%" not in date_format:
        problem = "holds no % code"
    elif "{" in date_format or "}" in date_format:
        problem = "holds a brace"
    else:
        moment = pl.Series([example]).dt.replace_time_zone("UTC")
        try:
            written = moment.dt.strftime(date_format)
            parsed = written.str.strptime(pl.Datetime("us"), date_format, strict=False)
        except pl.exceptions.PolarsError:
            problem = "is not a valid strftime pattern"
        else:
            if parsed.dt.date().to_list() != [example.date()]:
                problem = "does not describe a date (it needs a year, a month and a day)"
    if problem is not None:
        raise DataContractError(
            f"--date-format {date_format!r} {problem}; use strftime codes such as %d/%m/%Y, %m/%d/%Y "
            "or %d.%m.%Y %H:%M"
        )


# Thousands by dot or space (\s covers no-break spaces), decimals by comma: 1.234,56 / 1 234,56 / -12,5
_DECIMAL_COMMA_NUMBER = r"^[+-]?(?:\d{1,3}(?:[.\s]\d{3})+|\d+)(?:,\d+)?$"


def _from_decimal_comma(text: pl.Series) -> pl.Series:
    """`1.234,56` to `1234.56`; text not written that way becomes null (so it is rejected, not misread)."""
    normal = text.str.replace_all(r"[.\s]", "").str.replace(",", ".", literal=True)
    return normal.set(~text.str.contains(_DECIMAL_COMMA_NUMBER).fill_null(False), None)


def _table_specs(date_format: str | None = None, decimal_comma: bool = False) -> tuple[_TableSpec, ...]:
    """The three tables' rules; text dates and numbers read as ISO and with a decimal point by default."""
    return (
        _TableSpec(
            name="transactions",
            schema=TRANSACTIONS_SCHEMA,
            required=("customer_id", "timestamp", "amount"),
            parsers={
                "customer_id": _parse_customer_id,
                "timestamp": _timestamp_parser(required=True, date_format=date_format),
                "amount": _number_parser(required=True, non_negative=False, decimal_comma=decimal_comma),
                "transaction_id": _parse_text,
                "quantity": _number_parser(required=False, non_negative=True, decimal_comma=decimal_comma),
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
            parsers={
                "customer_id": _parse_customer_id,
                "signup_date": _timestamp_parser(required=False, date_format=date_format),
            },
            unique_key="customer_id",
            extra_columns_are_attributes=True,
        ),
        _TableSpec(
            name="interactions",
            schema=INTERACTIONS_SCHEMA,
            required=("customer_id", "timestamp", "type"),
            parsers={
                "customer_id": _parse_customer_id,
                "timestamp": _timestamp_parser(required=True, date_format=date_format),
                "type": _parse_interaction_type,
                "value": _number_parser(required=False, non_negative=False, decimal_comma=decimal_comma),
            },
            unique_key=None,
            extra_columns_are_attributes=False,
        ),
    )


_TABLE_SPECS = _table_specs()


# --- Records already typed in Python (the HTTP API, tests) ------------------------------------------

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_TEXT_KEYS_TO_STRIP = frozenset({"customer_id", "type"})


def raw_from_records(
    customers: Sequence[Mapping[str, object]],
    transactions: Sequence[Mapping[str, object]],
    interactions: Sequence[Mapping[str, object]],
) -> RawData:
    """Canonical frames, with the same dtypes as `load_raw`, from already-typed Python records.

    Built column by column with explicit dtypes because it sits on the serving path (one customer,
    a few hundred events, a 2 ms budget for everything). Timestamps may be datetimes (aware ones are
    converted to UTC), dates or ISO text. Invalid records raise `DataContractError` rather than being
    set aside: an API caller should hear about them at once.
    """
    return RawData(
        transactions=_frame_from_records(transactions, "transactions", TRANSACTIONS_SCHEMA),
        customers=_frame_from_records(customers, "customers", CUSTOMERS_BASE_SCHEMA, with_attributes=True),
        interactions=_frame_from_records(interactions, "interactions", INTERACTIONS_SCHEMA),
    )


def _frame_from_records(
    records: Sequence[Mapping[str, object]],
    table: str,
    schema: dict[str, pl.DataType],
    *,
    with_attributes: bool = False,
) -> pl.DataFrame:
    if not records:
        return _EMPTY_FRAMES[table].clone()
    spec = _SPECS_BY_TABLE[table]
    columns = list(_RECORD_COLUMNS[table])
    if with_attributes:
        extra = dict.fromkeys(key for record in records for key in record if key not in schema)
        columns.extend((key, pl.String(), "text") for key in extra)
    series = []
    for name, dtype, kind in columns:
        values = [record.get(name) for record in records]
        if name in spec.required:
            values = _required_values(values, name, table)
        if name == spec.unique_key:
            _require_unique(values, name, table)
        series.append(_series(name, values, dtype, kind, table))
    return pl.DataFrame(series)


def _required_values(values: list[object], name: str, table: str) -> list[object]:
    """Required fields are present and, for text, stripped and non-empty (interaction types lower-cased)."""
    if None in values:
        raise DataContractError(f"{table} record {values.index(None)} has no {name}; every record needs one")
    if name not in ("customer_id", "type"):
        return values
    texts = [str(v).strip() for v in values]
    if "" in texts:
        raise DataContractError(f"{table} record {texts.index('')} has an empty {name}")
    return [t.lower() for t in texts] if name == "type" else list(texts)


def _require_unique(values: list[object], name: str, table: str) -> None:
    present = [v for v in values if v is not None]
    if len(set(present)) != len(present):
        seen: set[object] = set()
        repeated = next(v for v in present if v in seen or seen.add(v))  # type: ignore[func-returns-value]
        raise DataContractError(f"{table} records repeat {name} {repeated!r}; each must be unique")


def _series(name: str, values: list[object], dtype: pl.DataType, kind: str, table: str) -> pl.Series:
    if kind == "datetime":
        try:
            micros = [(v - _EPOCH) // _MICROSECOND for v in values]  # type: ignore[operator]
        except TypeError:  # aware datetimes, dates, ISO text or missing values
            micros = [_microseconds_since_epoch(v, name, table) for v in values]
        return pl.Series(name, micros, dtype=pl.Int64).cast(dtype)
    try:
        return pl.Series(name, values, dtype=dtype)
    except (TypeError, pl.exceptions.PolarsError) as exc:
        if kind == "text":  # numbers or other values given as attributes or ids: keep their text
            return pl.Series(name, [None if v is None else str(v) for v in values], dtype=dtype)
        raise DataContractError(f"{table} field {name!r} must hold {dtype} values: {exc}") from exc


def _microseconds_since_epoch(value: object, name: str, table: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise DataContractError(f"{table} field {name!r}: {value!r} is not an ISO date") from exc
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    elif isinstance(value, date):
        value = datetime.combine(value, time())
    else:
        raise DataContractError(f"{table} field {name!r}: {value!r} is not a datetime, date or ISO text")
    return (value - _EPOCH) // _MICROSECOND


def _record_columns(schema: dict[str, pl.DataType]) -> tuple[tuple[str, pl.DataType, str], ...]:
    """(name, dtype, kind) per column, worked out once: comparing polars dtypes per call costs time."""
    kinds = {pl.Datetime("us"): "datetime", pl.String(): "text", pl.Float64(): "number"}
    return tuple((name, dtype, kinds[dtype]) for name, dtype in schema.items())


_SPECS_BY_TABLE = {spec.name: spec for spec in _TABLE_SPECS}
# The column whose values must not repeat within a table, for the tables that have one.
UNIQUE_KEYS = {spec.name: spec.unique_key for spec in _TABLE_SPECS if spec.unique_key is not None}
_RECORD_COLUMNS = {spec.name: _record_columns(spec.schema) for spec in _TABLE_SPECS}
_EMPTY_FRAMES = {spec.name: empty_frame(spec.schema) for spec in _TABLE_SPECS}


# --- The actions file: retention actions assigned to customers, for measuring their effect ----------

ACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "action_id": pl.String(),
    "assigned_at": pl.Datetime("us"),
    "group": pl.String(),
    "rule_id": pl.String(),
    "taken_at": pl.Datetime("us"),
    "channel": pl.String(),
    "owner": pl.String(),
    "cost": pl.Float64(),
    "tier": pl.String(),
    "lifecycle_stage": pl.String(),
}
"""The fourth file of a data folder, `actions` (CSV or Parquet), optional: who was assigned which action
when, and in which group of its experiment (`treatment` got it, `control` was held out). `rule_id`,
`taken_at` (when the contact happened), `channel`, `owner` and `cost` are optional, as are `tier` and
`lifecycle_stage`, the customer's segment when the action was assigned (what the prediction said), which
the evaluation breaks its figures down by."""
ACTION_GROUPS = ("treatment", "control")


@dataclass(frozen=True)
class ActionsLoad:
    """The accepted actions in canonical form, the rows turned away with their reasons, and the counts
    (None without an actions file)."""

    actions: pl.DataFrame
    rejects: pl.DataFrame
    counts: FileCounts | None


def load_actions(data_dir: Path) -> ActionsLoad:
    """Read and validate the optional `actions` file of a data folder, as `load_raw` does the others.

    Raises
    ------
    DataContractError
        The folder is missing, holds both actions.csv and actions.parquet, or the file lacks a required
        column or cannot be read.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataContractError(f"data folder {data_dir} does not exist or is not a folder")
    path = _find_table_file(data_dir, "actions", required=False)
    if path is None:
        return ActionsLoad(empty_frame(ACTIONS_SCHEMA), empty_frame(REJECTS_SCHEMA), None)
    accepted, rejected = check_actions(_read_table(path), path.name)
    logger.info("%s: %d rows accepted, %d rejected", path.name, accepted.height, rejected.height)
    return ActionsLoad(accepted, rejected, FileCounts(path.name, accepted.height, rejected.height))


def check_actions(table: pl.DataFrame, file_name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate actions rows: each column as the contract reads it, then the rules across columns (a
    contact before its assignment, the same customer, action and assignment time twice).

    Returns
    -------
    The accepted rows (`ACTIONS_SCHEMA`) and the rejects (`REJECTS_SCHEMA`, 1-based row numbers of
    `table`), each rejected row once with every reason of the column checks, or else of the row checks.
    """
    accepted, rejected = _check_table(table, _ACTIONS_SPEC, file_name)
    kept = pl.Series(
        np.setdiff1d(np.arange(table.height), rejected["row_number"].to_numpy() - 1), dtype=pl.Int64
    )
    checks = _action_row_checks(accepted, kept, table.height)
    if not checks:
        return accepted, rejected
    failed = pl.repeat(False, accepted.height, dtype=pl.Boolean, eager=True)
    for check in checks:
        failed = failed | check.failed.gather(kept)
    later = _rejected_rows(table, checks, kept.filter(failed), file_name)
    return accepted.filter(~failed), pl.concat([rejected, later]).sort("row_number")


def _action_row_checks(accepted: pl.DataFrame, rows: pl.Series, height: int) -> list[_Check]:
    """The checks across columns, as full-length series of the original table (`rows`: where each
    accepted row came from)."""

    def spread(values: pl.Series, fill: object) -> pl.Series:
        full = pl.Series(values.name, [fill] * height, dtype=values.dtype)
        return full.scatter(rows, values)

    checks = []
    early = (accepted["taken_at"] < accepted["assigned_at"]).fill_null(False)
    if early.any():
        checks.append(
            _Check(
                spread(early, False),
                "taken_at {} is before assigned_at {}",
                (
                    spread(accepted["taken_at"].dt.to_string("%Y-%m-%dT%H:%M:%S"), None),
                    spread(accepted["assigned_at"].dt.to_string("%Y-%m-%dT%H:%M:%S"), None),
                ),
            )
        )
    key = accepted.select(pl.struct("customer_id", "action_id", "assigned_at").alias("key"))["key"]
    repeated = ~key.is_first_distinct()
    if repeated.any():
        first = (
            pl.DataFrame({"key": key, "row": rows + 1}).select(pl.col("row").min().over("key")).to_series()
        )
        checks.append(
            _Check(
                spread(repeated, False),
                "duplicate action: customer, action_id and assigned_at first seen at row {}",
                (spread(first.cast(pl.Int64), None),),
            )
        )
    return checks


def _one_of_parser(allowed: Sequence[str], *, required: bool) -> _ColumnParser:
    """Text that must be one of `allowed` (compared lower-cased for groups, as written otherwise)."""

    def parse(column: pl.Series, file_name: str) -> _Parsed:
        value = _text(column)
        if column.name == "group":
            value = value.str.to_lowercase()
        checks = [_Check(value.is_null(), f"empty {column.name}")] if required else []
        unknown = value.is_not_null() & ~value.is_in(list(allowed))
        checks.append(_Check(unknown, f"{column.name} '{{}}' is not one of {', '.join(allowed)}", (value,)))
        return _Parsed(value, checks)

    return parse


def _parse_required_text(column: pl.Series, file_name: str) -> _Parsed:
    value = _text(column)
    return _Parsed(value, [_Check(value.is_null(), f"empty {column.name}")])


_ACTIONS_SPEC = _TableSpec(
    name="actions",
    schema=ACTIONS_SCHEMA,
    required=("customer_id", "action_id", "assigned_at", "group"),
    parsers={
        "customer_id": _parse_customer_id,
        "action_id": _parse_required_text,
        "assigned_at": _timestamp_parser(required=True),
        "group": _one_of_parser(ACTION_GROUPS, required=True),
        "rule_id": _parse_text,
        "taken_at": _timestamp_parser(required=False),
        "channel": _parse_text,
        "owner": _parse_text,
        "cost": _number_parser(required=False, non_negative=True),
        "tier": _one_of_parser(TIERS, required=False),
        "lifecycle_stage": _one_of_parser(LIFECYCLE_STAGES, required=False),
    },
    unique_key=None,
    extra_columns_are_attributes=False,
)
