"""What the probabilistic baselines share: input checks and maximum likelihood over log-parameters.

The BG/NBD and Gamma-Gamma parameters are all strictly positive, so both models optimise their
logarithms without bounds (as lifetimes and the Fader-Hardie spreadsheets do), with L-BFGS-B first
and a Nelder-Mead polish, which is robust where the likelihood surface is flat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import optimize

from domain.errors import BaselineInputError, ModelFitError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    """One-dimensional float64 copy of `values`; rejects NaN and infinity by name."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise BaselineInputError(f"{name} must be finite; row {bad} holds {array[bad]!r}")
    return array


def check_same_length(**arrays: FloatArray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise BaselineInputError(f"inputs must have the same length, got {lengths}")
    if not any(lengths.values()):
        raise BaselineInputError(f"inputs are empty: {sorted(lengths)}")


def maximise_log_likelihood(
    negative_log_likelihood: Callable[[FloatArray], float],
    initial_log_params: FloatArray,
    model_name: str,
) -> tuple[FloatArray, float]:
    """Minimise a negative log-likelihood over log-parameters; returns (log-params, log-likelihood)."""
    first = optimize.minimize(negative_log_likelihood, initial_log_params, method="L-BFGS-B")
    polished = optimize.minimize(
        negative_log_likelihood,
        first.x,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 20_000, "maxfev": 20_000},
    )
    best = polished if polished.fun <= first.fun else first
    if not (np.all(np.isfinite(best.x)) and np.isfinite(best.fun)):
        raise ModelFitError(f"{model_name}: the likelihood optimisation diverged ({best.message})")
    logger.info("%s fitted: log-likelihood %.4f, %s", model_name, -best.fun, polished.message)
    return np.asarray(best.x, dtype=np.float64), float(-best.fun)
