"""Fixtures shared across test areas."""
from __future__ import annotations

import pytest

from shared.settings import get_settings


@pytest.fixture
def empty_model_store(tmp_path, monkeypatch):
    """The `facecast` command with an empty model store of its own (settings are cached per process)."""
    monkeypatch.setenv("FACECAST_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path / "models"
    get_settings.cache_clear()
