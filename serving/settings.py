"""Configuration of the prediction service: one pydantic-settings class, environment prefix `CLVCHURN_`.

Every knob an operator may turn lives here, so that the app, the CLI and the tests build the service
from one object instead of reading the environment in many places.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.errors import SettingsError
from model_contract import DEFAULT_TRACKING_URI
from policy.playbook import DEFAULT_PLAYBOOK


class Settings(BaseSettings):
    """Settings of `clvchurn serve`; each field can be set as `CLVCHURN_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CLVCHURN_", extra="ignore", populate_by_name=True)

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Accepted API keys in clear, comma-separated in CLVCHURN_API_KEYS.",
    )
    admin_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys in clear, comma-separated in CLVCHURN_ADMIN_API_KEYS, that may call /v1/admin; "
        "a scoring key gets 403 there.",
    )
    api_key_file: Path | None = Field(
        default=None,
        description="File of accepted keys as SHA-256 hex digests, one per line, '#' starts a comment.",
    )
    mlflow_tracking_uri: str = Field(
        default=DEFAULT_TRACKING_URI,
        validation_alias=AliasChoices("CLVCHURN_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow store holding the champion models; MLFLOW_TRACKING_URI is honoured too.",
    )
    snapshot_path: Path = Field(
        default=Path("artifacts/scores.parquet"),
        description="Parquet snapshot written by `clvchurn score`, served by GET /v1/customers/{id}.",
    )
    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///artifacts/clvchurn.db"),
        description="SQLAlchemy URL of the database every worker shares (prediction log, sessions, "
        "sign-in throttle): a SQLite file (WAL) or PostgreSQL as postgresql+psycopg://user:pw@host/db. "
        "Secret because it may hold a password. `clvchurn serve` migrates it at start-up.",
    )
    state_dir: Path = Field(
        default=Path("artifacts/state"),
        description="Folder of the service's local state: with several workers, their shared metrics "
        "files (PROMETHEUS_MULTIPROC_DIR is set to its `prometheus` folder, emptied at start-up).",
    )
    playbook_path: Path = Field(
        default=DEFAULT_PLAYBOOK, description="Retention playbook (YAML) mapping segments to actions."
    )
    host: str = Field(default="127.0.0.1", description="Interface to listen on (`--host` overrides it).")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port (`--port` overrides it).")
    max_batch: int = Field(default=1000, ge=1, description="Most customers in one batch request.")
    max_events_per_customer: int = Field(
        default=20_000, ge=1, description="Most transactions plus interactions sent for one customer."
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Server processes. Each loads the champions itself; a POST /v1/admin/reload taken "
        "by one is followed by every other within a second (through the database), and /metrics "
        "sums them all.",
    )
    access_log: bool = Field(default=False, description="Log one line per request (uvicorn's access log).")
    reload_interval_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds between checks of the registry's champion alias; 0 turns the check off.",
    )
    account_manager_attribute: str = Field(
        default="account_manager",
        pattern=r"^[A-Za-z0-9_.\- ]+$",
        description="Customers-file attribute naming each customer's account manager, shown by predictions, "
        "pages and exports; `clvchurn train` never makes it a feature.",
    )
    account_manager_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Which account manager signs in with which API key, for the portfolio\'s "my customers": '
        "comma-separated KEY=Manager name pairs, the key in clear or as its SHA-256 hex digest (kept as digests).",
    )
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Address `clvchurn export` pushes its JSON lines to, in batches, signed with HMAC-SHA256 in "
        "the header X-Clvchurn-Signature; unset, nothing is pushed.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Key of the webhook's HMAC-SHA256 signature (X-Clvchurn-Signature: sha256=<hex of the body>); "
        "required with CLVCHURN_WEBHOOK_URL.",
    )
    webhook_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Customers per webhook request."
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Tries per webhook batch before it is given up (and logged)."
    )
    webhook_backoff_s: float = Field(
        default=1.0,
        ge=0.0,
        description="Wait before the second try of a webhook batch; doubled before each next one (exponential "
        "backoff with jitter).",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0.0, description="Seconds one webhook request may take."
    )

    @field_validator("account_manager_keys", mode="before")
    @classmethod
    def _manager_pairs(cls, value: Any) -> Any:
        """``KEY=Name,KEY=Name`` to {SHA-256 hex digest of KEY: Name}; a 64-hex KEY is taken as a digest."""
        if isinstance(value, str):
            pairs = [pair.split("=", 1) for pair in value.split(",") if pair.strip()]
            if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
                raise ValueError("give comma-separated KEY=Manager name pairs")
            value = {key.strip(): name.strip() for key, name in pairs}
        if isinstance(value, dict):
            return {_key_digest(str(key)): str(name) for key, name in value.items()}
        return value

    def account_manager_for_key(self, presented: str) -> str | None:
        """The account manager `presented` (an accepted API key) belongs to, or None."""
        digest = hashlib.sha256(presented.encode("utf-8")).hexdigest()
        return self.account_manager_keys.get(digest)

    @field_validator("api_keys", "admin_api_keys", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value


def _key_digest(key: str) -> str:
    """A key's SHA-256 hex digest; a key that already is one (64 hex characters) is kept as it is."""
    if len(key) == 64 and all(c in "0123456789abcdefABCDEF" for c in key):
        return key.lower()
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_settings(**overrides: Any) -> Settings:
    """`Settings` from the environment with `overrides` on top (options given on the command line).

    A bad value becomes a `SettingsError` naming the variable, instead of pydantic's report.
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"CLVCHURN_{'_'.join(str(part) for part in detail['loc']).upper()}: {detail['msg']}"
            for detail in error.errors()
        )
        raise SettingsError(f"invalid setting {problems}") from None
