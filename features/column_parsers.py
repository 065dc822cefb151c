"""Column parsers of the raw-data contract: one source column in, canonical values and the rules each
row broke out.

A rule a row breaks is a `Check`; a table's checks are turned into reasons only for rejected rows
(`features.contract.rejected_rows`), so a clean file never pays for string formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from domain.errors import DataContractError
from features.limits import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_ABS_NUMBER


@dataclass(frozen=True)
class Check:
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
class Parsed:
    value: pl.Series
    checks: list[Check]


ColumnParser = Callable[[pl.Series, str], Parsed]


def stripped_text(column: pl.Series) -> pl.Series:
    """The column as stripped text, blank values as null."""
    text = column.cast(pl.String).str.strip_chars()
    is_blank = text == ""
    return text.set(is_blank, None) if is_blank.any() else text


def parse_text(column: pl.Series, file_name: str) -> Parsed:
    return Parsed(stripped_text(column), [])


def parse_customer_id(column: pl.Series, file_name: str) -> Parsed:
    if not (column.dtype in (pl.String, pl.Null) or column.dtype.is_integer()):
        raise DataContractError(
            f"{file_name} column {column.name!r} has type {column.dtype}; "
            "store customer ids as text or integers"
        )
    value = stripped_text(column)
    return Parsed(value, [Check(value.is_null(), f"empty {column.name}")])


def parse_interaction_type(column: pl.Series, file_name: str) -> Parsed:
    value = stripped_text(column).str.to_lowercase()
    return Parsed(value, [Check(value.is_null(), f"empty {column.name}")])


def number_parser(*, required: bool, non_negative: bool, decimal_comma: bool = False) -> ColumnParser:
    def parse(column: pl.Series, file_name: str) -> Parsed:
        name = column.name
        checks = []
        if column.dtype.is_numeric():
            value = shown = column.cast(pl.Float64)
        elif column.dtype in (pl.String, pl.Null):
            shown = stripped_text(column)
            value = (from_decimal_comma(shown) if decimal_comma else shown).cast(pl.Float64, strict=False)
            problem = (
                "is not a number with a decimal comma such as 1.234,56"
                if decimal_comma
                else "is not a number"
            )
            checks.append(Check(shown.is_not_null() & value.is_null(), f"{name} '{{}}' {problem}", (shown,)))
        else:
            raise DataContractError(
                f"{file_name} column {name!r} has type {column.dtype}; store it as a number"
            )
        if required:
            checks.insert(0, Check(shown.is_null(), f"empty {name}"))
        is_not_finite = value.is_nan() | value.is_infinite()
        checks.append(Check(is_not_finite, f"{name} '{{}}' is not a finite number", (shown,)))
        beyond = ~is_not_finite & (value.abs() > MAX_ABS_NUMBER)
        checks.append(
            Check(
                beyond,
                f"{name} {{}} is beyond the limit of -{MAX_ABS_NUMBER:g}..{MAX_ABS_NUMBER:g}",
                (shown,),
            )
        )
        if non_negative:
            checks.append(Check(value < 0, f"{name} {{}} is negative", (shown,)))
        return Parsed(value, checks)

    return parse


def timestamp_parser(*, required: bool, date_format: str | None = None) -> ColumnParser:
    def parse(column: pl.Series, file_name: str) -> Parsed:
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
            shown = stripped_text(column)
            if date_format is None:
                value, problem = parse_iso_timestamps(shown), "is not an ISO date"
            else:
                value = parse_formatted(shown, date_format)
                problem = f"matches neither the date format '{date_format}' nor ISO-8601"
            checks.append(Check(shown.is_not_null() & value.is_null(), f"{name} '{{}}' {problem}", (shown,)))
        else:
            raise DataContractError(
                f"{file_name} column {name!r} has type {dtype}; store it as a timestamp, a date "
                "or ISO-8601 text such as 2024-05-31 or 2024-05-31T14:05:00+02:00"
            )
        if required:
            checks.insert(0, Check(shown.is_null(), f"empty {name}"))
        outside = (value < EARLIEST_TIMESTAMP) | (value >= LATEST_TIMESTAMP)
        checks.append(
            Check(
                outside.fill_null(False),
                f"{name} {{}} is outside {EARLIEST_TIMESTAMP:%Y-%m-%d}..{LATEST_TIMESTAMP:%Y-%m-%d} (exclusive)",
                (value.dt.to_string("%Y-%m-%d %H:%M:%S"),),
            )
        )
        return Parsed(value, checks)

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


def parse_iso_timestamps(text: pl.Series) -> pl.Series:
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


def parse_formatted(text: pl.Series, date_format: str) -> pl.Series:
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


def require_date_format(date_format: str) -> None:
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


def from_decimal_comma(text: pl.Series) -> pl.Series:
    """`1.234,56` to `1234.56`; text not written that way becomes null (so it is rejected, not misread)."""
    normal = text.str.replace_all(r"[.\s]", "").str.replace(",", ".", literal=True)
    return normal.set(~text.str.contains(_DECIMAL_COMMA_NUMBER).fill_null(False), None)


def one_of_parser(allowed: Sequence[str], *, required: bool) -> ColumnParser:
    """Text that must be one of `allowed` (compared lower-cased for groups, as written otherwise)."""

    def parse(column: pl.Series, file_name: str) -> Parsed:
        value = stripped_text(column)
        if column.name == "group":
            value = value.str.to_lowercase()
        checks = [Check(value.is_null(), f"empty {column.name}")] if required else []
        unknown = value.is_not_null() & ~value.is_in(list(allowed))
        checks.append(Check(unknown, f"{column.name} '{{}}' is not one of {', '.join(allowed)}", (value,)))
        return Parsed(value, checks)

    return parse


def parse_required_text(column: pl.Series, file_name: str) -> Parsed:
    value = stripped_text(column)
    return Parsed(value, [Check(value.is_null(), f"empty {column.name}")])
