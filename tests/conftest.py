"""Fixtures every test folder may use; helpers live in tests/support (on the path via pyproject)."""

from __future__ import annotations

import pytest
from support.trained import TrainedModels, train_models


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    """The session's champion pair, trained once on a small synthetic base (most of a minute)."""
    return train_models(tmp_path_factory.mktemp("mlruns"))
