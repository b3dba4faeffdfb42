"""Identity embeddings: SFace (OpenCV zoo, 128-d) on the ArcFace 112×112 alignment.

The cosine of two embeddings is the project's identity metric: the same person is typically
> 0.5 (the astronaut vs. its mirror image ≈ 0.95), different people < 0.3.
"""
from __future__ import annotations

import numpy as np

from shared.errors import InvalidInput
from shared.faces import packaged_models
from shared.faces.align import align_face
from shared.faces.types import Face, check_bgr


def identity_embedding(image: np.ndarray, face: Face) -> np.ndarray:
    """The L2-normalised 128-d SFace embedding of one detected face."""
    aligned = align_face(check_bgr(image), face, "arcface112")
    return embedding_of_aligned(aligned.crop)


def embedding_of_aligned(crop112: np.ndarray) -> np.ndarray:
    """Embedding of a face already aligned to `arcface112`."""
    crop112 = check_bgr(crop112, "aligned crop")
    if crop112.shape[:2] != (112, 112):
        raise InvalidInput(f"SFace needs a 112×112 arcface112 crop, got {crop112.shape[1]}×{crop112.shape[0]}")
    feature = packaged_models.sface().feature(np.ascontiguousarray(crop112)).reshape(-1).astype(np.float32)
    norm = float(np.linalg.norm(feature))
    if norm == 0.0:
        raise InvalidInput("SFace returned a zero embedding")
    return feature / norm


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise InvalidInput(f"embeddings differ in length: {a.size} vs {b.size}")
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    if denominator == 0.0:
        raise InvalidInput("cannot compare a zero embedding")
    return float(a @ b / denominator)
