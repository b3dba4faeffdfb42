"""Alignment: a similarity transform (rotation, uniform scale, shift) that puts the five landmarks on a
canonical template, and the square crop it produces.

Templates (five points in YuNet order, image-left eye first):
- `arcface112`: InsightFace's ArcFace/SFace 112×112 template.
- `ffhq256`, `ffhq384`, `ffhq512`, `ffhq768`, `ffhq1024`: the FFHQ-style five-point template used by GFPGAN/CodeFormer
  (facexlib's 512 template, scaled); the crop StyleGAN2-class generators and restorers expect.
- `faceshifter256`: the crop FaceShifter was trained on (its MTCNN `warp_and_crop_face`: the 112 square
  template shrunk by 0.85 about its centre, then scaled by 256/112). Its 19:237 sub-crop resized to
  112 is the arcface112 alignment to within 0.2 % in scale: ((p-56)·0.85·256/218 + 56). Compared with
  `ffhq256`, the face in `faceshifter256` is 8.8 % larger (eye distance 68.5 px vs 63.0 px) at the
  same eye height (y≈120), so the swapper should align with `faceshifter256`, not `ffhq256`, when it
  feeds FaceShifter; `ffhq256`'s own 19:237 sub-crop would show ArcFace a face ~9 % too small.
- `gpen512`: GPEN's `face_enhancement.py` template (112 square template, inner padding 0.25, 512).
- The community ONNX models' templates, under the names FaceFusion's `face_helper` gives them:
  `arcface_112_v2` (= `arcface112`, insightface's `arcface_dst`), `arcface_112_v1` (insightface's older
  frontal template, `src3` of its five-pose set), `arcface_128` (`arcface_dst` shifted 8 px right on a
  128 canvas, insightface's `estimate_norm` at image_size 128: inswapper, hyperswap, GPEN-BFR-256) and
  `ffhq_512` (= `ffhq512`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from shared.errors import InvalidInput
from shared.faces.types import Face, check_bgr

_ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)
_ARCFACE_112_V1 = np.array([[39.7300, 51.1380], [72.2700, 51.1380], [56.0000, 68.4930],
                            [42.4630, 87.0100], [69.5370, 87.0100]], np.float64)
_FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935],
                      [201.26117, 371.41043], [313.08905, 371.15118]], np.float64)

TEMPLATES: dict[str, tuple[int, np.ndarray]] = {
    "arcface112": (112, _ARCFACE_112),
    "ffhq256": (256, _FFHQ_512 * (256 / 512)),
    "ffhq384": (384, _FFHQ_512 * (384 / 512)),
    "ffhq512": (512, _FFHQ_512),
    "ffhq768": (768, _FFHQ_512 * (768 / 512)),
    "ffhq1024": (1024, _FFHQ_512 * (1024 / 512)),
    "faceshifter256": (256, ((_ARCFACE_112 - 56.0) * 0.85 + 56.0) * (256 / 112)),
    "gpen512": (512, (_ARCFACE_112 + 112 * 0.25) * (512 / (112 * 1.5))),
    "arcface_112_v1": (112, _ARCFACE_112_V1),
    "arcface_112_v2": (112, _ARCFACE_112),
    "arcface_128": (128, _ARCFACE_112 + (8.0, 0.0)),
    "ffhq_512": (512, _FFHQ_512),
}

# FaceShifter computes its identity embedding on this sub-crop of the 256 crop, resized to 112.
FACESHIFTER_IDENTITY_SLICE = slice(19, 237)

DOWNSCALE_FIRST_BELOW = 0.75  # warps that shrink more than this go through INTER_AREA first (no aliasing)


@dataclass(frozen=True)
class AlignedFace:
    """A canonical face crop; `matrix` maps original image coordinates to crop coordinates."""
    crop: np.ndarray = field(repr=False)
    matrix: np.ndarray
    template: str
    size: int

    @property
    def inverse(self) -> np.ndarray:
        """2×3 matrix from crop coordinates back to the original image."""
        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per original pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def to_image(self, points: np.ndarray) -> np.ndarray:
        return apply_affine(self.inverse, points)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return apply_affine(self.matrix, points)


def template_points(template: str) -> tuple[int, np.ndarray]:
    """(crop size, 5×2 template points) for a template name."""
    try:
        size, points = TEMPLATES[template]
    except KeyError:
        raise InvalidInput(f"unknown alignment template {template!r}; choose one of {', '.join(TEMPLATES)}") from None
    return size, points.copy()


def similarity_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama) mapping `source` points onto `target`, as 2×3."""
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2 or len(source) < 2:
        raise InvalidInput(f"need matching N×2 point sets (N ≥ 2), got {source.shape} and {target.shape}")
    mean_s, mean_t = source.mean(0), target.mean(0)
    src, dst = source - mean_s, target - mean_t
    var_s = (src ** 2).sum() / len(src)
    if var_s < 1e-12:
        raise InvalidInput("landmarks are degenerate (all at one point)")
    cov = dst.T @ src / len(src)
    u, singular, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) >= 0 else -1.0])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / var_s
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mean_t - scale * rotation @ mean_s
    return matrix


def align_face(image: np.ndarray, face_or_landmarks5: Face | np.ndarray, template: str = "ffhq512",
               border: int = cv2.BORDER_REFLECT_101, size: int | None = None) -> AlignedFace:
    """Warp the face onto a template; the crop is `size`×`size` BGR uint8. `size` renders the template's
    framing at another side (a network of another resolution); by default the template's own."""
    image = check_bgr(image)
    landmarks = face_or_landmarks5.landmarks5 if isinstance(face_or_landmarks5, Face) else face_or_landmarks5
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (5, 2) or not np.all(np.isfinite(landmarks)):
        raise InvalidInput(f"landmarks5 must be a finite 5×2 array, got shape {landmarks.shape}")
    template_size, points = template_points(template)
    if size is None:
        size = template_size
    matrix = similarity_matrix(landmarks, points * (size / template_size))
    crop = warp_to_crop(image, matrix, size, border)
    return AlignedFace(crop=crop, matrix=matrix, template=template, size=size)


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int, border: int = cv2.BORDER_REFLECT_101) -> np.ndarray:
    """`cv2.warpAffine` that first area-downsamples the covered region when the warp shrinks a lot."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale >= DOWNSCALE_FIRST_BELOW:
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    footprint = apply_affine(cv2.invertAffineTransform(matrix), corners)
    height, width = image.shape[:2]
    x0, y0 = np.clip(np.floor(footprint.min(0)).astype(int) - 2, 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(footprint.max(0)).astype(int) + 2, [x0 + 1, y0 + 1], [width, height])
    region = image[y0:y1, x0:x1]
    new_w, new_h = max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))
    small = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
    fx, fy = new_w / region.shape[1], new_h / region.shape[0]
    adjusted = np.empty((2, 3))
    adjusted[:, 0] = matrix[:, 0] / fx
    adjusted[:, 1] = matrix[:, 1] / fy
    adjusted[:, 2] = matrix[:, :2] @ np.array([x0, y0], np.float64) + matrix[:, 2]
    return cv2.warpAffine(small, adjusted, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2×3 matrix to N×2 points."""
    points = np.asarray(points, np.float64)
    return points @ np.asarray(matrix, np.float64)[:, :2].T + np.asarray(matrix, np.float64)[:, 2]
