"""Dependencies the routes share: the engine in service, settings, and the response language.

Everything comes from `app.state`, where `create_app` put it; nothing here keeps state of its own.
All are `async def` because they only read attributes: a thread-pool hop would cost more than the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from domain.vocabulary import Language
from serving.engine import PredictionEngine
from serving.explain import negotiate_language
from serving.settings import Settings

API_PREFIX = "/v1"
"""Every versioned route starts here; each router carries it so metrics see the full route template."""


async def current_engine(request: Request) -> PredictionEngine:
    """The engine in service, taken once so the whole request uses the same one (503 while loading)."""
    engine: PredictionEngine = request.app.state.engines.get()
    return engine


async def current_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def response_language(
    lang: Annotated[
        str | None, Query(description="Language of explanations and actions: en or zh.", examples=["zh"])
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Language:
    """`?lang=` wins, then the Accept-Language header, else English."""
    return negotiate_language(lang, accept_language)


EngineDep = Annotated[PredictionEngine, Depends(current_engine)]
SettingsDep = Annotated[Settings, Depends(current_settings)]
LanguageDep = Annotated[Language, Depends(response_language)]
