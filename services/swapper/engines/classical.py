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

import numpy as np

from services.swapper.engines import REGISTRY, EngineOutput
from services.swapper.faces import SourceFace, TargetFace
from services.swapper.meshwarp import piecewise_affine, transfer_shape
from shared.engines import Device
from shared.faces import Face, similarity_matrix, template_points
from shared.stage import StageContext
from shared.weights import ModelStore

INFO = REGISTRY.info("classical")
TEMPLATES = ("ffhq256", "ffhq512", "ffhq1024")  # smallest first
SHAPE_STRENGTH = 1.0  # how much of the source's inner-face shape to carry over
SHAPE_RAMP = 0.15  # fade the shape transfer over this fraction of the face size from the outline
SHAPE_YAW_LIMIT = 0.25  # no shape transfer when the faces' yaw proxies differ by this much


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
    return EngineOutput(crop=np.ascontiguousarray(warped[..., :3]), mesh=geometry, valid=valid.astype(np.float32))


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
