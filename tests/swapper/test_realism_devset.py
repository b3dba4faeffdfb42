"""Issue 13's criteria over the realism development set (tests/data/realism).

Every full-face pair is swapped by the default `classical` engine and measured with FaceCast's own
figures (shared/faces/realism.py, measured here independently of the stage's report): teeth added ≤ 3 %
of the mouth, sharpness 0.6–1.8 × the photo's, tone gap to the neck ≤ 5 ΔE, dark patches ≤ 3 % of
forehead and cheeks, and the result closer to the source than to the original.

What holds on every pair: no teeth are added and the face is as sharp as the photo; and no result is a
silent bad one: whatever criterion a pair misses, the stage's report carries the warning for it. Not
every pair meets all five yet (the identity of sources with a fringe and of targets wearing glasses stays
weak, see bench/README.md), so the count that does is held as a floor, and the bench prints each pair.
A source wearing glasses is refused with the reason `source-covered`, which is the right answer for it.
A face cut by the frame above the nose is left as it is, and the report says why.
"""
from __future__ import annotations

import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.faces import RealismThresholds
from tests.data.realism.make_variants import (CROSS_SPECS, FULL_BODY_SPECS, HIGH_KEY_SPECS, SIZE_SPECS, SPECS,
                                              TURNED_SPECS, build, measure)
from tests.swapper.conftest import run_swap

BARS = RealismThresholds()  # the issue's bars (the settings' defaults)
FULL_FACES = [spec for spec in SPECS if spec.expect == "swap"]
# faces between a full-body and an upper-body shot's (bench/realism.py --sizes: 32 of 32 meet all five)
MID_SIZES = [spec for spec in SIZE_SPECS
             if spec.target_variant in ("shop64", "shop96") and spec.target in ("khanna", "sewell")]
CUT_FACES = [spec for spec in SPECS if spec.expect == "unchanged"]
WARNING_FOR = {"teeth_added": {"teeth-added"}, "sharpness_ratio": {"soft-face", "over-sharpened"},
               "tone_gap_delta_e": {"tone-mismatch"}, "dark_patches": {"dark-patches"},
               "identity": {"identity-not-transferred"}}
PASSING_FLOOR = 13  # full-face pairs meeting all five (measured: 14 of the 20 swapped; 6 covered sources refused;
# the count differs by a pair or two between machines, whose OpenCV paths round differently; obama→biden is
# nearer the source inside the 0.03 margin since the portrait is turned to the photo's head pose for its shape,
# which took casar→biden past it: bench/README.md)


@pytest.fixture(scope="module")
def swapped(ctx) -> dict[str, dict]:
    """Every full-face pair swapped once: the stage's warnings and the independent measurement."""
    results = {}
    for spec in FULL_FACES:
        pair = build(spec)
        try:
            output = run_swap(ctx, pair.target, pair.source, engine="classical")
        except InvalidInput as exc:
            results[spec.name] = {"refused": exc}
            continue
        codes = {w["code"] for w in output.report["warnings"]}
        results[spec.name] = {"codes": codes, **measure(spec, pair, output.image, BARS)}
    return results


def _swapped_or_rightly_refused(result: dict, spec) -> bool:
    """False when the stage refused the pair, which is right only for a covered source (glasses, a hat)
    and only with the reason; any other refusal fails here."""
    if "refused" not in result:
        return True
    refusal = result["refused"]
    assert spec.source_occluded and refusal.details.get("reason") == "source-covered", refusal.message
    return False


@pytest.mark.parametrize("spec", FULL_FACES, ids=[f"{s.kind}:{s.name.replace('→', '>')}" for s in FULL_FACES])
def test_no_teeth_are_added_and_the_face_is_as_sharp_as_the_photo(swapped, spec):
    if not _swapped_or_rightly_refused(swapped[spec.name], spec):
        return
    criteria, figures = swapped[spec.name]["criteria"], swapped[spec.name]["figures"]
    assert criteria["teeth_added"] and criteria["sharpness_ratio"], figures


