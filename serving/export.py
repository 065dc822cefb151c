"""CRM sync: the snapshot as one flat row per customer, in words of a chosen language, as CSV or JSON lines.

A CRM admin wants a file (or a push, `serving.webhook`) with what the last run decided, not a Parquet
file of codes. `export_rows` renders each snapshot record through `serving.serialise.prediction_from_record`,
the same renderer as the API and the pages, so the file says what GET /v1/customers/{id} says.

Only what changed. CRM imports are cheaper and safer when they touch only customers whose decision moved,
so ``--changed-since AS_OF`` compares with the snapshot of that cutoff in the snapshot history that
`clvchurn score` files (`serving.history`, the one monitoring reads): a customer is exported when their
tier, lifecycle stage, tags or action differ, or when they were not in that snapshot. The comparison is on codes, so changing the export's language never makes rows "change".
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, get_args

import polars as pl

from domain.errors import ExportError
from domain.vocabulary import Language
from model_contract import PROBABILITY_MODELS
from serving.serialise import prediction_from_record
from serving.text import Texts

logger = logging.getLogger(__name__)

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = get_args(ExportFormat)
CHANGE_COLUMNS: Final = ("tier", "lifecycle_stage", "tags", "action_id")
"""What makes a customer "changed" for ``--changed-since``: the decision, not the numbers behind it."""
TOP_REASONS: Final = 3
EXPORT_FIELDS: Final = (
    "customer_id",
    "as_of",
    "population",
    "tier",
    "lifecycle_stage",
    "tags",
    "tag_labels",
    "churn_probability",
    "churn_risk",
    "reactivation_probability",
    "conversion_probability",
    "predicted_value",
    "predicted_value_low",
    "predicted_value_high",
    "currency",
    "value_if_retained",
    "value_at_risk",
    "action_id",
    "action_title",
    "action_owner",
    "action_owner_label",
    "action_due_date",
    "account_manager",
    *(f"reason_{k}" for k in range(1, TOP_REASONS + 1)),
    "pair_version",
)
"""The columns of an export, in order. `tags` are codes (CSV: joined by ``|``); `tag_labels`, the action
title, the owner label and the reasons are in the export's language. `predicted_value_low` and `_high`
are the value's interval when the snapshot carries one (``predicted_value.low``/``high``), else empty."""


def changed_since(current: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """The customers of `current` whose tier, stage, tags or action differ from `previous`, or who are new."""
    before = previous.select("customer_id", *(pl.col(c).alias(f"{c}_before") for c in CHANGE_COLUMNS))
    joined = current.join(before, on="customer_id", how="left")
    moved = pl.col("tier_before").is_null()  # not in the earlier snapshot
    for column in CHANGE_COLUMNS:
        moved = moved | pl.col(column).ne_missing(pl.col(f"{column}_before"))
    return joined.filter(moved).select(current.columns)


def export_rows(frame: pl.DataFrame, lang: Language, texts: Texts) -> list[dict[str, Any]]:
    """Each snapshot row as an export row (`EXPORT_FIELDS`), its words in `lang`."""
    return [_row(record, lang, texts) for record in frame.iter_rows(named=True)]


def _row(record: Mapping[str, Any], lang: Language, texts: Texts) -> dict[str, Any]:
    p = prediction_from_record(record, lang, texts)
    reasons = getattr(p.explanations, PROBABILITY_MODELS[p.population])
    sentences = [reason.sentence for reason in reasons[:TOP_REASONS]]
    action = p.recommended_action
    return {
        "customer_id": p.customer_id,
        "as_of": p.as_of.date().isoformat(),
        "population": p.population,
        "tier": p.tier,
        "lifecycle_stage": p.lifecycle_stage,
        "tags": p.tags,
        "tag_labels": p.tag_labels,
        "churn_probability": p.churn_probability,
        "churn_risk": p.churn_risk,
        "reactivation_probability": p.reactivation_probability,
        "conversion_probability": p.conversion_probability,
        "predicted_value": p.predicted_value.amount,
        "predicted_value_low": getattr(p.predicted_value, "low", None),
        "predicted_value_high": getattr(p.predicted_value, "high", None),
        "currency": p.predicted_value.currency,
        "value_if_retained": p.value_if_retained,
        "value_at_risk": p.value_at_risk,
        "action_id": action.id,
        "action_title": action.title,
        "action_owner": action.owner,
        "action_owner_label": action.owner_label,
        "action_due_date": action.due_date.isoformat(),
        "account_manager": p.account_manager,
        **{f"reason_{k + 1}": sentences[k] if k < len(sentences) else None for k in range(TOP_REASONS)},
        "pair_version": p.model_versions.pair,
    }


def json_line(row: Mapping[str, Any]) -> str:
    """One export row as a JSON line (UTF-8 text kept as it is, so Chinese stays readable)."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def write_export(rows: Iterable[Mapping[str, Any]], export_format: ExportFormat, out: Path) -> int:
    """Write `rows` to `out` as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese)
    or JSON lines; returns how many rows were written.

    Raises
    ------
    ExportError: an unknown format, or `out` cannot be written.
    """
    if export_format not in EXPORT_FORMATS:
        raise ExportError(f"--format {export_format!r}: give one of {', '.join(EXPORT_FORMATS)}")
    written = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if export_format == "jsonl":
            with out.open("w", encoding="utf-8", newline="\n") as file:
                for row in rows:
                    file.write(json_line(row) + "\n")
                    written += 1
        else:
            with out.open("w", encoding="utf-8-sig", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=EXPORT_FIELDS)
                writer.writeheader()
                for row in rows:
                    writer.writerow(_csv_cells(row))
                    written += 1
    except OSError as error:
        raise ExportError(
            f"--out {out}: cannot write the export ({error.strerror}); choose a writable path"
        ) from None
    return written


def _csv_cells(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: "|".join(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
        for name, value in row.items()
    }
