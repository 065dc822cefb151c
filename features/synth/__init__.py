"""Realistic synthetic CRM data with known ground truth, for tests, demos and benchmarks.

`generate` draws a customer base, `write_synthetic` puts it on disk in the raw-data contract, and the
oracles give the best forecasts any model could make from the true parameters.
"""

from features.synth.customer_base import SyntheticBase, generate, write_synthetic
from features.synth.oracle import oracle_churn_probability, oracle_expected_spend

__all__ = [
    "SyntheticBase",
    "generate",
    "oracle_churn_probability",
    "oracle_expected_spend",
    "write_synthetic",
]
