"""The raw-data contract: what a company's CRM export must look like, in memory and on disk.

Every stage downstream (features, training, serving) works on `RawData`, whose frames always carry
the canonical columns and dtypes below, whatever file format or API payload they came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

TRANSACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "amount": pl.Float64(),
    "transaction_id": pl.String(),
    "quantity": pl.Float64(),
    "category": pl.String(),
    "channel": pl.String(),
}
INTERACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "type": pl.String(),
    "value": pl.Float64(),
}
CUSTOMERS_BASE_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "signup_date": pl.Datetime("us"),
}


@dataclass(frozen=True)
class RawData:
    """One company's CRM history in canonical form.

    `customers` holds `customer_id`, `signup_date` and any profile attribute columns (strings).
    Optional columns absent from the source are present and null, so feature code never branches
    on the source.
    """

    transactions: pl.DataFrame
    customers: pl.DataFrame
    interactions: pl.DataFrame

    @property
    def attribute_columns(self) -> list[str]:
        """Profile attributes: every customers column beyond id and signup date."""
        return [c for c in self.customers.columns if c not in CUSTOMERS_BASE_SCHEMA]


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
