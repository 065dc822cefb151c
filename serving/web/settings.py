"""Settings of the web pages only, environment prefix `CLVCHURN_WEB_`.

Kept apart from `serving.settings.Settings` because they concern people's browsers (session cookie,
links to the MLflow UI, page sizes), not the scoring service.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """Each field can be set as `CLVCHURN_WEB_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CLVCHURN_WEB_", extra="ignore")

    session_max_age_s: int = Field(default=8 * 3600, ge=60, description="How long a sign-in lasts.")
    secure_cookies: bool = Field(
        default=False,
        description="Keep the cookies Secure even when serving on a loopback address (a TLS proxy on "
        "the same machine); off loopback they are always Secure.",
    )
    mlflow_ui_url: str = Field(
        default="http://127.0.0.1:5000",
        description="Base address of the MLflow UI that run links on the models page point to; "
        "empty for links relative to this site.",
    )
    page_size: int = Field(default=25, ge=5, le=500, description="Customers per portfolio page.")
