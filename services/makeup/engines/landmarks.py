"""The `landmarks` engine: region-by-region colour transfer guided by the 478-point face mesh.

For each requested region the goal colour is either the reference face's robust colour of that
region or a preset's colour. The target's own region colour is measured the same way, and the
difference (full chroma, bounded lightness: `services.makeup.color`) is spread over the region's
soft mask as a smooth LAB offset field. That field is computed on the aligned crop, warped back
into the photo and added to the photo's own pixels, so texture and shading stay at the photo's
native resolution and every pixel the field does not reach is copied byte for byte.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from services.makeup.color import COMPOSITE_ORDER, CORE, REGIONS, RegionColor, region_offset, robust_region_color
from services.makeup.engines import REGISTRY
from services.makeup.engines.geometry import face_geometry, reference_geometry
from services.makeup.engines.request import MakeupRequest, region_weights
from services.makeup.looks import Look, load_looks
from shared.budget import check_time_budget
from shared.engines import Device
from shared.errors import InvalidInput
from shared.faces import Face, apply_affine, bgr_to_lab, find_faces, lab_to_bgr
from shared.stage import StageContext, StageOutput, isolated
from shared.weights import ModelStore

INFO = REGISTRY.info("landmarks")
ROI_MARGIN_PX = 2
REFERENCE_CACHE_SIZE = 16


@dataclass(frozen=True)
class RegionGoal:
    """Where a region's colour should go, and how far (intensity already folded in)."""
    lab: np.ndarray
    weight: float


# ---- reference analysis ---------------------------------------------------------------------------
_reference_cache: OrderedDict[str, dict[str, RegionColor | None]] = OrderedDict()
_reference_lock = threading.Lock()


def reference_colors(reference: np.ndarray) -> dict[str, RegionColor | None]:
    """Robust colour of every makeup region of the reference's largest face (None: not visible).

    Cached by pixel content: a shop applies one reference look to many product photos.
    """
    digest = hashlib.blake2b(reference.tobytes(), digest_size=16)
    digest.update(repr(reference.shape).encode())
    key = digest.hexdigest()
    with _reference_lock:
        if key in _reference_cache:
            _reference_cache.move_to_end(key)
            return _reference_cache[key]
    geometry = reference_geometry(reference)
    lab = bgr_to_lab(geometry.aligned.crop)
    colors = {region: robust_region_color(lab, geometry.mask(region)) for region in REGIONS}
    with _reference_lock:
        _reference_cache[key] = colors
        while len(_reference_cache) > REFERENCE_CACHE_SIZE:
            _reference_cache.popitem(last=False)
    return colors


# ---- application -----------------------------------------------------------------------------------
def apply_to_face(image: np.ndarray, face: Face, goals: dict[str, RegionGoal]) -> dict:
    """Apply `goals` to one face of `image` in place; returns the per-face report."""
    geometry = face_geometry(image, face)
    crop_lab = bgr_to_lab(geometry.aligned.crop)
    offsets = np.zeros_like(crop_lab)
    applied, skipped = {}, {}
    for region in (r for r in COMPOSITE_ORDER if r in goals):
        goal = goals[region]
        mask = geometry.mask(region)
        current = robust_region_color(crop_lab + offsets, mask)
        if current is None:
            skipped[region] = "region not visible on the target face"
            continue
        offset = region_offset(region, current, goal.lab)
        coverage = np.minimum(mask * np.float32(1.0 / CORE), 1.0)  # full strength inside the outline
        offsets += (coverage * np.float32(goal.weight))[:, :, None] * offset
        applied[region] = {"weight": round(goal.weight, 4), "measured_lab": current.as_list(),
                           "goal_lab": [round(float(v), 2) for v in goal.lab],
                           "offset_lab": [round(float(v), 2) for v in offset * goal.weight]}
    if applied:
        _add_offsets(image, offsets, geometry.aligned.matrix)
    return {"face": face.as_dict(), "regions": applied, "skipped": skipped}


def _add_offsets(image: np.ndarray, offsets: np.ndarray, matrix: np.ndarray) -> None:
    """Warp a crop-space LAB offset field into the photo and add it where it is non-zero."""
    reach = np.abs(offsets).max(axis=2) > 0
    rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
    if rows.size == 0:
        return
    corners = np.array([[cols[0] - 1, rows[0] - 1], [cols[-1] + 1, rows[0] - 1],
                        [cols[0] - 1, rows[-1] + 1], [cols[-1] + 1, rows[-1] + 1]], np.float64)
    points = apply_affine(cv2.invertAffineTransform(matrix), corners)
    height, width = image.shape[:2]
    x0 = max(0, int(np.floor(points[:, 0].min())) - ROI_MARGIN_PX)
    y0 = max(0, int(np.floor(points[:, 1].min())) - ROI_MARGIN_PX)
    x1 = min(width, int(np.ceil(points[:, 0].max())) + ROI_MARGIN_PX + 1)
    y1 = min(height, int(np.ceil(points[:, 1].max())) + ROI_MARGIN_PX + 1)
    if x1 <= x0 or y1 <= y0:
        return
    roi_matrix = matrix.copy()
    roi_matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)  # ROI pixel → crop pixel
    field = cv2.warpAffine(offsets, roi_matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    touched = np.abs(field).max(axis=2) > 1e-3
    if not touched.any():
        return
    region = image[y0:y1, x0:x1]
    lab = bgr_to_lab(region[touched][None])[0] + field[touched]
    region[touched] = lab_to_bgr(lab[None])[0]


# ---- the engine --------------------------------------------------------------------------------------------
class LandmarksEngine:
    """The engine on the shared interface: no network; each request is made up on its own."""
    info = INFO

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "LandmarksEngine":
        return cls()

    def run_batch(self, requests: list[MakeupRequest], ctx: StageContext) -> list[StageOutput | Exception]:
        return [isolated(make_up, request) for request in requests]


def make_up(request: MakeupRequest) -> StageOutput:
    """Goal colours from the reference or the preset, then every selected face in turn."""
    params, report = request.params, dict(request.report)
    goals, unavailable = region_goals(params, request.reference)
    faces = find_faces(request.image, params)
    result = request.image.copy()
    report["faces"] = []
    for face in faces:  # each face's work is on its own region; the budget is checked between faces
        check_time_budget()
        report["faces"].append(apply_to_face(result, face, goals))
    if unavailable:
        report["not_in_reference"] = unavailable
    return StageOutput(image=result, report=report)


def region_goals(params, reference: np.ndarray | None) -> tuple[dict[str, RegionGoal], dict[str, str]]:
    """Goal colour and weight per region, and the regions the reference does not show."""
    if reference is None:
        look: Look = load_looks()[params.look]
        weights = region_weights(params, lambda region: look.regions[region].intensity)
        return {r: RegionGoal(lab=look.regions[r].lab(), weight=w) for r, w in weights.items()}, {}
    colors = reference_colors(reference)
    weights = region_weights(params, lambda region: 1.0)
    goals = {r: RegionGoal(lab=colors[r].lab, weight=w) for r, w in weights.items() if colors[r] is not None}
    unavailable = {r: "region not visible on the reference face" for r in weights if colors[r] is None}
    if not goals:
        raise InvalidInput("none of the requested regions (" + ", ".join(weights) + ") is visible on the "
                           "reference face")
    return goals, unavailable
