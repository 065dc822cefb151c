"""Realistic synthetic CRM data with known ground truth, for tests, demos and benchmarks.

`generate` draws a customer base, `write_synthetic` puts it on disk in the raw-data contract, and the
oracles give the best forecasts any model could make from the true parameters. A `SyntheticShift`
moves prices, engagement or a segment's churn hazard from a date on (a drift scenario for monitoring).
"""

from features.synth.customer_base import SyntheticBase, generate, write_synthetic
from features.synth.oracle import oracle_churn_probability, oracle_expected_spend
from features.synth.shift import SHIFT_KINDS, ShiftKind, SyntheticShift

__all__ = [
    "SHIFT_KINDS",
    "ShiftKind",
    "SyntheticBase",
    "SyntheticShift",
    "generate",
    "oracle_churn_probability",
    "oracle_expected_spend",
    "write_synthetic",
]
