"""What the raw-data contract accepts, from a file or an API body alike: the limits on its values."""

from __future__ import annotations

from datetime import datetime
from typing import Final

EARLIEST_TIMESTAMP: Final = datetime(1900, 1, 1)
LATEST_TIMESTAMP: Final = datetime(2200, 1, 1)
"""Every timestamp (event, signup, cutoff) lies in [EARLIEST_TIMESTAMP, LATEST_TIMESTAMP).

Why: a cutoff plus the longest horizon or the due date of an action must still be a date Python and
numpy can hold (9999-12-31 plus 30 days is not), and two centuries either side of today cover any CRM."""
MAX_ABS_NUMBER: Final = 1e12
"""Amounts, quantities and survey values lie within -1e12..1e12 (a trillion in any currency).

Why: features sum amounts exactly as Decimal(38, 6) (`features.definitions.EXACT`), which holds 32
integer digits; values up to 1e12 keep the sum of up to 1e19 rows exact, while a single 1e32 overflows."""
RESERVED_KEY_COLUMNS: Final = ("customer_id", "signup_date", "as_of")
"""Key columns no attribute may be named after (with every feature and label, `reserved_attribute_names`)."""
MAX_ATTRIBUTES: Final = 100
"""Most profile attributes one customer of an API body may carry (a file has one column per attribute)."""
MAX_ATTRIBUTE_NAME_CHARS: Final = 100
MAX_ATTRIBUTE_VALUE_CHARS: Final = 1000
"""Longest attribute name and value of an API body: profile attributes are categories, not documents."""


INTERNAL_COLUMN_PREFIX: Final = "_"
"""Columns clvchurn computes on the way to the features start with it (`features.definitions`)."""
