"""Measurements for the makeup tests: image-space region masks of a face, and mean region colours."""
from __future__ import annotations

import cv2
import numpy as np

from services.makeup.regions import makeup_region_mask
from shared.faces import (MESH_TEMPLATE, align_face, bgr_to_lab, delta_e_ciede2000, face_mesh, largest_face,
                          warp_mask_to_image)

CORE = 0.5  # mask weight from which a pixel counts as inside a region


def image_region_masks(image: np.ndarray, regions) -> dict[str, np.ndarray]:
    """Soft masks of the largest face's regions, in image pixels (the geometry of `image`)."""
    aligned = align_face(image, largest_face(image), MESH_TEMPLATE)
    mesh = face_mesh(aligned.crop)
    return {r: warp_mask_to_image(makeup_region_mask(mesh, r, aligned.size), aligned, image.shape) for r in regions}


def mean_lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return bgr_to_lab(image)[mask >= CORE].astype(np.float64).mean(axis=0)


def region_delta_e(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """CIEDE2000 between the mean colours of one region in two images."""
    return float(delta_e_ciede2000(mean_lab(a, mask), mean_lab(b, mask)))


def paint_lips_red(image: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """The portrait with clearly red lipstick: hue set to red and saturation raised under the lip mask."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.float32)
    painted = hsv.copy()
    painted[..., 0] = 178.0  # OpenCV hue (0–180): a slightly bluish red
    painted[..., 1] = np.maximum(hsv[..., 1], 200.0)
    painted[..., 2] = hsv[..., 2] * 0.85
    red = cv2.cvtColor(np.clip(painted + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    weight = lips[..., None]
    out = image.astype(np.float32) * (1 - weight) + red * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
