"""Whether a newly trained model pair becomes the champion: one gate for the whole pair.

The pair is compared with the current champion only on a window neither has learned from:
- when the champion's backtest was validated on the same cutoff as the new run's (a retraining on the
  same data, a recipe change), the two backtests' recorded metrics are compared: both models were
  fitted before that cutoff and judged on the same customers;
- otherwise, when the served champion learned no label of the new run's validation rows (its
  `trained_through` plus the horizon no later than the validation cutoff), it is scored on them.
A refitted champion trained on newer labels than the new run's validation window cannot be compared
there; the new pair becomes champion, and the decision says why (`clvchurn retrain` compares the two on
a window neither has seen).

When comparable, the new pair must not be worse than the champion by more than the gate's tolerances:
churn ROC-AUC and value Gini (`GATE_TOLERANCES`), and its churn calibration error must stay within
`MAX_CHURN_ECE`; `--force` promotes anyway and says so.

`clvchurn retrain` decides before it registers, on a window of its own (`training.retrain`): it hands
its decision over in `outcome.decision` with the version `DECIDED_BEFORE_REGISTRATION`, and `promote`
only fills in the version just registered.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from domain.errors import ClvchurnError
from model_contract import CHALLENGER, CHAMPION, PAIR_MODEL_NAME, LoadedPair, aliased_version, load_pair
from training.metrics import probability_metrics, value_metrics

if TYPE_CHECKING:
    from training.train import TrainingOutcome

log = logging.getLogger(__name__)

# (model, metric, tolerance): the new pair may be worse than the champion by at most the tolerance.
GATE_TOLERANCES: tuple[tuple[str, str, float], ...] = (("churn", "roc_auc", 0.005), ("value", "gini", 0.005))
MAX_CHURN_ECE = 0.05
DECIDED_BEFORE_REGISTRATION = ""
"""The version of a decision made before the pair was registered (`clvchurn retrain`'s)."""


@dataclass(frozen=True)
class PromotionDecision:
    version: str
    alias: str
    champion_version: str | None
    comparison: dict[str, dict[str, float]]  # model -> {"new_<metric>", "champion_<metric>"}
    forced: bool
    reason: str

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def promote(outcome: TrainingOutcome, version: str, *, force: bool) -> PromotionDecision:
    """The alias the new pair's `version` gets, and why (see the module docstring)."""
    preset = outcome.decision
    if preset is not None and preset.version == DECIDED_BEFORE_REGISTRATION:
        return dataclasses.replace(preset, version=version)
    current = aliased_version(PAIR_MODEL_NAME, CHAMPION, outcome.tracking_uri)
    if current is None:
        return PromotionDecision(version, CHAMPION, None, {}, False, "no champion before")
    try:
        champion = load_pair(CHAMPION, outcome.tracking_uri)
    except ClvchurnError as error:
        log.warning("champion v%s could not be loaded: %s", current.version, error)
        return PromotionDecision(
            version, CHAMPION, current.version, {}, False, f"champion v{current.version} could not be loaded"
        )
    unfair = _unfair(champion, outcome)
    if unfair:
        return PromotionDecision(version, CHAMPION, current.version, {}, False, unfair)
    comparison = _compare(champion, outcome)
    failures = [
        f"{model} {metric} {scores[f'new_{metric}']:.4f} below the champion's {scores[f'champion_{metric}']:.4f} - {tolerance}"
        for model, metric, tolerance in GATE_TOLERANCES
        if (scores := comparison.get(model))
        and scores[f"new_{metric}"] < scores[f"champion_{metric}"] - tolerance
    ]
    churn_ece = outcome.models["churn"].backtest.metrics.get("ece", 0.0)
    if churn_ece > MAX_CHURN_ECE:
        failures.append(f"churn ece {churn_ece:.4f} above {MAX_CHURN_ECE}")
    if not failures:
        return PromotionDecision(version, CHAMPION, current.version, comparison, False, "passes the gate")
    reason = "; ".join(failures)
    if force:
        return PromotionDecision(version, CHAMPION, current.version, comparison, True, f"{reason} (forced)")
    return PromotionDecision(version, CHALLENGER, current.version, comparison, False, reason)


def _unfair(champion: LoadedPair, outcome: TrainingOutcome) -> str:
    """Why the champion cannot be judged on this run's validation window (empty when it can)."""
    for name in ("churn", "value"):
        run = outcome.models[name]
        validation = run.backtest.schedule.validation
        metadata = champion.pair[name].metadata
        if validation is not None and metadata.backtest_as_of == validation:
            continue
        learned_until = metadata.trained_through + timedelta(days=metadata.horizon_days)
        if validation is None or learned_until > validation:
            return (
                f"champion v{champion.version} learned {name} labels up to {learned_until.date()}, after this "
                f"run's validation cutoff {validation.date() if validation else '-'}, and was backtested on "
                f"another cutoff: not comparable here (`clvchurn retrain` compares on a window neither has seen)"
            )
        missing = sorted(set(metadata.feature_names) - set(run.backtest.validation.columns))
        if missing:
            return f"champion v{champion.version} needs features no longer built: {missing}"
    return ""


def _compare(champion: LoadedPair, outcome: TrainingOutcome) -> dict[str, dict[str, float]]:
    """Each gated metric of the new pair and the champion on the same validation window."""
    comparison = {}
    for model, metric, _ in GATE_TOLERANCES:
        backtest = outcome.models[model].backtest  # type: ignore[index]
        metadata = champion.pair[model].metadata  # type: ignore[index]
        if metadata.backtest_as_of == backtest.schedule.validation and metric in metadata.backtest_metrics:
            champion_score = metadata.backtest_metrics[metric]
        else:
            predicted = champion.pair[model].predict_frame(backtest.validation)  # type: ignore[index]
            scores = (
                probability_metrics(backtest.actual.astype(np.int64), predicted)
                if backtest.spec.is_probability
                else value_metrics(backtest.actual, predicted)
            )
            champion_score = scores[metric]
        comparison[model] = {
            f"new_{metric}": backtest.metrics.get(metric, float("nan")),
            f"champion_{metric}": champion_score,
        }
    return comparison
