"""`GET /v1/engines` is read from the stages' engine registries: an engine registered there is listed."""
from __future__ import annotations

import pytest

from tests.engines import toy


@pytest.fixture
def toy_swapper():
    from services.swapper.engines import REGISTRY

    toy.register(REGISTRY)
    yield REGISTRY
    REGISTRY.unregister("toy")


async def test_a_registered_engine_is_listed_with_its_licence(toy_swapper, api):
    engines = {(e["stage"], e["engine"]): e for e in (await api.get("/v1/engines")).json()["data"]}
    row = engines[("swapper", "toy")]
    assert row["licence"] == "MIT (tests)" and row["commercial_use"] is True and row["available"] is True
    assert engines[("swapper", "faceshifter")]["commercial_use"] is False
    assert {name for stage, name in engines if stage == "swapper"} == set(toy_swapper)
