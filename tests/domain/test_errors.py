"""One error tree: every exception class the project defines derives from `ClvchurnError`."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import domain.errors as errors
from domain.errors import ClvchurnError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "features", "policy", "model_contract", "training", "serving", "monitoring", "clvchurn")


def _exception_classes() -> list[tuple[str, str]]:
    """(module, class) of every class in the packages whose bases name an Error or Exception."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    (isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception")))
                    or (isinstance(base, ast.Attribute) and base.attr.endswith(("Error", "Exception")))
                    for base in node.bases
                ):
                    found.append((module, node.name))
    return found


def test_every_project_exception_derives_from_the_root() -> None:
    classes = _exception_classes()

    assert len(classes) > 40
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, ClvchurnError), f"{module}.{name}"


def test_every_error_has_a_docstring_and_a_family() -> None:
    families = {
        errors.DataError,
        errors.TrainingError,
        errors.ModelContractError,
        errors.PlaybookError,
        errors.ServingError,
        errors.CommandOptionError,
        errors.MonitoringError,
        errors.EngineError,
    }
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, ClvchurnError) and cls is not ClvchurnError:
            assert cls.__doc__, cls.__name__
            assert any(issubclass(cls, family) for family in families), cls.__name__
