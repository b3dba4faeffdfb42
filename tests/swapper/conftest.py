"""Shared inputs of the swapper tests: the test set's portraits and a stage runner."""
from __future__ import annotations

import numpy as np
import pytest

from services.swapper.stage import STAGE
from shared.images import DecodedImage
from shared.settings import Settings
from shared.stage import StageContext, StageInputs, StageOutput
from shared.weights import ModelStore


def decoded(pixels: np.ndarray) -> DecodedImage:
    return DecodedImage(pixels=pixels, format="png", had_alpha=False)


def swap_inputs(target: np.ndarray, source: np.ndarray | None, **extras: np.ndarray) -> StageInputs:
    named = {name: decoded(pixels) for name, pixels in extras.items()}
    if source is not None:
        named["source"] = decoded(source)
    return StageInputs(image=decoded(target), extras=named)


def run_swap(ctx: StageContext, target: np.ndarray, source: np.ndarray, **params) -> StageOutput:
    return STAGE.run(STAGE.parse_params(params), swap_inputs(target, source), ctx)


@pytest.fixture(scope="session")
def empty_models(tmp_path_factory) -> ModelStore:
    return ModelStore(root=tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def ctx(tmp_path_factory, empty_models) -> StageContext:
    return StageContext(settings=Settings(data_dir=tmp_path_factory.mktemp("data")), models=empty_models)
