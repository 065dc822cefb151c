"""The language layer: catalogues, language negotiation, and reasons and actions rendered in words.

Scoring stores codes (`serving.reasons`, the playbook's action ids); this package renders them in the
reader's language when the API, the pages or an export read them. Nothing outside it formats words.
"""

from serving.text.actions import ActionText, ActionWriter, localise
from serving.text.catalogues import CATALOGUE_DIR, Catalogue, Catalogues
from serving.text.negotiation import negotiate_language
from serving.text.reasons import ALL_CUSTOMERS, ReasonWriter, RenderedReason, impact
from serving.text.texts import Texts

__all__ = [
    "ALL_CUSTOMERS",
    "CATALOGUE_DIR",
    "ActionText",
    "ActionWriter",
    "Catalogue",
    "Catalogues",
    "ReasonWriter",
    "RenderedReason",
    "Texts",
    "impact",
    "localise",
    "negotiate_language",
]
