"""The ONNX engines in the stages' params and registries (`GET /v1/engines`: tests/gateway/test_onnx_engines.py)."""
from __future__ import annotations

import pytest

from services.swapper.contract import SwapParams
from shared.onnx_catalog import cards


@pytest.mark.parametrize("name", [card.name for card in cards("swapper")])
def test_swap_params_accept_every_family(name):
    assert SwapParams.model_validate({"engine": name}).engine == name
    assert name in SwapParams.model_json_schema()["properties"]["engine"]["enum"]


def test_restorer_licences_in_the_registry():
    from services.enhancer.engines import REGISTRY

    assert REGISTRY.info("gfpgan_1.4").commercial_use is True  # MIT code, Apache-2.0 weights
    assert REGISTRY.info("restoreformer_plus_plus").commercial_use is True
    assert REGISTRY.info("codeformer").commercial_use is False and "S-Lab" in REGISTRY.info("codeformer").licence
    assert all(REGISTRY.info(f"gpen_bfr_{s}").commercial_use is False for s in (256, 512, 1024, 2048))
