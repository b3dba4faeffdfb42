"""Face detection with five landmarks: YuNet over a scale pyramid, confirmed on an upright crop.

Why three steps:
1. A scale pyramid (tiled where a level is large) finds candidates from about 40 px wide in big
   full-body canvases up to full-frame portraits: YuNet finds faces down to ~13 px in its input
   (reliably from ~20 px), so the finest level makes `min_face_px` 20 px, and coarser levels halve
   it until the whole image fits in ~640 px. Searching coarse to fine lets a caller that only wants
   the largest face stop at the first level that finds one (`exhaustive=False`); the fine levels
   are where the time goes on big photos (YuNet costs ~80 ns per input pixel on one core).
2. YuNet finds turned faces but places its five points as if the face were upright (tens of pixels
   off at 45°), and its score does not tell which way is up. MediaPipe's BlazeFace eye keypoints do
   follow in-plane rotation, so they measure the roll.
3. Each candidate is re-detected on a crop rotated upright and scaled to a canonical face size. That
   gives accurate points for small and turned faces alike, and a candidate that is not confirmed there
   is dropped (this removes most false positives).
When nothing is found at all, the search is retried on a contrast-equalised copy (over- and
under-exposed photos), then on copies turned by ±45°. YuNet itself finds most faces turned up to
±60°; the turned copies catch the rest.

Cost follows a bound, not the canvas: the finest pyramid level has at most SEARCH_MAX_PIXELS and the
retries run on a copy of at most RETRY_MAX_PIXELS, so a huge canvas (a 6300×6300 PNG of zeros is
116 kB) costs about what a 4-megapixel photo does; a canvas without any contrast is answered at once;
every level checks the step's time budget (`shared.budget`). Faces narrower than about 20 px at that
bound (≈ 50 px on a 24-megapixel canvas, 63 px on a 40-megapixel one) are not searched for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from shared.budget import check_time_budget
from shared.errors import InvalidInput
from shared.faces import packaged_models
from shared.faces.align import apply_affine
from shared.faces.types import Face, check_bgr

DEFAULT_MIN_SCORE = 0.6
DEFAULT_MIN_FACE_PX = 40
DETECTOR_MIN_FACE_PX = 20  # YuNet finds faces from ~13 px; 20 px keeps washed-out and blurred ones
COARSE_LONG_SIDE = 640  # the coarsest pyramid level fits the image into this
SMALLEST_LEVEL_PX = 160  # no level is smaller: a face filling the frame is still found there
TILE_SIDE = 1280  # levels larger than this run in overlapping tiles
TILE_OVERLAP = 128  # > 2× the largest face a fine level is there to find
CANDIDATE_SCORE = 0.45  # pyramid threshold; the confirmation pass applies min_score
REFINE_FACE_PX = 96  # face width in the confirmation crop (YuNet's points are ~2 % of the face anyway)
REFINE_CROP_PX = 224
ROLL_CROP_PX = 192
RETRY_ANGLES = (45.0, -45.0)
FLIP_MARGIN = 0.02  # the half-turned crop must score this much higher to say the face is upside down
CLAHE_CLIP = 2.0
DUPLICATE_IOU = 0.35
SEARCH_MAX_PIXELS = 4_000_000  # the finest pyramid level is never larger (YuNet: ~0.3 s per 4 MP on one core)
RETRY_MAX_PIXELS = 2_000_000  # the equalised and turned retries search a copy (and levels) at most this large
FLAT_RANGE = 4  # grey levels: a copy whose pixels all lie within this range shows no face at all


@dataclass(frozen=True)
class _Candidate:
    cx: float
    cy: float
    size: float  # max(w, h) of the candidate box, original pixels


def detect_faces(image_bgr: np.ndarray, min_score: float | None = None, min_face_px: float | None = None, *,
                 exhaustive: bool = True) -> list[Face]:
    """All faces in the image, sorted left to right, in original coordinates.

    `min_face_px` is the smallest face width searched for (smaller faces may still be returned);
    `exhaustive=False` stops at the first pyramid level (coarsest first) that finds a face: faces
    left to the finer levels are smaller, so this is enough when only the largest face is wanted.
    """
    image = check_bgr(image_bgr)
    min_score = DEFAULT_MIN_SCORE if min_score is None else float(min_score)
    min_face_px = DEFAULT_MIN_FACE_PX if min_face_px is None else float(min_face_px)
    if not 0.0 < min_score <= 1.0:
        raise InvalidInput(f"min_score must be in (0, 1], got {min_score}")
    if not min_face_px > 0:
        raise InvalidInput(f"min_face_px must be positive, got {min_face_px}")

    if _flat(image):
        return []
    faces = _search(image, image, None, min_score, min_face_px, exhaustive)
    if faces:
        return sorted(faces, key=lambda f: f.center[0])
    # the retries work on a bounded copy (made only now: a large photo's costs a resize of every pixel);
    # `back` maps its coordinates to the image's
    small, back = _bounded_copy(image, RETRY_MAX_PIXELS)
    small_min_face_px = min_face_px / max(back[0, 0], back[1, 1])
    # washed-out or very dark photos: equalise local contrast, search and confirm there
    equalised = equalise_contrast(small)
    faces = [_transformed(f, back) for f in
             _search(equalised, equalised, None, min_score, small_min_face_px, exhaustive, RETRY_MAX_PIXELS)]
    if not faces:
        for angle in RETRY_ANGLES:
            rotated, to_small = _rotate_expanded(small, angle)
            to_original = back[:, :2] @ to_small  # `back` only scales
            faces = _search(image, rotated, to_original, min_score, small_min_face_px, exhaustive, RETRY_MAX_PIXELS)
            if faces:
                break
    return sorted(faces, key=lambda f: f.center[0])


def _flat(image: np.ndarray) -> bool:
    """True for an image with no contrast to find a face in (its grey levels span at most FLAT_RANGE),
    judged as on the retries' bounded copy, but reduced by a whole factor (OpenCV's fast area path)."""
    height, width = image.shape[:2]
    factor = math.ceil(math.sqrt(height * width / RETRY_MAX_PIXELS))
    if factor >= 2:
        image = cv2.resize(image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    return int(np.ptp(image)) <= FLAT_RANGE


def _bounded_copy(image: np.ndarray, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The image, or an area-averaged copy of at most `max_pixels`, and the 2×3 matrix back to the image."""
    height, width = image.shape[:2]
    if height * width <= max_pixels:
        return image, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    small = downscale(image, math.sqrt(max_pixels / (height * width)))
    return small, np.array([[width / small.shape[1], 0.0, 0.0], [0.0, height / small.shape[0], 0.0]])


