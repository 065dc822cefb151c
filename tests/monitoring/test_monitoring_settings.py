"""Monitoring settings: defaults, CLVCHURN_MONITOR_* overrides merged into them, readable errors."""

from __future__ import annotations

import pytest

from domain.errors import MonitoringSettingsError
from monitoring.settings import DEFAULT_TOLERANCES, MonitoringSettings, load_monitoring_settings


def test_defaults_are_siddiqis_psi_bands_and_deciles() -> None:
    settings = MonitoringSettings()

    assert (settings.psi_watch, settings.psi_flagged, settings.bins) == (0.1, 0.25, 10)
    assert settings.tolerances == DEFAULT_TOLERANCES
    assert settings.relative_tolerances == {"mae": 0.10, "rmse": 0.10}


def test_environment_overrides_and_tolerances_merge_into_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLVCHURN_MONITOR_PSI_FLAGGED", "0.3")
    monkeypatch.setenv("CLVCHURN_MONITOR_TOLERANCES", '{"roc_auc": 0.05}')

    settings = load_monitoring_settings()

    assert settings.psi_flagged == 0.3
    assert settings.tolerances == {**DEFAULT_TOLERANCES, "roc_auc": 0.05}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"psi_watch": 0.3},
            r"invalid: psi_watch \(0\.3\) must be below psi_flagged \(0\.25\): set CLVCHURN_MONITOR_PSI_WATCH",
        ),
        ({"bins": 1}, "CLVCHURN_MONITOR_BINS: Input should be greater than or equal to 2"),
        ({"tolerances": {"brier": -0.1}}, r"negative ones for \['brier'\]"),
        ({"relative_tolerances": {"roc_auc": 0.1}}, r"\['roc_auc'\] have both an absolute and a relative"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict, message: str) -> None:
    with pytest.raises(MonitoringSettingsError, match=message):
        load_monitoring_settings(**overrides)
