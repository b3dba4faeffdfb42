"""The face record every module passes around, and the input check they share."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared.errors import UnsupportedImage

LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")


@dataclass(frozen=True)
class Face:
    """One detected face in original image coordinates.

    `landmarks5` follow YuNet's order: the subject's right eye, left eye, nose tip, right and left mouth
    corner (the subject's right eye is on the image's left). `box` is (x, y, w, h); for a face turned
    in-plane by `roll` degrees it is the face's own box (as measured upright) centred on the face,
    not the axis-aligned hull of the turned box. `roll` is the angle of the eye line, positive when
    the face is turned clockwise on screen.
    """
    box: tuple[float, float, float, float]
    landmarks5: np.ndarray = field(repr=False)
    score: float
    roll: float = 0.0

    @property
    def width(self) -> float:
        return float(self.box[2])

    @property
    def height(self) -> float:
        return float(self.box[3])

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return (x + w / 2.0, y + h / 2.0)

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    def as_dict(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4),
                "roll": round(float(self.roll), 2), "width": round(self.width, 2),
                "landmarks5": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks5]}


def check_bgr(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Refuse anything but an H×W×3 uint8 array (decode files with shared.images.decode_image first)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise UnsupportedImage(f"{what} must be an H×W×3 uint8 BGR array (decode files with "
                               f"shared.images.decode_image); got shape {shape}, dtype {dtype}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise UnsupportedImage(f"{what} is {image.shape[1]}×{image.shape[0]} pixels; at least 8×8 is needed")
    return image
