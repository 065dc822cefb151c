"""Which language a response is written in: `?lang=` first, then the Accept-Language header.

Every Chinese tag (zh, zh-CN, zh-Hans, zh-TW, ...) maps to the Simplified Chinese catalogue, the only
Chinese one. Accept-Language quality values follow RFC 9110 section 12.5.4; q=0 means "not
acceptable" and ties keep header order.
"""

from __future__ import annotations

from domain.vocabulary import DEFAULT_LANGUAGE, Language


def negotiate_language(query_lang: str | None, accept_language_header: str | None) -> Language:
    """The response language: a supported `?lang=` wins, then the best Accept-Language entry, else English."""
    chosen = _supported(query_lang)
    if chosen is not None:
        return chosen
    best: tuple[float, int, Language] | None = None
    for position, entry in enumerate((accept_language_header or "").split(",")):
        tag, _, parameters = entry.strip().partition(";")
        language = _supported(tag)
        quality = _quality(parameters)
        if language is None or quality <= 0:
            continue
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, language)
    return best[2] if best is not None else DEFAULT_LANGUAGE


def _supported(tag: str | None) -> Language | None:
    primary = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    if primary == "zh":
        return "zh"
    if primary == "en":
        return "en"
    return None


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0
