"""The language of a page, and the page texts from the catalogues' `web:` section.

Order of precedence: `?lang=` (which the language switch on every page sends, and which is then
remembered in a cookie for a year), the remembered cookie, the browser's Accept-Language header
(`serving.text.negotiate_language`), else English.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from domain.vocabulary import LANGUAGES, Language
from serving.text import Catalogue, negotiate_language

LANGUAGE_COOKIE = "clvchurn_lang"
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 24 * 3600
HTML_LANG = {"en": "en", "zh": "zh-Hans"}


def chosen_language(request: Request) -> Language | None:
    """The language asked for with `?lang=`, when it is one we have."""
    return _exact(request.query_params.get("lang"))


def page_language(request: Request) -> Language:
    chosen = chosen_language(request) or _exact(request.cookies.get(LANGUAGE_COOKIE))
    return chosen or negotiate_language(None, request.headers.get("accept-language"))


def remember_language(request: Request, response: Response) -> None:
    """Keep a language picked with `?lang=` in a cookie, so later pages open in it."""
    chosen = chosen_language(request)
    if chosen is not None and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_MAX_AGE_S, samesite="lax", httponly=True
        )


def _exact(value: str | None) -> Language | None:
    for language in LANGUAGES:
        if value == language:
            return language
    return None


class PageText:
    """What templates call as `t("portfolio.title")` (a `web.` key) and `label("tier", "A")`."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.language: Language = catalogue.language

    def __call__(self, key: str, **params: Any) -> str:
        return self.catalogue.text(f"web.{key}", **params)

    def label(self, group: str, value: str | None) -> str:
        """The catalogue's name for a code (`tier.A`, `owner.marketing`), else the code itself."""
        return "" if value is None else self.text_or(f"{group}.{value}", value)

    def event_kind(self, kind: str) -> str:
        """An order, a refund or an interaction type; a type the catalogue lacks keeps the data's word."""
        return self.text_or(f"web.event.{kind}", kind.replace("_", " "))

    def text_or(self, key: str, fallback: str | None) -> str:
        """The catalogue's text for `key` (any section), else `fallback` as stored."""
        return self.catalogue.text_or(key, fallback or "")
