"""The `classical` engine: the source face's texture warped onto the target's face mesh.

Only the source's clean skin and features travel (its hair, a hat and whatever lies outside its
portrait are masked out in `SourceFace.clean`); the composite then keeps the target's mouth where the
two mouths' states differ and gives the face the photo's tone, light, sharpness and grain.

Works out of the box: detection (YuNet, MIT), identity (SFace, Apache-2.0) and the 478-point mesh
(MediaPipe, Apache-2.0) ship in pinned packages; the warp, shape transfer and blending are FaceCast's
own code. Faces are processed on the smallest ffhq crop (256 to 1024) that holds the face at no less than
its size in the photo (`faces.composite_template`).
"""
from __future__ import annotations

import cv2
import numpy as np

from services.swapper.engines import REGISTRY, EngineOutput
from services.swapper.faces import LIPS_TRAVEL_BELOW_PX, SourceFace, TargetFace, composite_template
from services.swapper.meshwarp import keep_eye_opening, piecewise_affine, transfer_shape
from services.swapper.occlusion import feature_mask
from shared.engines import Device
from shared.faces import Face, face_edge_px, face_oval_mask, grown, mesh_topology, region_mask
from shared.stage import StageContext
from shared.weights import ModelStore

INFO = REGISTRY.info("classical")
SHAPE_STRENGTH = 1.0  # how much of the source's inner-face shape to carry over
SHAPE_RAMP = 0.08  # fade the shape transfer over this fraction of the face size from the outline (at 0.15 the
# cheeks kept the photo's shape further in, and on full-body faces, where SFace reads proportions, the likeness
# moved less: the gap to the original rose on 58 of 84 such pairs; by eye no texture stretches at the outline)
SHAPE_TURN_BLEND = 0.25  # yaw-proxy gap over which the shape fit passes from 2-D to the portrait turned to the
# photo's pose (a 2-D fit alone stood down at this gap, so three-quarter faces kept the photo's shape: on nine turned
# heads, 20 of 36 pairs nearer the portrait by the 0.03 margin, 25 with the turned fit)
LIP_POINTS = sorted({point for key in ("lips_outer", "lips_inner") for loop in mesh_topology()[key]
                     for point in loop})  # MediaPipe's lip outlines, where the portrait's lips follow the photo's
BROW_FILL_FADE = 0.3  # × face edge width over which the fill fades into the photo's pixels around the strip
BROW_FILL_GROW = 1.0  # × face edge width around the photo's brows that the fill covers
BROW_FILL_SIGMA = 1.0  # × face edge width: how far the fill's colour is gathered from the photo's forehead
BROW_FILL_RING = 1.5  # × face edge width round the fill over which the photo's forehead colour is given for its fade
BROW_MATTE_REACH = 0.6  # × face edge width from the fill within which the portrait's brow travels as a matte
BROW_MATTE_MARGIN = 0.35  # × face edge width round the mesh's brow outline: the portrait's brow and its margin
BROW_MATTE_SKIN = 0.8  # lightness quantile of the matted zone read as its skin
BROW_MATTE_CORE = 0.2  # lightness quantile inside the brow outline read as its hair
BROW_MATTE_SOFT = 0.15  # × face edge width (Gaussian σ) over which the matted zone's sides give way
BROW_MATTE_MIN_CONTRAST = 12.0  # grey levels between the two below which there is no hair to matte


