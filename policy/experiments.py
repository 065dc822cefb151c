"""Control groups: which customers a rule holds out this period, decided by a keyed hash anyone can audit.

A rule with `control_share` s keeps a random control group: the customers it would treat but leaves
alone, so that the effect of its action can be measured against them (the randomised holdout of
Radcliffe & Surry, "Real-world uplift modelling with significance-based uplift trees", 2011). The draw
is not random at run time but a keyed hash, so it is the same on every worker, in every rerun and in
the online answer and the snapshot alike:

    period = floor((as_of date - 1970-01-01) / period_days)
    draw   = first 8 bytes, big-endian, of BLAKE2b-64(key, "<customer_id>\\x1f<rule_id>\\x1f<period>")
             / 2**64
    group  = control if draw < s, treatment otherwise; none when s = 0

(BLAKE2b in keyed mode, RFC 7693 section 2.9; the unit separator keeps the three parts apart). A
customer keeps the group for the whole period; across periods and rules the draws are independent.
Whoever holds the key (`CLVCHURN_ACTIONS_ASSIGNMENT_KEY`) can recompute any assignment: `audit` shows
every term of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from policy.action_settings import ActionSettings

EPOCH: Final = date(1970, 1, 1)
SEPARATOR: Final = "\x1f"
_SCALE: Final = float(2**64)


@dataclass(frozen=True)
class Audit:
    """Every term of one assignment, so that it can be checked by hand."""

    customer_id: str
    rule_id: str
    period: int
    period_start: date
    period_end: date  # the last day of the period
    message: str
    draw: float
    control_share: float
    assignment: str


@dataclass(frozen=True)
class ControlAssigner:
    """Puts customers in the control or treatment group of their rule (see the module docstring)."""

    key: bytes
    period_days: int

    @classmethod
    def from_settings(cls, settings: ActionSettings | None = None) -> ControlAssigner:
        settings = settings or ActionSettings()
        return cls(settings.assignment_key.get_secret_value().encode("utf-8"), settings.period_days)

    def period(self, as_of: date | datetime) -> int:
        """The period index of a cutoff: whole `period_days` since 1970-01-01."""
        day = as_of.date() if isinstance(as_of, datetime) else as_of
        return (day - EPOCH).days // self.period_days

    def period_start(self, period: int) -> date:
        return EPOCH + timedelta(days=period * self.period_days)

    def periods(self, as_of: npt.ArrayLike) -> np.ndarray:
        """The period index of each cutoff in an array of datetimes or dates (numpy datetime64)."""
        days = np.asarray(as_of).astype("datetime64[D]").astype(np.int64)
        return days // self.period_days

    def draws(
        self, customer_ids: Sequence[str], rule_ids: Sequence[str], periods: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """The uniform draw in [0, 1) of each (customer, rule, period)."""
        key = self.key
        blake2b = hashlib.blake2b
        values = [
            int.from_bytes(
                blake2b(
                    f"{customer}{SEPARATOR}{rule}{SEPARATOR}{period}".encode(), digest_size=8, key=key
                ).digest(),
                "big",
            )
            for customer, rule, period in zip(
                customer_ids, rule_ids, np.asarray(periods).tolist(), strict=True
            )
        ]
        return np.asarray(values, dtype=np.float64) / _SCALE

    def assign(
        self,
        customer_ids: Sequence[str],
        rule_ids: Sequence[str],
        periods: Sequence[int] | np.ndarray,
        control_shares: npt.ArrayLike,
    ) -> np.ndarray:
        """'control', 'treatment' or 'none' per row (object array); only rows with a share are hashed."""
        shares = np.asarray(control_shares, dtype=np.float64).reshape(-1)
        groups = np.full(shares.shape[0], "none", dtype=object)
        kept = np.flatnonzero(shares > 0)
        if kept.size:
            ids = np.asarray(customer_ids, dtype=object)[kept]
            rules = np.asarray(rule_ids, dtype=object)[kept]
            draws = self.draws(ids.tolist(), rules.tolist(), np.asarray(periods)[kept])
            groups[kept] = np.where(draws < shares[kept], "control", "treatment")
        return groups

    def audit(self, customer_id: str, rule_id: str, as_of: date | datetime, control_share: float) -> Audit:
        """One assignment term by term: the period, the hashed message, the draw and the group."""
        period = self.period(as_of)
        draw = float(self.draws([customer_id], [rule_id], [period])[0])
        start = self.period_start(period)
        group = "none" if control_share <= 0 else "control" if draw < control_share else "treatment"
        return Audit(
            customer_id=customer_id,
            rule_id=rule_id,
            period=period,
            period_start=start,
            period_end=start + timedelta(days=self.period_days - 1),
            message=f"{customer_id}{SEPARATOR}{rule_id}{SEPARATOR}{period}",
            draw=draw,
            control_share=control_share,
            assignment=group,
        )
