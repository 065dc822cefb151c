"""Recommended actions in words: an action id and its due date rendered in the reader's language.

Scoring stores what was decided (the rule, the action id, the owner and the due date); the title,
steps and success metric are read from the playbook's action definition, and the owner's label from
the catalogues, when someone reads the decision. An action id the current playbook no longer defines is
rendered from its catalogue keys (``action.<id>.title``...) when they exist, else shown as its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.vocabulary import Language
from policy.playbook import Action, Playbook
from serving.text.catalogues import Catalogue, Catalogues


@dataclass(frozen=True)
class ActionText:
    """An action's words in one language."""

    title: str
    steps: list[str]
    success_metric: str


class ActionWriter:
    """Renders the playbook's actions in every catalogue language, each once, on first use."""

    def __init__(self, playbook: Playbook, catalogues: Catalogues) -> None:
        self.playbook = playbook
        self.catalogues = catalogues
        self._texts: dict[tuple[str, str], ActionText] = {}

    def text(self, action_id: str, lang: Language) -> ActionText:
        key = (action_id, lang)
        found = self._texts.get(key)
        if found is None:
            catalogue = self.catalogues[lang]
            action = self.playbook.action(action_id)
            found = self._texts[key] = (
                localise(action, catalogue) if action is not None else _unknown(action_id, catalogue)
            )
        return found

    def owner_label(self, owner: str, lang: Language) -> str:
        return self.catalogues[lang].text_or(f"owner.{owner}", owner)

    def fields(
        self, action_id: str, owner: str, as_of: datetime, due_date: date, lang: Language
    ) -> dict[str, object]:
        """The fields of `serving.schemas.RecommendedAction`, in its order, for a stored decision."""
        text = self.text(action_id, lang)
        return {
            "id": action_id,
            "title": text.title,
            "steps": list(text.steps),
            "owner": owner,
            "owner_label": self.owner_label(owner, lang),
            "due_within_days": (due_date - as_of.date()).days,
            "due_date": due_date,
            "success_metric": text.success_metric,
        }


def localise(action: Action, catalogue: Catalogue) -> ActionText:
    """The action with every text in the catalogue's language (catalogue keys resolved, literals kept)."""
    if isinstance(action.steps, str):
        steps = catalogue.texts(action.steps) if action.steps in catalogue.entries else [action.steps]
    else:
        steps = [catalogue.resolve(step) for step in action.steps]
    return ActionText(
        title=catalogue.resolve(action.title),
        steps=steps,
        success_metric=catalogue.resolve(action.success_metric),
    )


def _unknown(action_id: str, catalogue: Catalogue) -> ActionText:
    prefix = f"action.{action_id}"
    steps = catalogue.entries.get(f"{prefix}.steps")
    return ActionText(
        title=catalogue.text_or(f"{prefix}.title", action_id),
        steps=catalogue.texts(f"{prefix}.steps") if isinstance(steps, list) else [],
        success_metric=catalogue.text(f"{prefix}.success_metric")
        if catalogue.has(f"{prefix}.success_metric")
        else "",
    )