def swap_one(target: TargetFace, source: SourceFace) -> EngineOutput:
    size, template = target.aligned.size, target.aligned.template
    source_mesh = source.mesh(template)
    geometry = keep_eye_opening(transfer_shape(source_mesh, source.depth(template), target.mesh, SHAPE_STRENGTH,
                                               SHAPE_RAMP, SHAPE_TURN_BLEND), target.mesh)
    # The source's clean-skin mask travels with its pixels, so its fringe, glasses or image border
    # never reach the target face.
    clean = source.clean(template)
    if target.face.width < LIPS_TRAVEL_BELOW_PX:
        # A small face's lips travel on the photo's lip outline, so no fuller lip lands beside the photo's; the
        # composite keeps the photo's mouth opening, or its whole mouth when one mouth is open and the other
        # closed (`faces.lips_travel`). Left out, they were a hole round which the photo's mouth showed through.
        geometry[LIP_POINTS] = target.mesh[LIP_POINTS]
        clean = clean | source.lips(template)
    clean = clean.astype(np.uint8) * 255
    stacked = np.dstack([source.crop(template), clean])
    warped, covered = piecewise_affine(stacked, source_mesh, geometry, size)
    valid = covered & (warped[..., 3] > 127)
    crop = np.ascontiguousarray(warped[..., :3])
    photo_fill, share = forehead_above_brows(crop, valid, geometry, target)
    usable = valid
    if share is not None:
        usable = valid | (share > 0)
        crop[share >= 1] = photo_fill[share >= 1]  # the portrait's fringe is no backdrop for the fill's softened edge
    # where the portrait has nothing to give (its hair, its border) the crop holds the photo's own pixels,
    # so sharpening near those edges has no fringe to ring against
    crop[~usable] = target.aligned.crop[~usable]
    return EngineOutput(crop=crop, mesh=geometry, valid=usable.astype(np.float32), from_photo=share,
                        photo_fill=photo_fill)


def forehead_above_brows(crop: np.ndarray, valid: np.ndarray, mesh: np.ndarray,
                         target: TargetFace) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The photo's forehead where its own brow would show above the portrait's, and round the portrait's brow
    beside it: (`photo_fill` H×W×3 uint8, its share H×W float 0..1), or (None, None) where nothing shows.

    A fringe's pixels never travel, so where it lay the photo shows through, and with it the photo's own
    brow wherever that sits higher than the portrait's: two brows, one above the other. Those pixels (the
    photo's brows, grown a little, above the portrait's and not under the photo's own hair) take the
    photo's forehead with its brows taken out: a normalised convolution of its skin around them, fading
    into the photo's own pixels around it. The portrait's brow travels with a margin of its skin, which a
    fringe's shadow darkens: set beside the fill it read as a brown block with a hard top. So within
    BROW_MATTE_REACH of the fill only the brow's hair travels, as a matte (`brow_matte`), on the same fill.
    Over BROW_FILL_RING round the fill `photo_fill` holds the forehead's colour at share 0, for the
    composite's fade of the fill into the portrait (`blend.fade_in_fill`)."""
    size = crop.shape[0]
    edge = face_edge_px(mesh)
    photo_brows = grown(region_mask(target.mesh, "brows", size, feather_px=0) > 0.5,
                         max(1, int(round(BROW_FILL_GROW * edge))))
    portrait_brows = region_mask(mesh, "brows", size, feather_px=0) > 0.5
    shown = photo_brows & ~valid & ~portrait_brows
    if not shown.any():  # the portrait's forehead travels (no fringe): nothing of the photo's brows shows
        return None, None
    occluders = target.covers if target.hands is None else target.covers | target.hands  # the photo's hair stays
    shown &= ~occluders
    if not shown.any():
        return None, None
    reach = max(1, int(round(BROW_MATTE_REACH * edge)))
    matted = grown(shown, reach) & valid & grown(portrait_brows, max(1, int(round(BROW_MATTE_MARGIN * edge)))) \
        & ~occluders
    skin = (face_oval_mask(target.mesh, size, 0, 0) > 0.5) & ~feature_mask(target.mesh, size) & ~occluders
    sigma = BROW_FILL_SIGMA * edge
    # the blurs are read only at the filled pixels: run them on the box that reaches them (OpenCV's float
    # kernel spans 4σ), which gives the same values as on the whole crop at a fraction of the cost
    rows, cols = np.nonzero(shown | matted)
    pad = int(np.ceil(4 * sigma)) + 2
    box = (slice(max(0, rows.min() - pad), rows.max() + pad + 1), slice(max(0, cols.min() - pad), cols.max() + pad + 1))
    weight = np.zeros(skin.shape, np.float32)
    colour = np.zeros(crop.shape, np.float32)
    weight[box] = cv2.GaussianBlur(skin[box].astype(np.float32), (0, 0), sigma)
    colour[box] = cv2.GaussianBlur(target.aligned.crop[box].astype(np.float32) * skin[box][..., None], (0, 0), sigma)
    shown &= weight > 0.05
    matted &= weight > 0.05
    # towards the photo's pixels around it the fill fades into them, so it has no edge of its own
    around = ~shown & ~valid
    fade = np.ones(skin.shape, np.float32)
    fade[box] = np.clip(cv2.distanceTransform((~around[box]).astype(np.uint8), cv2.DIST_L2, 3)
                        / max(1.0, BROW_FILL_FADE * edge), 0.0, 1.0)
    fade[matted] = 1.0  # behind the portrait's brow hair, the forehead without the photo's brow
    filled = shown | matted
    fill = colour[filled] / weight[filled][:, None]
    photo_fill = target.aligned.crop.copy()
    photo_fill[filled] = np.clip(np.round(fade[filled, None] * fill + (1.0 - fade[filled, None])
                                          * target.aligned.crop[filled]), 0, 255).astype(np.uint8)
    # the composite fades the fill on into the portrait beside it (`blend.fade_in_fill`): there it must fade
    # into the fill's colour, not into the photo's own pixels, which hold the photo's brow (a dark dash)
    ring = grown(shown, max(1, int(round(BROW_FILL_RING * edge)))) & valid & ~filled & (weight > 0.05)
    photo_fill[ring] = np.clip(np.round(colour[ring] / weight[ring][:, None]), 0, 255).astype(np.uint8)
    share = shown.astype(np.float32)
    # the matte holds in full beside the fill and gives way to the portrait as it is towards the zone's other
    # edges, so it draws no edge of its own
    if matted.any():
        beside = np.clip(1.0 - cv2.distanceTransform((~shown[box]).astype(np.uint8), cv2.DIST_L2, 3) / reach, 0.0, 1.0)
        within = cv2.GaussianBlur(matted[box].astype(np.float32), (0, 0), max(0.5, BROW_MATTE_SOFT * edge))
        skin_share = (1.0 - brow_matte(crop[box], matted[box], portrait_brows[box])) * beside * within
        share[box][matted[box]] = skin_share[matted[box]]
    return photo_fill, share


def brow_matte(crop: np.ndarray, zone: np.ndarray, brows: np.ndarray) -> np.ndarray:
    """How much of each pixel of `zone` (bool) is brow hair (float 0..1): its darkness between the zone's skin
    (the BROW_MATTE_SKIN quantile of its lightness) and the brow's core (the BROW_MATTE_CORE quantile inside
    `brows`, the mesh's brow outline), as a colour-difference matte (Smith & Blinn 1996, "Blue screen
    matting", with skin for the backing)."""
    lightness = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    core = zone & brows
    if int(zone.sum()) < 8 or int(core.sum()) < 8:
        return zone.astype(np.float32)
    skin_level = float(np.quantile(lightness[zone], BROW_MATTE_SKIN))
    hair_level = float(np.quantile(lightness[core], BROW_MATTE_CORE))
    if skin_level - hair_level < BROW_MATTE_MIN_CONTRAST:  # a brow as light as its skin: it travels whole
        return zone.astype(np.float32)
    lightness = cv2.GaussianBlur(lightness, (0, 0), 0.7)  # the matte follows hairs, not the grain between them
    return np.clip((skin_level - lightness) / (skin_level - hair_level), 0.0, 1.0)


class ClassicalEngine:
    """The engine on the shared interface; its packaged models load on first use, per thread."""
    info = INFO

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "ClassicalEngine":
        return cls()

    @classmethod
    def template_for(cls, face: Face) -> str:
        return composite_template(face)

    def run_batch(self, pairs: list[tuple[TargetFace, SourceFace]], ctx: StageContext) -> list[EngineOutput]:
        """One face at a time: there is no network to batch."""
        return [swap_one(target, source) for target, source in pairs]
