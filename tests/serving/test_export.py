"""CRM export: flat rows in the reader's language, only the customers whose decision changed, the
snapshot history, and the CSV and JSON-lines files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.web_sample import TEXTS, record, sample_frame

from domain.errors import ExportError
from serving.export import (
    EXPORT_FIELDS,
    changed_since,
    export_rows,
    write_export,
)

TAGS = {1: ["buying", "quality_oriented"], 2: ["interacting"], 3: [], 4: ["service_dependent"]}
MANAGERS = {1: "Wang Fang", 2: "Li Lei"}


def crm_record(i: int, **changes: Any) -> dict[str, Any]:
    return {**record(i), "tags": TAGS.get(i, []), "account_manager": MANAGERS.get(i), **changes}


@pytest.fixture
def earlier() -> pl.DataFrame:
    return sample_frame([crm_record(i) for i in range(1, 7)])


def test_an_export_row_is_the_customer_in_words_of_the_language() -> None:
    frame = sample_frame([crm_record(1)])

    (english,) = export_rows(frame, "en", TEXTS)
    (chinese,) = export_rows(frame, "zh", TEXTS)

    assert list(english) == list(EXPORT_FIELDS)
    assert english["customer_id"] == "C001" and english["as_of"] == "2025-07-01"
    assert (english["tier"], english["lifecycle_stage"], english["population"]) == ("B", "new", "active")
    assert english["tags"] == chinese["tags"] == ["buying", "quality_oriented"]
    assert english["tag_labels"] == ["Buying type", "Quality-oriented"]
    assert chinese["tag_labels"] == ["购买型", "品质导向型"]
    assert english["account_manager"] == "Wang Fang"
    assert english["action_id"] == "dormant_reactivation"
    assert english["action_title"] == TEXTS.actions.text("dormant_reactivation", "en").title
    assert chinese["action_title"] == TEXTS.actions.text("dormant_reactivation", "zh").title
    assert english["action_owner"] == "sales_representative" and english["action_due_date"] == "2025-07-08"
    assert english["churn_probability"] == 0.37 and english["predicted_value"] == 100.0
    assert english["value_at_risk"] == pytest.approx(0.37 * 150.0)
    assert english["reason_1"] and english["reason_1"] != chinese["reason_1"]
    low, high = frame["predicted_value_low"][0], frame["predicted_value_high"][0]
    assert (english["predicted_value_low"], english["predicted_value_high"]) == (low, high)
    assert low is not None and low <= english["predicted_value"] <= high


def test_changed_since_keeps_customers_whose_tier_stage_tags_or_action_moved_and_new_ones(
    earlier: pl.DataFrame,
) -> None:
    current = sample_frame(
        [
            crm_record(1, predicted_value=999.0, churn_probability=0.9),  # numbers only: not exported
            crm_record(2, tier="A"),
            crm_record(3, tags=["browsing"]),
            crm_record(4, action_id="mid_value_growth"),
            crm_record(6, lifecycle_stage="loyal"),
            crm_record(7),  # new since then
        ]  # customer 5 left the base: nothing to export for them
    )

    assert changed_since(current, earlier)["customer_id"].to_list() == [
        "C002",
        "C003",
        "C004",
        "C006",
        "C007",
    ]
    assert changed_since(earlier, earlier).height == 0


def test_csv_and_json_lines_hold_the_same_rows(tmp_path: Path, earlier: pl.DataFrame) -> None:
    rows = export_rows(earlier, "zh", TEXTS)

    assert write_export(rows, "csv", tmp_path / "out.csv") == 6
    assert write_export(rows, "jsonl", tmp_path / "out.jsonl") == 6

    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so spreadsheet programs read the Chinese
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as file:
        table = list(csv.DictReader(file))
    assert list(table[0]) == list(EXPORT_FIELDS)
    assert table[0]["tags"] == "buying|quality_oriented" and table[0]["tag_labels"] == "购买型|品质导向型"
    assert table[2]["tags"] == "" and table[2]["account_manager"] == ""
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert "购买型" in lines[0]
    assert [json.loads(line) for line in lines] == rows
    assert [row["customer_id"] for row in table] == [row["customer_id"] for row in rows]


def test_an_unwritable_output_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")

    with pytest.raises(ExportError, match=r"--out .*taken/out.csv: cannot write the export"):
        write_export([], "csv", tmp_path / "taken" / "out.csv")
    with pytest.raises(ExportError, match=r"--format 'xml': give one of csv, jsonl"):
        write_export([], "xml", tmp_path / "out.xml")  # type: ignore[arg-type]
