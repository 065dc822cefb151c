"""GET /v1/customers/{customer_id}: the customer's latest prediction from the scored snapshot.

The snapshot holds reason and action codes; the response renders them in the language negotiated like
POST /v1/predict's (`?lang=`, then Accept-Language, else English), from the same templates.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, status

from serving.routes.deps import API_PREFIX, LanguageDep, SnapshotsDep, TextsDep
from serving.schemas import ErrorBody, Prediction
from serving.serialise import prediction_from_record

router = APIRouter(prefix=API_PREFIX, tags=["customers"])


@router.get(
    "/customers/{customer_id}",
    summary="Latest scored prediction of one customer",
    description="Reads the snapshot written by `clvchurn score` (CLVCHURN_SNAPSHOT_PATH); the file is "
    "re-read when it changes. Reasons and action in the language of `?lang=` or Accept-Language.",
    responses={
        404: {"model": ErrorBody, "description": "The customer is not in the snapshot."},
        503: {"model": ErrorBody, "description": "No snapshot has been written yet."},
    },
)
def get_customer(
    store: SnapshotsDep,
    texts: TextsDep,
    lang: LanguageDep,
    customer_id: str = Path(min_length=1, examples=["C-1042"]),
) -> Prediction:
    record = store.record(customer_id)
    if record is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"Customer {customer_id!r} is not in the scored snapshot {store.path}; "
            "run `clvchurn score` with their data, or POST their history to /v1/predict.",
        )
    return prediction_from_record(record, lang, texts)