@pytest.mark.parametrize("spec", FULL_FACES, ids=[f"{s.kind}:{s.name.replace('→', '>')}" for s in FULL_FACES])
def test_a_missed_criterion_is_never_silent(swapped, spec):
    result = swapped[spec.name]
    if not _swapped_or_rightly_refused(result, spec):
        return
    missed = [name for name, ok in result["criteria"].items() if not ok]
    figures = result["figures"]
    if "identity" in missed and figures["identity_to_source"] > figures["identity_to_original"]:
        # nearer the source, but within the margin: the stage's own measurement (its mesh, a pixel
        # apart) may land on either side of it, so only a result nearer the original must warn
        missed.remove("identity")
    unwarned = [name for name in missed if not WARNING_FOR[name] & result["codes"]]
    assert not unwarned, f"{spec.name} misses {unwarned} without a warning; figures {result['figures']}"


def test_most_full_faces_meet_all_five_criteria(swapped):
    passing = sorted(name for name, result in swapped.items() if result.get("passed"))
    assert len(passing) >= PASSING_FLOOR, passing


@pytest.mark.parametrize("spec", CUT_FACES, ids=[f"{s.kind}:{s.name.replace('→', '>')}" for s in CUT_FACES])
def test_a_face_cut_by_the_frame_is_left_unchanged_with_the_reason(ctx, spec):
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    assert np.array_equal(output.image, pair.target)
    codes = {w["code"] for w in output.report.get("warnings", [])}
    codes |= {w["code"] for face in output.report.get("faces", []) for w in face.get("warnings", [])}
    assert "face-cut-by-frame" in codes


@pytest.mark.parametrize("spec", MID_SIZES, ids=[s.name.replace("→", ">") for s in MID_SIZES])
def test_a_face_between_full_body_and_upper_body_size_meets_all_five_criteria(ctx, spec):
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    result = measure(spec, pair, output.image, BARS)
    assert result["passed"], (result["criteria"], result["figures"])


TURNED = [spec for spec in TURNED_SPECS
          if spec.name in ("astronaut→c001035", "ocasio_cortez→c001127", "astronaut→g000559", "astronaut→c001130+shop")]


@pytest.mark.parametrize("spec", TURNED, ids=[s.name.replace("→", ">") for s in TURNED])
def test_a_head_turned_from_the_camera_takes_the_portrait_s_likeness(ctx, spec):
    """Three-quarter faces (yaw proxy 0.21–0.30 from a frontal portrait's): the shape transfer stood down at
    such a turn, so the photo's proportions stayed and SFace found the original (astronaut→c001035 0.53
    against 0.54, ocasio_cortez→c001127 0.55 against 0.54); the portrait is now turned to the photo's pose
    first. g000559's over-sharpened skin was read as a glasses bridge, so his eyes were kept (0.23
    against 0.90). On c001130's shop canvas her false lashes and smoky shadow were kept as a cover, and her
    eye with them (0.35 against 0.53; `occlusion.EYE_MAKEUP_REACH`)."""
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    result = measure(spec, pair, output.image, BARS)
    assert result["passed"], (result["criteria"], result["figures"])


HIGH_KEY = [spec for spec in HIGH_KEY_SPECS
            if spec.name in ("ocasio_cortez→gluesenkamp_perez+shop-over1", "astronaut→blunt_rochester+shop-over1")]


@pytest.mark.parametrize("spec", HIGH_KEY, ids=[s.name.replace("→", ">") for s in HIGH_KEY])
def test_a_face_on_a_high_key_photo_keeps_the_colour_of_the_photo_s_skin(ctx, spec):
    """One stop over, a fair skin's lit side fades to white while its shade keeps its colour. The portrait's
    modelling set on the faded low-pass was grey (gluesenkamp_perez: the photo read as black and white from her
    clipped cheeks, and the face was drained to grey; blunt_rochester: a green-grey mask on a yellow face), and
    passed every criterion. The face now takes the photo's colour at each lightness, and the stage says so."""
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    face = output.report["faces"][0]
    independent = measure(spec, pair, output.image, BARS)["figures"]
    assert independent["skin_colour_delta_e"] < 3.5, independent
    assert face["realism"]["skin_colour_delta_e"] == pytest.approx(independent["skin_colour_delta_e"], abs=0.5)
    assert "skin-colour-mismatch" not in {w["code"] for w in face["warnings"]}


