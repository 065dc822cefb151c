"""The snapshot history: one entry per cutoff with the pair that scored it, replaced whole when re-scored."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from support.web_sample import record, sample_frame

from domain.errors import SnapshotFormatError, SnapshotMissingError
from serving import history
from serving.history import (
    entry_path,
    history_cutoffs,
    read_history_entry,
    read_history_features,
    read_history_pair,
    read_history_snapshot,
    write_history_entry,
)

PAIR = {"version": "3", "run_id": "r3", "churn_horizon_days": 180, "value_horizon_days": 365, "models": {}}
DRIFTED = {**PAIR, "reference_distribution": {"features": {"orders": {}, "region": {}, "gone": {}}}}


def snapshot_at(as_of: datetime, customers: range = range(1, 11), tier: str | None = None) -> pl.DataFrame:
    rows = [{**record(i), "as_of": as_of, **({"tier": tier} if tier else {})} for i in customers]
    return sample_frame(rows)


def test_an_entry_holds_the_rows_in_id_order_and_the_pair_that_scored_them(tmp_path: Path) -> None:
    frame = snapshot_at(datetime(2025, 7, 1))
    path = write_history_entry(tmp_path, frame.reverse(), PAIR)

    assert path == tmp_path / "as_of=2025-07-01" / "snapshot.parquet"
    entry = read_history_entry(tmp_path, date(2025, 7, 1))
    assert entry.snapshot.equals(frame)
    assert (entry.pair, entry.pair_version, entry.as_of) == (PAIR, "3", date(2025, 7, 1))
    assert read_history_pair(tmp_path, datetime(2025, 7, 1)) == PAIR
    assert read_history_snapshot(tmp_path, date(2025, 7, 1), columns=["customer_id", "tier"]).columns == [
        "customer_id",
        "tier",
    ]


def test_cutoffs_are_listed_oldest_first_and_other_files_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for day in (datetime(2025, 7, 1), datetime(2025, 1, 1), datetime(2026, 1, 1)):
        write_history_entry(tmp_path, snapshot_at(day), PAIR)
    (tmp_path / "notes").mkdir()
    (tmp_path / "as_of=2024-01-01").mkdir()  # no snapshot file: not an entry
    spark_entry = tmp_path / "as_of=2024-07-01"
    spark_entry.mkdir()
    snapshot_at(datetime(2024, 7, 1)).write_parquet(spark_entry / "part-00000.parquet")

    assert history_cutoffs(tmp_path) == [date(2025, 1, 1), date(2025, 7, 1), date(2026, 1, 1)]
    assert history_cutoffs(tmp_path / "absent") == []
    assert "as_of=2024-07-01 was filed by `clvchurn score --engine spark`" in caplog.text
    assert "clvchurn monitor --engine spark" in caplog.text


def test_scoring_a_cutoff_again_replaces_its_entry_and_leaves_no_partial_file(tmp_path: Path) -> None:
    day = datetime(2025, 7, 1)
    write_history_entry(tmp_path, snapshot_at(day, range(1, 11)), PAIR)
    write_history_entry(tmp_path, snapshot_at(day, range(5, 8), tier="A"), {**PAIR, "version": "4"})

    entry = read_history_entry(tmp_path, day)
    assert entry.snapshot["customer_id"].to_list() == ["C005", "C006", "C007"]
    assert entry.snapshot["tier"].unique().to_list() == ["A"]
    assert entry.pair_version == "4"
    assert [child.name for child in entry_path(tmp_path, day).parent.iterdir()] == ["snapshot.parquet"]


def test_a_failed_replacement_keeps_the_old_entry_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = datetime(2025, 7, 1)
    write_history_entry(tmp_path, snapshot_at(day), PAIR)

    def fail(source: object, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(history.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_history_entry(tmp_path, snapshot_at(day, range(1, 3)), {**PAIR, "version": "9"})

    entry = read_history_entry(tmp_path, day)
    assert (entry.snapshot.height, entry.pair_version) == (10, "3")


def test_what_is_not_one_cutoff_of_one_customer_each_is_refused(tmp_path: Path) -> None:
    two_cutoffs = pl.concat(
        [snapshot_at(datetime(2025, 1, 1)), snapshot_at(datetime(2025, 7, 1), range(11, 12))]
    )
    with pytest.raises(SnapshotFormatError, match="one cutoff"):
        write_history_entry(tmp_path, two_cutoffs, PAIR)
    twice = pl.concat([snapshot_at(datetime(2025, 1, 1)), snapshot_at(datetime(2025, 1, 1), range(1, 2))])
    with pytest.raises(SnapshotFormatError, match="more than once"):
        write_history_entry(tmp_path, twice, PAIR)
    with pytest.raises(SnapshotFormatError, match="lacks columns"):
        write_history_entry(tmp_path, snapshot_at(datetime(2025, 1, 1)).drop("tier"), PAIR)


def test_a_missing_entry_names_the_cutoffs_held_and_a_file_without_its_pair_is_refused(
    tmp_path: Path,
) -> None:
    write_history_entry(tmp_path, snapshot_at(datetime(2025, 1, 1)), PAIR)
    with pytest.raises(SnapshotMissingError, match=r"as_of=2025-07-01 \(it holds: 2025-01-01\)"):
        read_history_entry(tmp_path, date(2025, 7, 1))

    foreign = entry_path(tmp_path, date(2025, 7, 1))
    foreign.parent.mkdir()
    snapshot_at(datetime(2025, 7, 1)).write_parquet(foreign)
    with pytest.raises(SnapshotFormatError, match="does not say which model pair"):
        read_history_entry(tmp_path, date(2025, 7, 1))


def features_of(customers: range, orders: int = 1) -> pl.DataFrame:
    ids = [record(i)["customer_id"] for i in customers]
    return pl.DataFrame(
        {
            "customer_id": ids,
            "orders": [orders] * len(ids),
            "region": ["north"] * len(ids),
            "spend": [1.0] * len(ids),
        }
    )


def test_the_features_scored_are_kept_beside_the_entry_for_the_reference_columns(tmp_path: Path) -> None:
    day = datetime(2025, 7, 1)
    write_history_entry(tmp_path, snapshot_at(day), DRIFTED, features=features_of(range(10, 0, -1)))

    kept = read_history_features(tmp_path, day)
    assert kept is not None
    assert kept.columns == [
        "customer_id",
        "orders",
        "region",
    ]  # spend is not in the reference; gone is absent
    assert kept["customer_id"].to_list() == sorted(kept["customer_id"].to_list())
    assert read_history_features(tmp_path, day, columns=["orders"]).columns == ["customer_id", "orders"]  # type: ignore[union-attr]
    assert read_history_features(tmp_path, day, columns=["spend"]) is None
    assert sorted(child.name for child in entry_path(tmp_path, day).parent.iterdir()) == [
        "features.parquet",
        "snapshot.parquet",
    ]


def test_features_of_another_scoring_are_never_paired_with_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = datetime(2025, 7, 1)
    write_history_entry(tmp_path, snapshot_at(day), DRIFTED, features=features_of(range(1, 11)))
    features_file = entry_path(tmp_path, day).with_name("features.parquet")
    stale = features_file.read_bytes()

    write_history_entry(tmp_path, snapshot_at(day), DRIFTED, features=features_of(range(1, 11), orders=5))
    assert read_history_features(tmp_path, day)["orders"].unique().to_list() == [5]  # type: ignore[index]
    features_file.write_bytes(stale)  # as if a re-scoring stopped between its two renames
    assert read_history_features(tmp_path, day) is None

    write_history_entry(tmp_path, snapshot_at(day), DRIFTED)  # scored without features: none kept
    assert not features_file.exists()
    assert read_history_features(tmp_path, day) is None
