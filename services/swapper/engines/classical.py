"""The `classical` engine: the source face's texture warped onto the target's face mesh.

Only the source's clean skin and features travel (its hair, a hat and whatever lies outside its
portrait are masked out in `SourceFace.clean`); the composite then keeps the target's mouth where the
two mouths' states differ and gives the face the photo's tone, light, sharpness and grain.

Works out of the box: detection (YuNet, MIT), identity (SFace, Apache-2.0) and the 478-point mesh
(MediaPipe, Apache-2.0) ship in pinned packages; the warp, shape transfer and blending are FaceCast's
own code. Faces are processed on `ffhq256`, `ffhq512` or `ffhq1024` crops, whichever holds the face at no less
than its size in the photo.
"""
from __future__ import annotations

import cv2
import numpy as np

from services.swapper.engines import REGISTRY, EngineOutput
from services.swapper.faces import SourceFace, TargetFace
from services.swapper.meshwarp import piecewise_affine, transfer_shape
from services.swapper.occlusion import feature_mask
from shared.engines import Device
from shared.faces import Face, face_edge_px, face_oval_mask, region_mask, similarity_matrix, template_points
from shared.stage import StageContext
from shared.weights import ModelStore

INFO = REGISTRY.info("classical")
TEMPLATES = ("ffhq256", "ffhq512", "ffhq1024")  # smallest first
SHAPE_STRENGTH = 1.0  # how much of the source's inner-face shape to carry over
SHAPE_RAMP = 0.15  # fade the shape transfer over this fraction of the face size from the outline
SHAPE_YAW_LIMIT = 0.25  # no shape transfer when the faces' yaw proxies differ by this much
BROW_FILL_FADE = 0.3  # × face edge width over which the fill fades into the photo's pixels around the strip
BROW_FILL_GROW = 1.0  # × face edge width around the photo's brows that the fill covers
BROW_FILL_SIGMA = 1.0  # × face edge width: how far the fill's colour is gathered from the photo's forehead


def template_for(face: Face) -> str:
    """The smallest crop that does not shrink the face: small faces on big canvases work at 256."""
    for template in TEMPLATES:
        _, points = template_points(template)
        matrix = similarity_matrix(face.landmarks5, points)
        if np.sqrt(abs(np.linalg.det(matrix[:, :2]))) >= 1.0:
            return template
    return TEMPLATES[-1]


def swap_one(target: TargetFace, source: SourceFace) -> EngineOutput:
    size, template = target.aligned.size, target.aligned.template
    source_mesh = source.mesh(template)
    geometry = transfer_shape(source_mesh, target.mesh, SHAPE_STRENGTH, SHAPE_RAMP, SHAPE_YAW_LIMIT)
    # The source's clean-skin mask travels with its pixels, so its fringe, glasses or image border
    # never reach the target face.
    clean = source.clean(template).astype(np.uint8) * 255
    stacked = np.dstack([source.aligned(template).crop, clean])
    warped, covered = piecewise_affine(stacked, source_mesh, geometry, size)
    valid = covered & (warped[..., 3] > 127)
    crop = np.ascontiguousarray(warped[..., :3])
    filled = forehead_above_brows(crop, valid, geometry, target)
    usable = valid | filled
    # where the portrait has nothing to give (its hair, its border) the crop holds the photo's own pixels,
    # so sharpening near those edges has no fringe to ring against
    crop[~usable] = target.aligned.crop[~usable]
    return EngineOutput(crop=crop, mesh=geometry, valid=usable.astype(np.float32), from_photo=filled)


def forehead_above_brows(crop: np.ndarray, valid: np.ndarray, mesh: np.ndarray, target: TargetFace) -> np.ndarray:
    """Fill (in place) where the photo's own brow would show above the portrait's, and return where it
    filled (bool crop mask).

    A fringe's pixels never travel, so where it lay the photo shows through, and with it the photo's own
    brow wherever that sits higher than the portrait's: two brows, one above the other. Only those pixels
    (the photo's brows, grown a little, above the portrait's and not under the photo's own hair) take the
    photo's forehead with its brows taken out: a normalised convolution of its skin around them, marked
    `from_photo` so the composite does not re-light it, fading into the photo's own pixels around it."""
    size = crop.shape[0]
    edge = face_edge_px(mesh)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * max(1, int(round(BROW_FILL_GROW * edge))) + 1,) * 2)
    photo_brows = cv2.dilate((region_mask(target.mesh, "brows", size, feather_px=0) > 0.5).astype(np.uint8), grow) > 0
    shown = photo_brows & ~valid & ~(region_mask(mesh, "brows", size, feather_px=0) > 0.5)
    if not shown.any():  # the portrait's forehead travels (no fringe): nothing of the photo's brows shows
        return shown
    occluders = target.covers if target.hands is None else target.covers | target.hands  # the photo's hair stays
    shown &= ~occluders
    if not shown.any():
        return shown
    skin = (face_oval_mask(target.mesh, size, 0, 0) > 0.5) & ~feature_mask(target.mesh, size) & ~occluders
    sigma = BROW_FILL_SIGMA * edge
    # the blurs are read only at the shown pixels: run them on the box that reaches them (OpenCV's float
    # kernel spans 4σ), which gives the same values as on the whole crop at a fraction of the cost
    rows, cols = np.nonzero(shown)
    reach = int(np.ceil(4 * sigma)) + 2
    box = (slice(max(0, rows.min() - reach), rows.max() + reach + 1),
           slice(max(0, cols.min() - reach), cols.max() + reach + 1))
    weight = np.zeros(skin.shape, np.float32)
    colour = np.zeros(crop.shape, np.float32)
    weight[box] = cv2.GaussianBlur(skin[box].astype(np.float32), (0, 0), sigma)
    colour[box] = cv2.GaussianBlur(target.aligned.crop[box].astype(np.float32) * skin[box][..., None], (0, 0), sigma)
    shown &= weight > 0.05
    # towards the photo's pixels around it the fill fades into them, so it has no edge of its own
    around = ~shown & ~valid
    inside = cv2.distanceTransform((~around).astype(np.uint8), cv2.DIST_L2, 3)[shown]
    fade = np.clip(inside / max(1.0, BROW_FILL_FADE * edge), 0.0, 1.0)[:, None]
    fill = colour[shown] / weight[shown][:, None]
    crop[shown] = np.clip(np.round(fade * fill + (1.0 - fade) * target.aligned.crop[shown]), 0, 255).astype(np.uint8)
    return shown


class ClassicalEngine:
    """The engine on the shared interface; its packaged models load on first use, per thread."""
    info = INFO

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "ClassicalEngine":
        return cls()

    @classmethod
    def template_for(cls, face: Face) -> str:
        return template_for(face)

    def run_batch(self, pairs: list[tuple[TargetFace, SourceFace]], ctx: StageContext) -> list[EngineOutput]:
        """One face at a time: there is no network to batch."""
        return [swap_one(target, source) for target, source in pairs]