@pytest.mark.parametrize("target", ["c001130", "c001127"])
def test_the_photo_s_false_lashes_do_not_show_beside_the_portrait_s_eye(ctx, monkeypatch, target):
    """The astronaut's side hair never travels; beside her eye, on these two turned heads, the photo's own false
    lashes had shown through where it lay (a fresh review: 8 of 36 turned results). What hair covers on one side
    of her face now travels from the other side, mirrored (`faces.mirror_filled`): the dark pixels round the
    photo's eyes, off the result's eyes, fell from 456 and 348 to 166 and 140."""
    from collections import OrderedDict

    from services.swapper import faces

    pair = build(next(s for s in TURNED_SPECS if s.name == f"astronaut→{target}"))
    filled = _lashes_beside_the_eyes(pair.target, run_swap(ctx, pair.target, pair.source, engine="classical").image)
    monkeypatch.setattr(faces, "mirror_filled", lambda crop, mesh, bare, fillable, strands: (
        np.zeros(fillable.shape, bool), np.zeros((0, 3), np.uint8)))
    monkeypatch.setattr(faces, "_sources", OrderedDict())  # the source prepared again, unfilled
    unfilled = _lashes_beside_the_eyes(pair.target, run_swap(ctx, pair.target, pair.source, engine="classical").image)
    assert filled < 0.6 * unfilled, (filled, unfilled)


def _lashes_beside_the_eyes(target: np.ndarray, result: np.ndarray) -> int:
    """Pixels darker by 35 L* than the median of the band within a face edge round the photo's eyes, off the
    result's own eyes (grown by 0.3 face edge, as MediaPipe finds them on the result): lashes or liner left
    over from the photo."""
    import cv2

    from shared.faces import bgr_to_lab, face_edge_px, image_face_mesh, largest_face, region_mask

    face = largest_face(target)
    mesh, shown = image_face_mesh(target, face), image_face_mesh(result, face)
    edge = face_edge_px(mesh)

    def grown_eyes(points: np.ndarray, reach: float) -> np.ndarray:
        eyes = (region_mask(points, "eyes", target.shape[:2], feather_px=0) > 0.5).astype(np.uint8)
        return cv2.dilate(eyes, np.ones((int(reach) | 1,) * 2, np.uint8)) > 0

    band = grown_eyes(mesh, 2 * edge) & ~grown_eyes(shown, 0.6 * edge)
    lightness = bgr_to_lab(result)[..., 0].astype(np.float32)
    return int((lightness[band] < np.median(lightness[band]) - 35).sum())


def _added_structure_by_the_outline(target: np.ndarray, result: np.ndarray) -> float:
    """95th percentile of |ΔL*| less its own 2-face-edge Gaussian over the band within 2 face edges inside
    the face outline, below the eyes: blocks, blots and rims the swap drew there, not a tone shift."""
    import cv2

    from shared.faces import bgr_to_lab, face_edge_px, face_oval_mask, image_face_mesh, largest_face

    mesh = image_face_mesh(target, largest_face(target))
    edge = face_edge_px(mesh)
    oval = (face_oval_mask(mesh, target.shape[:2], 0, 0) > 0.5).astype(np.uint8)
    band = (oval > 0) & (cv2.distanceTransform(oval, cv2.DIST_L2, 3) < 2.0 * edge)
    band[:int(mesh[[33, 263], 1].mean())] = False
    change = bgr_to_lab(result)[..., 0].astype(np.float32) - bgr_to_lab(target)[..., 0].astype(np.float32)
    return float(np.quantile(np.abs(change - cv2.GaussianBlur(change, (0, 0), 2.0 * edge))[band], 0.95))


