"""Closing the loop: how past scores fared, how far the base has drifted, and who moved between tiers.

Building blocks on plain polars frames, numpy arrays and JSON-ready dicts, composed by
`clvchurn monitor`:

- `model_contract.distribution.reference_distribution` (training time): bins and shares of each feature and prediction, stored
  with the model pair;
- `drift_report`: population stability index per feature and prediction against that reference,
  with flags per feature and overall;
- `estimated_binary_performance`: expected ROC-AUC, PR-AUC, Brier and calibration error of
  calibrated probabilities whose outcomes are not known yet (confidence-based performance estimation);
- `realised_binary_performance`, `realised_value_performance`: the metrics of a past snapshot once its
  outcomes are known, overall and per segment; `performance_alerts` against the backtest;
- `migration`, `tier_movers`: tier x tier and stage x stage matrices between two snapshots, and the
  customers who moved up or down;
- `MonitoringSettings`: thresholds and tolerances (`CLVCHURN_MONITOR_*`).
"""

from monitoring.drift import drift_report, population_stability_index
from monitoring.estimated import estimated_binary_performance
from monitoring.migration import migration, tier_movers
from monitoring.realised import (
    METRIC_DIRECTIONS,
    backtest_comparison,
    performance_alerts,
    realised_binary_performance,
    realised_value_performance,
)
from monitoring.settings import MonitoringSettings, load_monitoring_settings

__all__ = [
    "METRIC_DIRECTIONS",
    "MonitoringSettings",
    "backtest_comparison",
    "drift_report",
    "estimated_binary_performance",
    "load_monitoring_settings",
    "migration",
    "performance_alerts",
    "population_stability_index",
    "realised_binary_performance",
    "realised_value_performance",
    "tier_movers",
]
