"""The realism development set: real photographs (README.md here: source and licence of each) and the
defects and variants made from them by code (`make_variants.py` uses the same functions).

    from tests.data.realism import photo, PHOTOS, paint_teeth, draw_strands, blur_face, shift_face_tone
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from shared.images import decode_image

REALISM_DIR = Path(__file__).resolve().parent
DATA_DIR = REALISM_DIR.parent

# name → (file, facts used to pick pairs); every file's source and licence are in README.md
PHOTOS: dict[str, dict] = {
    "astronaut": {"file": "../images/portrait_astronaut.jpg", "sex": "f", "skin": "light", "mouth": "teeth",
                  "tags": ("fringe",)},
    "hopper": {"file": "../images/portrait_hopper.jpg", "sex": "f", "skin": "light", "mouth": "closed",
               "tags": ("glasses", "hat")},
    "gluesenkamp_perez": {"file": "gluesenkamp_perez.jpg", "sex": "f", "skin": "light", "mouth": "teeth",
                          "tags": ("fringe",)},
    "matsui": {"file": "matsui.jpg", "sex": "f", "skin": "light", "mouth": "teeth", "tags": ("fringe",)},
    "ocasio_cortez": {"file": "ocasio_cortez.jpg", "sex": "f", "skin": "light", "mouth": "closed", "tags": ()},
    "scholten": {"file": "scholten.jpg", "sex": "f", "skin": "light", "mouth": "teeth", "tags": ("glasses",)},
    "blunt_rochester": {"file": "blunt_rochester.jpg", "sex": "f", "skin": "dark", "mouth": "teeth", "tags": ()},
    "sewell": {"file": "sewell.jpg", "sex": "f", "skin": "dark", "mouth": "teeth", "tags": ()},
    "sykes": {"file": "sykes.jpg", "sex": "f", "skin": "dark", "mouth": "teeth", "tags": ("glasses",)},
    "clyburn": {"file": "clyburn.jpg", "sex": "m", "skin": "dark", "mouth": "teeth", "tags": ("glasses",)},
    "obama": {"file": "obama.jpg", "sex": "m", "skin": "dark", "mouth": "teeth", "tags": ("upper-body",)},
    "khanna": {"file": "khanna.jpg", "sex": "m", "skin": "medium", "mouth": "teeth", "tags": ()},
    "casar": {"file": "casar.jpg", "sex": "m", "skin": "medium", "mouth": "teeth", "tags": ("beard",)},
    "biden": {"file": "biden.jpg", "sex": "m", "skin": "light", "mouth": "closed", "tags": ("full-body",)},
    # heads turned from the camera (three-quarter views, as shop photos often are), named by bioguide id
    "c001035": {"file": "c001035.jpg", "sex": "f", "skin": "light", "mouth": "teeth", "tags": ("turned",)},
    "c001130": {"file": "c001130.jpg", "sex": "f", "skin": "dark", "mouth": "teeth", "tags": ("turned",)},
    "c001127": {"file": "c001127.jpg", "sex": "f", "skin": "dark", "mouth": "teeth", "tags": ("turned",)},
    "s001218": {"file": "s001218.jpg", "sex": "f", "skin": "light", "mouth": "teeth", "tags": ("turned",)},
    "l000397": {"file": "l000397.jpg", "sex": "f", "skin": "light", "mouth": "teeth", "tags": ("turned",)},
    "h001095": {"file": "h001095.jpg", "sex": "m", "skin": "dark", "mouth": "teeth", "tags": ("turned",)},
    "f000459": {"file": "f000459.jpg", "sex": "m", "skin": "light", "mouth": "teeth", "tags": ("turned",)},
    "g000559": {"file": "g000559.jpg", "sex": "m", "skin": "light", "mouth": "teeth", "tags": ("turned",)},
    "b001257": {"file": "b001257.jpg", "sex": "m", "skin": "light", "mouth": "teeth", "tags": ("turned",)},
}


@lru_cache(maxsize=32)
def _photo(name: str) -> np.ndarray:
    path = (REALISM_DIR / PHOTOS[name]["file"]).resolve()
    return decode_image(path.read_bytes()).pixels


def photo(name: str) -> np.ndarray:
    """A development-set photograph, BGR uint8 (a fresh copy)."""
    return _photo(name).copy()


# ---------------------------------------------------------------------------------------------- defects
# Each takes a BGR image and the face's (478, 2) mesh in image pixels and returns a new image.

def _fill(shape, polygon) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon)).astype(np.int32)], 1)
    return mask.astype(bool)


def _outer_lips(mesh: np.ndarray) -> np.ndarray:
    from shared.faces import mesh_topology
    return mesh[mesh_topology()["lips_outer"][0]]


def paint_teeth(image: np.ndarray, mesh: np.ndarray, share: float = 0.35) -> np.ndarray:
    """Teeth (off-white blocks with grey gaps) painted across the middle of the mouth, covering about
    `share` of the outer-lip polygon: what a smiling source leaves inside closed lips."""
    out = image.copy()
    lips = _outer_lips(mesh)
    mouth = _fill(image.shape, lips)
    left, right = mesh[61], mesh[291]  # mouth corners
    centre = (mesh[13] + mesh[14]) / 2.0  # between the lips
    width = float(np.linalg.norm(right - left))
    axis = (right - left) / width
    normal = np.array([-axis[1], axis[0]])
    area = mouth.sum()
    half_height = max(1.0, share * area / (0.8 * width) / 2.0)
    teeth = np.zeros(image.shape[:2], np.uint8)
    count = 8
    for k in range(count):
        a = -0.4 * width + k * 0.8 * width / count
        b = a + 0.8 * width / count * 0.88
        corners = [centre + a * axis - half_height * normal, centre + b * axis - half_height * normal,
                   centre + b * axis + half_height * normal, centre + a * axis + half_height * normal]
        cv2.fillPoly(teeth, [np.round(np.array(corners)).astype(np.int32)], 1)
    teeth = teeth.astype(bool) & mouth
    gaps = _fill(image.shape, [centre - 0.4 * width * axis - half_height * normal,
                               centre + 0.4 * width * axis - half_height * normal,
                               centre + 0.4 * width * axis + half_height * normal,
                               centre - 0.4 * width * axis + half_height * normal]) & mouth & ~teeth
    out[gaps] = (90, 90, 95)
    out[teeth] = (215, 225, 232)
    return out


def draw_strands(image: np.ndarray, mesh: np.ndarray, count: int = 9, color=(28, 30, 36),
                 reach: float = 0.85) -> np.ndarray:
    """Dark hair strands (curved lines) drawn across the forehead from the top of the face oval, `reach`
    of the way down to the brows: a source's fringe warped onto the target."""
    out = image.copy()
    rng = np.random.default_rng(7)
    top, chin = mesh[10], mesh[152]
    height = float(np.linalg.norm(chin - top))
    down = (chin - top) / height
    across = np.array([-down[1], down[0]])
    width = float(np.linalg.norm(mesh[454] - mesh[234]))
    thickness = max(1, int(round(width / 60)))
    brow_level = float(np.mean(mesh[[105, 334]] @ down))
    top_level = float(top @ down)
    length = (brow_level - top_level) * reach
    for k in range(count):
        start = top + (k - (count - 1) / 2) * width * 0.5 / count * across
        bend = rng.uniform(-0.15, 0.15) * width
        points = [start + t * length * down + bend * t * t * across for t in np.linspace(0, 1, 12)]
        cv2.polylines(out, [np.round(np.array(points)).astype(np.int32)], False, color, thickness, cv2.LINE_AA)
    return out


