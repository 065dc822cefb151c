"""Prometheus gauges of the latest action evaluation: uplift and its interval, per action.

A collector rather than gauges set once: it reads the evaluation file (`clvchurn evaluate actions --json`,
CLVCHURN_ACTIONS_EVALUATION_PATH) at every scrape, so a new evaluation shows without a restart and every
worker reports the same figures. Register it in the app's registry:
`telemetry.registry.register(ActionEvaluationCollector(path))`. Without a readable file it reports nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from domain.errors import ActionEvaluationError
from policy.evaluation import read_evaluation

logger = logging.getLogger(__name__)


class ActionEvaluationCollector(Collector):
    """`clvchurn_action_uplift{action_id, bound}` (estimate, ci_low, ci_high), the treatment and control
    group sizes and success rates, and the evaluation's cutoff as a Unix time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self.path.exists():
            return
        try:
            evaluation = read_evaluation(self.path)
        except ActionEvaluationError as error:
            logger.warning("Action gauges left out: %s", error)
            return
        uplift = GaugeMetricFamily(
            "clvchurn_action_uplift",
            "Latest measured uplift per action (treatment minus control success rate) and its 95% interval.",
            labels=["action_id", "bound"],
        )
        groups = GaugeMetricFamily(
            "clvchurn_action_customers",
            "Customers with a closed outcome per action and group.",
            labels=["action_id", "group"],
        )
        rates = GaugeMetricFamily(
            "clvchurn_action_success_rate",
            "Success rate per action and group.",
            labels=["action_id", "group"],
        )
        for action in evaluation.actions:
            for bound, value in (
                ("estimate", action.uplift),
                ("ci_low", action.uplift_ci_low),
                ("ci_high", action.uplift_ci_high),
            ):
                if value is not None:
                    uplift.add_metric([action.action_id, bound], value)
            for group, count, rate in (
                ("treatment", action.n_treatment, action.success_rate_treatment),
                ("control", action.n_control, action.success_rate_control),
            ):
                groups.add_metric([action.action_id, group], count)
                if rate is not None:
                    rates.add_metric([action.action_id, group], rate)
        as_of = GaugeMetricFamily(
            "clvchurn_action_evaluation_as_of", "Cutoff of the latest action evaluation."
        )
        as_of.add_metric([], evaluation.as_of.timestamp())
        yield from (uplift, groups, rates, as_of)
