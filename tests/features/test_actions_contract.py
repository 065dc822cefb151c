"""The fourth raw-data file, `actions`: validated like the others, bad rows to the rejects with reasons."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from domain.errors import DataContractError
from features.actions_contract import ACTIONS_SCHEMA, check_actions, load_actions

CSV = """customer_id,action_id,assigned_at,group,rule_id,taken_at,channel,owner,cost,tier,lifecycle_stage
C1,vip_rescue_call,2024-07-01,treatment,high_value_at_risk,2024-07-02T09:30,phone,anna,25,A,at_risk
C2,vip_rescue_call,2024-07-01,Control,high_value_at_risk,,,,,B,
C3,dormant_reactivation,2024-07-01T00:00:00+02:00,treatment,,,,,,,dormant
,vip_rescue_call,2024-07-01,treatment,,,,,,,
C4,vip_rescue_call,2024-07-01,holdout,,,,,-3,E,
C5,mid_value_growth,yesterday,control,,,,,,,
C1,vip_rescue_call,2024-07-01,treatment,,,,,,,
C6,win_back_campaign,2024-07-01,treatment,,2024-06-30,,,,,
C7,,2024-07-01,treatment,,,,,,,
"""


def _folder(tmp_path: Path, text: str = CSV, name: str = "actions.csv") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_good_rows_are_canonical_and_every_bad_row_is_rejected_with_its_reasons(tmp_path: Path) -> None:
    loaded = load_actions(_folder(tmp_path))

    assert loaded.actions.schema == pl.Schema(ACTIONS_SCHEMA)
    assert loaded.actions.rows() == [
        (
            "C1",
            "vip_rescue_call",
            datetime(2024, 7, 1),
            "treatment",
            "high_value_at_risk",
            datetime(2024, 7, 2, 9, 30),
            "phone",
            "anna",
            25.0,
            "A",
            "at_risk",
        ),
        (
            "C2",
            "vip_rescue_call",
            datetime(2024, 7, 1),
            "control",
            "high_value_at_risk",
            None,
            None,
            None,
            None,
            "B",
            None,
        ),
        (
            "C3",
            "dormant_reactivation",
            datetime(2024, 6, 30, 22),
            "treatment",
            None,
            None,
            None,
            None,
            None,
            None,
            "dormant",
        ),
    ]
    assert loaded.rejects.select("row_number", "reason").rows() == [
        (4, "empty customer_id"),
        (
            5,
            "group 'holdout' is not one of treatment, control; cost -3 is negative; tier 'E' is not one of A, B, C, D",
        ),
        (6, "assigned_at 'yesterday' is not an ISO date"),
        (7, "duplicate action: customer, action_id and assigned_at first seen at row 1"),
        (8, "taken_at 2024-06-30T00:00:00 is before assigned_at 2024-07-01T00:00:00"),
        (9, "empty action_id"),
    ]
    assert loaded.rejects["file"].unique().to_list() == ["actions.csv"]
    assert loaded.counts is not None and (loaded.counts.accepted, loaded.counts.rejected) == (3, 6)


def test_parquet_with_typed_columns_reads_the_same(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "action_id": ["a", "a"],
            "assigned_at": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
            "group": ["treatment", "control"],
            "cost": [1.5, None],
        }
    )
    frame.write_parquet(tmp_path / "actions.parquet")

    loaded = load_actions(tmp_path)

    assert loaded.actions.select("customer_id", "group", "cost").rows() == [
        ("1", "treatment", 1.5),
        ("2", "control", None),
    ]
    assert loaded.rejects.is_empty()


def test_no_actions_file_is_an_empty_table_and_a_missing_column_stops_with_its_name(tmp_path: Path) -> None:
    empty = load_actions(tmp_path)
    assert (
        empty.actions.is_empty()
        and empty.counts is None
        and empty.actions.schema == pl.Schema(ACTIONS_SCHEMA)
    )

    _folder(tmp_path, "customer_id,action_id,group\nC1,a,treatment\n")
    with pytest.raises(DataContractError, match=r"actions\.csv lacks required column 'assigned_at'"):
        load_actions(tmp_path)


def test_check_actions_takes_rows_already_in_memory() -> None:
    table = pl.DataFrame(
        {"customer_id": ["C1"], "action_id": ["a"], "assigned_at": ["2024-01-01"], "group": ["CONTROL"]}
    )

    accepted, rejects = check_actions(table, "crm-export")

    assert accepted["group"].to_list() == ["control"] and rejects.is_empty()