def face_oval_weight(image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    from shared.faces import face_oval_mask
    return face_oval_mask(mesh, image.shape[:2])


def blur_face(image: np.ndarray, mesh: np.ndarray, sigma_share: float = 0.012) -> np.ndarray:
    """The face (soft mesh oval) blurred by σ = `sigma_share` × face width: a pasted face softer than
    the photo (an upscaled small source)."""
    width = float(np.linalg.norm(mesh[454] - mesh[234]))
    blurred = cv2.GaussianBlur(image, (0, 0), max(0.8, sigma_share * width))
    weight = face_oval_weight(image, mesh)[:, :, None]
    return np.clip(image * (1 - weight) + blurred * weight + 0.5, 0, 255).astype(np.uint8)


def shift_face_tone(image: np.ndarray, mesh: np.ndarray, delta_lab=(-6.0, 6.0, 5.5)) -> np.ndarray:
    """The face (soft mesh oval) moved by `delta_lab` in CIELAB (default ΔE76 ≈ 10.1), neck untouched:
    a source whose tone was not matched to the body."""
    from shared.faces import bgr_to_lab, lab_to_bgr
    lab = bgr_to_lab(image)
    weight = face_oval_weight(image, mesh)[:, :, None]
    return lab_to_bgr(lab + weight * np.asarray(delta_lab, np.float32))


def jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    """The image through a JPEG round trip: a clean result still differs from its input by this much."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def crude_swap(target: np.ndarray, target_face, target_mesh: np.ndarray, source: np.ndarray, source_face) -> np.ndarray:
    """The source face warped onto the target by the similarity of their five landmarks and blended in
    the target's soft face oval: a cheap swap that moves identity (for the identity figures' tests)."""
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(source_face.landmarks5, np.float32),
                                            np.asarray(target_face.landmarks5, np.float32))
    warped = cv2.warpAffine(source, matrix, (target.shape[1], target.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    weight = face_oval_weight(target, target_mesh)[:, :, None]
    return np.clip(target * (1 - weight) + warped * weight + 0.5, 0, 255).astype(np.uint8)


def draw_dot(image: np.ndarray, mesh: np.ndarray, radius_share: float = 0.01, color=(40, 45, 60)) -> np.ndarray:
    """A small dark dot (a mole) in the middle of the forehead, `radius_share` × face width."""
    out = image.copy()
    width = float(np.linalg.norm(mesh[454] - mesh[234]))
    centre = (mesh[10] + mesh[9]) / 2.0
    cv2.circle(out, tuple(int(round(v)) for v in centre), max(1, int(round(radius_share * width))), color, -1,
               cv2.LINE_AA)
    return out
