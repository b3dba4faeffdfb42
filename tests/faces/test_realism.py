"""The realism figures (shared/faces/realism.py) on real photographs with constructed defects.

Each defect is made the way a bad swap makes it (teeth painted inside closed lips, hair strands drawn
on the forehead, a blurred face, a face whose tone left the neck's, a face pasted from someone else)
and must move its figure past the bar, while the same photo through a JPEG round trip stays within
every bar. The pictures were looked at (bench/realism.py writes the swap sheets): the figures agree.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.faces import (CRITERIA, RealismThresholds, SharpnessMeter, bgr_to_lab, dark_patches, identity_embedding,
                          identity_to_original, identity_to_source, image_face_mesh, lab_to_bgr, largest_face,
                          meets_criteria, neck_mask, realism_figures, realism_warnings, region_mask,
                          seam_excess_delta_e, sharpness_ratio, skin_colour_delta_e, teeth_added, tone_gap_delta_e)
from shared.settings import Settings
from tests.data.realism import (blur_face, crude_swap, draw_dot, draw_strands, face_oval_weight, jpeg, paint_teeth,
                                photo, shift_face_tone)

BARS = RealismThresholds()
CLOSED_MOUTHS = ("ocasio_cortez", "hopper", "biden")
WITH_NECK = ("ocasio_cortez", "khanna", "blunt_rochester", "hopper")
NO_NECK = ("gluesenkamp_perez", "clyburn")  # a black turtleneck; a collar and tie under the chin


@pytest.fixture(scope="module")
def faces() -> dict:
    """name → (image, face, mesh) for the photos these tests use (each meshed once)."""
    out = {}
    for name in ("ocasio_cortez", "hopper", "biden", "khanna", "blunt_rochester", "sewell", "scholten",
                 "gluesenkamp_perez", "clyburn"):
        image = photo(name)
        face = largest_face(image)
        out[name] = (image, face, image_face_mesh(image, face).astype(np.float64))
    return out


def test_a_clean_result_is_within_every_bar(faces):
    for name, (image, face, mesh) in faces.items():
        result = jpeg(image, 95)
        figures = realism_figures(image, result, mesh, face, identity_embedding(photo("casar"), largest_face(
            photo("casar"))))
        assert set(figures) == {"tone_gap_delta_e", "sharpness_ratio", "seam_excess_delta_e", "skin_colour_delta_e",
                                "teeth_added", "dark_patches", "identity_to_source", "identity_to_original",
                                "tone_reference"}
        codes = {w["code"] for w in realism_warnings(figures, BARS)}
        assert codes == {"identity-not-transferred"}, (name, figures)  # it is still the original person
        assert figures["teeth_added"] == 0.0 and figures["dark_patches"] <= 0.002
        assert 0.8 <= figures["sharpness_ratio"] <= 1.5
        assert abs(figures["seam_excess_delta_e"]) < 0.5
        assert figures["tone_gap_delta_e"] < 1.0
        assert figures["skin_colour_delta_e"] < 1.0
        assert figures["tone_reference"] == ("face" if name in NO_NECK else "neck")


@pytest.mark.parametrize("name", CLOSED_MOUTHS)
def test_teeth_painted_inside_closed_lips_are_teeth_added(faces, name):
    image, _, mesh = faces[name]
    assert teeth_added(image, jpeg(image, 95), mesh) == 0.0
    painted = paint_teeth(image, mesh)
    assert teeth_added(image, painted, mesh) > 0.15 > BARS.teeth_added_max


@pytest.mark.parametrize("name", ["sewell", "scholten", "khanna"])
def test_teeth_the_photo_already_shows_are_not_added(faces, name):
    image, _, mesh = faces[name]
    smiling = paint_teeth(image, mesh)  # teeth over teeth: still an open, smiling mouth
    assert teeth_added(smiling, smiling, mesh) == 0.0
    assert teeth_added(image, image, mesh) == 0.0


@pytest.mark.parametrize("name", ["ocasio_cortez", "khanna", "sewell", "hopper", "scholten"])
def test_dark_strands_on_the_forehead_are_dark_patches(faces, name):
    image, _, mesh = faces[name]
    assert dark_patches(image, jpeg(image, 95), mesh) <= 0.002
    assert dark_patches(image, draw_strands(image, mesh), mesh) > BARS.dark_patches_max
    assert dark_patches(image, draw_dot(image, mesh), mesh) <= BARS.dark_patches_max  # a mole is no strand


def _raised_brows(image: np.ndarray, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo with its brows copied a tenth of the face height higher (as a virtual model's higher
    brows land), and the mesh of that result: every point above the upper lids raised as much."""
    lift = int(round(0.1 * float(np.linalg.norm(mesh[152] - mesh[10]))))
    brows = cv2.dilate((region_mask(mesh, "brows", image.shape[:2], feather_px=0) > 0.5).astype(np.uint8),
                       np.ones((5, 5), np.uint8)) > 0
    result = image.copy()
    ys, xs = np.nonzero(brows)
    result[ys - lift, xs] = image[ys, xs]
    raised = mesh.copy()
    above = raised[:, 1] < min(mesh[159, 1], mesh[386, 1]) - 2  # upper lids' midpoints
    raised[above, 1] -= lift
    return result, raised


