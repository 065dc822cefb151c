"""The monitoring page, the movers page, the models page's comparison and the Prometheus gauges, over HTTP,
on a hand-made monitor report (tests/web/data/monitor_report.json) whose numbers the tests read back."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from support.forms import sign_in
from support.web_sample import API_KEY, sample_app

from serving.monitor_report import MonitorReportStore
from serving.monitoring_metrics import MonitorReportCollector, register_monitor_gauges
from serving.text import Catalogues
from serving.web.models_view import COMPARISON_TAG, comparison_view
from serving.web.monitoring_html import render_report_html
from training.retrain import COMPARISON_TAG as RETRAIN_COMPARISON_TAG

SAMPLE = Path(__file__).parent / "data" / "monitor_report.json"
CATALOGUES = Catalogues.load()
COMPARISON: dict[str, Any] = {
    "retrained_at": "2026-01-02T09:00:00",
    "decision": "kept",
    "champion": {"version": "3", "run_id": "r3", "data_end": "2025-01-01T00:00:00"},
    "challenger": {"version": "4", "run_id": "r4", "data_end": "2026-01-01T00:00:00"},
    "models": {
        "churn": {
            "window": {"as_of": "2025-07-05", "to": "2026-01-01", "horizon_days": 180, "customers": 600},
            "comparable": True,
            "method": "both scored on the window",
            "learned_until": "2025-01-01",
            "comparable_from": None,
        },
        "value": {
            "window": {"as_of": "2025-01-01", "to": "2026-01-01", "horizon_days": 365, "customers": 900},
            "comparable": False,
            "method": None,
            "learned_until": "2025-07-01",
            "comparable_from": "2026-07-01",
        },
    },
    "gate": {
        "passed": False,
        "checks": [
            {"model": "churn", "metric": "roc_auc", "kind": "drop", "limit": 0.005, "champion": 0.81,
             "challenger": 0.83, "passed": True, "detail": ""},
            {"model": "value", "metric": "gini", "kind": "drop", "limit": 0.005, "champion": None,
             "challenger": 0.9, "passed": False, "detail": ""},
            {"model": "churn", "metric": "ece", "kind": "max", "limit": 0.02, "champion": 0.05,
             "challenger": 0.015, "passed": True, "detail": ""},
        ],
    },
}  # fmt: skip


@pytest.fixture
def report() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


@pytest.fixture
def report_path(tmp_path: Path) -> Path:
    path = tmp_path / "monitoring" / "monitor.json"
    path.parent.mkdir()
    shutil.copy(SAMPLE, path)
    return path


@pytest.fixture
def app(tmp_path: Path, report_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("CLVCHURN_MONITOR_REPORT_PATH", str(report_path))
    app = sample_app(tmp_path)
    app.state.web.comparison_lookup = lambda version: COMPARISON if version == "4" else None
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        app.state.initial_load.join(timeout=10)
        assert sign_in(client, API_KEY, "/monitoring").status_code == 303
        yield client


def values(html: str, selector: str) -> list[str]:
    return re.findall(selector, html)


@pytest.mark.parametrize("path", ["/monitoring", "/monitoring/moves?from=B&to=A"])
def test_the_pages_need_a_sign_in(tmp_path: Path, path: str) -> None:
    with TestClient(sample_app(tmp_path), follow_redirects=False) as anonymous:
        response = anonymous.get(path)
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in?next=")


def test_the_page_shows_status_accuracy_over_time_and_the_alert(client: TestClient, report: dict) -> None:
    html = client.get("/monitoring?lang=en").text

    assert '<a href="/monitoring" class="active">Monitoring</a>' in html
    assert '<span class="stat-value" id="report-as-of">2026-01-01</span>' in html
    assert re.search(r'id="alert-count">1<', html) and re.search(r'id="drift-status">Flagged<', html)
    roc = html.split('data-model="churn" data-metric="roc_auc"')[1].split("</figure>")[0]
    realised = roc.split('data-series="realised"')[1].split("</g>")[0]
    assert values(realised, r'data-day="([^"]+)" data-value="([^"]+)"') == [
        ("2025-01-01", "0.8200"),
        ("2025-07-01", "0.7800"),
    ]
    backtest = roc.split('data-series="backtest"')[1].split("</g>")[0]
    assert values(backtest, r'data-value="([^"]+)"') == ["0.8300", "0.8300"]
    estimated = roc.split('data-series="estimated"')[1].split("</g>")[0]
    assert values(estimated, r'data-day="([^"]+)"') == ["2025-01-01", "2025-07-01", "2026-01-01"]
    charts = values(html, r'<figure class="chart-card" data-model="(\w+)" data-metric="(\w+)"')
    assert charts == [("churn", "roc_auc"), ("churn", "ece"), ("value", "gini"), ("value", "total_error_pct")]
    alerts = html.split('id="alerts-table"')[1].split("</table>")[0]
    assert values(alerts, r'<tr data-model="(\w+)" data-metric="(\w+)">') == [("churn", "ece")]
    assert '<td class="num">0.0400</td>' in alerts  # worse by
    assert 'id="in-sample"' in html and "2025-07-01" in html.split('id="in-sample"')[1].split("</p>")[0]


def test_calibration_of_the_latest_closed_snapshot_with_the_calibrated_band(client: TestClient) -> None:
    html = client.get("/monitoring").text
    chart = html.split('id="calibration"')[1].split("</figure>")[0]

    assert values(chart, r'data-decile="(\d+)"\s+data-value="([^"]+)"') == [
        ("1", "0.9000"),
        ("2", "0.6000"),
        ("3", "0.3000"),
    ]  # 2025-07-01, the later of the two closed snapshots
    assert chart.count('class="band"') == 3
    assert "snapshot 2025-07-01 (110 active customers)" in html


def test_drift_bars_predictions_first_then_features_by_psi_on_one_scale(client: TestClient) -> None:
    html = client.get("/monitoring?lang=en").text
    bars = html.split('id="drift-bars"')[1].split("</ul>")[0]
    en = CATALOGUES["en"]

    names = values(bars, r'data-feature="([^"]+)" data-level="(\w+)"')
    assert names == [
        ("Churn probability", "flagged"),
        ("Predicted value", "stable"),
        (en.text("feature.visits_90d"), "flagged"),
        (en.text("feature.orders_90d"), "watch"),
        (en.text("feature.net_spend_90d"), "stable"),
    ]
    # the largest PSI (0.6) spans the bar; the thresholds 0.1 and 0.25 sit at their share of it
    assert values(bars, r'class="bar" x="0" y="1" width="([^"]+)"') == [
        "110.0",
        "7.33",
        "220.0",
        "44.0",
        "3.67",
    ]
    assert 'x1="36.67"' in bars and 'x1="91.67"' in bars


def test_heat_map_counts_values_and_links_to_the_customers_who_moved(
    client: TestClient, report: dict
) -> None:
    html = client.get("/monitoring").text
    heatmap = html.split('id="tier-heatmap"')[1].split("</table>")[0]

    cells = values(heatmap, r'data-from="(\w)" data-to="(\w)" data-count="(\d+)"')
    assert [(a, b, int(n)) for a, b, n in cells] == [
        (a, b, report["migration"]["tiers"][a][b]) for a in "ABCD" for b in "ABCD"
    ]
    assert values(heatmap, r'href="(/monitoring/moves[^"]+)"') == [
        "/monitoring/moves?from=A&amp;to=B",
        "/monitoring/moves?from=B&amp;to=A",
        "/monitoring/moves?from=B&amp;to=C",
        "/monitoring/moves?from=C&amp;to=D",
    ]
    assert "400.00" in heatmap  # tier B -> B: 4 customers worth 100 each
    assert (
        "20 customers in both snapshots: 1 moved up a tier, 3 moved down; 2 are new and 1 have gone." in html
    )
    stages = html.split('id="stage-heatmap"')[1].split("</table>")[0]
    assert stages.count("<td") == 64 and "moves-link" not in stages


def test_the_movers_page_lists_who_moved_with_links_to_their_pages(client: TestClient) -> None:
    html = client.get("/monitoring/moves?from=B&to=A").text

    assert values(html, r'<tr data-customer="(\w+)">') == ["C005"]
    assert 'href="/customers/C005"' in html and "1,200.00" in html
    assert "1 of 1 listed" in html
    assert client.get("/customers/C005").status_code == 200
    assert 'id="movers-none"' in client.get("/monitoring/moves?from=A&to=D").text
    assert client.get("/monitoring/moves?from=A&to=E").status_code == 404


def test_without_a_report_the_page_says_how_to_make_one_and_a_broken_one_is_a_503(
    client: TestClient, report_path: Path
) -> None:
    report_path.unlink()
    response = client.get("/monitoring?lang=en")
    assert response.status_code == 200
    assert CATALOGUES["en"].text("web.monitoring.no_report") in response.text

    report_path.write_text('{"as_of": "2026-01-01"}')
    response = client.get("/monitoring")
    assert response.status_code == 503 and "lacks" in response.text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_both_languages_without_falling_back(app: FastAPI, client: TestClient, lang: str) -> None:
    for path in ("/monitoring", "/monitoring/moves?from=C&to=D", "/models"):
        response = client.get(f"{path}{'&' if '?' in path else '?'}lang={lang}")
        assert response.status_code == 200, path
    assert CATALOGUES[lang].text("web.monitoring.title") in client.get(f"/monitoring?lang={lang}").text
    assert app.state.texts.catalogues[lang].misses == set()


def test_models_page_shows_the_challengers_comparison_on_its_window(client: TestClient) -> None:
    html = client.get("/models?lang=en").text
    section = html.split('id="comparison"')[1].split("</section>")[0]

    assert 'data-decision="kept"' in html and "Champion kept" in section
    assert "challenger v4 against champion v3" in section
    rows = values(section, r'data-model="(\w+)" data-metric="(\w+)" data-passed="(\w+)"')
    assert rows == [("churn", "roc_auc", "yes"), ("value", "gini", "no"), ("churn", "ece", "yes")]
    assert "window 2025-07-05 to 2026-01-01, 600 customers" in section
    assert "a window after them closes once the data reach 2026-07-01" in section


def test_a_registry_that_cannot_be_read_leaves_the_models_page_without_a_comparison(
    app: FastAPI, client: TestClient
) -> None:
    def broken(version: str) -> dict[str, Any]:
        raise ConnectionError("registry down")

    app.state.web.comparison_lookup = broken
    response = client.get("/models")
    assert response.status_code == 200 and 'id="comparison"' not in response.text
    assert comparison_view(None, "4") is None
    assert COMPARISON_TAG == RETRAIN_COMPARISON_TAG  # the page reads the tag retrain writes


def test_gauges_are_read_from_the_report_at_every_scrape(client: TestClient, report_path: Path) -> None:
    metrics = client.get("/metrics").text

    assert "clvchurn_monitor_report_up 1.0" in metrics
    assert 'clvchurn_monitor_realised{metric="roc_auc",model="churn"} 0.78' in metrics
    assert 'clvchurn_monitor_backtest{metric="roc_auc",model="churn"} 0.83' in metrics
    assert 'clvchurn_monitor_alerts{model="churn"} 1.0' in metrics
    assert 'clvchurn_monitor_estimated{metric="roc_auc_expected",model="churn"} 0.79' in metrics
    assert 'clvchurn_monitor_drift_psi{feature="visits_90d"} 0.6' in metrics
    assert "clvchurn_monitor_drift_flagged 1.0" in metrics
    assert 'clvchurn_monitor_tier_migration_customers{from_tier="B",to_tier="A"} 1.0' in metrics
    assert 'clvchurn_monitor_tier_moves{direction="down"} 3.0' in metrics

    report = json.loads(report_path.read_text())
    report["drift"]["flagged"] = False
    report_path.write_text(json.dumps(report))
    assert "clvchurn_monitor_drift_flagged 0.0" in client.get("/metrics").text


def test_the_collector_reports_down_without_a_readable_report(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    register_monitor_gauges(registry, tmp_path / "absent.json")
    assert generate_latest(registry).decode().count("clvchurn_monitor_") == 3  # HELP, TYPE and up 0.0
    assert "clvchurn_monitor_report_up 0.0" in generate_latest(registry).decode()

    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    lines = generate_latest(_registry_with(MonitorReportCollector(broken))).decode()
    assert "clvchurn_monitor_report_up 0.0" in lines


def test_migration_gauges_sum_to_the_customers_in_both_snapshots(report_path: Path, report: dict) -> None:
    lines = generate_latest(_registry_with(MonitorReportCollector(report_path))).decode().splitlines()
    counts = [
        float(line.split()[-1])
        for line in lines
        if line.startswith("clvchurn_monitor_tier_migration_customers{")
    ]
    assert len(counts) == 16 and sum(counts) == report["migration"]["customers"]


def test_the_html_file_stands_alone_in_either_language(report: dict) -> None:
    html = render_report_html(report, "zh")

    assert CATALOGUES["zh"].text("web.monitoring.html_title", date="2026-01-01") in html
    assert "<link" not in html and "<script" not in html and "http" not in html
    assert ".heatmap" in html  # the stylesheets are inlined
    assert "moves-link" not in html and 'data-from="B" data-to="A" data-count="1"' in html
    assert MonitorReportStore(SAMPLE).report() == report


def _registry_with(collector: MonitorReportCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry
