"""Soft masks of the five makeup regions on an aligned crop.

Lips, eyeshadow, blush and brows come from the face toolkit (`shared.faces.region_mask`). Eyeliner
is makeup-specific, so it is drawn here: a band sitting on the upper lash line from the inner corner
to a short wing past the outer corner, with the eye opening itself cut out so the white of the eye
is never coloured.
"""
from __future__ import annotations

import cv2
import numpy as np

from shared.faces import region_mask

# Upper-lid contour of MediaPipe's canonical mesh, inner corner to outer corner, per eye.
_UPPER_LID_INNER_TO_OUTER = ((133, 173, 157, 158, 159, 160, 161, 246, 33),  # subject's right (image left)
                             (362, 398, 384, 385, 386, 387, 388, 466, 263))  # subject's left (image right)
_LOWER_LID_OUTER_TO_INNER = ((33, 7, 163, 144, 145, 153, 154, 155, 133),
                             (263, 249, 390, 373, 374, 380, 381, 382, 362))

LINER_THICKNESS = 0.07  # of the eye's width, at the lid's middle
LINER_WING = 0.18  # wing length past the outer corner, of the eye's width
LINER_WING_RISE = 0.35  # wing direction: rise per unit of outward run
SUBPIXEL_SHIFT = 4


def eyeliner_mask(mesh: np.ndarray, size: int) -> np.ndarray:
    """A soft eyeliner band on both upper lids, float32 in [0, 1], in the mesh's crop coordinates."""
    mesh = np.asarray(mesh, np.float64)
    band = np.zeros((size, size), np.uint8)
    eyes = np.zeros((size, size), np.uint8)
    feather = 0.0
    for upper, lower in zip(_UPPER_LID_INNER_TO_OUTER, _LOWER_LID_OUTER_TO_INNER):
        lid = mesh[list(upper), :2]
        width = float(np.linalg.norm(lid[-1] - lid[0]))
        if width < 2.0:  # an eye this small has no drawable liner
            continue
        thickness = LINER_THICKNESS * width
        feather = max(feather, thickness * 0.35)
        outward = (lid[-1] - lid[0]) / width
        wing_tip = lid[-1] + LINER_WING * width * (outward + np.array([0.0, -LINER_WING_RISE]))
        # thin at the inner corner, full over the lid, tapering into the wing
        taper = np.concatenate([np.linspace(0.35, 1.0, len(lid) // 2 + 1), np.ones(len(lid) - len(lid) // 2 - 1)])
        upper_edge = lid - np.outer(taper * thickness, [0.0, 1.0])
        polygon = np.concatenate([lid, [wing_tip], upper_edge[::-1]])
        _fill(band, polygon)
        _fill(eyes, np.concatenate([lid[::-1], mesh[list(lower), :2]]))
    if not band.any():
        return band.astype(np.float32)
    band[eyes > 0] = 0
    mask = band.astype(np.float32)
    radius = max(1, int(round(feather)))
    mask = cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), 0)
    mask[eyes > 0] = 0.0  # feathering must not spill back onto the eye
    return np.clip(mask, 0.0, 1.0)


def makeup_region_mask(mesh: np.ndarray, region: str, size: int) -> np.ndarray:
    """The soft crop-space mask of one makeup region."""
    if region == "eyeliner":
        return eyeliner_mask(mesh, size)
    return region_mask(mesh, region, size)


def _fill(canvas: np.ndarray, polygon: np.ndarray) -> None:
    points = np.round(polygon * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [points], 1, lineType=cv2.LINE_8, shift=SUBPIXEL_SHIFT)
