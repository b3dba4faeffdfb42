"""Putting a swapped face into the photo: tone, occluders, the blend mask, paste back, realism report.

Shared by both engines, so the learned engines get the same checks as the classical one. The face is
the target's tone and light with the engine's detail (services.swapper.blend); what covers the target
face (hair, a beard, glasses, hands, objects), its lips and mouth and its upper forehead stay the photo's
own pixels. Each face's report carries the realism figures of shared.faces.realism, a `quality`
verdict and its `warnings`. Every weight is computed in the aligned crop and pasted with
`shared.faces.paste_back`, which leaves every pixel of weight 0 byte-identical. The weight is also
clipped to the face's change box (the face box scaled by CHANGE_BOX_SCALE about its centre, turned
with the face), so nothing outside that box can change whatever the mesh does.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from services.swapper.engines import EngineOutput
from services.swapper.meshwarp import yaw_proxy
from services.swapper.faces import SourceFace, TargetFace, face_box_corners, facial_hair, lips_travel
from services.swapper.occlusion import (FRAME_REACH, bounding_slices, eyes_behind_dark_lenses, feature_mask,
                                        frame_mask, glasses_zone, keep_out_weight, lens_openings, strand_matte,
                                        wears_glasses, without_strands)
from shared.errors import InvalidInput, NoFaceFound
from services.swapper.blend import (DETAIL_GAINS, GRAIN_SIGMAS, INNER_TONE_SIGMA, SHARPNESS_TARGET, SOFTEN_SIGMAS,
                                    TONE_SIGMA, add_grain, add_lightness, borrow_texture, cover_shade_weights,
                                    eye_weight, fade_in_fill, fine_lightness, forehead_taper, inner_face_weight,
                                    lift_specks, lower_face_weight, match_grain, match_skin_colour, mouth_keep_weight,
                                    mouth_open, nostril_weight, outline_weight, smile_fold_weight, transfer_tone,
                                    unsharp_at, without_edges)
from shared.faces import (AlignedFace, Face, RealismThresholds, SharpnessMeter, apply_affine, cosine_similarity,
                          face_edge_px, face_oval_mask, grown, identity_embedding, image_face_mesh, paste_back,
                          realism_figures, realism_warnings, region_mask, seam_delta_e, warp_mask_to_image)

CHANGE_BOX_SCALE = 1.5
OVAL_ERODE = 0.5  # × face edge width: the blend reaches 0 at the face outline
OVAL_FEATHER = 0.5
OCCLUDER_MARGIN = 0.5  # × face edge width kept around occluders before the blend starts
GLASSES_MARGIN = 0.2  # × face edge width round the kept frames before the swapped face fades in
MIN_SKIN_PIXELS = 64  # fewer visible skin pixels (a face mostly covered): no colour statistics
UPSCALED_SHARPNESS = 0.75  # the sharpness ratio an upscaled portrait is brought to (the bar: 0.6)
LOW_DETAIL_RATIO = 0.75  # a source face under this share of the target face's width lacks real detail for
# it: a fresh reviewer found the astronaut's 89-px face not publishable on 128-px faces (0.7: drawn brows,
# mottled skin), borderline at 96 px (0.93), and at 0.5 those 128-px results had reported `pass`
YAW_WARN = 0.25  # yaw proxy (≈ 30°) beyond which the mesh warp stretches the far cheek
LENS_FEATHER = 0.3  # × face edge width over which the eye swapped behind a lens fades into the photo's lens
TEXTURE_SIGMA = 0.12  # × face edge width: the photo's skin texture is its lightness above a Gaussian this wide
TEXTURE_FEATHER = 0.3  # × face edge width
TEXTURE_BEFORE_GAIN = 0.5  # share of the photo's fine skin texture a face softer than the photo takes before the
# unsharp mask (a whole share moved SFace 0.02–0.03 towards the original on several pairs)
NOSE_TEXTURE_MARGIN = 0.5  # × face edge width round both noses where the photo lends no edges
NOSE_EDGE_LEVEL = 3.5  # × the photo's skin texture spread: finer detail round the noses is pores and grain
TEXTURE_WHOLE_BELOW = 0.5  # a portrait face under this share of the photo's takes the photo's skin texture whole
SKIN_COLOUR_ERODE = 1.0  # × face edge width inside the outline where the cheeks' colour match begins
SKIN_COLOUR_FEATHER = 2.0  # × face edge width over which it fades in
FRINGE_TIPS_SIGMA = 0.3  # × face edge width: a fringe's stray tips are the lightness below a Gaussian this wide
FILL_FEATHER = 0.4  # × face edge width (Gaussian σ): the brow fill fades into the re-lit portrait over this
VALID_FEATHER = 0.5  # × face edge width: the blend fades in from where the source's clean skin ends


def change_box_corners(face: Face, scale: float = CHANGE_BOX_SCALE) -> np.ndarray:
    """The 4 image-space corners of the face box scaled by CHANGE_BOX_SCALE about its centre, turned by its roll."""
    return face_box_corners(face, scale)


def change_box(face: Face, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Axis-aligned (x0, y0, x1, y1) hull of the change box, clipped to the image: outside it the
    output equals the input byte for byte."""
    corners = change_box_corners(face)
    height, width = image_shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [width, height])
    return int(x0), int(y0), int(x1), int(y1)


