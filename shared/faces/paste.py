"""Paste a processed face crop back into the full image.

Only pixels under the warped soft mask change: the work is done inside the mask's footprint (the
dilated face box) and every pixel whose warped mask weight is 0 is copied byte for byte from the
input, so the garment and background are untouched by construction (tests assert it).
"""
from __future__ import annotations

import cv2
import numpy as np

from shared.errors import InvalidInput
from shared.faces.align import AlignedFace, apply_affine
from shared.faces.types import check_bgr

FOOTPRINT_MARGIN_PX = 2


def paste_back(image: np.ndarray, processed_crop: np.ndarray, aligned: AlignedFace, mask: np.ndarray | None = None,
               *, inplace: bool = False) -> np.ndarray:
    """Blend `processed_crop` (any square size: the matrix is rescaled) into `image` through `mask`.

    `mask` is a crop-space weight in [0, 1] (float) or 0..255 (uint8), e.g. `face_oval_mask(...)`;
    by default a feathered square that keeps the crop's padded border out of the image.
    """
    image = check_bgr(image)
    processed_crop = check_bgr(processed_crop, "processed_crop")
    size = processed_crop.shape[0]
    if processed_crop.shape[1] != size:
        raise InvalidInput(f"processed_crop must be square, got {processed_crop.shape[1]}×{processed_crop.shape[0]}")
    weights = _mask_weights(mask, size)
    out = image if inplace else image.copy()

    matrix = aligned.matrix * (size / aligned.size)  # image → processed crop
    box = _footprint(weights, cv2.invertAffineTransform(matrix), image.shape)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    roi_matrix = matrix.copy()
    roi_matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)  # roi pixel → crop pixel
    roi_size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(processed_crop, roi_matrix, roi_size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    weight = cv2.warpAffine(weights, roi_matrix, roi_size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = out[y0:y1, x0:x1]
    inside = weight > 0
    w = weight[inside][:, None]
    blended = region[inside].astype(np.float32) * (1.0 - w) + warped[inside].astype(np.float32) * w
    region[inside] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def warp_mask_to_image(mask: np.ndarray, aligned: AlignedFace, image_shape: tuple[int, ...]) -> np.ndarray:
    """A crop-space mask in full-image coordinates (float32, 0 outside the face)."""
    weights = _mask_weights(mask, mask.shape[0])
    matrix = aligned.matrix * (mask.shape[0] / aligned.size)
    return cv2.warpAffine(weights, matrix, (image_shape[1], image_shape[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def soft_square_mask(size: int, border_fraction: float = 0.06) -> np.ndarray:
    """Weight 1 in the middle falling to 0 on the crop's outermost pixels, so padded borders never
    reach the image."""
    border = max(1.0, size * border_fraction)
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / border, 0.0, 1.0).astype(np.float32)
    return np.minimum.outer(ramp, ramp)


def _mask_weights(mask: np.ndarray | None, size: int) -> np.ndarray:
    if mask is None:
        return soft_square_mask(size)
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise InvalidInput(f"mask must be a square single-channel crop-space array, got shape {mask.shape}")
    weights = mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)
    if not np.all(np.isfinite(weights)):
        raise InvalidInput("mask has non-finite values")
    weights = np.clip(weights, 0.0, 1.0)
    if weights.shape[0] != size:
        weights = cv2.resize(weights, (size, size), interpolation=cv2.INTER_LINEAR)
    return weights


def _footprint(weights: np.ndarray, to_image: np.ndarray, shape) -> tuple[int, int, int, int] | None:
    """The image-space box covering every crop pixel with weight > 0, plus a margin, clipped."""
    rows = np.flatnonzero(weights.max(axis=1) > 0)
    cols = np.flatnonzero(weights.max(axis=0) > 0)
    if rows.size == 0:
        return None
    corners = np.array([[cols[0] - 1, rows[0] - 1], [cols[-1] + 1, rows[0] - 1],
                        [cols[0] - 1, rows[-1] + 1], [cols[-1] + 1, rows[-1] + 1]], np.float64)
    points = apply_affine(to_image, corners)
    height, width = shape[:2]
    x0 = max(0, int(np.floor(points[:, 0].min())) - FOOTPRINT_MARGIN_PX)
    y0 = max(0, int(np.floor(points[:, 1].min())) - FOOTPRINT_MARGIN_PX)
    x1 = min(width, int(np.ceil(points[:, 0].max())) + FOOTPRINT_MARGIN_PX + 1)
    y1 = min(height, int(np.ceil(points[:, 1].max())) + FOOTPRINT_MARGIN_PX + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1