@pytest.mark.parametrize("target", ["b001257", "g000559"])
def test_the_portrait_s_rim_below_the_eyes_stays_out_of_a_turned_head_s_near_cheek(ctx, monkeypatch, target):
    """ocasio_cortez's cheek edge, where her face turns against her hair, stretched over a three-quarter face's
    near cheek: a light oval with a dark rim (b001257), a grey smudge by the ear (g000559). The rim below the
    eyes (SOURCE_RIM) now stays the photo's (measured on five turned heads: the band's added structure
    fell by 16–36 %)."""
    from collections import OrderedDict

    from services.swapper import faces

    spec = next(s for s in TURNED_SPECS if s.name == f"ocasio_cortez→{target}")
    pair = build(spec)
    without_rim = _added_structure_by_the_outline(
        pair.target, run_swap(ctx, pair.target, pair.source, engine="classical").image)
    monkeypatch.setattr(faces, "SOURCE_RIM", 0.0)
    monkeypatch.setattr(faces, "_sources", OrderedDict())  # the source prepared again, with the rim
    with_rim = _added_structure_by_the_outline(
        pair.target, run_swap(ctx, pair.target, pair.source, engine="classical").image)
    assert without_rim < 0.85 * with_rim, (without_rim, with_rim)


@pytest.mark.parametrize("source, target", [("ocasio_cortez", "c001127"), ("astronaut", "h001095")])
def test_the_photo_s_nose_wings_leave_no_second_outline_round_the_portrait_s_nose(ctx, source, target):
    """The photo's fine texture lent to the portrait's skin included its nose wings' and nostril rims' edges:
    round a narrower portrait's nose they drew a second, wider one (a fresh review of turned heads, 18 of 36).
    Round the noses the photo now lends its pores and grain, not its edges. Measured over the photo's nose
    grown by a face edge, on the photo's edges there (fine lightness above a 0.3-edge Gaussian beyond 3.5 ×
    its robust spread): the result's fine lightness echoed them with a regression slope of 0.23–0.34; now
    about 0."""
    import cv2

    from services.swapper.blend import fine_lightness
    from shared.faces import face_edge_px, image_face_mesh, largest_face, region_mask

    spec = next(s for s in TURNED_SPECS if s.name == f"{source}→{target}")
    pair = build(spec)
    result = run_swap(ctx, pair.target, pair.source, engine="classical").image
    mesh = image_face_mesh(pair.target, largest_face(pair.target))
    edge = face_edge_px(mesh)
    nose = (region_mask(mesh, "nose", pair.target.shape[:2], 0.0) > 0.5).astype(np.uint8)
    around = cv2.dilate(nose, np.ones((int(edge) | 1,) * 2, np.uint8)) > 0

    photo_fine, result_fine = fine_lightness(pair.target, 0.3 * edge), fine_lightness(result, 0.3 * edge)
    spread = 1.4826 * np.median(np.abs(photo_fine[around] - np.median(photo_fine[around])))
    edges = around & (np.abs(photo_fine) > 3.5 * spread)
    echo = (result_fine[edges] * photo_fine[edges]).sum() / (photo_fine[edges] ** 2).sum()
    assert edges.sum() > 100 and echo < 0.1, echo


@pytest.mark.parametrize("target", ["l000397", "f000459"])
def test_the_stage_reads_dark_patches_where_the_result_shows_its_features(ctx, target):
    """On a turned head the brows and eyes the result shows sit off the geometry the engine warped to. The
    stage read dark patches beside the warped brows and eyes (0.015 and 0.024 on these two shop canvases) where
    an independent measure, which leaves out the brows and eyes MediaPipe finds on the result, read 0.041 and
    0.033, over the bar, so the face missed a criterion without its warning."""
    spec = next(s for s in TURNED_SPECS if s.name == f"ocasio_cortez→{target}+shop")
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    face = output.report["faces"][0]
    independent = measure(spec, pair, output.image, BARS)["figures"]["dark_patches"]
    assert face["realism"]["dark_patches"] == pytest.approx(independent, abs=0.01)
    if independent > BARS.dark_patches_max:
        assert "dark-patches" in {w["code"] for w in face["warnings"]}


