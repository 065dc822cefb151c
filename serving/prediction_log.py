"""The served predictions, committed to the database's `predictions` table before their response leaves.

Why: the log is the audit record, so a 200 must imply a row on disk (the issue's durability promise).
The routes call `PredictionLog.record(predictions, request_id)` as they always did; what changed is
where the rows go. Inside a request, `record` only stages the rows on the request (a context variable
that `PredictionLogMiddleware` in `serving.middleware` opens); when the route hands over its response,
the middleware awaits `commit` *before* the status line is sent. `commit` goes through the group
-committing `PredictionRecorder` (`serving.database.recorder`), so concurrent requests share one
transaction and throughput holds; if the commit fails, the middleware answers 503 instead and the
predictions were never served. Outside a request (a script, a test), `record` commits at once.

Rows follow `serving.database.tables.predictions`; the response's `Prediction` carries no playbook
rule id, so `rule_id` is stored as the action's (see `prediction_row`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar, Token
from datetime import UTC
from typing import Any

from domain.errors import PredictionLogError
from serving.database import PredictionRecorder, RecorderCounts
from serving.schemas import Prediction

logger = logging.getLogger(__name__)

Row = dict[str, Any]

_staged: ContextVar[list[Row] | None] = ContextVar("clvchurn_staged_predictions", default=None)


def prediction_row(prediction: Prediction, request_id: str | None) -> Row:
    """One row of the `predictions` table for a served prediction (`served_at` is stamped by the recorder)."""
    as_of = prediction.as_of
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    versions = prediction.model_versions
    action = prediction.recommended_action
    return {
        "request_id": request_id,
        "customer_id": prediction.customer_id,
        "as_of": as_of,
        "model_pair": {
            "pair": versions.pair,
            "run_id": versions.run_id,
            "churn": {"version": versions.churn},
            "value": {"version": versions.value},
        },
        "population": prediction.population,
        "churn_probability": prediction.churn_probability,
        "reactivation_probability": prediction.reactivation_probability,
        "conversion_probability": prediction.conversion_probability,
        "predicted_value": prediction.predicted_value.amount,
        "value_at_risk": prediction.value_at_risk,
        "tier": prediction.tier,
        "lifecycle_stage": prediction.lifecycle_stage,
        "action_id": action.id,
        "rule_id": str(getattr(action, "rule_id", None) or action.id),
        "assignment": getattr(action, "assignment", None),
    }


class PredictionLog:
    """The service's prediction log: rows staged per request, committed by group commit before the response.

    Parameters
    ----------
    recorder
        The group-committing writer on the service's database.
    on_outcome
        Called with (committed rows, failed rows) after every commit attempt; the metrics hook.
    """

    def __init__(
        self, recorder: PredictionRecorder, on_outcome: Callable[[int, int], None] | None = None
    ) -> None:
        self.recorder = recorder
        self._on_outcome = on_outcome

    @staticmethod
    def open_request() -> tuple[list[Row], Token[list[Row] | None]]:
        """Start staging the current request's rows: the list they land in, and the token to end with."""
        rows: list[Row] = []
        return rows, _staged.set(rows)

    @staticmethod
    def close_request(token: Token[list[Row] | None]) -> None:
        """Stop staging (in the context `open_request` ran in)."""
        _staged.reset(token)

    def record(self, predictions: Sequence[Prediction], request_id: str | None) -> None:
        """Log `predictions`: staged for the response's commit inside a request, committed now outside one.

        Raises
        ------
        PredictionNotLoggedError
            Outside a request only: the rows could not be committed.
        """
        rows = [prediction_row(prediction, request_id) for prediction in predictions]
        staged = _staged.get()
        if staged is not None:
            staged.extend(rows)
            return
        self._counted(len(rows), lambda: self.recorder.record(rows))

    async def commit(self, rows: list[Row]) -> None:
        """Commit a request's staged rows, grouped with other requests'; raises if they are not on disk.

        Raises
        ------
        PredictionNotLoggedError
            The database refused the rows or did not commit them in time: answer 503.
        """
        if not rows:
            return
        try:
            await self.recorder.record_async(rows)
        except PredictionLogError:
            self._report(0, len(rows))
            raise
        self._report(len(rows), 0)

    @property
    def counts(self) -> RecorderCounts:
        return self.recorder.counts

    def close(self) -> None:
        """Commit what is queued and stop the writer (at shutdown)."""
        self.recorder.close()

    def _counted(self, row_count: int, write: Callable[[], None]) -> None:
        try:
            write()
        except PredictionLogError:
            self._report(0, row_count)
            raise
        self._report(row_count, 0)

    def _report(self, committed: int, failed: int) -> None:
        if self._on_outcome is not None:
            self._on_outcome(committed, failed)
