"""GET /v1/customers/{id}: the snapshot's codes rendered in the negotiated language."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest
from fastapi.testclient import TestClient
from support.fake_engine import AUTH
from support.web_sample import TEXTS, record, sample_frame

from domain.errors import SnapshotFormatError
from serving.serialise import prediction_from_record
from serving.settings import Settings
from serving.snapshot_store import write_snapshot


def _snapshot(settings: Settings, *records: dict) -> None:
    write_snapshot(sample_frame(list(records)), settings.snapshot_path)


def test_customer_lookup_serves_the_snapshot_and_404s_unknown_ids(
    client: TestClient, settings: Settings
) -> None:
    _snapshot(settings, record(2), record(1))

    known = client.get("/v1/customers/C001", headers=AUTH)
    unknown = client.get("/v1/customers/C009", headers=AUTH)

    assert known.status_code == 200
    assert known.json() == json.loads(prediction_from_record(record(1), "en", TEXTS).model_dump_json())
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith(
        f"Customer 'C009' is not in the scored snapshot {settings.snapshot_path}"
    )


@pytest.mark.parametrize(
    ("query", "header", "sentence", "title"),
    [
        (
            "",
            None,
            "No order for 97 days; customers in tier A usually order every 21 days.",
            "Call the high-value customer within 24 hours",
        ),
        ("?lang=zh", None, "已 97 天未下单；A 级客户通常每 21 天下单一次。", "24 小时内致电高价值客户"),
        (
            "",
            "zh-CN,zh;q=0.9,en;q=0.5",
            "已 97 天未下单；A 级客户通常每 21 天下单一次。",
            "24 小时内致电高价值客户",
        ),
        (
            "?lang=en",
            "zh-CN",
            "No order for 97 days; customers in tier A usually order every 21 days.",
            "Call the high-value customer within 24 hours",
        ),
        (
            "?lang=fr",
            None,
            "No order for 97 days; customers in tier A usually order every 21 days.",
            "Call the high-value customer within 24 hours",
        ),
    ],
)
def test_customer_lookup_answers_in_the_negotiated_language(
    client: TestClient, settings: Settings, query: str, header: str | None, sentence: str, title: str
) -> None:
    _snapshot(settings, record(4))  # vip_rescue_call
    headers = {**AUTH, **({"Accept-Language": header} if header else {})}

    body = client.get(f"/v1/customers/C004{query}", headers=headers).json()

    assert body["explanations"]["churn"][0]["sentence"] == sentence
    assert body["recommended_action"]["title"] == title
    assert (body["tier"], body["churn_probability"], body["predicted_value"]["amount"]) == ("A", 0.48, 400.0)


def test_customer_lookup_rereads_a_changed_snapshot(client: TestClient, settings: Settings) -> None:
    _snapshot(settings, record(1))
    first = client.get("/v1/customers/C001", headers=AUTH).json()
    _snapshot(settings, {**record(1), "tier": "A", "predicted_value": 1000.0})
    stat = settings.snapshot_path.stat()
    os.utime(settings.snapshot_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = client.get("/v1/customers/C001", headers=AUTH).json()

    assert (first["tier"], first["predicted_value"]["amount"]) == ("B", 100.0)
    assert (second["tier"], second["predicted_value"]["amount"]) == ("A", 1000.0)


def test_customer_lookup_without_snapshot_says_how_to_make_one(
    client: TestClient, settings: Settings
) -> None:
    response = client.get("/v1/customers/C1", headers=AUTH)

    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"No scored snapshot at {settings.snapshot_path} (CLVCHURN_SNAPSHOT_PATH): run `clvchurn score` first"
    )


def test_a_snapshot_missing_columns_is_a_503_naming_them(client: TestClient, settings: Settings) -> None:
    pl.DataFrame({"customer_id": ["C1"], "tier": ["A"]}).write_parquet(settings.snapshot_path)

    response = client.get("/v1/customers/C1", headers=AUTH)

    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"Snapshot {settings.snapshot_path} lacks columns ['as_of', ")


def test_a_snapshot_of_stored_texts_asks_for_clvchurn_score_again(
    client: TestClient, settings: Settings
) -> None:
    pl.DataFrame(
        {"customer_id": ["C1"], "explanations_en": ["{}"], "recommended_action_en": ["{}"]}
    ).write_parquet(settings.snapshot_path)

    response = client.get("/v1/customers/C1", headers=AUTH)

    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"Snapshot {settings.snapshot_path} holds texts instead of reason codes (the format of an earlier "
        "clvchurn); run `clvchurn score` again"
    )


def test_a_snapshot_never_holds_a_customer_twice(settings: Settings) -> None:
    with pytest.raises(SnapshotFormatError, match=r"several rows for customers \['C001'\]"):
        _snapshot(settings, record(1), record(1))
    assert not settings.snapshot_path.exists()
