"""The scored snapshot: every customer's latest prediction in one parquet file, and fast lookups in it.

`clvchurn score` writes the file with `write_snapshot_frame`; GET /v1/customers/{id} and the pages read it
through a `SnapshotStore`. Format, one row per customer:

- scalar prediction fields as columns: customer_id, as_of, tier, lifecycle_stage, churn_probability,
  churn_risk, predicted_value, currency, horizon_days, value_at_risk, action_id, churn_model_version,
  value_model_version (analysts can query these directly); they do not depend on the language;
- the texts once per supported language (`serving.explain.LANGUAGES`), as JSON strings
  exactly as the API serialises them: `explanations_<lang>` ({churn: [Reason], value: [Reason]},
  reason sentences and labels in that language) and `recommended_action_<lang>` (the full action, its
  title, steps, owner label and success metric in that language); e.g. `explanations_en`,
  `recommended_action_zh`.

Every language sits in the same file, so a page or a response in Chinese reads Chinese sentences of
the same scoring run as the English ones. A file of the older single-language format (one
`explanations` and one `recommended_action` column) is refused with a `SnapshotFormatError` that asks
for `clvchurn score` to be run again.

The file is written to a temporary name and renamed over the old one, so readers never see half a file;
the store reloads when the file's modification time or size changes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from domain.errors import SnapshotFormatError, SnapshotMissingError, UnsupportedLanguageError
from domain.vocabulary import DEFAULT_LANGUAGE, LANGUAGES
from serving.schemas import Prediction

logger = logging.getLogger(__name__)

SCALAR_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "as_of": pl.Datetime("us"),
    "tier": pl.String(),
    "lifecycle_stage": pl.String(),
    "churn_probability": pl.Float64(),
    "churn_risk": pl.String(),
    "predicted_value": pl.Float64(),
    "currency": pl.String(),
    "horizon_days": pl.Int64(),
    "value_at_risk": pl.Float64(),
    "action_id": pl.String(),
    "churn_model_version": pl.String(),
    "value_model_version": pl.String(),
}
SINGLE_LANGUAGE_COLUMNS = ("explanations", "recommended_action")


def explanations_column(lang: str) -> str:
    """The column holding the reasons in `lang`, e.g. `explanations_zh`."""
    return f"explanations_{lang}"


def action_column(lang: str) -> str:
    """The column holding the recommended action in `lang`, e.g. `recommended_action_zh`."""
    return f"recommended_action_{lang}"


SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    **SCALAR_SCHEMA,
    **{
        column: pl.String()
        for lang in LANGUAGES
        for column in (explanations_column(lang), action_column(lang))
    },
}


def write_snapshot(predictions: Mapping[str, Sequence[Prediction]], path: Path) -> Path:
    """Write the predictions (one list per supported language) to `path` atomically; returns the path.

    `predictions` maps every language of `LANGUAGES` to the same customers in the same
    order, as `Predictor.score_features_multilingual` returns them; the scalar columns are taken
    from the first language's list. The batch scorer writes its columns with `write_snapshot_frame`.
    """
    _check_languages(predictions, path)
    return write_snapshot_frame(_snapshot_frame(predictions), path)


def write_snapshot_frame(frame: pl.DataFrame, path: Path) -> Path:
    """Write a frame already in the snapshot format (any row order) to `path` atomically; returns the path.

    What `serving.batch.score_base` returns. Rows are sorted by customer_id, so lookups can bisect.
    """
    missing = [column for column in SNAPSHOT_SCHEMA if column not in frame.columns]
    unknown = [column for column in frame.columns if column not in SNAPSHOT_SCHEMA]
    if missing or unknown:
        raise SnapshotFormatError(
            f"Snapshot {path}: the frame lacks columns {missing} and has unknown columns {unknown}; "
            f"score every language of {list(LANGUAGES)} with `serving.batch.score_base`"
        )
    frame = frame.select(list(SNAPSHOT_SCHEMA)).cast(pl.Schema(SNAPSHOT_SCHEMA)).sort("customer_id")
    _check_unique(frame, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    frame.write_parquet(partial)
    os.replace(partial, path)
    logger.info("Wrote %d scored customers in %s to %s", frame.height, ", ".join(LANGUAGES), path)
    return path


def prediction_from_row(row: Mapping[str, object], lang: str = DEFAULT_LANGUAGE) -> Prediction:
    """Rebuild the API's `Prediction` in `lang` from one snapshot row."""
    _check_supported(lang)
    scalars = ("customer_id", "as_of", "tier", "lifecycle_stage", "churn_probability", "churn_risk")
    return Prediction.model_validate(
        {
            **{name: row[name] for name in scalars},
            "predicted_value": {
                "amount": row["predicted_value"],
                "currency": row["currency"],
                "horizon_days": row["horizon_days"],
            },
            "value_at_risk": row["value_at_risk"],
            "explanations": json.loads(str(row[explanations_column(lang)])),
            "recommended_action": json.loads(str(row[action_column(lang)])),
            "model_versions": {"churn": row["churn_model_version"], "value": row["value_model_version"]},
        }
    )