@pytest.mark.parametrize("name", ["ocasio_cortez", "khanna", "sewell"])
def test_the_virtual_model_s_own_brows_are_no_patch(faces, name):
    """A virtual model's brow set higher than the photo's is dark on the photo's forehead; the result's
    mesh says it is a brow. A strand stays a strand with it."""
    image, _, mesh = faces[name]
    result, raised = _raised_brows(image, mesh)
    assert dark_patches(image, result, mesh) > BARS.dark_patches_max
    assert dark_patches(image, result, mesh, result_mesh=raised) <= BARS.dark_patches_max
    assert dark_patches(image, draw_strands(image, mesh), mesh, result_mesh=mesh) > BARS.dark_patches_max


def test_the_targets_own_fringe_is_not_a_patch(faces):
    image, _, mesh = faces["gluesenkamp_perez"]  # a thick fringe over the forehead in the photo itself
    assert dark_patches(image, draw_strands(image, mesh, reach=0.45), mesh) <= BARS.dark_patches_max


def test_a_face_darker_all_over_is_a_tone_gap_not_a_patch(faces):
    image, _, mesh = faces["khanna"]
    darker = shift_face_tone(image, mesh, (-12.0, 0.0, 0.0))
    assert dark_patches(image, darker, mesh) <= BARS.dark_patches_max
    assert tone_gap_delta_e(image, darker, mesh) > BARS.tone_gap_max


@pytest.mark.parametrize("name", ["ocasio_cortez", "sewell", "biden"])
def test_a_blurred_face_is_soft_and_a_clean_one_is_not(faces, name):
    image, _, mesh = faces[name]
    assert BARS.sharpness_min <= sharpness_ratio(image, jpeg(image, 95), mesh) <= BARS.sharpness_max
    assert sharpness_ratio(image, blur_face(image, mesh), mesh) < 0.2
    mild = blur_face(image, mesh, sigma_share=0.004)  # about what an upscaled 128-px source gives
    assert sharpness_ratio(image, mild, mesh) < BARS.sharpness_min


def test_an_over_sharpened_face_is_flagged(faces):
    image, _, mesh = faces["ocasio_cortez"]
    import cv2
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    sharpened = np.clip(image * 3.0 - blurred * 2.0, 0, 255).astype(np.uint8)  # strong unsharp mask
    ratio = sharpness_ratio(image, sharpened, mesh)
    assert ratio > BARS.sharpness_max
    codes = {w["code"] for w in realism_warnings({"sharpness_ratio": ratio}, BARS)}
    assert codes == {"over-sharpened"}


def test_one_sharpness_meter_measures_many_results_as_sharpness_ratio_does(faces):
    image, _, mesh = faces["sewell"]
    meter = SharpnessMeter(image, mesh)
    for result in (jpeg(image, 95), blur_face(image, mesh), blur_face(image, mesh, sigma_share=0.004), image):
        assert meter(result) == sharpness_ratio(image, result, mesh)
    assert meter(image) == pytest.approx(1.0)
    with pytest.raises(InvalidInput):
        meter(image[:-1])


