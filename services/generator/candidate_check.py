"""Is a generated portrait a clean swap source? Checked on every candidate before it is shown; a failing
one is made again from its next seed (`make_checked`).

Every engine's candidates must pass what accepting one as a virtual model checks (`check_acceptable`: the
swapper's `prepare_source`, so a seller is never shown a face that cannot be kept). A diffusion candidate
must pass the stricter `check_candidate` too, where it passes when the face toolkit (YuNet detection, MediaPipe's 478-point mesh) finds:
- exactly one face (`faces`);
- large enough: at least `MIN_FACE_SHARE` of the portrait's width and at least the swapper's
  super-resolution bar (`SUPER_RESOLVE_BELOW_PX`), so the swapper uses its own pixels (`face_px`);
- whole: no more of its box outside the picture than the swapper accepts of a source (`cut`);
- frontal: eye line roll within `MAX_ROLL_DEG`; yaw as the nose tip's sideways offset from the eyes'
  midpoint over the eye distance within `MAX_YAW_RATIO`; pitch as the nose tip's height between the eye
  line and the mouth line within `PITCH_RANGE` (frontal faces sit at 0.54-0.60 on the real portraits in
  tests/data);
- eyes open: each eye's lid gap over its width (the eye aspect ratio of Soukupová & Čech 2016, on
  MediaPipe mesh points) at least `MIN_EYE_OPENNESS` (open eyes measure 0.22-0.40 there);
- no glasses (the swapper's own frame-bridge test);
- sharp: variance of the Laplacian of the face aligned to the 256-px FFHQ template at least
  `MIN_SHARPNESS` (real portraits measure 73-1289, the same blurred by σ = 1 px mostly under 45).
Thresholds are calibrated on the real portraits of tests/data/realism and tests/data/images.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from services.generator.contract import SEED_MAX

MAX_REPLACEMENTS = 6
REPLACEMENT_STRIDE = 1_000_003  # a prime above any casting's size: replacements never meet the casting's own seeds
MIN_FACE_SHARE = 0.15
MAX_ROLL_DEG = 15.0
MAX_YAW_RATIO = 0.15
PITCH_RANGE = (0.45, 0.70)
MIN_EYE_OPENNESS = 0.15
MIN_SHARPNESS = 50.0
# MediaPipe mesh indices: (upper lid, lower lid, outer corner, inner corner) of each eye
EYES = ((159, 145, 33, 133), (386, 374, 263, 362))


@dataclass
class CandidateCheck:
    """`passed` when `reasons` is empty; `measures` holds every figure measured (for the report)."""
    reasons: list[str] = field(default_factory=list)
    measures: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def public(self) -> dict:
        return {"passed": self.passed, "reasons": list(self.reasons), "measures": dict(self.measures)}


@dataclass
class Slot:
    """One candidate of one request: what to make (`render_for(seed)`: the engine's input for a seed) and
    what happened (`result` and `check` of the seed used, the seeds `rejected` before it and why)."""
    index: int
    requested_seed: int
    anchor: str | None
    render_for: Callable[[int], object]
    rejected: list[dict] = field(default_factory=list)
    result: object = None
    check: CandidateCheck | None = None
    seed: int | None = None

    def public(self) -> dict:
        """The candidate's seeds and check, as its report entry shows them."""
        return {"index": self.index, "seed": self.seed, "requested_seed": self.requested_seed, "anchor": self.anchor,
                "replaced": len(self.rejected), "rejected": self.rejected, "check": self.check.public()}


def replacement_seed(seed: int, attempt: int) -> int:
    """The seed a candidate is made from at its `attempt`-th replacement (attempt 0: the seed itself)."""
    return (seed + attempt * REPLACEMENT_STRIDE) % (SEED_MAX + 1)


def make_checked(slots: list[Slot], render: Callable[[list], list], check: Callable[[np.ndarray], CandidateCheck],
                 image_of: Callable[[object], np.ndarray]) -> None:
    """Render the slots (`render`: their `render_for` inputs → one result each, in one engine pass), check each
    result's image, and make failing ones again from their next seeds, up to MAX_REPLACEMENTS times. A slot
    still failing after the last keeps that last result with its failed check: shown with the reason, never
    silently dropped."""
    pending = list(slots)
    for attempt in range(MAX_REPLACEMENTS + 1):
        if not pending:
            return
        seeds = [replacement_seed(slot.requested_seed, attempt) for slot in pending]
        made = render([slot.render_for(seed) for slot, seed in zip(pending, seeds)])
        still = []
        for slot, seed, result in zip(pending, seeds, made):
            slot.result, slot.seed, slot.check = result, seed, check(image_of(result))
            if not slot.check.passed and attempt < MAX_REPLACEMENTS:
                slot.rejected.append({"seed": seed, "reasons": slot.check.reasons})
                still.append(slot)
        pending = still


def check_acceptable(image: np.ndarray) -> CandidateCheck:
    """What accepting the BGR uint8 portrait as a virtual model checks: the swapper's `prepare_source` (one
    face found, large enough, not cut by the border, no glasses); its refusal is the reason."""
    from services.swapper.faces import prepare_source
    from shared.errors import FaceCastError

    check = CandidateCheck()
    try:
        prepare_source(image)
    except FaceCastError as refusal:
        if refusal.retryable:
            raise
        check.reasons.append(refusal.message)
    return check


def eye_openness(mesh: np.ndarray) -> tuple[float, float]:
    """Lid gap over eye width of each eye, from a (478, 2) MediaPipe mesh."""
    values = []
    for upper, lower, outer, inner in EYES:
        width = float(np.linalg.norm(mesh[outer] - mesh[inner]))
        values.append(float(np.linalg.norm(mesh[upper] - mesh[lower])) / max(width, 1e-6))
    return values[0], values[1]


def head_pose(face) -> tuple[float, float]:
    """(yaw ratio, pitch ratio) from the five landmarks, measured in the face's upright frame."""
    points = np.asarray(face.landmarks5, np.float64)
    angle = np.deg2rad(-face.roll)
    upright = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    eyes = (points[0] + points[1]) / 2
    eye_distance = float(np.linalg.norm(points[1] - points[0]))
    nose = upright @ (points[2] - eyes)
    mouth = upright @ ((points[3] + points[4]) / 2 - eyes)
    return float(nose[0] / max(eye_distance, 1e-6)), float(nose[1] / max(mouth[1], 1e-6))


def check_candidate(image: np.ndarray) -> CandidateCheck:
    """Every check above on one BGR uint8 portrait."""
    from services.swapper.faces import GLASSES_CHECK_TEMPLATE, SOURCE_MAX_CUT, SUPER_RESOLVE_BELOW_PX, outside_fraction
    from services.swapper.occlusion import wears_glasses
    from shared.errors import NoFaceFound
    from shared.faces import align_face, detect_faces, face_mesh, sharpness

    check = CandidateCheck()
    faces = detect_faces(image)
    check.measures["faces"] = len(faces)
    if len(faces) != 1:
        check.reasons.append(f"{len(faces)} faces found; exactly one is wanted")
        return check
    face = faces[0]
    width = image.shape[1]
    min_px = max(SUPER_RESOLVE_BELOW_PX, MIN_FACE_SHARE * width)
    cut = outside_fraction(face, image.shape)
    yaw, pitch = head_pose(face)
    check.measures.update(face_px=round(face.width, 1), cut=round(cut, 3), roll=round(face.roll, 1),
                          yaw_ratio=round(yaw, 3), pitch_ratio=round(pitch, 3))
    if face.width < min_px:
        check.reasons.append(f"the face is {face.width:.0f} px wide; at least {min_px:.0f} px is wanted")
    if cut > SOURCE_MAX_CUT:
        check.reasons.append(f"{cut:.0%} of the face box is outside the picture")
    if abs(face.roll) > MAX_ROLL_DEG:
        check.reasons.append(f"the head is tilted {face.roll:.0f}°; at most ±{MAX_ROLL_DEG:.0f}°")
    if abs(yaw) > MAX_YAW_RATIO:
        check.reasons.append(f"the head is turned sideways (yaw ratio {yaw:.2f}; at most ±{MAX_YAW_RATIO})")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        check.reasons.append(f"the head is turned up or down (pitch ratio {pitch:.2f}; {PITCH_RANGE[0]}-"
                             f"{PITCH_RANGE[1]} wanted)")
    aligned = align_face(image, face, GLASSES_CHECK_TEMPLATE)
    try:
        mesh = face_mesh(aligned.crop)
    except NoFaceFound:
        check.reasons.append("the face mesh found no face in the aligned crop")
        return check
    openness = eye_openness(mesh)
    check.measures["eye_openness"] = [round(v, 3) for v in openness]
    if min(openness) < MIN_EYE_OPENNESS:
        check.reasons.append(f"an eye is closed or hidden (openness {min(openness):.2f}; at least "
                             f"{MIN_EYE_OPENNESS})")
    glasses = wears_glasses(aligned.crop, mesh)
    check.measures["glasses"] = bool(glasses)
    if glasses:
        check.reasons.append("the face wears glasses")
    sharp = sharpness(align_face(image, face, "ffhq256").crop)
    check.measures["sharpness"] = round(sharp, 1)
    if sharp < MIN_SHARPNESS:
        check.reasons.append(f"the face is blurred (sharpness {sharp:.0f}; at least {MIN_SHARPNESS:.0f})")
    return check