def _snapshot_frame(predictions: Mapping[str, Sequence[Prediction]]) -> pl.DataFrame:
    """Predictions as a frame in the snapshot format, in their order."""
    first = predictions[LANGUAGES[0]]
    rows: dict[str, list[object]] = {
        "customer_id": [p.customer_id for p in first],
        "as_of": [p.as_of for p in first],
        "tier": [p.tier for p in first],
        "lifecycle_stage": [p.lifecycle_stage for p in first],
        "churn_probability": [p.churn_probability for p in first],
        "churn_risk": [p.churn_risk for p in first],
        "predicted_value": [p.predicted_value.amount for p in first],
        "currency": [p.predicted_value.currency for p in first],
        "horizon_days": [p.predicted_value.horizon_days for p in first],
        "value_at_risk": [p.value_at_risk for p in first],
        "action_id": [p.recommended_action.id for p in first],
        "churn_model_version": [p.model_versions.churn for p in first],
        "value_model_version": [p.model_versions.value for p in first],
    }
    for lang in LANGUAGES:
        localised = predictions[lang]
        rows[explanations_column(lang)] = [p.explanations.model_dump_json() for p in localised]
        rows[action_column(lang)] = [p.recommended_action.model_dump_json() for p in localised]
    return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA)


def _check_languages(predictions: Mapping[str, Sequence[Prediction]], path: Path) -> None:
    """Every supported language, no other, each listing the same customers in the same order."""
    missing = [lang for lang in LANGUAGES if lang not in predictions]
    unknown = sorted(lang for lang in predictions if lang not in LANGUAGES)
    if missing or unknown:
        raise SnapshotFormatError(
            f"Snapshot {path} needs predictions in exactly {list(LANGUAGES)}; missing "
            f"{missing}, unknown {unknown}: score with `Predictor.score_features_multilingual`"
        )
    reference = [p.customer_id for p in predictions[LANGUAGES[0]]]
    for lang in LANGUAGES[1:]:
        ids = [p.customer_id for p in predictions[lang]]
        if ids != reference:
            position = next(
                (i for i, (a, b) in enumerate(zip(ids, reference, strict=False)) if a != b),
                min(len(ids), len(reference)),
            )
            raise SnapshotFormatError(
                f"Snapshot {path}: the {lang!r} predictions list other customers than the "
                f"{LANGUAGES[0]!r} ones ({len(ids)} against {len(reference)}, first "
                f"difference at position {position}); score every language in one call"
            )


def _check_supported(lang: str) -> None:
    if lang not in LANGUAGES:
        raise UnsupportedLanguageError(
            f"the snapshot holds no texts in language {lang!r}; use one of {list(LANGUAGES)}"
        )


def _check_unique(frame: pl.DataFrame, path: Path) -> None:
    duplicated = frame.filter(pl.col("customer_id").is_duplicated())["customer_id"].unique().sort()
    if duplicated.len():
        raise SnapshotFormatError(
            f"Snapshot {path} would hold several rows for customers {duplicated.head(5).to_list()}; "
            "score each customer once"
        )


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]
    frame: pl.DataFrame


class SnapshotStore:
    """Looks customers up in the snapshot file, re-reading it whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def get(self, customer_id: str, lang: str = DEFAULT_LANGUAGE) -> Prediction | None:
        """The customer's latest scored prediction in `lang`, or None if the snapshot does not list them."""
        _check_supported(lang)
        frame = self.frame()
        ids = frame["customer_id"]
        index = ids.search_sorted(customer_id)
        if not isinstance(index, int) or index >= frame.height or ids[index] != customer_id:
            return None
        return prediction_from_row(frame.row(index, named=True), lang)

    def frame(self) -> pl.DataFrame:
        """The whole snapshot in the format above, sorted by customer_id (re-read when the file changed).

        The same frame object is returned until the file changes, so callers may cache what they
        derive from it by identity.
        """
        return self._current().frame

    def _current(self) -> _Loaded:
        stamp = self._stamp()
        loaded = self._loaded
        if loaded is not None and loaded.stamp == stamp:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.stamp != stamp:
                self._loaded = _Loaded(stamp, self._read())
            return self._loaded

    def _stamp(self) -> tuple[int, int]:
        try:
            status = self.path.stat()
        except FileNotFoundError as error:
            raise SnapshotMissingError(
                f"No scored snapshot at {self.path} (CLVCHURN_SNAPSHOT_PATH): run `clvchurn score` first"
            ) from error
        return status.st_mtime_ns, status.st_size

    def _read(self) -> pl.DataFrame:
        frame = pl.read_parquet(self.path)
        missing = [column for column in SNAPSHOT_SCHEMA if column not in frame.columns]
        if missing and all(column in frame.columns for column in SINGLE_LANGUAGE_COLUMNS):
            raise SnapshotFormatError(
                f"Snapshot {self.path} holds reasons and actions in one language only (the format "
                f"before {explanations_column('<lang>')} columns); run `clvchurn score` again to write "
                f"every language ({', '.join(LANGUAGES)})"
            )
        if missing:
            raise SnapshotFormatError(
                f"Snapshot {self.path} lacks columns {missing}; rewrite it with `clvchurn score`"
            )
        frame = frame.select(list(SNAPSHOT_SCHEMA)).cast(pl.Schema(SNAPSHOT_SCHEMA)).sort("customer_id")
        _check_unique(frame, self.path)
        logger.info("Loaded %d scored customers from %s", frame.height, self.path)
        return frame