@pytest.mark.parametrize("name", WITH_NECK)
def test_a_cheek_tone_shift_of_delta_e_10_is_a_tone_mismatch(faces, name):
    image, _, mesh = faces[name]
    assert tone_gap_delta_e(image, jpeg(image, 95), mesh) < 1.0
    gap = tone_gap_delta_e(image, shift_face_tone(image, mesh), mesh)  # the face moved by ΔE76 ≈ 10.1
    assert 7.5 < gap < 12.0
    assert tone_gap_delta_e(image, shift_face_tone(image, mesh, (-1.5, 1.5, 1.0)), mesh) < BARS.tone_gap_max


def test_a_grey_face_on_a_high_key_photo_is_a_skin_colour_mismatch_the_tone_gap_misses():
    """gluesenkamp_perez on a shop canvas one stop over (`make_variants.over_exposed`): her lit cheeks clip to
    white, her shaded skin keeps its colour. Her face with three quarters of its colour drained, lightness kept
    (what the composite made of a portrait there until the eighteenth session), moves the cheeks' means within
    the tone bar, as they are nearly white in both, while at equal lightness its skin is another colour; the
    face darkened all over keeps the photo's colour at each lightness, within the bar."""
    from tests.data.realism.make_variants import over_exposed, shop_canvas
    image = over_exposed(shop_canvas(photo("gluesenkamp_perez")), 1.0)
    face = largest_face(image)
    mesh = image_face_mesh(image, face)
    drained = 1.0 - 0.75 * face_oval_weight(image, mesh)
    grey = lab_to_bgr(bgr_to_lab(image) * np.stack([np.ones_like(drained), drained, drained], -1))
    assert tone_gap_delta_e(image, grey, mesh) < BARS.tone_gap_max
    assert skin_colour_delta_e(image, grey, mesh) > 2 * BARS.skin_colour_max
    assert skin_colour_delta_e(image, jpeg(image, 95), mesh) < 1.0
    assert skin_colour_delta_e(image, shift_face_tone(image, mesh, (-12.0, 0.0, 0.0)), mesh) < BARS.skin_colour_max


def test_the_neck_is_skin_below_the_jaw_and_none_when_cut_or_covered(faces):
    image, _, mesh = faces["ocasio_cortez"]
    neck = neck_mask(image, mesh)
    assert neck is not None
    ys, xs = np.nonzero(neck)
    assert ys.min() > mesh[152, 1]  # below the chin
    assert abs(xs.mean() - mesh[152, 0]) < 0.2 * (mesh[454, 0] - mesh[234, 0])
    cut = image[: int(mesh[152, 1]) + 4]  # the photo ends at the chin
    assert neck_mask(cut, mesh) is None
    assert tone_gap_delta_e(cut, shift_face_tone(cut, mesh), mesh, require_neck=True) is None
    image, face, mesh = faces["clyburn"]  # shirt collar and tie right under the chin: no skin there
    assert neck_mask(image, mesh) is None


def test_without_a_neck_the_tone_gap_is_to_the_original_face(faces):
    """The neck terms cancel when the paste leaves the neck alone: a covered neck still gives the figure."""
    image, face, mesh = faces["clyburn"]
    assert tone_gap_delta_e(image, jpeg(image, 95), mesh) < 1.0
    assert 7.5 < tone_gap_delta_e(image, shift_face_tone(image, mesh), mesh) < 12.0
    figures = realism_figures(image, shift_face_tone(image, mesh), mesh, face, np.ones(128, np.float32))
    assert figures["tone_reference"] == "face"
    assert "original face" in [w for w in realism_warnings(figures) if w["code"] == "tone-mismatch"][0]["message"]
    image, face, mesh = faces["khanna"]
    assert realism_figures(image, image, mesh, face, np.ones(128, np.float32))["tone_reference"] == "neck"


