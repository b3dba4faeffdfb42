from __future__ import annotations

import pytest

from .live import facecast_serve, webhook_receiver


@pytest.fixture(scope="package")
def live(tmp_path_factory):
    """One `facecast serve` for the SDK's live tests (embedded default in a temporary data dir)."""
    with facecast_serve(tmp_path_factory.mktemp("facecast-sdk")) as server:
        yield server


@pytest.fixture(scope="package")
def receiver():
    with webhook_receiver() as r:
        yield r