def test_a_retouched_portrait_on_an_unretouched_photo_takes_its_texture_before_sharpening(ctx):
    """ocasio_cortez's retouched skin on khanna's pores and stubble: the sharpness match needed an unsharp
    gain of 5.6, which drew her brows as outlined stencils and her lash lines as liner (a fresh reviewer).
    With half the photo's fine texture added first the gain stays at 3 or under and the face is as sharp as
    the photo."""
    spec = next(s for s in CROSS_SPECS if s.name == "ocasio_cortez→khanna")
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    assert 0 < output.report["faces"][0]["detail_gain"] <= 3.0
    result = measure(spec, pair, output.image, BARS)
    assert result["criteria"]["sharpness_ratio"], result["figures"]


def test_a_face_drawn_24_px_wide_is_swapped_though_its_detector_box_is_narrower(ctx):
    """A full-body shop photo's 24-px face: YuNet's box reads it 22–24 px wide (six targets), and a minimum
    of 24 px refused every one of them, which leaves the real model's face in the photo. It is swapped, and
    obama's identity moves onto khanna's face (the figures of every 24-px pair: bench/README.md)."""
    spec = next(s for s in FULL_BODY_SPECS if s.name == "obama→khanna+shop24")
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    face = output.report["faces"][0]
    assert face["status"] == "swapped" and face["width"] < 24
    result = measure(spec, pair, output.image, BARS)
    assert result["passed"], (result["criteria"], result["figures"])


def test_a_full_body_face_takes_the_portrait_s_shape_close_to_its_outline(ctx, monkeypatch):
    """On a 30-px face SFace reads the face's proportions more than its features. The portrait's shape fading
    out from SHAPE_RAMP of the face size inside the outline (0.15 before) carries more of it: ocasio_cortez on
    six shop canvases moves further from the original face and nearer to her own (bench/realism.py
    --full-body: the gap rose on 58 of 84 pairs)."""
    from services.swapper.engines import classical

    specs = [s for s in FULL_BODY_SPECS if s.source == "ocasio_cortez" and s.target_variant == "shop30"]

    def mean_gap() -> float:
        gaps = []
        for spec in specs:
            pair = build(spec)
            figures = measure(spec, pair, run_swap(ctx, pair.target, pair.source, engine="classical").image,
                              BARS)["figures"]
            gaps.append(figures["identity_to_source"] - figures["identity_to_original"])
        return float(np.mean(gaps))

    closer = mean_gap()
    monkeypatch.setattr(classical, "SHAPE_RAMP", 0.15)
    assert closer > mean_gap()


def _skin_texture(image: np.ndarray, mesh: np.ndarray) -> float:
    """RMS grey level above a 1-px Gaussian over the bare cheeks and forehead (eyes, brows, lips, mouth and
    nose grown by a face edge, and a face edge inside the outline, left out): the skin's finest texture."""
    import cv2

    from services.swapper.blend import fine_lightness
    from services.swapper.occlusion import FEATURE_REGIONS
    from shared.faces import face_edge_px, face_oval_mask, region_mask

    shape, edge = image.shape[:2], face_edge_px(mesh)
    features = np.zeros(shape, np.uint8)
    for region in (*FEATURE_REGIONS, "nose"):
        features |= (region_mask(mesh, region, shape, 0) > 0.5).astype(np.uint8)
    features = cv2.dilate(features, np.ones((int(edge) | 1,) * 2, np.uint8)) > 0
    bare = (region_mask(mesh, "skin", shape, 0) > 0.5) & ~features & (face_oval_mask(mesh, shape, edge, 0) > 0.5)
    return float(np.sqrt((fine_lightness(image, 1.0)[bare] ** 2).mean()))


