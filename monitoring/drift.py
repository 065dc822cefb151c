"""Drift: how far a new population's features and predictions have moved from the reference.

The statistic is the population stability index over the reference's bins,

    PSI = sum over bins b of (a_b - e_b) ln(a_b / e_b),

with e_b the reference share and a_b the new share (the symmetrised Kullback-Leibler divergence of
the two binned distributions). The conventional reading (Siddiqi, "Credit Risk Scorecards", Wiley
2006): below 0.1 no significant change, 0.1 to 0.25 worth watching, 0.25 or more a shift; the cut
points are settings (`MonitoringSettings.psi_watch`, `psi_flagged`).

Smoothing: a bin empty on one side would make its term infinite, so both shares are raised to at
least `psi_min_share` (default 0.0001, one customer in 10,000) before the sum, without
renormalising. A bin empty on both sides then contributes exactly 0; a bin that is new or vanished
contributes a large but finite term.

PSI has a sampling distribution: for two independent samples of n (new) and N (reference)
customers from the same population, PSI / (1/n + 1/N) is approximately chi-square with B - 1
degrees of freedom over B bins (Yurdakul, "Statistical Properties of the Population Stability
Index", PhD thesis, Western Michigan University, 2018). Each record carries that p-value so that a
reader can see whether a PSI is larger than sampling noise at the size at hand; with a few thousand
customers the noise (about (B - 1) / n, 0.002 for 10 bins and 5,000 customers) sits far below 0.1,
which is why flags use the fixed thresholds and not the p-value (at a million customers every
difference would be "significant").

Overall rule: the population has drifted when a prediction is flagged, or any key feature (the
caller's list, for example the model's most important ones) is flagged, or at least
`drift_flagged_share` of the features (default 5%, 3 of 47) are flagged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from domain.errors import DriftInputError, ReferenceDistributionError
from domain.vocabulary import DriftLevel
from model_contract.distribution import binned_counts, reference_shares
from monitoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)

STATISTIC = "psi"


def population_stability_index(
    reference_shares: np.ndarray, current_shares: np.ndarray, min_share: float = 1e-4
) -> float:
    """PSI of two share vectors over the same bins, shares below `min_share` raised to it."""
    expected = np.maximum(np.asarray(reference_shares, dtype=np.float64), min_share)
    actual = np.maximum(np.asarray(current_shares, dtype=np.float64), min_share)
    if expected.shape != actual.shape:
        raise DriftInputError(f"share vectors differ in length: {expected.shape} and {actual.shape}")
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_report(
    current: pl.DataFrame,
    reference: Mapping[str, Any],
    *,
    settings: MonitoringSettings | None = None,
    key_features: Sequence[str] = (),
    prediction: str | None = None,
) -> dict[str, Any]:
    """PSI per feature and prediction of `current` against `reference`, with flags, as JSON-ready data.

    Parameters
    ----------
    current
        One row per customer of the population to check (the latest snapshot's features and
        predictions), with every column the reference describes.
    reference
        The output of `model_contract.distribution.reference_distribution`, stored with the model pair.
    key_features
        Features whose flag alone flags the whole population (a flagged prediction always does).
    prediction
        The reference prediction reported under "prediction" (default: the first one); every
        prediction is listed under "predictions".

    Returns
    -------
    dict
        ``{"reference": {"as_of", "customers"}, "customers", "thresholds", "features": [{"name",
        "statistic", "value", "flagged", "level", "p_value"}], "prediction": {...} | None,
        "predictions": [...], "flagged_share", "flagged"}``

    Raises
    ------
    DriftInputError
        `current` is empty, lacks a column of the reference or holds it with another kind of values,
        or a key feature or the prediction is not in the reference.
    ReferenceDistributionError
        `reference` is not a reference distribution.
    """
    settings = settings or MonitoringSettings()
    if current.height == 0:
        raise DriftInputError("the frame to check for drift has no rows")
    if not {"features", "customers"} <= set(reference):
        raise ReferenceDistributionError(
            "the reference distribution lacks 'features' or 'customers': pass the dict that "
            "model_contract.distribution.reference_distribution returned at training time"
        )
    features: Mapping[str, Any] = reference["features"]
    predictions: Mapping[str, Any] = reference.get("predictions", {})
    unknown = [name for name in key_features if name not in features]
    if unknown:
        raise DriftInputError(f"key features {unknown} are not among the reference's features")
    if prediction is not None and prediction not in predictions:
        raise DriftInputError(
            f"prediction {prediction!r} has no reference; the reference describes {sorted(predictions)}"
        )
    absent = [name for name in [*features, *predictions] if name not in current.columns]
    if absent:
        raise DriftInputError(
            f"columns {absent} of the reference distribution are missing from the frame to check"
        )

    customers = int(reference["customers"])
    feature_records = [_record(current[name], entry, customers, settings) for name, entry in features.items()]
    prediction_records = [
        _record(current[name], entry, customers, settings) for name, entry in predictions.items()
    ]
    headline = prediction if prediction is not None else next(iter(predictions), None)
    headline_record = next((r for r in prediction_records if r["name"] == headline), None)

    flagged_share = (
        sum(record["flagged"] for record in feature_records) / len(feature_records)
        if feature_records
        else 0.0
    )
    flagged = (
        any(record["flagged"] for record in prediction_records)
        or any(record["flagged"] for record in feature_records if record["name"] in key_features)
        or (bool(feature_records) and flagged_share >= settings.drift_flagged_share)
    )
    logger.info(
        "Drift of %d customers against a reference of %d: %.0f%% of %d features flagged, overall %s",
        current.height,
        customers,
        100 * flagged_share,
        len(feature_records),
        "flagged" if flagged else "not flagged",
    )
    return {
        "reference": {"as_of": reference.get("as_of"), "customers": customers},
        "customers": current.height,
        "thresholds": {"watch": settings.psi_watch, "flagged": settings.psi_flagged},
        "features": feature_records,
        "prediction": headline_record,
        "predictions": prediction_records,
        "flagged_share": flagged_share,
        "flagged": bool(flagged),
    }


def drift_level(value: float, settings: MonitoringSettings) -> DriftLevel:
    """The PSI band of a value: stable, watch or flagged."""
    if value >= settings.psi_flagged:
        return "flagged"
    if value >= settings.psi_watch:
        return "watch"
    return "stable"


def _record(
    column: pl.Series, entry: Mapping[str, Any], reference_customers: int, settings: MonitoringSettings
) -> dict[str, Any]:
    expected = reference_shares(entry)
    counts = binned_counts(column, entry)
    actual = counts / counts.sum()
    value = population_stability_index(expected, actual, settings.psi_min_share)
    level = drift_level(value, settings)
    return {
        "name": column.name,
        "statistic": STATISTIC,
        "value": value,
        "flagged": level == "flagged",
        "level": level,
        "p_value": _p_value(value, expected, actual, len(column), reference_customers),
    }


def _p_value(value: float, expected: np.ndarray, actual: np.ndarray, n: int, reference_n: int) -> float:
    """Yurdakul's (2018) chi-square approximation over the bins used on either side."""
    degrees = int(np.count_nonzero((expected > 0) | (actual > 0))) - 1
    if degrees < 1:
        return 1.0
    return float(special.chdtrc(degrees, value / (1.0 / n + 1.0 / reference_n)))
