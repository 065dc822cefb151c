"""POST /v1/actions: the CRM reports the retention actions it assigned and took, as they happen.

The rows go to the service's database (`CLVCHURN_DATABASE_URL`, table `actions`), shared by every
worker; `clvchurn actions export` writes them out as an actions file for `clvchurn evaluate actions`
and `clvchurn train`. The database is opened on the first report and kept on the app; its schema must
be at the head revision (`clvchurn db upgrade`), checked once then.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.concurrency import run_in_threadpool

from domain.vocabulary import HOLD_OUT_ACTION
from monitoring.action_records import ActionRecords
from policy.playbook import Playbook
from serving.database import open_database, require_current_schema
from serving.middleware import request_id_of
from serving.routes.deps import API_PREFIX
from serving.schemas import ActionIn, ActionsRecorded, ErrorBody
from serving.settings import Settings

router = APIRouter(prefix=API_PREFIX, tags=["actions"])

_OPENING = threading.Lock()


def action_records(request: Request) -> ActionRecords:
    """The app's `ActionRecords`, opened on first use (a plain def: FastAPI runs it in a thread)."""
    state = request.app.state
    with _OPENING:
        records: ActionRecords | None = getattr(state, "action_records", None)
        if records is None:
            settings: Settings = state.settings
            engine = open_database(settings.database_url.get_secret_value())
            require_current_schema(engine)
            records = state.action_records = ActionRecords(engine)
    return records


ActionRecordsDep = Annotated[ActionRecords, Depends(action_records)]


@router.post(
    "/actions",
    summary="Record retention actions",
    description="One action or a list: who was assigned which action when, in which group (treatment or "
    "control), and optionally when the contact was made, by which channel and owner, at what cost. A "
    "prediction's keys are accepted (`assignment`, `as_of`, `recommended_action`). Reporting an assignment "
    "again (same customer, action_id and assigned_at) updates it.",
    status_code=status.HTTP_201_CREATED,
    response_model=ActionsRecorded,
    responses={
        401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key."},
        503: {"model": ErrorBody, "description": "The database is unavailable or not migrated."},
    },
)
async def record_actions(
    body: ActionIn | list[ActionIn], request: Request, records: ActionRecordsDep
) -> ActionsRecorded:
    reports = [body] if isinstance(body, ActionIn) else body
    playbook = request.app.state.texts.playbook
    rows = [_held_back(report.model_dump(), playbook) for report in reports]
    recorded = await run_in_threadpool(records.record, rows, request_id=request_id_of(request))
    return ActionsRecorded(recorded=recorded)


def _held_back(report: dict[str, Any], playbook: Playbook) -> dict[str, Any]:
    """A control customer's prediction says `hold_out`; the action it measures is its rule's, so the
    row is stored under that action (as the actions file has it), when the rule is known."""
    if report["action_id"] == HOLD_OUT_ACTION and report.get("rule_id"):
        rule = playbook.rule(report["rule_id"])
        if rule is not None:
            return {**report, "action_id": rule.action.id}
    return report
