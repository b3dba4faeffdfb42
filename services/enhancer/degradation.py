"""How degraded a face is, measured on the photo itself, so that restoration is applied in proportion.

Restoring a face that is already sharp only loses its pores and texture (the restorer works from a
window of at most 88 px and cannot give back detail the photo already has); restoring a soft, blocky
or noisy face is what the enhancer is for. Three no-reference measures, each made independent of the
face's size:

* `softness`: the share of the face's fine detail (variance of the Laplacian in the restoration window,
  aligned at the face's own resolution, at most 4 × MAX_WORK_SIZE px) that survives halving that
  resolution. A sharp face keeps little of it (0.16–0.22 on the test set's astronaut, Hopper and
  full-body faces); a blurred or upscaled one keeps most (σ = 1 px: 0.49–0.59, σ = 2 px: 0.63–0.84,
  reduced 3× and JPEG-compressed: 0.44–0.66).
* `blockiness`: mean luminance step across the 8-px JPEG grid over the step inside the blocks, on the
  face box in image pixels: 1.0–1.21 for clean faces, 1.39–1.45 at JPEG quality 40 (mild: restoring
  even at a quarter weight cost those faces 20–40 % of their texture, so it counts as clean), 1.9–2.5
  at quality 10–15.
* `noise`: the noise σ (grey levels) in the face box (`shared.faces.noise_sigma`: Immerkær's kernel read
  through the median, so skin texture is not noise): 1–2 for clean photos and film grain, which belongs
  to the photo; only heavy noise counts as damage.

`score` is the largest of the three, each mapped linearly from "clean" (0) to "clearly degraded" (1);
the enhancer restores with weight `blend × score`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.enhancer.engines.realesrgan import native_window_size, window_points
from shared.faces import Face, noise_sigma, similarity_matrix, warp_to_crop

# (clean, clearly degraded) for each measure; see the module docstring for the measured values.
SOFTNESS_RANGE = (0.25, 0.45)
BLOCKINESS_RANGE = (1.5, 1.85)
NOISE_RANGE = (4.0, 10.0)
MAX_MEASURE_SIZE = 352  # the restorer's largest output (4 × MAX_WORK_SIZE): finer detail it cannot give back


@dataclass(frozen=True)
class Degradation:
    softness: float
    blockiness: float
    noise: float

    @property
    def score(self) -> float:
        return max(_ramp(self.softness, SOFTNESS_RANGE), _ramp(self.blockiness, BLOCKINESS_RANGE),
                   _ramp(self.noise, NOISE_RANGE))

    @property
    def cause(self) -> str:
        """The measure that set the score ("none" for a clean face)."""
        parts = {"soft": _ramp(self.softness, SOFTNESS_RANGE), "blocky": _ramp(self.blockiness, BLOCKINESS_RANGE),
                 "noisy": _ramp(self.noise, NOISE_RANGE)}
        worst = max(parts, key=parts.get)
        return worst if parts[worst] > 0 else "none"

    def as_dict(self) -> dict:
        return {"softness": round(self.softness, 3), "blockiness": round(self.blockiness, 3),
                "noise": round(self.noise, 2), "score": round(self.score, 3), "cause": self.cause}


def _ramp(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def window_crop(image: np.ndarray, face: Face, max_size: int = MAX_MEASURE_SIZE) -> np.ndarray:
    """The restoration window (forehead to chin, cheek to cheek) at the face's own resolution, capped."""
    size = int(max(16, min(round(native_window_size(face)), max_size)))
    return warp_to_crop(image, similarity_matrix(face.landmarks5, window_points(size)), size)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)


def _laplacian_var(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_64F, ksize=1).var())


def softness(window: np.ndarray) -> float:
    grey = _grey(window)
    height, width = grey.shape
    inner = slice(height // 8, height - height // 8), slice(width // 8, width - width // 8)
    halved = cv2.resize(cv2.resize(grey, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA),
                        (width, height), interpolation=cv2.INTER_LINEAR)
    full = _laplacian_var(grey[inner])
    return float(min(1.0, _laplacian_var(halved[inner]) / full)) if full > 1e-6 else 1.0


def _face_box(image: np.ndarray, face: Face) -> tuple[np.ndarray, int, int]:
    """The grey face box (clipped to the image) and its origin, for measures on the pixel grid."""
    x, y, w, h = face.box
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(image.shape[1], int(round(x + w))), min(image.shape[0], int(round(y + h)))
    return _grey(image[y0:y1, x0:x1]), x0, y0


def blockiness(grey: np.ndarray, x0: int, y0: int) -> float:
    if grey.shape[0] < 17 or grey.shape[1] < 17:
        return 1.0
    dx, dy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    cols = (np.arange(dx.shape[1]) + x0 + 1) % 8 == 0  # the step between pixel j and j + 1 crosses the grid
    rows = (np.arange(dy.shape[0]) + y0 + 1) % 8 == 0
    across = dx[:, cols].mean() + dy[rows].mean()
    inside = dx[:, ~cols].mean() + dy[~rows].mean()
    return float(across / inside) if inside > 1e-6 else 1.0


def measure(image: np.ndarray, face: Face) -> Degradation:
    grey, x0, y0 = _face_box(image, face)
    return Degradation(softness=softness(window_crop(image, face)), blockiness=blockiness(grey, x0, y0),
                       noise=noise_sigma(grey))
