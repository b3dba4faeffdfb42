"""Shared inputs of the makeup tests: the astronaut portrait, its region masks, a red-lipstick reference."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from services.makeup.stage import STAGE
from shared.images import DecodedImage
from shared.settings import Settings
from shared.stage import StageContext, StageInputs
from shared.weights import ModelStore
from tests.makeup.measure import image_region_masks, paint_lips_red

DATA = Path(__file__).resolve().parents[1] / "data"
MEASURED_REGIONS = ("lips", "eyeshadow", "eyeliner", "blush", "brows", "eyes", "nose")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def astronaut_masks(astronaut) -> dict[str, np.ndarray]:
    return image_region_masks(astronaut, MEASURED_REGIONS)


@pytest.fixture(scope="session")
def red_lips_reference(astronaut, astronaut_masks) -> np.ndarray:
    return paint_lips_red(astronaut, astronaut_masks["lips"])


@pytest.fixture
def ctx(tmp_path) -> StageContext:
    return StageContext(settings=Settings(data_dir=tmp_path), models=ModelStore(root=tmp_path / "models"))


def decoded(pixels: np.ndarray) -> DecodedImage:
    return DecodedImage(pixels=pixels, format="png", had_alpha=False)


def run_makeup(ctx: StageContext, image: np.ndarray, reference: np.ndarray | None = None, **params):
    extras = {} if reference is None else {"reference": decoded(reference)}
    return STAGE.run(STAGE.parse_params(params), StageInputs(image=decoded(image), extras=extras), ctx)


def read_test_image(relative: str) -> np.ndarray:
    pixels = cv2.imread(str(DATA / relative), cv2.IMREAD_COLOR)
    assert pixels is not None, relative
    return pixels
