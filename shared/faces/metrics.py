"""The measures the whole project is judged by.

- `identity_similarity`: SFace cosine of two faces (same person > 0.5, different < 0.3).
- `outside_mask_psnr`: garment preservation; PSNR between input and output outside the dilated face
  mask, ∞ when those pixels are identical.
- `seam_delta_e`: colour step across the paste boundary; CIEDE2000 between points one band inside
  and one band outside the mask outline, averaged along it. Compare a result with its input: the
  input's value is the natural edge (skin against hair or collar), the excess is the seam.
- `sharpness`: variance of the Laplacian of the grey face crop (blur lowers it).
- `delta_e_ciede2000`: the CIEDE2000 colour difference (Sharma, Wu & Dalal 2005) on LAB arrays.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from shared.errors import InvalidInput
from shared.faces.color import bgr_to_lab
from shared.faces.masks import grown
from shared.faces.select import identity_similarity
from shared.faces.types import check_bgr

__all__ = ["delta_e_ciede2000", "identity_similarity", "outside_mask_psnr", "seam_delta_e", "sharpness",
           "mask_edge_px"]


def mask_edge_px(mask: np.ndarray) -> float:
    """√(mask area)/20, the face-size-dependent width used for dilation and bands."""
    area = float((np.asarray(mask) > 0).sum())
    return max(1.0, math.sqrt(area) / 20.0)


def outside_mask_psnr(original: np.ndarray, result: np.ndarray, face_mask: np.ndarray,
                      dilate_px: float | None = None) -> float:
    """PSNR (dB) over the pixels outside the dilated `face_mask` (image-space, weight > 0 is face)."""
    original, result = check_bgr(original, "original"), check_bgr(result, "result")
    if original.shape != result.shape:
        raise InvalidInput(f"original {original.shape} and result {result.shape} differ in size")
    face = _mask(face_mask, original.shape[:2]) > 0
    radius = int(round(mask_edge_px(face) if dilate_px is None else dilate_px))
    if radius > 0:
        face = grown(face, radius)
    outside = ~face
    if not outside.any():
        raise InvalidInput("the dilated face mask covers the whole image; nothing is outside it")
    diff = original[outside].astype(np.float64) - result[outside].astype(np.float64)
    mse = float(np.mean(diff ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0 ** 2 / mse)


def seam_delta_e(image: np.ndarray, mask: np.ndarray, band_px: float | None = None, step_px: int = 2) -> float:
    """Mean CIEDE2000 between samples `band_px` inside and outside the outline of `mask` > 0.5."""
    image = check_bgr(image)
    binary = (_mask(mask, image.shape[:2]) > 0.5).astype(np.uint8)
    if binary.sum() == 0 or binary.all():
        raise InvalidInput("the mask has no outline inside the image")
    band = mask_edge_px(binary) if band_px is None else float(band_px)
    inside = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - binary, cv2.DIST_L2, 5)
    signed = cv2.GaussianBlur(outside - inside, (0, 0), max(1.0, band / 2))
    grad_x = cv2.Sobel(signed, cv2.CV_32F, 1, 0, ksize=3)
    grad_y = cv2.Sobel(signed, cv2.CV_32F, 0, 1, ksize=3)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate([c[:, 0] for c in contours])[::max(1, step_px)].astype(np.float32)
    normals = np.stack([grad_x[points[:, 1].astype(int), points[:, 0].astype(int)],
                        grad_y[points[:, 1].astype(int), points[:, 0].astype(int)]], 1)
    length = np.linalg.norm(normals, axis=1)
    valid = length > 1e-6
    points, normals = points[valid], normals[valid] / length[valid, None]
    inner, outer = points - band * normals, points + band * normals
    height, width = binary.shape
    limit = [width - 1, height - 1]
    in_image = np.all((inner >= 0) & (inner <= limit) & (outer >= 0) & (outer <= limit), 1)
    if not in_image.any():
        raise InvalidInput("no part of the mask outline has room for the sample band inside the image")
    lab = cv2.GaussianBlur(bgr_to_lab(image), (0, 0), max(0.8, band / 4))
    lab_in = _sample(lab, inner[in_image])
    lab_out = _sample(lab, outer[in_image])
    return float(np.mean(delta_e_ciede2000(lab_in, lab_out)))


def sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian of the grey image (over `mask` > 0.5 when given)."""
    image = check_bgr(image)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    laplacian = cv2.Laplacian(grey, cv2.CV_64F, ksize=1)
    if mask is None:
        return float(laplacian.var())
    selected = _mask(mask, image.shape[:2]) > 0.5
    if selected.sum() < 2:
        raise InvalidInput("the sharpness mask selects fewer than 2 pixels")
    return float(laplacian[selected].var())


def noise_sigma(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Noise σ in grey levels of a BGR or grey image (over bool `mask` when given).

    Immerkær's (1996) Laplacian-difference kernel responds to Gaussian noise of σ with σ·6; its response
    is read through the median absolute value (0.6745 of that σ) rather than Immerkær's mean, so that
    edges, pores and wrinkles — sparse, strong responses — do not count as noise."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(grey.astype(np.float32), -1, kernel))
    values = response[mask] if mask is not None else response[1:-1, 1:-1].ravel()
    return float(np.median(values) / (0.6745 * 6.0)) if values.size else 0.0


def delta_e_ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 ΔE between LAB arrays of shape (..., 3), with kL = kC = kH = 1."""
    lab1 = np.asarray(lab1, np.float64)
    lab2 = np.asarray(lab2, np.float64)
    if lab1.shape != lab2.shape or lab1.shape[-1] != 3:
        raise InvalidInput(f"LAB arrays must share a (..., 3) shape, got {lab1.shape} and {lab2.shape}")
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_mean7 / (c_mean7 + 25.0 ** 7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_zero = (c1p * c2p) == 0

    delta_l = l2 - l1
    delta_c = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    delta_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_mean = (l1 + l2) / 2.0
    c_mean_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = np.where(np.abs(h1p - h2p) <= 180.0, h_sum / 2.0,
                      np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0))
    h_mean = np.where(chroma_zero, h_sum, h_mean)
    t = (1.0 - 0.17 * np.cos(np.radians(h_mean - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_mean))
         + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0)))
    delta_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    c_mean_p7 = c_mean_p ** 7
    r_c = 2.0 * np.sqrt(c_mean_p7 / (c_mean_p7 + 25.0 ** 7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_mean_p
    s_h = 1.0 + 0.015 * c_mean_p * t
    r_t = -np.sin(np.radians(2.0 * delta_theta)) * r_c
    term_l, term_c, term_h = delta_l / s_l, delta_c / s_c, delta_h / s_h
    return np.sqrt(term_l ** 2 + term_c ** 2 + term_h ** 2 + r_t * term_c * term_h)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    map_x = points[:, 0].reshape(1, -1).astype(np.float32)
    map_y = points[:, 1].reshape(1, -1).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]


def _mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != shape:
        raise InvalidInput(f"mask shape {mask.shape} does not match the image {shape}")
    return mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)