def _transformed(face: Face, matrix: np.ndarray) -> Face:
    """A face found on a scaled copy, in the coordinates `matrix` (a scaling) maps to."""
    sx, sy = matrix[0, 0], matrix[1, 1]
    x, y, w, h = face.box
    return Face(box=(float(x * sx), float(y * sy), float(w * sx), float(h * sy)),
                landmarks5=apply_affine(matrix, face.landmarks5).astype(np.float32), score=face.score, roll=face.roll)


def equalise_contrast(image: np.ndarray) -> np.ndarray:
    """CLAHE on the lightness channel: restores facial contrast in over- or under-exposed photos."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def pyramid_scales(height: int, width: int, min_face_px: float, max_pixels: int = SEARCH_MAX_PIXELS) -> list[float]:
    """Scales to run the detector at, coarse to fine; the finest level has at most `max_pixels`."""
    long_side = max(height, width)
    finest = min(1.0, max(DETECTOR_MIN_FACE_PX / min_face_px, SMALLEST_LEVEL_PX / long_side),
                 math.sqrt(max_pixels / (height * width)))
    scales = [finest]
    while long_side * scales[-1] > COARSE_LONG_SIDE:
        scales.append(scales[-1] / 2.0)
    return scales[::-1]


def _search(image: np.ndarray, searched: np.ndarray, to_original: np.ndarray | None, min_score: float,
            min_face_px: float, exhaustive: bool, max_pixels: int = SEARCH_MAX_PIXELS) -> list[Face]:
    """Pyramid over `searched` (the image or a turned copy), confirmation on `image`."""
    faces: list[Face] = []
    scales = pyramid_scales(searched.shape[0], searched.shape[1], min_face_px, max_pixels)
    # every level is reduced from the finest one, not from the photo: one pass over a large photo, not one per level
    finest = downscale(searched, scales[-1])
    for scale in scales:
        check_time_budget()
        candidates = _detect_level(searched.shape, downscale(finest, scale / scales[-1]))
        if to_original is not None:
            candidates = [_map_candidate(c, to_original) for c in candidates]
        candidates = [c for c in candidates if not any(_contains(f, c) for f in faces)]
        for candidate in candidates:
            face = _confirm(image, candidate, min_score)
            if face is not None:
                faces = _merge(faces, face)
        if faces and not exhaustive:
            break
    return faces


def _detect_level(shape: tuple[int, ...], level: np.ndarray) -> list[_Candidate]:
    """YuNet candidates on one pyramid level, in the coordinates of an image of `shape` (the level's source)."""
    rows = []
    for x0, y0, tile in _tiles(level):
        for row in _yunet(tile, CANDIDATE_SCORE):
            rows.append((row[0] + x0, row[1] + y0, row[2], row[3], row[14]))
    if not rows:
        return []
    keep = cv2.dnn.NMSBoxes([list(map(float, r[:4])) for r in rows], [float(r[4]) for r in rows],
                            CANDIDATE_SCORE, DUPLICATE_IOU)
    out = []
    for i in np.asarray(keep).reshape(-1):
        x, y, w, h, _ = rows[int(i)]
        real_x, real_y = shape[1] / level.shape[1], shape[0] / level.shape[0]
        out.append(_Candidate(cx=(x + w / 2) * real_x, cy=(y + h / 2) * real_y, size=max(w * real_x, h * real_y)))
    return out


def downscale(image: np.ndarray, scale: float) -> np.ndarray:
    """Area-average resize, made cheap: OpenCV's fractional area path costs 40–70 ms on a 6-MP photo.
    For factors of 2 and more its fast integer-factor path comes first, then a small bilinear step to the
    exact size (3× faster, the same to within ~2 grey levels). Above half size a bilinear resize alone
    reads every source pixel with some weight and is 5–7× faster (0.1–0.15 grey levels from the area
    resize on a photo: there is little detail between the two Nyquist limits to alias)."""
    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    factor = int(1.0 / scale)
    if factor < 2:
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    coarse = cv2.resize(image, (max(1, image.shape[1] // factor), max(1, image.shape[0] // factor)),
                        interpolation=cv2.INTER_AREA)
    return cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR)


def _tiles(level: np.ndarray):
    height, width = level.shape[:2]
    if max(height, width) <= TILE_SIDE:
        yield 0, 0, level
        return
    step = TILE_SIDE - TILE_OVERLAP
    for y0 in range(0, max(1, height - TILE_OVERLAP), step):
        for x0 in range(0, max(1, width - TILE_OVERLAP), step):
            yield x0, y0, level[y0:y0 + TILE_SIDE, x0:x0 + TILE_SIDE]


def _yunet(image: np.ndarray, threshold: float) -> np.ndarray:
    detector = packaged_models.yunet()
    detector.setInputSize((image.shape[1], image.shape[0]))
    detector.setScoreThreshold(threshold)
    _, rows = detector.detect(np.ascontiguousarray(image))
    if rows is None:
        return np.zeros((0, 15), np.float32)
    # degenerate inputs (e.g. 8 px tall) give NaN or absurd rows: keep real boxes centred in the image
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    cx, cy = rows[:, 0] + rows[:, 2] / 2, rows[:, 1] + rows[:, 3] / 2
    sane = (rows[:, 2] >= 2) & (rows[:, 3] >= 2) & (cx >= 0) & (cy >= 0) & (cx < image.shape[1]) & (cy < image.shape[0])
    return rows[sane]


def _confirm(image: np.ndarray, candidate: _Candidate, min_score: float) -> Face | None:
    """Re-detect a candidate on a crop turned upright and scaled to REFINE_FACE_PX; None if not there.

    An upside-down face (a handstand, a model lying down) is found by YuNet and BlazeFace as if it were
    upright, so the crop is also tried turned half round, and the orientation YuNet scores higher wins."""
    measured = _measure_roll(image, candidate)
    zoom = REFINE_FACE_PX / max(candidate.size, 1.0)
    found = None
    for roll in (measured, measured + 180.0 if measured <= 0 else measured - 180.0):
        matrix = cv2.getRotationMatrix2D((candidate.cx, candidate.cy), roll, zoom)
        matrix[:, 2] += (REFINE_CROP_PX / 2 - candidate.cx, REFINE_CROP_PX / 2 - candidate.cy)
        crop = cv2.warpAffine(image, matrix, (REFINE_CROP_PX, REFINE_CROP_PX), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        rows = _yunet(crop, min_score)
        if len(rows) == 0:
            continue
        centers = rows[:, :2] + rows[:, 2:4] / 2
        distance = np.linalg.norm(centers - REFINE_CROP_PX / 2, axis=1)
        best = int(np.argmin(distance))
        if distance[best] > 0.5 * REFINE_FACE_PX:
            continue
        if found is None or rows[best, 14] > found[0][14] + FLIP_MARGIN:
            found = (rows[best], centers[best], matrix, roll)
    if found is None:
        return None
    row, center, matrix, roll = found
    back = cv2.invertAffineTransform(matrix)
    landmarks = apply_affine(back, row[4:14].reshape(5, 2))
    cx, cy = apply_affine(back, center[None])[0]
    w, h = row[2] / zoom, row[3] / zoom
    return Face(box=(float(cx - w / 2), float(cy - h / 2), float(w), float(h)),
                landmarks5=landmarks.astype(np.float32), score=float(row[14]), roll=float(roll))


def _measure_roll(image: np.ndarray, candidate: _Candidate) -> float:
    """In-plane roll from BlazeFace's eye keypoints on an unrotated crop; 0 when it sees no face."""
    side = 2.2 * candidate.size
    zoom = ROLL_CROP_PX / side
    matrix = np.array([[zoom, 0, ROLL_CROP_PX / 2 - candidate.cx * zoom],
                       [0, zoom, ROLL_CROP_PX / 2 - candidate.cy * zoom]], np.float64)
    crop = cv2.warpAffine(image, matrix, (ROLL_CROP_PX, ROLL_CROP_PX), flags=cv2.INTER_AREA if zoom < 1
                          else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    result = packaged_models.mediapipe_face_detector().process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    if not result.detections:
        return 0.0

    def off_center(detection) -> float:
        box = detection.location_data.relative_bounding_box
        return abs(box.xmin + box.width / 2 - 0.5) + abs(box.ymin + box.height / 2 - 0.5)

    nearest = min(result.detections, key=off_center)
    keypoints = nearest.location_data.relative_keypoints  # 0: subject's right eye, 1: left eye
    dx, dy = keypoints[1].x - keypoints[0].x, keypoints[1].y - keypoints[0].y
    return math.degrees(math.atan2(dy, dx))


def _merge(faces: list[Face], face: Face) -> list[Face]:
    """Add `face` unless it duplicates one already found (the higher score wins)."""
    for i, other in enumerate(faces):
        if _iou(other.box, face.box) > DUPLICATE_IOU:
            if face.score > other.score:
                faces = faces[:i] + [face] + faces[i + 1:]
            return faces
    return faces + [face]


def _contains(face: Face, candidate: _Candidate) -> bool:
    """A candidate already confirmed (its centre inside a found face of similar size)."""
    x, y, w, h = face.box
    similar = 0.5 < candidate.size / max(w, h) < 2.0
    return similar and x <= candidate.cx <= x + w and y <= candidate.cy <= y + h


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _rotate_expanded(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The image turned by `angle` degrees on a canvas large enough to keep every pixel, and the
    2×3 matrix from the turned canvas back to the original."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(math.ceil(width * cos + height * sin)), int(math.ceil(width * sin + height * cos))
    matrix[:, 2] += (new_w / 2 - width / 2, new_h / 2 - height / 2)
    rotated = cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return rotated, cv2.invertAffineTransform(matrix)


def _map_candidate(candidate: _Candidate, matrix: np.ndarray) -> _Candidate:
    cx, cy = apply_affine(matrix, np.array([[candidate.cx, candidate.cy]]))[0]
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))  # 1 for a turn; a turned, scaled copy's factor
    return _Candidate(cx=float(cx), cy=float(cy), size=candidate.size * scale)
