"""The community ONNX engines in `GET /v1/engines`: their licences, and available once their files are imported."""
from __future__ import annotations

from shared.onnx_catalog import ARCFACE, CARDS, cards
from shared.weights import ModelStore
from tests.onnx import tiny
from tests.onnx.test_swap_engines import EMAP, B, W


async def test_listed_with_licences_and_available_once_imported(harness, api, tmp_path):
    def rows():
        return {(e["stage"], e["engine"]): e for e in data}

    data = (await api.get("/v1/engines")).json()["data"]
    for card in cards("swapper"):
        row = rows()[("swapper", card.name)]
        assert row["available"] is False and card.name in row["unavailable_reason"]
        assert row["commercial_use"] is False  # every swapper runs the non-commercial w600k encoder or NC weights

    store = ModelStore(root=harness.settings.model_dir)
    for name, build in (("inswapper_128", lambda p: tiny.swapper(p, CARDS["inswapper_128"], emap=EMAP)),
                        (ARCFACE, lambda p: tiny.recogniser(p, W, B))):
        store.import_file(name, build(tmp_path / f"{name}.onnx"), licence=CARDS[name].licence_id,
                          commercial_use=False, source="test")
    data = (await api.get("/v1/engines")).json()["data"]
    assert rows()[("swapper", "inswapper_128")]["available"] is True
    assert "InsightFace" in rows()[("swapper", "inswapper_128")]["licence"]
    assert rows()[("swapper", "hyperswap_1a_256")]["available"] is False  # its own file is still missing
