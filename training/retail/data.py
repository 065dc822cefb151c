"""The retail benchmark's input: an invoice-line export (e.g. online_retail.csv.gz) or a contract folder.

An export goes through `features.sources.invoices.import_invoices` (one transaction per invoice and
customer, cancellations as refunds, customers with their first invoice as signup date and their
country) into a temporary folder, and is loaded from there with `features.contract.load_raw`, exactly
as `clvchurn data import-invoices FILE --out DIR` followed by a command on DIR would.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from domain.errors import DataContractError
from features.contract import LoadResult, load_raw

logger = logging.getLogger(__name__)


def load_retail(path: Path) -> LoadResult:
    """The raw-data contract of `path`: a contract folder as it is, an invoice-line export imported.

    Raises
    ------
    DataContractError: `path` does not exist, or the folder or export breaks the contract.
    """
    path = Path(path)
    if path.is_dir():
        return load_raw(path)
    if not path.is_file():
        raise DataContractError(
            f"{path} is neither an invoice-line export (e.g. online_retail.csv.gz) nor a data folder"
        )
    from features.sources.invoices import import_invoices

    with tempfile.TemporaryDirectory(prefix="clvchurn-retail-data-") as folder:
        imported = import_invoices(path, Path(folder))
        logger.info(
            "%s: %d lines accepted, %d rejected (%d guest purchases without a customer id)",
            path.name,
            imported.lines.accepted,
            imported.lines.rejected,
            imported.guest_lines,
        )
        return load_raw(Path(folder))
