"""LAB colour arithmetic of the landmarks engine: robust region colours and texture-keeping shifts.

Makeup is modelled as a smooth offset in CIELAB added to the target's own pixels, so the skin's
texture, pores and shading survive: chroma (a*, b*) moves all the way to the goal colour's, while
lightness moves only by a bounded share (lipstick does not flatten the lips' highlights, and a pale
preset must not bleach a dark-skinned face). Colours use the toolkit's float LAB (`shared.faces.color`,
L 0–100, a/b ≈ ±127) everywhere, so measured and requested colours compare exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.makeup.looks import REGIONS, hex_rgb  # noqa: F401 (REGIONS: the regions, named with the colours)
from shared.faces import bgr_to_lab

# Order in which regions are composited: broad, soft regions first; the thin liner and the lips last,
# so each region's colour is measured on the result of the ones beneath it.
COMPOSITE_ORDER = ("blush", "brows", "eyeshadow", "eyeliner", "lips")


@dataclass(frozen=True)
class LightnessRule:
    """How far a region's lightness may follow the goal: `share` of the difference, at most `max_shift`."""
    share: float
    max_shift: float


LIGHTNESS_RULES = {
    "lips": LightnessRule(share=0.75, max_shift=30.0),  # lipstick pigment is mostly opaque
    "eyeshadow": LightnessRule(share=0.5, max_shift=15.0),
    "eyeliner": LightnessRule(share=0.8, max_shift=40.0),  # liner is mostly a darkening
    "blush": LightnessRule(share=0.25, max_shift=8.0),  # cheeks keep their modelling
    "brows": LightnessRule(share=0.4, max_shift=12.0),  # darker brows change how a face reads most
}

# A region's outline sits where its feathered mask is 0.5: weights from there inward are the region's
# core (measured, and made up at full strength); the feather outside it is the transition to skin.
CORE = 0.5
MIN_REGION_PIXELS = 12  # fewer pixels than this (an occluded or closed region) give no usable statistics


@dataclass(frozen=True)
class RegionColor:
    """A region's robust colour: per-channel median after trimming lightness outliers."""
    lab: np.ndarray  # (3,) float32
    pixels: int

    def as_list(self) -> list[float]:
        return [round(float(v), 2) for v in self.lab]


def hex_to_lab(color: str) -> np.ndarray:
    """'#RRGGBB' (sRGB) to LAB with the same conversion as images."""
    r, g, b = hex_rgb(color)
    return bgr_to_lab(np.array([[[b, g, r]]], dtype=np.uint8))[0, 0]


def robust_region_color(lab: np.ndarray, mask: np.ndarray) -> RegionColor | None:
    """Median colour of the mask's core (weight ≥ CORE), ignoring the darkest and brightest 10% of
    pixels by lightness (open-mouth shadow, teeth, specular highlights, stray lashes); None when too
    few pixels are visible."""
    pixels = lab[mask >= CORE]
    if len(pixels) < MIN_REGION_PIXELS:
        return None
    low, high = np.percentile(pixels[:, 0], (10, 90))
    kept = pixels[(pixels[:, 0] >= low) & (pixels[:, 0] <= high)]
    if len(kept) < MIN_REGION_PIXELS:
        kept = pixels
    return RegionColor(lab=np.median(kept, axis=0).astype(np.float32), pixels=int(len(pixels)))


def region_offset(region: str, current: RegionColor, goal_lab: np.ndarray) -> np.ndarray:
    """The LAB offset that moves `current` to the goal: full chroma, bounded lightness."""
    rule = LIGHTNESS_RULES[region]
    d_lightness = float(np.clip(rule.share * (goal_lab[0] - current.lab[0]), -rule.max_shift, rule.max_shift))
    return np.array([d_lightness, goal_lab[1] - current.lab[1], goal_lab[2] - current.lab[2]], dtype=np.float32)
