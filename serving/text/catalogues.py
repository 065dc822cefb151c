"""Message catalogues: every word the API and the pages show, one YAML file per language.

`serving/catalogues/<lang>.yaml` holds the texts of one language as nested mappings, flattened here to
dotted keys (``owner.account_manager``); values are templates with ``{name}`` parameters or lists of
templates (action steps). Adding a language is adding a catalogue file and its code to
`domain.vocabulary.Language`. Catalogues are read once into a `Catalogues` object at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from domain.errors import CatalogueError, MissingTextError, UnsupportedLanguageError
from domain.vocabulary import LANGUAGES, Language

CATALOGUE_DIR: Final = Path(__file__).resolve().parent.parent / "catalogues"


@dataclass(frozen=True)
class Catalogue:
    """The texts of one language, flattened to dotted keys (``owner.account_manager``).

    Values are strings (templates with ``{name}`` parameters) or lists of strings (action steps).
    """

    language: Language
    source: Path
    entries: Mapping[str, str | list[str]]
    misses: set[str] = field(default_factory=set, compare=False, repr=False)
    """Keys asked for with `text_or` and not found: each one is a word shown in the fallback's language."""

    @classmethod
    def load(cls, lang: str, directory: Path = CATALOGUE_DIR) -> Catalogue:
        if lang not in LANGUAGES:
            raise UnsupportedLanguageError(f"no catalogue for language {lang!r}; use one of {LANGUAGES}")
        path = directory / f"{lang}.yaml"
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise CatalogueError(f"cannot read catalogue {path}: {error}") from error
        if not isinstance(document, dict):
            raise CatalogueError(f"catalogue {path} must be a mapping of keys to texts")
        return cls(lang, path, dict(_flatten(document, "", path)))  # type: ignore[arg-type]

    def has(self, key: str) -> bool:
        return isinstance(self.entries.get(key), str)

    def text(self, key: str, **params: Any) -> str:
        """The text for `key` with `params` filled in; raises `MissingTextError` naming key and file."""
        return self.fill(key, params)

    def fill(self, key: str, params: Mapping[str, Any]) -> str:
        """`text` with the parameters as a mapping, which may compute them only when asked for."""
        template = self.entries.get(key)
        if not isinstance(template, str):
            raise MissingTextError(f"catalogue {self.source.name} has no text for {key!r}")
        return self._fill(key, template, params)

    def texts(self, key: str, **params: Any) -> list[str]:
        """A list of texts (e.g. the steps of an action) with `params` filled into each."""
        templates = self.entries.get(key)
        if not isinstance(templates, list):
            raise MissingTextError(f"catalogue {self.source.name} has no list of texts for {key!r}")
        return [self._fill(key, template, params) for template in templates]

    def text_or(self, key: str, fallback: str, **params: Any) -> str:
        """The text for `key`, else `fallback` as it is; a missing key is remembered in `misses`."""
        if self.has(key):
            return self.text(key, **params)
        self.misses.add(key)
        return fallback

    def resolve(self, key_or_text: str, **params: Any) -> str:
        """Catalogue text when `key_or_text` is a key of this catalogue, else the literal text itself."""
        return self.text(key_or_text, **params) if self.has(key_or_text) else key_or_text

    def plural(self, key: str, n: float, shown: str) -> str:
        """``key.one`` when `n` is exactly 1 (and the language has it), else ``key.other``, with ``{n}``."""
        if n == 1 and self.has(f"{key}.one"):
            return self.text(f"{key}.one", n=shown)
        return self.text(f"{key}.other", n=shown)

    def _fill(self, key: str, template: str, params: Mapping[str, Any]) -> str:
        try:
            return template.format_map(params)
        except (KeyError, IndexError) as error:
            raise MissingTextError(
                f"catalogue {self.source.name} text {key!r} needs parameter {error} that was not given"
            ) from error


def _flatten(node: Any, prefix: str, path: Path) -> Iterator[tuple[str, str | list[str]]]:
    if isinstance(node, dict):
        for name, child in node.items():
            yield from _flatten(child, f"{prefix}{name}.", path)
        return
    key = prefix[:-1]
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, list) and all(isinstance(item, str) for item in node):
        yield key, list(node)
    else:
        raise CatalogueError(f"catalogue {path} key {key!r} must be text or a list of texts, got {node!r}")


@dataclass(frozen=True)
class Catalogues:
    """Every language's catalogue, loaded once at start-up."""

    by_language: Mapping[Language, Catalogue]

    @classmethod
    def load(cls, directory: Path = CATALOGUE_DIR) -> Catalogues:
        return cls({lang: Catalogue.load(lang, directory) for lang in LANGUAGES})

    def __getitem__(self, lang: str) -> Catalogue:
        if lang not in self.by_language:
            raise UnsupportedLanguageError(f"no catalogue for language {lang!r}; use one of {LANGUAGES}")
        return self.by_language[lang]  # type: ignore[index]

    def keys(self) -> dict[str, frozenset[str]]:
        """Every catalogue's keys by file name: what the playbook checks its action texts against."""
        return {
            catalogue.source.name: frozenset(catalogue.entries) for catalogue in self.by_language.values()
        }
