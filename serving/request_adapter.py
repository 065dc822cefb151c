"""From request bodies to the raw-data contract: what POST /v1/predict sends, as canonical frames.

The online endpoint then runs the same feature function as training and batch scoring
(`features.build.build_features`) on these frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.errors import DataContractError, PredictionInputError
from features.contract import RawData
from features.records import raw_from_records
from serving.schemas import PredictRequest


def raw_from_requests(requests: Sequence[PredictRequest]) -> RawData:
    """Canonical frames for a group of requests, each customer keyed by its position in the group.

    Transaction ids must be unique within one customer's history only: in a group of several they
    become `<position>/<id>`, so the same customer sent twice in a batch is scored twice, while an id
    repeated inside one history is still refused. Events are read with `vars`: their fields are flat
    scalars already validated by the schema, and copying the instance dict costs a fifth of
    `model_dump` (0.1 against 0.5 ms for 400 events).
    """
    customers: list[dict[str, Any]] = []
    transactions: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    for position, request in enumerate(requests):
        key = str(position)
        customers.append(
            {"customer_id": key, "signup_date": request.customer.signup_date, **request.customer.attributes}
        )
        records = [{"customer_id": key, **vars(event)} for event in request.transactions]
        if len(requests) > 1:
            for record in records:
                if record["transaction_id"] is not None:
                    record["transaction_id"] = f"{key}/{record['transaction_id']}"
        transactions += records
        interactions += [{"customer_id": key, **vars(event)} for event in request.interactions]
    try:
        return raw_from_records(customers, transactions, interactions)
    except DataContractError as error:
        raise PredictionInputError(str(error)) from error
