"""Shared pieces of the ONNX engine tests: a model store with tiny files, synthetic faces."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.swapper.faces import SourceFace, TargetFace
from shared.engines import WEIGHT_CACHE
from shared.faces import Face, align_face, template_points
from shared.weights import ModelStore

CANVAS = 640


def landmarks(scale: float = 0.8, shift=(60.0, 50.0)) -> np.ndarray:
    """Five points of an upright face in a CANVAS×CANVAS image (the ffhq512 template, scaled and moved)."""
    return (template_points("ffhq512")[1] * scale + shift).astype(np.float32)


def face_at(points: np.ndarray) -> Face:
    x0, y0 = points.min(0) - 60
    x1, y1 = points.max(0) + 60
    return Face(box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)), landmarks5=points, score=0.99)


def uniform(bgr) -> np.ndarray:
    return np.full((CANVAS, CANVAS, 3), bgr, np.uint8)


def target_face(image: np.ndarray, template: str, points: np.ndarray | None = None) -> TargetFace:
    points = landmarks() if points is None else points
    face = face_at(points)
    return TargetFace(face=face, aligned=align_face(image, face, template), mesh=np.zeros((478, 2)))


def source_face(image: np.ndarray, points: np.ndarray | None = None) -> SourceFace:
    points = landmarks() if points is None else points
    return SourceFace(pixels=image, face=face_at(points), embedding=np.ones(128, np.float32) / np.sqrt(128))


class Store:
    """A model store in a temporary folder; `add` imports a file under a name with a licence."""

    def __init__(self, root: Path):
        self.models = ModelStore(root=root / "models")
        self.files = root / "files"
        self.files.mkdir()

    def path(self, name: str) -> Path:
        return self.files / f"{name}.onnx"

    def add(self, name: str, licence: str = "LicenseRef-test-NC", commercial: bool = False):
        return self.models.import_file(name, self.path(name), licence=licence, commercial_use=commercial,
                                       source="built by the test")


@pytest.fixture
def store(tmp_path):
    WEIGHT_CACHE.clear()
    yield Store(tmp_path)
    WEIGHT_CACHE.clear()
