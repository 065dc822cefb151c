"""Settings of a training deployment: one pydantic-settings class, environment prefix `CLVCHURN_`.

Training's options are `clvchurn train`'s (defaults in `training.train.TrainingConfig`); what a
deployment fixes once for every run lives here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.errors import SettingsError


class TrainingSettings(BaseSettings):
    """Each field can be set as `CLVCHURN_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CLVCHURN_", extra="ignore")

    excluded_attributes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Customer attributes that must never become features (comma-separated names of "
        "customers-file columns, e.g. a protected characteristic); `--exclude-attributes` adds more.",
    )

    @field_validator("excluded_attributes", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value


def load_training_settings() -> TrainingSettings:
    try:
        return TrainingSettings()
    except ValidationError as error:
        raise SettingsError(f"invalid setting: {error.errors()[0]['msg']}") from None