def _change_box_weight(face: Face, aligned: AlignedFace) -> np.ndarray:
    """1 inside the change box (in crop pixels), shrunk by a margin so bilinear pasting stays inside."""
    size = aligned.size
    polygon = apply_affine(aligned.matrix, change_box_corners(face))
    weight = np.zeros((size, size), np.uint8)
    cv2.fillPoly(weight, [np.round(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    margin = int(np.ceil(2 * max(1.0, aligned.scale)))  # two image pixels, in crop pixels
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1))
    return cv2.erode(weight, kernel).astype(np.float32)


def composite(out: np.ndarray, original: np.ndarray, target: TargetFace, swapped: EngineOutput,
              source: SourceFace, credits: dict, *, color_match: bool, blend: float,
              keep_occlusions: bool, thresholds: RealismThresholds | None = None) -> dict:
    """Blend one swapped face into `out` (in place) and return its report with its realism figures,
    `quality` ("pass"/"warn") and `warnings`; `credits` is the run's `shared.engines.licence_report`
    (the engine, its licence and commercial use as loaded).

    The weight is the face oval × where the engine's face is usable (the source's clean skin) × not
    the target's occluders and hands × not the target's lips and mouth × the forehead taper; inside
    it the face is the target's tone and light with the source's detail, at the photo's sharpness
    and grain (services.swapper.blend)."""
    aligned, mesh, size = target.aligned, target.mesh, target.aligned.size
    edge = face_edge_px(mesh)
    occluders = np.zeros((size, size), bool)
    glasses = lenses = dark_lenses = np.zeros((size, size), bool)
    strands = np.zeros((size, size), np.float32)
    sunglasses = False
    if keep_occlusions:
        others = facial_hair(aligned.crop, mesh)  # and the hands: what stays whole, with its margin
        if target.hands is not None:
            others |= target.hands
        occluders = target.covers | others
        sunglasses = any(eyes_behind_dark_lenses(aligned.crop, mesh, occluders))
        if sunglasses or wears_glasses(aligned.crop, mesh, aligned.scale):
            # The frames (and what is as dark as them: brows, tinted lenses, shadows) stay the photo's; the
            # skin they frame is swapped, and the eye and its lids inside each lens, clear of the rims. Dark
            # lenses stay whole with all round the eyes, both of them where one hides its eye (the mesh can
            # set the other eye astray behind its lens): where they end is not told from a dark skin.
            glasses = frame_mask(aligned.crop, mesh, aligned.scale)
            if sunglasses:
                dark_lenses = glasses_zone(mesh, size, FRAME_REACH)
            else:
                lenses = lens_openings(aligned.crop, mesh)
                glasses &= ~lenses
        # Strands of hair over the face stay in front as a matte, and the skin between them is swapped: kept
        # as a cover with its margin, strands over an eye kept that side of the face the photo's
        strands = strand_matte(aligned.crop, mesh, target.covers, glasses | dark_lenses, aligned.scale)
        occluders = without_strands(target.covers, strands, mesh) | others
    # The frames are outlined closely, so they need only a narrow fade (inside the lenses, over
    # LENS_FEATHER); the colour model's blobs and the dark lenses' zone get a wider margin.
    glasses_keep = (np.maximum(keep_out_weight(glasses, max(1, int(round(GLASSES_MARGIN * edge)))),
                               keep_out_weight(dark_lenses, max(1, int(round(OCCLUDER_MARGIN * edge)))))
                    * (1.0 - _feathered(lenses, max(1, int(round(LENS_FEATHER * edge))))))
    glasses = glasses | dark_lenses
    keep_out = np.maximum(keep_out_weight(occluders, max(1, int(round(OCCLUDER_MARGIN * edge)))), glasses_keep)
    occluders |= glasses | (strands > 0.5)

    usable = _feathered(swapped.valid, max(1, int(round(VALID_FEATHER * edge))))
    weight = face_oval_mask(mesh, size, OVAL_ERODE * edge, OVAL_FEATHER * edge) * usable
    # The photo's lips and mouth stay: teeth must not land in closed lips, and lips warped onto other lips
    # tear at their edges (the mesh has no points inside the mouth; tried on the development set). On a face
    # of a full-body shot, with both mouths open or both closed, only the opening stays (`lips_travel`).
    kept_mouth = mouth_keep_weight(mesh, size, edge, opening_only=lips_travel(target, source))
    weight *= (1.0 - keep_out) * (1.0 - strands) * (1.0 - kept_mouth) * forehead_taper(mesh, size)
    weight *= blend * _change_box_weight(target.face, aligned)

    crop, color_matched, detail_gain = swapped.crop, False, 0.0
    smile_on_closed = blend > 0 and smile_on_closed_mouth(source, mesh, aligned.template)
    box = bounding_slices(weight > 0)
    if box[0].stop > box[0].start:
        crop = crop.copy()
        shade, tips = cover_shade_weights(swapped.valid, swapped.mesh, size, edge)
        target_skin = (region_mask(mesh, "skin", size, 0.0) > 0.5) & ~occluders
        swapped_skin = (region_mask(swapped.mesh, "skin", size, 0.0) > 0.5) & (swapped.valid > 0.5)
        if color_match and min(int(target_skin[box].sum()), int(swapped_skin[box].sum())) >= MIN_SKIN_PIXELS:
            inner = inner_face_weight(swapped.mesh, size, edge)[box]
            # the face's sides keep the photo's shape, so their shading is the photo's: a portrait's cheek
            # turning from the light, set on a wider face, was a dark bar in front of the ear
            sides = outline_weight(mesh, size, edge)[box] * (1.0 - inner)
            # a smile's folds set on a closed mouth read as creases or a smirk: there the shading is the photo's
            folds = smile_fold_weight((mesh, swapped.mesh), size, edge)[box] if smile_on_closed else None
            crop[box] = transfer_tone(crop[box], swapped_skin[box], aligned.crop[box], target_skin[box],
                                      sigma=TONE_SIGMA * edge, inner=inner, inner_sigma=INNER_TONE_SIGMA * edge,
                                      eyes=eye_weight(swapped.mesh, size, edge)[box], photo_modelling=folds,
                                      photo_shading=sides,
                                      photo_eyes=eye_weight(mesh, size, edge)[box],
                                      shade_lift=None if shade is None else shade[box],
                                      shadow_ratio=nostril_weight(swapped.mesh, size, edge)[box],
                                      photo_nostrils=nostril_weight(mesh, size, edge)[box])
            color_matched = True
            if swapped.from_photo is not None and swapped.from_photo[box].any():  # already the photo's tone
                crop[box] = fade_in_fill(crop[box], swapped.photo_fill[box], swapped.from_photo[box],
                                         swapped.valid[box] < 0.5, FILL_FEATHER * edge)
        # Below the nose the portrait's dark specks are lifted: a shaven man's stubble, too sparse to be found
        # as a beard, set dark dots on a woman's lip and chin (the photo's grain is matched below).
        bare_lower = _feathered(target_skin & swapped_skin, max(1, int(round(TEXTURE_FEATHER * edge))))
        lower = bare_lower * lower_face_weight(mesh, size, edge)
        crop[box] = lift_specks(crop[box], lower[box], TEXTURE_SIGMA * edge)
        # A fringe's stray tips (light hair, not found as part of it) lie as grey specks on the strip of
        # forehead left between it and the brows
        if tips is not None:
            crop[box] = lift_specks(crop[box], tips[box], FRINGE_TIPS_SIGMA * edge)
        bare = _feathered(target_skin & swapped_skin & ~feature_mask(mesh, size),
                          max(1, int(round(TEXTURE_FEATHER * edge))))
        # the photo's nose wings and nostril rims are its own shape, not texture: borrowed onto a narrower
        # portrait's nose they drew a second, wider nose round it (a fresh review of turned heads: 18 of 36),
        # so round both noses the photo lends its pores and grain but not its edges
        noses = grown((region_mask(mesh, "nose", size, 0.0) > 0.5)
                      | (region_mask(swapped.mesh, "nose", size, 0.0) > 0.5),
                      max(1, int(round(NOSE_TEXTURE_MARGIN * edge))))
        photo_fine = without_edges(fine_lightness(aligned.crop, TEXTURE_SIGMA * edge), noses, (bare > 0.5) & ~noses,
                                   NOSE_EDGE_LEVEL, max(1, int(round(TEXTURE_SIGMA * edge))))
        borrowed = 0.0
        if blend > 0 and source.detail_px < target.face.width:
            # the portrait had fewer real pixels than the photo's face: its skin's fine texture, invented by
            # upscaling and crackled by the sharpness match, gives way to the photo's, in proportion to what
            # is missing and wholly from TEXTURE_WHOLE_BELOW
            borrowed = min(1.0, (1.0 - source.detail_px / target.face.width) / (1.0 - TEXTURE_WHOLE_BELOW))
            crop[box] = borrow_texture(crop[box], photo_fine[box], borrowed * bare[box], TEXTURE_SIGMA * edge)
        cheeks = (region_mask(mesh, "blush", size, 0.0) > 0.5) & target_skin & swapped_skin & (weight > 0.5)
        if color_matched and int(cheeks[box].sum()) >= MIN_SKIN_PIXELS:
            interior = face_oval_mask(mesh, size, SKIN_COLOUR_ERODE * edge, SKIN_COLOUR_FEATHER * edge)
            crop[box] = match_skin_colour(crop[box], aligned.crop[box], cheeks[box], interior[box], target_skin[box])
        inner = (face_oval_mask(mesh, size, 2 * edge, 0) > 0.5) & (weight > 0.5)
        crop[box] = match_grain(crop[box], aligned.crop[box], (target_skin & inner)[box], seed=size)
        # an upscaled portrait is not sharpened as far as the photo: what is raised there is the photo's
        # texture and super-resolution's, into a crack network (it warns low-source-detail)
        low_detail = blend > 0 and source.detail_px < LOW_DETAIL_RATIO * target.face.width
        crop, detail_gain = _at_photo_sharpness(out, original, crop, target, weight, photo_fine,
                                                texture_weight=TEXTURE_BEFORE_GAIN * (1.0 - borrowed) * bare,
                                                least=UPSCALED_SHARPNESS if low_detail else SHARPNESS_TARGET[0],
                                                skin=bare)
    paste_back(out, crop, aligned, weight, inplace=True)
    oval_area = max(1, int((face_oval_mask(mesh, size, 0, 0) > 0.5).sum()))
    embedding = identity_embedding(out, target.face)
    report = _face_report(out, original, target, weight, source, credits, color_matched,
                          occluded=float(occluders.sum()) / oval_area, result_embedding=embedding)
    report["detail_gain"] = round(float(detail_gain), 2)
    report["realism"] = realism_figures(original, out, aligned.to_image(mesh), target.face, source.embedding,
                                        result_embedding=embedding, result_mesh=_features_shown(out, target.face,
                                                                                                aligned, swapped))
    report["realism"]["occluded_fraction"] = report["occluded_fraction"]
    warnings = realism_warnings(report["realism"], thresholds)
    if blend > 0 and source.detail_px < LOW_DETAIL_RATIO * target.face.width:
        warnings.append({"code": "low-source-detail", "message": (
            f"the virtual model's portrait has a {source.detail_px:.0f}-px face for a {target.face.width:.0f}-px "
            f"face in the photo: its detail was invented by upscaling; use a larger portrait")})
    if blend > 0 and sunglasses:
        warnings.append({"code": "target-glasses", "message": (
            "the face in the photo wears sunglasses: no eye is seen through them, so the glasses, the eyes "
            "and brows behind and round them were kept as they are and only the rest of the face was swapped; "
            "it is much less like the virtual model than one without glasses")})
    elif blend > 0 and glasses.any():
        warnings.append({"code": "target-glasses", "message": (
            "the face in the photo wears glasses: the frames, and the brows and shadows as dark as them, were "
            "kept as they are and the face round and behind them was swapped, so the face keeps some of the "
            "original model's look and is less like the virtual model than one without glasses")})
    if smile_on_closed:
        warnings.append({"code": "expression-mismatch", "message": (
            "the virtual model's portrait smiles with an open mouth and this face's mouth is closed: the photo's "
            "mouth and the shading along its smile folds were kept, but the portrait's smiling cheeks may still "
            "read as a smirk; a portrait with a closed mouth suits this photo better")})
    yaw = abs(yaw_proxy(mesh))
    if yaw > YAW_WARN:
        warnings.append({"code": "pose-beyond-limits", "message": (
            f"the head is turned about {yaw_degrees(yaw):.0f}° from frontal; the classical swap is reliable "
            f"up to about {yaw_degrees(YAW_WARN):.0f}°")})
    report["status"], report["quality"], report["warnings"] = "swapped", "warn" if warnings else "pass", warnings
    return report


def smile_on_closed_mouth(source: SourceFace, mesh: np.ndarray, template: str) -> bool:
    """True when the portrait's mouth is open (a smile showing teeth) and the photo's face's is closed."""
    return mouth_open(source.mesh(template)) and not mouth_open(mesh)


def left_alone(face: Face, reason: str) -> dict:
    """The report of a face the swap did not touch, with its reason as a warning."""
    messages = {"face-cut-by-frame": "this face's eyes are outside the photo, so it is not an identifiable "
                                     "portrait: it was left unchanged"}
    return {**face.as_dict(), "status": "skipped", "reason": reason, "quality": "skipped",
            "warnings": [{"code": reason, "message": messages[reason]}]}


def yaw_degrees(proxy: float) -> float:
    """The yaw proxy (nose tip between the face edges, ±0.5 in profile) as an approximate angle."""
    return float(np.degrees(np.arcsin(np.clip(2.0 * proxy, -1.0, 1.0))))


def _features_shown(out: np.ndarray, face: Face, aligned: AlignedFace, swapped: EngineOutput) -> np.ndarray:
    """(478, 2) image mesh of the face the result shows, as an independent judge finds it (MediaPipe on the
    result, `image_face_mesh`); where it finds none, the geometry the engine warped to. Its brows and eyes are
    features, not dark patches: on a turned head they sit off the warped geometry's, and measured there two
    shop canvases read 0.015 and 0.024 of dark patches where the judge's reading was 0.041 and 0.033."""
    try:
        return image_face_mesh(out, face)
    except NoFaceFound:
        return aligned.to_image(swapped.mesh)


def _at_photo_sharpness(out: np.ndarray, original: np.ndarray, crop: np.ndarray, target: TargetFace,
                        weight: np.ndarray, photo_fine: np.ndarray, texture_weight: np.ndarray | None = None,
                        least: float = SHARPNESS_TARGET[0],
                        skin: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """`crop` sharpened or softened until, pasted, the face is as sharp as the photo was there
    (shared.faces.realism.sharpness_ratio from `least` to SHARPNESS_TARGET's upper end). Measured after the
    paste, because aligning and pasting back each resample the face and soften it; returns the crop and the
    amount (> 0 unsharp-mask gain, < 0 blur σ, 0 unchanged).

    A face softer than the photo first takes the photo's fine skin texture (`photo_fine`, H×W float32) where
    the float `texture_weight` says (added to its own, `blend.add_lightness`), then unsharp masking: a
    retouched portrait on an unretouched photo had needed gains up to 5.6, which drew its brows as outlined
    stencils and its lash lines as liner (a fresh reviewer); with half the photo's texture first, 2–3. Bare
    skin, the float `skin`, takes no more than blend.SKIN_DETAIL_GAIN of it (`blend.unsharp_at`)."""
    meter = SharpnessMeter(original, target.aligned.to_image(target.mesh))
    x0, y0, x1, y1 = change_box(target.face, out.shape)

    def ratio_of(candidate: np.ndarray) -> float | None:
        trial = out.copy() if (x1 - x0) * (y1 - y0) * 4 > out.shape[0] * out.shape[1] else out
        saved = None if trial is not out else out[y0:y1, x0:x1].copy()
        paste_back(trial, candidate, target.aligned, weight, inplace=True)
        value = meter(trial)
        if saved is not None:
            out[y0:y1, x0:x1] = saved
        return value

    unsharp = unsharp_at(crop, skin)

    def ratio(amount: float) -> float | None:
        return ratio_of(unsharp(amount))

    low, high = least, SHARPNESS_TARGET[1]
    measured = ratio(0.0)
    if measured is None or low <= measured <= high:
        return crop, 0.0
    if measured < low and texture_weight is not None and texture_weight.any():
        crop = add_lightness(crop, photo_fine * texture_weight)
        unsharp = unsharp_at(crop, skin)
        measured = ratio(0.0)
        if measured is None or low <= measured <= high:
            return crop, 0.0
    amounts = DETAIL_GAINS if measured < low else tuple(-sigma for sigma in SOFTEN_SIGMAS)
    for amount in amounts:
        value = ratio(amount)
        if value is not None and (value >= low if measured < low else value <= high):
            return unsharp(amount), amount
    if measured < low:
        # An upscaled portrait has no fine detail for unsharp masking to raise: the photo's fine texture
        # is matched with grain instead, as a retoucher would (the face still warns low-source-detail).
        sharpened = unsharp(amounts[-1])
        for sigma in GRAIN_SIGMAS:
            grained = add_grain(sharpened, sigma, seed=crop.shape[0])
            value = ratio_of(grained)
            if value is not None and value >= low:
                return grained, amounts[-1]
    return unsharp(amounts[-1]), amounts[-1]


def _feathered(mask: np.ndarray, radius: int) -> np.ndarray:
    """A 0/1 mask eroded by `radius` and blurred over it: 0 wherever the input is 0."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    eroded = cv2.erode((mask > 0.5).astype(np.uint8), kernel).astype(np.float32)
    return cv2.GaussianBlur(eroded, (2 * radius + 1, 2 * radius + 1), 0)


def _face_report(out: np.ndarray, original: np.ndarray, target: TargetFace, weight: np.ndarray,
                 source: SourceFace, credits: dict, color_matched: bool, occluded: float,
                 result_embedding: np.ndarray) -> dict:
    face = target.face
    x0, y0, x1, y1 = change_box(face, out.shape)
    shifted = target.aligned.matrix.copy()
    shifted[:, 2] += target.aligned.matrix[:, :2] @ np.array([x0, y0], np.float64)  # box pixel → crop pixel
    mask = warp_mask_to_image(weight, dataclasses.replace(target.aligned, matrix=shifted), (y1 - y0, x1 - x0))
    seams = {}
    for name, picture in (("seam_delta_e", out), ("seam_delta_e_input", original)):
        try:
            seams[name] = round(seam_delta_e(picture[y0:y1, x0:x1], mask), 2)
        except InvalidInput:  # the mask has no outline inside the box (blend 0, face fully covered)
            seams[name] = None
    return {
        **face.as_dict(),
        "engine": credits["engine"], "licence": credits["licence"], "commercial_use": credits["commercial_use"],
        "identity_similarity": round(cosine_similarity(result_embedding, source.embedding), 4),
        **seams,
        "color_matched": color_matched,
        "occluded_fraction": round(occluded, 4),
        "change_box": [x0, y0, x1, y1],
    }