def test_a_pasted_face_with_a_tone_step_has_a_seam(faces):
    image, _, mesh = faces["khanna"]
    from shared.faces import face_oval_mask
    hard = face_oval_mask(mesh, image.shape[:2], erode_px=0, feather_px=0)
    from shared.faces import bgr_to_lab, lab_to_bgr
    stepped = lab_to_bgr(bgr_to_lab(image) + hard[:, :, None] * np.float32([8.0, 4.0, 4.0]))
    assert seam_excess_delta_e(image, stepped, hard) > BARS.seam_excess_max
    assert abs(seam_excess_delta_e(image, jpeg(image, 95), hard)) < 0.5
    assert abs(seam_excess_delta_e(image, jpeg(image, 95), mesh_image=mesh)) < 0.5  # the default mask
    assert seam_excess_delta_e(image, image, np.zeros(image.shape[:2], np.float32)) is None
    with pytest.raises(InvalidInput):
        seam_excess_delta_e(image, image)


def test_identity_moves_to_the_source_only_when_the_face_is_swapped(faces):
    image, face, mesh = faces["ocasio_cortez"]
    source = photo("scholten")
    source_face = largest_face(source)
    embedding = identity_embedding(source, source_face)
    swapped = crude_swap(image, face, mesh, source, source_face)
    assert identity_to_source(swapped, face, embedding) > identity_to_original(image, swapped, face)
    assert identity_to_source(image, face, embedding) < identity_to_original(image, image, face)
    figures = realism_figures(image, image, mesh, face, embedding)
    assert "identity-not-transferred" in {w["code"] for w in realism_warnings(figures)}
    assert meets_criteria(figures)["identity"] is False


def test_every_warning_code_and_the_five_criteria():
    bad = {"tone_gap_delta_e": 9.0, "sharpness_ratio": 0.3, "seam_excess_delta_e": 6.0, "skin_colour_delta_e": 8.0,
           "teeth_added": 0.2, "dark_patches": 0.1, "identity_to_source": 0.2, "identity_to_original": 0.6}
    warnings = realism_warnings(bad)
    assert [w["code"] for w in warnings] == ["tone-mismatch", "soft-face", "visible-seam", "skin-colour-mismatch",
                                             "teeth-added", "dark-patches", "identity-not-transferred"]
    assert all(w["message"] for w in warnings)
    assert set(meets_criteria(bad)) == set(CRITERIA) and not any(meets_criteria(bad).values())
    good = {"tone_gap_delta_e": None, "sharpness_ratio": 1.0, "seam_excess_delta_e": 0.5, "skin_colour_delta_e": 2.0,
            "teeth_added": 0.0, "dark_patches": 0.0, "identity_to_source": 0.6, "identity_to_original": 0.3}
    assert realism_warnings(good) == [] and all(meets_criteria(good).values())


def test_thresholds_come_from_settings(monkeypatch):
    monkeypatch.setenv("FACECAST_REALISM_TONE_GAP_MAX", "12")
    monkeypatch.setenv("FACECAST_REALISM_SHARPNESS_MIN", "0.25")
    thresholds = RealismThresholds.from_settings(Settings())
    assert thresholds.tone_gap_max == 12.0 and thresholds.sharpness_min == 0.25
    assert thresholds.sharpness_max == 1.8 and thresholds.teeth_added_max == 0.03
    assert realism_warnings({"tone_gap_delta_e": 9.0, "sharpness_ratio": 0.3}, thresholds) == []
    with pytest.raises(Exception):
        thresholds.tone_gap_max = 1.0  # frozen


def test_figures_depend_on_the_face_not_on_the_canvas_around_it(faces):
    """A portrait placed in a 2000×3000 photo gives the same figures (the work is cropped to the face)."""
    image, _, mesh = faces["ocasio_cortez"]
    defect = draw_strands(shift_face_tone(image, mesh), mesh)
    canvas = np.full((3000, 2000, 3), 200, np.uint8)
    x, y = 700, 1100
    big_image, big_defect = canvas.copy(), canvas.copy()
    big_image[y:y + image.shape[0], x:x + image.shape[1]] = image
    big_defect[y:y + image.shape[0], x:x + image.shape[1]] = defect
    shifted = mesh + (x, y)
    for figure in (tone_gap_delta_e, sharpness_ratio, skin_colour_delta_e, teeth_added, dark_patches):
        small, big = figure(image, defect, mesh), figure(big_image, big_defect, shifted)
        assert small == pytest.approx(big, rel=1e-6, abs=1e-9), figure.__name__
