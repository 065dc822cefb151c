"""The README names every setting with its default, so what operators read is what the code does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from monitoring.settings import MonitoringSettings
from serving.settings import Settings
from serving.web.settings import WebSettings

README = Path(__file__).resolve().parents[2] / "README.md"
ROOT = README.parent


def shown_default(value: Any) -> str:
    """How the README's settings table writes a default."""
    if value is None or value == [] or value == {}:
        return "(none)"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, Path):
        value = value.relative_to(ROOT) if value.is_absolute() else value
    if isinstance(value, dict):
        return ", ".join(f"{name} {number}" for name, number in value.items())
    return str(value)


def settings_rows() -> dict[str, str]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `(CLVCHURN_[A-Z0-9_]+)` \| (.*?) \|", line)
        if match:
            rows[match[1]] = match[2].strip("`")
    return rows


def every_setting() -> list[tuple[str, str]]:
    found = []
    classes: list[type[BaseSettings]] = [Settings, WebSettings, MonitoringSettings]
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
            found.append((f"{prefix}{name}".upper(), shown_default(default)))
    return found


@pytest.mark.parametrize(("variable", "default"), every_setting())
def test_the_settings_table_names_every_setting_with_its_default(variable: str, default: str) -> None:
    rows = settings_rows()

    assert variable in rows, f"README's settings table lacks {variable}"
    assert rows[variable] == default, variable
