"""Records already typed in Python (the HTTP API, tests) as canonical `RawData`, without the file checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from domain.errors import DataContractError
from features.contract import (
    CUSTOMERS_BASE_SCHEMA,
    INTERACTIONS_SCHEMA,
    SPECS_BY_TABLE,
    TRANSACTIONS_SCHEMA,
    RawData,
    empty_frame,
)

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
    spec = SPECS_BY_TABLE[table]
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


_RECORD_COLUMNS = {spec.name: _record_columns(spec.schema) for spec in SPECS_BY_TABLE.values()}
_EMPTY_FRAMES = {spec.name: empty_frame(spec.schema) for spec in SPECS_BY_TABLE.values()}
