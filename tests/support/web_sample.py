"""A small scored portfolio for the page tests: 50 customers whose fields follow simple formulas.

Customer i (1..50, id `C001`..`C050`):
- tier = "ABCD"[i % 4]; lifecycle stage = STAGES[i % 7]; owner = OWNERS[i % 4];
- population: prospect for the prospect stage, lapsed for dormant and lost, active otherwise;
- the population's probability (churn, reactivation or conversion) = ((i * 37) % 100) / 100; active
  customers' churn risk is high >= 0.6, medium >= 0.3, else low, the others have none;
- predicted value = 100 * i (EUR over 180 days), its range 60 * i to 250 * i; predicted orders = i / 4;
  active customers' next order on 2025-07-01 plus i days (the others have none); value if retained =
  150 * i except for prospects;
  value at risk (active only) = probability x value if retained; priority = probability x value if
  retained (prospects: x predicted value);
- action = ACTIONS[i % 4] (real playbook ids) under rule `rule_<action>`, due 2025-07-08; the snapshot
  stores codes only, as `clvchurn score` writes it;
- probability reasons: days_since_last_order 97 (+0.12, raises), complaints_90d 2 (+0.04), orders_365d 6
  (-0.06), compared with tier A's medians 21, 0 and 4; value reasons net_spend_365d 1,200 (+85.5) and
  refund_share_of_spend 10% (-12.25), without medians; `SENTENCES` holds their words in each language;
- events: min(i, 12) orders of 10 * i on the 1st of the months of 2024, one refund of -5, one
  email_open on 2024-02-15; customer C050 has no events at all.
The models come from `PortfolioEngine`, a fixed engine with run ids on both champions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import FastAPI
from pydantic import SecretStr

from policy.playbook import DEFAULT_PLAYBOOK
from serving.app import create_app
from serving.events import events_path_for
from serving.schemas import ModelInfo, ModelsInfo, ModelVersions, Prediction, PredictRequest
from serving.serialise import SNAPSHOT_SCHEMA, prediction_from_record
from serving.settings import Settings
from serving.snapshot_store import write_snapshot
from serving.text import Texts

API_KEY = "web-test-key-93b1-never-shown"
AS_OF = datetime(2025, 7, 1)
STAGES = ("prospect", "new", "active", "loyal", "at_risk", "dormant", "lost")
OWNERS = ("account_manager", "sales_representative", "customer_service", "marketing")
ACTIONS = ("vip_rescue_call", "dormant_reactivation", "vip_service_recovery", "mid_value_growth")
CUSTOMERS = 50
NO_EVENTS_CUSTOMER = "C050"
PAIR_RUN_ID = "0f3c9a1b2d4e4f5a8b7c6d5e4f3a2b1c"
CHALLENGER_RUN_ID = "9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d"
LANGUAGES = ("en", "zh")
TEXTS = Texts.load(DEFAULT_PLAYBOOK)
CATALOGUES = TEXTS.catalogues
CHURN_CODES = (
    ("days_since_last_order", 97.0, 0.12, 21.0),
    ("complaints_90d", 2.0, 0.04, 0.0),
    ("orders_365d", 6.0, -0.06, 4.0),
)
VALUE_CODES = (("net_spend_365d", 1200.0, 85.5, None), ("refund_share_of_spend", 0.1, -12.25, None))


def customer_id(i: int) -> str:
    return f"C{i:03d}"


def probability(i: int) -> float:
    return ((i * 37) % 100) / 100


def population(i: int) -> str:
    stage = STAGES[i % 7]
    return "prospect" if stage == "prospect" else "lapsed" if stage in ("dormant", "lost") else "active"


def value_if_retained(i: int) -> float | None:
    return None if population(i) == "prospect" else 150.0 * i


def next_order_date(i: int) -> date | None:
    return AS_OF.date() + timedelta(days=i) if population(i) == "active" else None


def priority(i: int) -> float:
    retained = value_if_retained(i)
    return probability(i) * (retained if retained is not None else 100.0 * i)


def risk_of(probability: float) -> str:
    return "high" if probability >= 0.6 else "medium" if probability >= 0.3 else "low"


def expected_rows() -> list[dict[str, object]]:
    """The sample as plain dicts, the oracle that tests filter and sort by hand."""
    rows = []
    for i in range(1, CUSTOMERS + 1):
        active = population(i) == "active"
        rows.append(
            {
                "customer_id": customer_id(i),
                "population": population(i),
                "tier": "ABCD"[i % 4],
                "stage": STAGES[i % 7],
                "risk": risk_of(probability(i)) if active else None,
                "owner": OWNERS[i % 4],
                "probability": probability(i),
                "value": 100.0 * i,
                "priority": priority(i),
            }
        )
    return rows


def record(i: int) -> dict[str, Any]:
    """Customer i as the snapshot stores it: codes, no words."""
    action_id = ACTIONS[i % 4]
    kind = population(i)
    retained = value_if_retained(i)
    return {
        "customer_id": customer_id(i),
        "as_of": AS_OF,
        "population": kind,
        "tier": "ABCD"[i % 4],
        "lifecycle_stage": STAGES[i % 7],
        "churn_probability": probability(i) if kind == "active" else None,
        "churn_risk": risk_of(probability(i)) if kind == "active" else None,
        "reactivation_probability": probability(i) if kind == "lapsed" else None,
        "conversion_probability": probability(i) if kind == "prospect" else None,
        "predicted_value": 100.0 * i,
        "currency": "EUR",
        "horizon_days": 180,
        "predicted_value_low": 60.0 * i,
        "predicted_value_high": 250.0 * i,
        "predicted_orders": i / 4,
        "expected_next_order_date": next_order_date(i),
        "value_if_retained": retained,
        "value_at_risk": probability(i) * retained if kind == "active" and retained is not None else None,
        "probability_reasons": [_code(*code) for code in CHURN_CODES],
        "value_reasons": [_code(*code) for code in VALUE_CODES],
        "rule_id": f"rule_{action_id}",
        "action_id": action_id,
        "action_owner": OWNERS[i % 4],
        "action_due_date": date(2025, 7, 8),
        "pair_version": "3",
        "run_id": PAIR_RUN_ID,
    }


def _code(feature: str, value: float, contribution: float, median: float | None) -> dict[str, Any]:
    return {
        "feature": feature,
        "value": value,
        "value_text": None,
        "contribution": contribution,
        "direction": "increases" if contribution > 0 else "decreases",
        "reference_value": median,
        "reference_group": "A",
    }


def prediction(i: int, lang: str = "en") -> Prediction:
    """Customer i as the API and the pages render it in `lang`."""
    return prediction_from_record(record(i), lang, TEXTS)  # type: ignore[arg-type]


SENTENCES = {
    lang: {
        reason.feature: reason.sentence
        for reason in prediction(1, lang).explanations.churn + prediction(1, lang).explanations.value
    }
    for lang in LANGUAGES
}


def events_frame() -> pl.DataFrame:
    rows: list[tuple[str, datetime, str, float | None]] = []
    for i in range(1, CUSTOMERS):
        rows += [(customer_id(i), datetime(2024, m, 1), "order", 10.0 * i) for m in range(1, min(i, 12) + 1)]
        rows.append((customer_id(i), datetime(2024, 1, 20), "refund", -5.0))
        rows.append((customer_id(i), datetime(2024, 2, 15), "email_open", None))
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "timestamp": pl.Datetime("us"),
            "kind": pl.String,
            "amount": pl.Float64,
        },
        orient="row",
    )


def sample_frame(records: Sequence[dict[str, Any]] | None = None) -> pl.DataFrame:
    """The 50 customers (or `records`) as a snapshot frame."""
    rows = records if records is not None else [record(i) for i in range(1, CUSTOMERS + 1)]
    return pl.DataFrame(list(rows), schema=SNAPSHOT_SCHEMA)


def write_sample(snapshot_path: Path, records: Sequence[dict[str, Any]] | None = None) -> Path:
    """Write the snapshot and, beside it, the events file; returns the snapshot path."""
    write_snapshot(sample_frame(records), snapshot_path)
    events_frame().write_parquet(events_path_for(snapshot_path))
    return snapshot_path


def models_info(version: str, run_id: str, roc_auc: float, trained_at: datetime) -> ModelsInfo:
    """A pair as the models page shows it: a churn and a value model trained through 2025-06-30."""
    through = datetime(2025, 6, 30)
    return ModelsInfo(
        name="clvchurn-pair",
        version=version,
        run_id=run_id,
        trained_at=trained_at,
        data_end=through,
        models={
            "churn": ModelInfo(
                version=version,
                horizon_days=180,
                populations=["active"],
                trained_through=through,
                backtest_as_of=datetime(2024, 7, 1),
                backtest_metrics={"brier": 0.151, "roc_auc": roc_auc, "rows_train": 1000.0},
            ),
            "value": ModelInfo(
                version=version,
                horizon_days=180,
                populations=["active", "lapsed", "prospect"],
                trained_through=through,
                backtest_as_of=datetime(2024, 7, 1),
                backtest_metrics={"mae": 12.5},
            ),
        },
        tier_cut_points={"A": 1000.0, "B": 300.0, "C": 80.0},
        tier_method="quantile",
        horizon_days=180,
    )


class PortfolioEngine:
    """A `PredictionEngine` for the pages: fixed model info; the pages never call `predict`."""

    model_versions = ModelVersions(pair="3", run_id=PAIR_RUN_ID, churn="3", value="3")

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        raise NotImplementedError("the page tests do not score")

    def model_info(self) -> ModelsInfo:
        return models_info("3", PAIR_RUN_ID, 0.812, datetime(2025, 6, 30, 12, 0))

    def is_stale(self) -> bool:
        return False


def challenger_lookup() -> ModelsInfo | None:
    """The registry as the tests see it: a challenger pair, version 4."""
    return models_info("4", CHALLENGER_RUN_ID, 0.825, datetime(2025, 7, 2, 9, 0))


def sample_app(folder: Path, with_snapshot: bool = True) -> FastAPI:
    """The service on the sample portfolio in `folder`, with the test registry's challenger."""
    settings = Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        snapshot_path=folder / "scores.parquet",
        database_url=SecretStr(f"sqlite:///{folder / 'clvchurn.db'}"),
        reload_interval_s=0,
    )
    if with_snapshot:
        write_sample(settings.snapshot_path)
    app = create_app(settings, engine_loader=lambda _settings: PortfolioEngine())
    app.state.web.challenger_lookup = challenger_lookup
    return app
