"""Shared inputs of the enhancer tests: test-set portraits, degraded copies, a stage context."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from shared.images import DecodedImage
from shared.settings import Settings
from shared.stage import StageContext, StageInputs
from shared.weights import ModelStore
from tests.data import load_image


def decoded(pixels: np.ndarray) -> StageInputs:
    return StageInputs(image=DecodedImage(pixels=pixels, format="png", had_alpha=False))


def blurred(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def jpeg_degraded(image: np.ndarray, reduce: int = 3, quality: int = 30) -> np.ndarray:
    """A low-quality source: reduced `reduce`× and saved as JPEG, then shown at full size again."""
    height, width = image.shape[:2]
    small = cv2.resize(image, (width // reduce, height // reduce), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.resize(cv2.imdecode(buf, cv2.IMREAD_COLOR), (width, height), interpolation=cv2.INTER_LINEAR)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_image("portrait_astronaut")


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    return load_image("portrait_hopper")


@pytest.fixture
def ctx(tmp_path) -> StageContext:
    return StageContext(settings=Settings(data_dir=tmp_path), models=ModelStore(root=tmp_path / "models"))
