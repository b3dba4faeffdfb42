"""Real-ESRGAN x4plus as a face restorer and as the whole-image upscaler (BSD-3, no download).

Face restoration: a square window around the face oval is aligned at the face's own resolution
(at most MAX_WORK_SIZE pixels), super-resolved ×4 by a network trained on blurred, noisy and
JPEG-compressed inputs, and area-reduced to the face's size: a soft or blocky face comes back clean
and sharp. Reducing the face further before the network would be cheaper but loses identity
(astronaut face, 126-px window: SFace cosine to the original 0.88 at 48 px, 0.95 at 64, 0.98 at 96).
The network costs ≈0.3 ms per input pixel on one core, hence the cap: larger faces are restored at
4·MAX_WORK_SIZE pixels and scaled up to their size.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from services.enhancer.engines import REGISTRY
from shared import realesrgan
from shared.engines import Device
from shared.faces import AlignedFace, Face, similarity_matrix, template_points, warp_to_crop
from shared.stage import StageContext
from shared.weights import ModelStore

INFO = REGISTRY.info("realesrgan")

TEMPLATE = "ffhq512"
# The restoration window inside the ffhq512 crop: forehead to chin and cheek to cheek, without the
# hair and background that make up the rest of the 512 crop (44 % fewer pixels through the network).
WINDOW_ORIGIN, WINDOW_SIZE = 64.0, 384.0
# 88 → 1.9 s per face on one core (bench/enhancer.py; the budget is 2.5 s), restored at up to 352 px.
MAX_WORK_SIZE = 88


def window_points(size: int) -> np.ndarray:
    """The ffhq five-point template placed in a size×size crop of the restoration window."""
    _, points = template_points(TEMPLATE)
    return (points - WINDOW_ORIGIN) * (size / WINDOW_SIZE)


def native_window_size(face: Face) -> float:
    """Side of the restoration window in image pixels (crop pixels per image pixel = 1)."""
    matrix = similarity_matrix(face.landmarks5, window_points(int(WINDOW_SIZE)))
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    return WINDOW_SIZE / scale


def align(image: np.ndarray, face: Face) -> tuple[AlignedFace, int]:
    """The network's input (the restoration window at the face's own resolution, at most
    MAX_WORK_SIZE pixels) and the size to paste back at (native, at most 4× the input)."""
    native = max(16, round(native_window_size(face)))
    work = min(native, MAX_WORK_SIZE)
    matrix = similarity_matrix(face.landmarks5, window_points(work))
    aligned = AlignedFace(crop=warp_to_crop(image, matrix, work), matrix=matrix, template=f"{TEMPLATE}-window",
                          size=work)
    return aligned, min(native, 4 * work)


def restore(crop: np.ndarray, paste_size: int, model: realesrgan.RealESRGANx4 | None = None) -> np.ndarray:
    """Aligned crop → ×4 super-resolved → resized to the paste size (area-reduced: no aliasing)."""
    enlarged = realesrgan.upscale_x4(crop, model=model)
    if enlarged.shape[0] == paste_size:
        return enlarged
    interpolation = cv2.INTER_AREA if enlarged.shape[0] > paste_size else cv2.INTER_CUBIC
    return cv2.resize(enlarged, (paste_size, paste_size), interpolation=interpolation)


class RealESRGANEngine:
    """The engine on the shared interface: the packaged x4plus network (shared.realesrgan), no model store."""
    info = INFO

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "RealESRGANEngine":
        return cls()

    def align(self, image: np.ndarray, face: Face) -> tuple[AlignedFace, int]:
        return align(image, face)

    def run_batch(self, items: list[tuple[np.ndarray, int]], ctx: StageContext) -> list[np.ndarray]:
        """(aligned crop, paste size) pairs → restored crops; one face at a time (the ncnn net is not batched)."""
        return [restore(crop, size) for crop, size in items]

    def provenance(self) -> list[dict]:
        """The weight files used, as every report lists them."""
        return [w.record().public() for w in realesrgan.WEIGHTS]

    def records(self) -> dict:
        """No model-store file: the packaged files' declared licences decide."""
        return {}
