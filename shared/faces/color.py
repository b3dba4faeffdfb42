"""Skin-tone matching: move a face's skin colour statistics (CIELAB mean and spread) onto another's.

Used when a source face is swapped onto a target body: the face's skin should match the neck and arms
around it. Statistics are taken only on skin masks (lips, eyes, hair and background would bias them),
and the change is applied with a soft weight so pixels with weight 0 are left byte-identical.
"""
from __future__ import annotations

import cv2
import numpy as np

from shared.errors import InvalidInput
from shared.faces.types import check_bgr

MIN_SKIN_PIXELS = 16
STD_RATIO_LIMITS = (1 / 3, 3.0)  # a tiny or noisy mask must not blow up contrast
LAB_L_OFFSET = 16.0  # L* + 16 scales as the cube root of luminance (CIE 1976): shading or a tint scales it by a ratio


def bgr_to_lab(image: np.ndarray) -> np.ndarray:
    """Float32 CIELAB (L in 0..100, a/b roughly −128..127; D65, sRGB)."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)


def lab_to_bgr(lab: np.ndarray) -> np.ndarray:
    bgr = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2BGR)
    return np.clip(bgr * 255.0 + 0.5, 0, 255).astype(np.uint8)


def colour_by_lightness(pixels: np.ndarray, bin_width: float, least: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin numbers (K,), median a*b* (K×2)) of CIELAB pixels (N×3 float) grouped by L* in bins `bin_width` wide
    (bin k holds k·width ≤ L* < (k + 1)·width), for the bins holding at least `least` pixels, lightest last.

    How a skin's colour changes with its light: a camera's shoulder fades a fair skin to white as it brightens,
    so colours are compared at equal lightness (the swap's highlight colours and its skin colour figure)."""
    if not len(pixels):
        return np.zeros(0, np.int32), np.zeros((0, 2), np.float32)
    bins = np.floor(pixels[:, 0] / bin_width).astype(np.int32)
    ordered = np.sort(bins)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    kept = counts >= least
    starts, counts = starts[kept], counts[kept]
    medians = np.empty((len(starts), 2), np.float32)
    for channel in (0, 1):  # each bin's median: its middle values, every bin sorted at once (by bin, then value:
        # |a*|, |b*| < 512)
        values = np.sort(bins * 1024.0 + pixels[:, 1 + channel]) - ordered * 1024.0
        medians[:, channel] = (values[starts + (counts - 1) // 2] + values[starts + counts // 2]) / 2
    return ordered[starts], medians


def skin_lab_stats(image: np.ndarray, skin_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the LAB channels over pixels where `skin_mask` > 0.5."""
    image = check_bgr(image)
    selected = _binary(skin_mask, image.shape[:2], "skin_mask")
    count = int(selected.sum())
    if count < MIN_SKIN_PIXELS:
        raise InvalidInput(f"the skin mask covers {count} pixels; at least {MIN_SKIN_PIXELS} are needed")
    pixels = bgr_to_lab(image)[selected].astype(np.float64)
    return pixels.mean(0), pixels.std(0)


def match_skin_color(image: np.ndarray, skin_mask: np.ndarray, reference: np.ndarray, reference_skin_mask: np.ndarray,
                     strength: float = 1.0, apply_mask: np.ndarray | None = None) -> np.ndarray:
    """`image` with its skin's LAB mean/std moved to `reference`'s skin statistics.

    The transfer is applied with weight `strength × apply_mask` (default: the soft `skin_mask`), so
    only the face changes; pixels of weight 0 are copied unchanged.
    """
    image = check_bgr(image)
    if not 0.0 <= strength <= 1.0:
        raise InvalidInput(f"strength must be in [0, 1], got {strength}")
    mean_s, std_s = skin_lab_stats(image, skin_mask)
    mean_r, std_r = skin_lab_stats(reference, reference_skin_mask)
    ratio = np.clip(std_r / np.maximum(std_s, 1e-6), *STD_RATIO_LIMITS)
    weight = _weights(skin_mask if apply_mask is None else apply_mask, image.shape[:2]) * strength
    out = image.copy()
    changed = weight > 0
    if not changed.any():
        return out
    lab = bgr_to_lab(image)[changed].astype(np.float64)
    moved = (lab - mean_s) * ratio + mean_r
    w = weight[changed][:, None]
    blended = lab + (moved - lab) * w
    out[changed] = lab_to_bgr(blended.astype(np.float32)[None])[0]
    return out


def _weights(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape[:2] != shape or mask.ndim != 2:
        raise InvalidInput(f"mask shape {mask.shape} does not match the image {shape}")
    weights = mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)
    return np.clip(np.nan_to_num(weights), 0.0, 1.0)


def _binary(mask: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise InvalidInput(f"{what} shape {mask.shape} does not match the image {shape}")
    return _weights(mask, shape) > 0.5