def test_skin_on_a_retouched_photo_is_not_sharpened_into_a_crackle(ctx, monkeypatch):
    """matsui on ocasio_cortez's retouched shop photo: its sharpness lies in her lashes, and matching it with
    an unsharp gain of 4.2 on the whole face raised matsui's skin, fine lines and JPEG blocks alike, into a
    crackle 1.55 × as strong as the photo's skin texture. Bare skin now stops at SKIN_DETAIL_GAIN (the eyes and
    brows take the rest) and the face still meets the sharpness bar."""
    from services.swapper import blend
    from shared.faces import image_face_mesh, largest_face

    spec = next(s for s in SPECS if s.name == "matsui→ocasio_cortez+shop")
    pair = build(spec)
    mesh = image_face_mesh(pair.target, largest_face(pair.target))
    photo = _skin_texture(pair.target, mesh)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    assert measure(spec, pair, output.image, BARS)["criteria"]["sharpness_ratio"]
    monkeypatch.setattr(blend, "SKIN_DETAIL_GAIN", max(blend.DETAIL_GAINS))
    uncapped = run_swap(ctx, pair.target, pair.source, engine="classical")
    assert _skin_texture(output.image, mesh) < 1.45 * photo < _skin_texture(uncapped.image, mesh)


def test_an_upscaled_portrait_is_sharpened_less_far_than_the_photo_and_still_meets_the_bar(ctx, monkeypatch):
    """The astronaut's 89-px face on khanna's: chasing the photo's whole sharpness raised the photo's borrowed
    texture and super-resolution's into a crack network (a fresh reviewer). Such a portrait (it warns
    low-source-detail) is brought only to UPSCALED_SHARPNESS: a lower unsharp gain than the photo's whole
    sharpness asks, and still within the issue's bar."""
    from services.swapper import compose

    spec = next(s for s in CROSS_SPECS if s.name == "astronaut→khanna")
    pair = build(spec)
    output = run_swap(ctx, pair.target, pair.source, engine="classical")
    result = measure(spec, pair, output.image, BARS)
    assert result["criteria"]["sharpness_ratio"], result["figures"]
    monkeypatch.setattr(compose, "UPSCALED_SHARPNESS", compose.SHARPNESS_TARGET[0])
    chased = run_swap(ctx, pair.target, pair.source, engine="classical")
    assert output.report["faces"][0]["detail_gain"] < chased.report["faces"][0]["detail_gain"]


@pytest.mark.parametrize("name", ["sewell→matsui+shop30", "obama→gluesenkamp_perez+shop24"])
def test_a_full_body_face_takes_the_portrait_s_lips_and_keeps_its_mouth_opening(ctx, monkeypatch, name):
    """Both mouths open, the face 24–30 px wide: the portrait's lips travel on the photo's lip outline
    (`faces.lips_travel`), and the photo's opening, its teeth, stays. Before, the photo's whole mouth stayed."""
    from services.swapper import faces
    from shared.faces import image_face_mesh, largest_face, region_mask

    pair = build(next(s for s in FULL_BODY_SPECS if s.name == name))
    mesh = image_face_mesh(pair.target, largest_face(pair.target, min_face_px=16))
    shape = pair.target.shape[:2]
    lips, opening = (region_mask(mesh, "lips", shape, 0.0) > 0.5), (region_mask(mesh, "mouth", shape, 0.0) > 0.5)

    def change(region: np.ndarray, image: np.ndarray) -> float:
        return float(np.abs(image.astype(np.float32) - pair.target.astype(np.float32))[region].mean())

    travelled = run_swap(ctx, pair.target, pair.source, engine="classical").image
    monkeypatch.setattr(faces, "LIPS_TRAVEL_BELOW_PX", 0)  # the photo's whole mouth stays, as before
    stayed = run_swap(ctx, pair.target, pair.source, engine="classical").image
    assert lips.sum() >= 8 and opening.sum() >= 2
    assert change(lips, travelled) > 2 * change(lips, stayed) + 3, (change(lips, travelled), change(lips, stayed))
    assert change(opening, travelled) < 0.5 * change(lips, travelled)  # the teeth are the photo's
