"""Soft masks from the 478-point mesh, and a person mask from MediaPipe selfie segmentation.

Masks are float32 in [0, 1] in the coordinates of the points they are drawn from (usually the aligned
crop). Edges scale with face size as in GFPGAN's paste helper: edge ≈ √(face-oval area)/20; the face
oval is eroded by one edge and blurred over one edge, so its weight reaches 0 at the oval's outline
and nothing outside the face is ever touched. Regions use a third of that edge, since lips and eyes
are small.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from shared.errors import InvalidInput
from shared.faces import packaged_models
from shared.faces.types import check_bgr

REGIONS = ("skin", "lips", "mouth", "eyes", "brows", "nose", "eyeshadow", "blush")
EDGE_DIVISOR = 20.0  # edge = √(oval area) / EDGE_DIVISOR
REGION_EDGE_FRACTION = 1.0 / 3.0

# Orderings that MediaPipe's connection sets leave open (eyebrows are two separate chains; the nose
# set is a bridge and two wings; cheeks have no set): index lists read off the canonical mesh.
_BROW_POLYGONS = ((46, 53, 52, 65, 55, 107, 66, 105, 63, 70), (276, 283, 282, 295, 285, 336, 296, 334, 293, 300))
_BROW_LOWER_CHAINS = ((46, 53, 52, 65, 55), (276, 283, 282, 295, 285))
_NOSE_POINTS = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 97, 98, 64, 48, 115, 220, 45, 326, 327, 294, 278, 344, 440, 275)
_UPPER_LIP_TOP = 0  # on the outer lip outline; tells it from the inner one
_CHEEK_POINTS = ((117, 118, 101, 36, 205, 187, 123, 50), (346, 347, 330, 266, 425, 411, 352, 280))


@lru_cache(maxsize=1)
def mesh_topology() -> dict[str, list[list[int]]]:
    """Closed outlines (ordered indices) walked from MediaPipe's connection sets."""
    from mediapipe.python.solutions import face_mesh_connections as connections

    lips = _loops(connections.FACEMESH_LIPS)
    return {
        "oval": _loops(connections.FACEMESH_FACE_OVAL),
        "eyes": _loops(connections.FACEMESH_RIGHT_EYE) + _loops(connections.FACEMESH_LEFT_EYE),
        "lips_outer": [loop for loop in lips if _UPPER_LIP_TOP in loop],
        "lips_inner": [loop for loop in lips if _UPPER_LIP_TOP not in loop],
    }


