"""Shared fixtures: test-set images decoded once per session, and the astronaut's face."""
from __future__ import annotations

import numpy as np
import pytest

from shared.faces import align_face, detect_faces, face_mesh
from tests.data import astronaut, load_image


@pytest.fixture(scope="session")
def astronaut_image() -> np.ndarray:
    return astronaut()


@pytest.fixture(scope="session")
def hopper_image() -> np.ndarray:
    return load_image("portrait_hopper")


@pytest.fixture(scope="session")
def astronaut_face(astronaut_image):
    faces = detect_faces(astronaut_image)
    assert len(faces) == 1
    return faces[0]


@pytest.fixture(scope="session")
def astronaut_aligned(astronaut_image, astronaut_face):
    return align_face(astronaut_image, astronaut_face, "ffhq512")


@pytest.fixture(scope="session")
def astronaut_mesh(astronaut_aligned):
    return face_mesh(astronaut_aligned.crop)
