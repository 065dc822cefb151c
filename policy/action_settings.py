"""Settings of control groups, action outcomes and uplift models: environment prefix `CLVCHURN_ACTIONS_`.

One class for every deployable that touches the experiment, so that scoring (which assigns control
groups), training (which fits uplift models) and the service (which shows and exports the evaluation)
read the same key and period. The assignment key must be the same on every worker and every rerun,
otherwise a customer could change group within a period; set it once per deployment (a secret, so that
nobody can work out in advance who will be held out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import ActionSettingsError

ENV_PREFIX: Final = "CLVCHURN_ACTIONS_"


class ActionSettings(BaseSettings):
    """Each field can be set as `CLVCHURN_ACTIONS_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    assignment_key: SecretStr = Field(
        default=SecretStr("clvchurn-control-groups"),
        description="Key of the keyed hash (BLAKE2b) that puts a customer in a rule's control group for a "
        "period; the same on every worker and rerun. Set your own so assignments cannot be foreseen.",
    )
    period_days: int = Field(
        default=90,
        ge=1,
        le=3660,
        description="Length of an assignment period in days, counted from 1970-01-01: a customer stays in "
        "the same group of a rule for the whole period.",
    )
    min_outcomes_per_group: int = Field(
        default=200,
        ge=10,
        description="Closed outcomes an action needs in its treatment and in its control group before "
        "an uplift model is fitted for it.",
    )
    evaluation_path: Path = Field(
        default=Path("artifacts/actions_evaluation.json"),
        description="The evaluation `clvchurn evaluate actions --json` wrote, read by the /actions page and "
        "the uplift gauges of /metrics.",
    )


def load_action_settings(**overrides: Any) -> ActionSettings:
    """The settings from the environment (and `overrides`), with one readable error if they are wrong.

    Raises
    ------
    ActionSettingsError
        A value is out of range; the message names the `CLVCHURN_ACTIONS_*` variable.
    """
    try:
        return ActionSettings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(issue['loc'][0]).upper()}: {issue['msg']}" for issue in error.errors()
        )
        raise ActionSettingsError(f"invalid setting {problems}") from None