def _loops(edges) -> list[list[int]]:
    """Split an undirected edge set whose vertices all have degree 2 into ordered cycles."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    loops, seen = [], set()
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            following = [n for n in neighbours[current] if n != previous]
            nxt = following[0]
            if nxt == start:
                break
            loop.append(nxt)
            seen.add(nxt)
            previous, current = current, nxt
        loops.append(loop)
    return loops


def face_edge_px(mesh: np.ndarray) -> float:
    """The face-size-dependent edge width: √(face-oval area)/20, at least 1 px."""
    oval = _points(mesh, mesh_topology()["oval"][0])
    return max(1.0, float(np.sqrt(abs(cv2.contourArea(oval.astype(np.float32))))) / EDGE_DIVISOR)


def face_oval_mask(mesh: np.ndarray, size: int | tuple[int, int], erode_px: float | None = None,
                   feather_px: float | None = None) -> np.ndarray:
    """Feathered face-oval mask (forehead to chin, ear to ear) from the mesh."""
    shape = _shape(size)
    mesh = _check_mesh(mesh)
    edge = face_edge_px(mesh)
    hard = _fill(shape, [_points(mesh, mesh_topology()["oval"][0])])
    return _soften(hard, edge if erode_px is None else erode_px, edge if feather_px is None else feather_px)


def region_mask(mesh: np.ndarray, region: str, size: int | tuple[int, int],
                feather_px: float | None = None) -> np.ndarray:
    """A soft mask of one facial region: skin, lips, mouth (inside the lips), eyes, brows, nose,
    eyeshadow (lid to brow, eye excluded) or blush (cheeks)."""
    if region not in REGIONS:
        raise InvalidInput(f"unknown face region {region!r}; choose one of {', '.join(REGIONS)}")
    shape = _shape(size)
    mesh = _check_mesh(mesh)
    feather = face_edge_px(mesh) * REGION_EDGE_FRACTION if feather_px is None else float(feather_px)
    hard = _hard_region(mesh, region, shape)
    if region == "blush":  # a diffuse patch rather than an outlined shape
        feather *= 3.0
    return _soften(hard, 0.0, feather)


def _hard_region(mesh: np.ndarray, region: str, shape: tuple[int, int]) -> np.ndarray:
    topology = mesh_topology()
    if region == "lips":
        outer = _fill(shape, [_points(mesh, topology["lips_outer"][0])])
        return outer & ~_fill(shape, [_points(mesh, topology["lips_inner"][0])])
    if region == "mouth":
        return _fill(shape, [_points(mesh, topology["lips_inner"][0])])
    if region == "eyes":
        return _fill(shape, [_points(mesh, loop) for loop in topology["eyes"]])
    if region == "brows":
        return _fill(shape, [_points(mesh, polygon) for polygon in _BROW_POLYGONS])
    if region == "nose":
        return _fill(shape, [cv2.convexHull(_points(mesh, _NOSE_POINTS).astype(np.float32))[:, 0]])
    if region == "blush":
        return _fill(shape, [cv2.convexHull(_points(mesh, cheek).astype(np.float32))[:, 0] for cheek in _CHEEK_POINTS])
    if region == "eyeshadow":
        eyes = _hard_region(mesh, "eyes", shape)
        polygons = []
        for eye, brow in zip(topology["eyes"], _BROW_LOWER_CHAINS):
            lid = _upper_lid(mesh, eye)
            brow_points = _points(mesh, brow)
            if brow_points[0, 0] < brow_points[-1, 0]:
                brow_points = brow_points[::-1]
            polygons.append(np.concatenate([lid, brow_points]))
        return _fill(shape, polygons) & ~eyes
    # skin: the oval without eyes (slightly grown), brows, lips and mouth
    edge = face_edge_px(mesh)
    grow = max(1, int(round(edge * 0.3)))
    exclude = grown(_hard_region(mesh, "eyes", shape), grow)
    exclude |= _fill(shape, [_points(mesh, polygon) for polygon in _BROW_POLYGONS])
    exclude |= _fill(shape, [_points(mesh, topology["lips_outer"][0])])
    return _fill(shape, [_points(mesh, topology["oval"][0])]) & ~exclude


def _upper_lid(mesh: np.ndarray, eye_loop: list[int]) -> np.ndarray:
    """The eye outline from corner to corner along its upper half, left to right."""
    points = _points(mesh, eye_loop)
    left, right = int(np.argmin(points[:, 0])), int(np.argmax(points[:, 0]))
    a, b = sorted((left, right))
    first = points[a:b + 1]
    second = np.concatenate([points[b:], points[:a + 1]])
    upper = first if first[:, 1].mean() < second[:, 1].mean() else second
    return upper if upper[0, 0] < upper[-1, 0] else upper[::-1]


def person_mask(image: np.ndarray) -> np.ndarray:
    """H×W float32 probability that a pixel belongs to a person (MediaPipe selfie segmentation)."""
    image = check_bgr(image)
    result = packaged_models.mediapipe_selfie().process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    mask = np.asarray(result.segmentation_mask, np.float32)
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def _soften(hard: np.ndarray, erode_px: float, feather_px: float) -> np.ndarray:
    mask = hard.astype(np.uint8)
    if erode_px < 0 or feather_px < 0:
        raise InvalidInput("erode_px and feather_px must not be negative")
    if erode_px >= 0.5:  # a square kernel: the blur's support is square too, so nothing leaks past the outline
        side = 2 * int(round(erode_px)) + 1
        mask = cv2.erode(mask, np.ones((side, side), np.uint8))
    mask = mask.astype(np.float32)
    if feather_px >= 0.5:
        radius = int(round(feather_px))
        mask = cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), 0)
    return np.clip(mask, 0.0, 1.0)


def disk(radius: int) -> np.ndarray:
    """uint8 (2·radius + 1)² structuring element of a filled disk, for OpenCV's morphology."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def grown(mask: np.ndarray, radius: int) -> np.ndarray:
    """Bool H×W `mask` (any dtype, nonzero is in) dilated by a disk of `radius` px."""
    return cv2.dilate(mask.astype(np.uint8), disk(radius)) > 0


def _fill(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    shift = 4  # sub-pixel precision
    cv2.fillPoly(canvas, [np.round(np.asarray(p) * (1 << shift)).astype(np.int32) for p in polygons], 1,
                 lineType=cv2.LINE_8, shift=shift)
    return canvas.astype(bool)


def _points(mesh: np.ndarray, indices) -> np.ndarray:
    return mesh[list(indices)].astype(np.float64)


def _check_mesh(mesh: np.ndarray) -> np.ndarray:
    mesh = np.asarray(mesh, np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468 or mesh.shape[1] < 2 or not np.all(np.isfinite(mesh[:, :2])):
        raise InvalidInput(f"mesh must be a finite (478, 2) array from face_mesh, got shape {mesh.shape}")
    return mesh[:, :2]


def _shape(size: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) from a crop size or an (height, width) pair."""
    shape = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if shape[0] < 1 or shape[1] < 1:
        raise InvalidInput(f"mask size must be positive, got {size}")
    return shape
