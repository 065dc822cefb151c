"""Everything needed to put a scored customer into words, loaded once at start-up and shared."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policy.playbook import Playbook
from serving.text.actions import ActionWriter
from serving.text.catalogues import CATALOGUE_DIR, Catalogues
from serving.text.reasons import ReasonWriter


@dataclass(frozen=True)
class Texts:
    """The catalogues, and the writers of reasons and actions that read them."""

    catalogues: Catalogues
    reasons: ReasonWriter
    actions: ActionWriter

    @classmethod
    def of(cls, catalogues: Catalogues, playbook: Playbook) -> Texts:
        return cls(catalogues, ReasonWriter(catalogues), ActionWriter(playbook, catalogues))

    @classmethod
    def load(cls, playbook_path: Path, directory: Path = CATALOGUE_DIR) -> Texts:
        """The catalogues and the playbook at `playbook_path`, its texts checked against every catalogue."""
        catalogues = Catalogues.load(directory)
        return cls.of(catalogues, Playbook.load(playbook_path, catalogues.keys()))

    @property
    def playbook(self) -> Playbook:
        return self.actions.playbook
