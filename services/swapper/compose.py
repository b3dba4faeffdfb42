"""Putting a swapped face into the photo: skin colour, occluders, the blend mask, paste back, report.

Shared by both engines. Every weight is computed in the aligned crop and pasted with
`shared.faces.paste_back`, which leaves every pixel of weight 0 byte-identical. The weight is also
clipped to the face's change box (the face box scaled by CHANGE_BOX_SCALE about its centre, turned
with the face), so nothing outside that box can change whatever the mesh does.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from services.swapper.engines import EngineOutput
from services.swapper.faces import SourceFace, TargetFace
from services.swapper.occlusion import bounding_slices, keep_out_weight, occluder_mask
from shared.errors import InvalidInput
from shared.faces import (AlignedFace, Face, cosine_similarity, face_oval_mask, identity_embedding, match_skin_color,
                          paste_back, region_mask, warp_mask_to_image)
from shared.faces.align import apply_affine
from shared.faces.masks import face_edge_px
from shared.faces.metrics import seam_delta_e
from shared.weights import EngineInfo

CHANGE_BOX_SCALE = 1.5
OVAL_ERODE = 0.5  # × face edge width: the blend reaches 0 at the face outline
OVAL_FEATHER = 0.5
OCCLUDER_MARGIN = 0.5  # × face edge width kept around occluders before the blend starts
MIN_SKIN_PIXELS = 64  # fewer visible skin pixels (a face mostly covered): no colour statistics


def change_box_corners(face: Face, scale: float = CHANGE_BOX_SCALE) -> np.ndarray:
    """The 4 image-space corners of the face box scaled about its centre and turned by its roll."""
    cx, cy = face.center
    half = np.array([face.width, face.height]) * scale / 2.0
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * half
    angle = np.radians(face.roll)  # positive: turned clockwise on screen (y points down)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ rotation.T + (cx, cy)


def change_box(face: Face, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Axis-aligned (x0, y0, x1, y1) hull of the change box, clipped to the image: outside it the
    output equals the input byte for byte."""
    corners = change_box_corners(face)
    height, width = image_shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [width, height])
    return int(x0), int(y0), int(x1), int(y1)


def _change_box_weight(face: Face, aligned: AlignedFace) -> np.ndarray:
    """1 inside the change box (in crop pixels), shrunk by a margin so bilinear pasting stays inside."""
    size = aligned.size
    polygon = apply_affine(aligned.matrix, change_box_corners(face))
    weight = np.zeros((size, size), np.uint8)
    cv2.fillPoly(weight, [np.round(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    margin = int(np.ceil(2 * max(1.0, aligned.scale)))  # two image pixels, in crop pixels
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1))
    return cv2.erode(weight, kernel).astype(np.float32)


def composite(out: np.ndarray, original: np.ndarray, target: TargetFace, swapped: EngineOutput,
              source: SourceFace, engine: EngineInfo, *, color_match: bool, blend: float,
              keep_occlusions: bool) -> dict:
    """Blend one swapped face into `out` (in place) and return its report."""
    aligned, mesh, size = target.aligned, target.mesh, target.aligned.size
    edge = face_edge_px(mesh)
    occluders = occluder_mask(aligned.crop, mesh) if keep_occlusions else np.zeros((size, size), bool)
    keep_out = keep_out_weight(occluders, max(1, int(round(OCCLUDER_MARGIN * edge))))

    weight = face_oval_mask(mesh, size, OVAL_ERODE * edge, OVAL_FEATHER * edge) * swapped.valid
    weight *= (1.0 - keep_out) * blend * _change_box_weight(target.face, aligned)

    crop, color_matched = swapped.crop, False
    box = bounding_slices(weight > 0)
    target_skin = region_mask(mesh, "skin", size)[box] * (1.0 - keep_out[box])
    swapped_skin = region_mask(swapped.mesh, "skin", size)[box]
    if color_match and min((target_skin > 0.5).sum(), (swapped_skin > 0.5).sum()) >= MIN_SKIN_PIXELS:
        # Only where the weight is non-zero, and the whole face there (not just skin), so lips and eyes
        # keep their relation to the skin.
        crop = crop.copy()
        crop[box] = match_skin_color(crop[box], swapped_skin, aligned.crop[box], target_skin,
                                     apply_mask=np.ones(target_skin.shape, np.float32))
        color_matched = True
    paste_back(out, crop, aligned, weight, inplace=True)
    oval_area = max(1, int((face_oval_mask(mesh, size, 0, 0) > 0.5).sum()))
    return _face_report(out, original, target, weight, source, engine, color_matched,
                        occluded=float(occluders.sum()) / oval_area)


def _face_report(out: np.ndarray, original: np.ndarray, target: TargetFace, weight: np.ndarray,
                 source: SourceFace, engine: EngineInfo, color_matched: bool, occluded: float) -> dict:
    face = target.face
    x0, y0, x1, y1 = change_box(face, out.shape)
    shifted = target.aligned.matrix.copy()
    shifted[:, 2] += target.aligned.matrix[:, :2] @ np.array([x0, y0], np.float64)  # box pixel → crop pixel
    mask = warp_mask_to_image(weight, dataclasses.replace(target.aligned, matrix=shifted), (y1 - y0, x1 - x0))
    seams = {}
    for name, picture in (("seam_delta_e", out), ("seam_delta_e_input", original)):
        try:
            seams[name] = round(seam_delta_e(picture[y0:y1, x0:x1], mask), 2)
        except InvalidInput:  # the mask has no outline inside the box (blend 0, face fully covered)
            seams[name] = None
    return {
        **face.as_dict(),
        "engine": engine.name, "licence": engine.licence, "commercial_use": engine.commercial_use,
        "identity_similarity": round(cosine_similarity(identity_embedding(out, face), source.embedding), 4),
        **seams,
        "color_matched": color_matched,
        "occluded_fraction": round(occluded, 4),
        "change_box": [x0, y0, x1, y1],
    }
