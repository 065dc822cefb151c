"""Configuration of monitoring: one pydantic-settings class, environment prefix `CLVCHURN_MONITOR_`.

Thresholds are policy, not code: how far a feature may drift before it is flagged and how much worse
than its backtest a model may do before an alert fires are decided by whoever runs the monitoring, and
recorded with each report. Dictionaries are set as JSON (`CLVCHURN_MONITOR_TOLERANCES='{"roc_auc":
0.03}'`) and merged into the defaults, so overriding one metric keeps the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import MonitoringSettingsError

ENV_PREFIX: Final = "CLVCHURN_MONITOR_"

DEFAULT_TOLERANCES: Final[dict[str, float]] = {
    "roc_auc": 0.02,
    "pr_auc": 0.03,
    "brier": 0.01,
    "ece": 0.02,
    "gini": 0.02,
    "spearman": 0.03,
    "total_error_pct": 10.0,
}
"""Absolute amounts a realised metric may be worse than its backtest by (total error in points)."""
DEFAULT_RELATIVE_TOLERANCES: Final[dict[str, float]] = {"mae": 0.10, "rmse": 0.10}
"""Fractions of the backtest value a metric in currency may be worse by (scale-free across bases)."""


class MonitoringSettings(BaseSettings):
    """Settings of `clvchurn monitor`; each field can be set as `CLVCHURN_MONITOR_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    psi_watch: float = Field(
        default=0.1, gt=0, description="PSI from which a feature is worth watching (Siddiqi 2006)."
    )
    psi_flagged: float = Field(
        default=0.25, gt=0, description="PSI from which a feature has shifted (Siddiqi 2006)."
    )
    psi_min_share: float = Field(
        default=1e-4,
        gt=0,
        lt=0.1,
        description="Bin shares below this are raised to it before the PSI sum, so an empty bin on "
        "one side gives a large but finite term.",
    )
    drift_flagged_share: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Drift is flagged overall when at least this share of the features is flagged "
        "(or the prediction, or a key feature, is).",
    )
    bins: int = Field(default=10, ge=2, le=100, description="Quantile bins per numeric feature (deciles).")
    max_levels: int = Field(
        default=20,
        ge=1,
        description="Most frequent levels kept per categorical feature; the rest is 'other'.",
    )
    calibration_bins: int = Field(
        default=10, ge=1, description="Uniform probability bins of the expected calibration error."
    )
    tolerances: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_TOLERANCES),
        description="Absolute tolerance per metric against the backtest (JSON, merged into the defaults).",
    )
    relative_tolerances: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RELATIVE_TOLERANCES),
        description="Relative tolerance per metric against the backtest (JSON, merged into the defaults).",
    )

    history_path: Path = Field(
        default=Path("artifacts/history"),
        description="Snapshot history: `clvchurn score` files each cutoff there (as_of=YYYY-MM-DD/) and "
        "`clvchurn monitor` reads it (`--history` overrides it).",
    )
    report_path: Path = Field(
        default=Path("artifacts/monitoring/monitor.json"),
        description="Monitor report (JSON) that `clvchurn monitor` writes by default and the service's "
        "/monitoring page and Prometheus gauges read at each request or scrape.",
    )
    movers_per_cell: int = Field(
        default=100,
        ge=0,
        description="Customers listed per tier-migration cell in the report (largest later value first); "
        "the full list goes to the movers file beside it.",
    )
    retrain_max_roc_auc_drop: float = Field(
        default=0.005,
        ge=0,
        description="`clvchurn retrain` gate: the challenger's churn ROC-AUC may be below the champion's "
        "by at most this, on the same window.",
    )
    retrain_max_ece: float = Field(
        default=0.02,
        gt=0,
        description="`clvchurn retrain` gate: the challenger's churn calibration error on the window at most this.",
    )
    retrain_max_gini_drop: float = Field(
        default=0.005,
        ge=0,
        description="`clvchurn retrain` gate: the challenger's value Gini may be below the champion's by at most this.",
    )
    retrain_lock_path: Path = Field(
        default=Path("artifacts/retrain.lock"),
        description="File `clvchurn retrain` locks while it runs, so that two runs (cron) never overlap.",
    )

    @field_validator("tolerances", mode="before")
    @classmethod
    def _merge_tolerances(cls, value: Any) -> Any:
        return {**DEFAULT_TOLERANCES, **value} if isinstance(value, dict) else value

    @field_validator("relative_tolerances", mode="before")
    @classmethod
    def _merge_relative_tolerances(cls, value: Any) -> Any:
        return {**DEFAULT_RELATIVE_TOLERANCES, **value} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringSettings:
        if self.psi_watch >= self.psi_flagged:
            raise ValueError(
                f"psi_watch ({self.psi_watch}) must be below psi_flagged ({self.psi_flagged}): "
                f"set {ENV_PREFIX}PSI_WATCH lower or {ENV_PREFIX}PSI_FLAGGED higher"
            )
        both = sorted(set(self.tolerances) & set(self.relative_tolerances))
        if both:
            raise ValueError(
                f"metrics {both} have both an absolute and a relative tolerance: keep one of "
                f"{ENV_PREFIX}TOLERANCES and {ENV_PREFIX}RELATIVE_TOLERANCES per metric"
            )
        negative = sorted(
            name for name, value in {**self.tolerances, **self.relative_tolerances}.items() if value < 0
        )
        if negative:
            raise ValueError(f"tolerances must be zero or more, got negative ones for {negative}")
        return self


def load_monitoring_settings(**overrides: Any) -> MonitoringSettings:
    """The settings from the environment (and `overrides`), with one readable error if they are wrong.

    Raises
    ------
    MonitoringSettingsError
        A value is out of range or inconsistent; the message names the `CLVCHURN_MONITOR_*` variable.
    """
    try:
        return MonitoringSettings(**overrides)
    except ValidationError as error:
        problems = "; ".join(_problem(issue["loc"], issue["msg"]) for issue in error.errors())
        raise MonitoringSettingsError(f"monitoring settings are invalid: {problems}") from error


def _problem(location: tuple[int | str, ...], message: str) -> str:
    message = message.removeprefix("Value error, ")
    if not location:  # a rule across fields: its message names the variables
        return message
    return f"{ENV_PREFIX}{str(location[0]).upper()}: {message}"
