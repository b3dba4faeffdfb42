"""Issue 13 failure kinds 2, 5 and 7 at the level of the parts: what the swapper accepts as a source, and
which way up it finds a face. Real photographs from the realism development set (tests/data/realism)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.swapper.faces import composite_template, cut_by_frame, prepare_source
from services.swapper.occlusion import frame_mask, glasses_zone, wears_glasses
from shared.errors import InvalidInput
from shared.faces import (align_face, bgr_to_lab, detect_faces, face_mesh, face_oval_mask, grown, largest_face,
                          region_mask)
from tests.data import astronaut, load_image
from tests.data.realism import photo
from tests.data.realism.make_variants import _face_and_mesh, scaled, shop_canvas, with_fringe, with_glasses
from tests.swapper.conftest import run_swap

WITH_GLASSES = ["clyburn", "scholten", "sykes"]  # sykes: patterned frames on dark skin, a broken bar
WITHOUT_GLASSES = ["obama", "khanna", "gluesenkamp_perez", "ocasio_cortez", "sewell", "matsui"]


def _aligned(image: np.ndarray):
    aligned = align_face(image, largest_face(image), "ffhq512")
    return aligned.crop, face_mesh(aligned.crop)


@pytest.mark.parametrize("name", WITH_GLASSES + WITHOUT_GLASSES)
def test_glasses_are_told_by_the_bar_across_the_nose(name):
    assert wears_glasses(*_aligned(photo(name))) == (name in WITH_GLASSES)


@pytest.mark.parametrize("name", ["g000559", "l000397", "h001095", "c001130"])
def test_a_turned_head_s_sharpened_skin_is_no_frame_bar(name):
    """Heads turned 20–40° (their bridge between the inner eye corners narrow): g000559's over-sharpened
    photo's specks and vertical streaks crossed 0.54 of the bridge before only horizontal runs counted,
    so his eyes were kept as if behind lenses (identity 0.23 to the portrait, 0.90 to him)."""
    assert not wears_glasses(*_aligned(photo(name)))


@pytest.mark.parametrize("seed", [2, 3])
def test_glasses_are_told_on_a_shop_canvas(seed):
    """Sykes's patterned frames break their bar up: on one shop canvas the bar crossed 0.59 of the gap
    between the eyes, under the 0.6 then asked, so her frames were painted over (ghost frames)."""
    assert wears_glasses(*_aligned(shop_canvas(photo("sykes"), face_px=200.0, seed=seed)))


@pytest.mark.parametrize("face_px", [28, 36, 48])
@pytest.mark.parametrize("name", ["hopper", *WITH_GLASSES, "obama", "khanna", "ocasio_cortez", "sewell", "biden"])
def test_glasses_are_told_on_a_full_body_shot_s_small_face(name, face_px):
    """At 24–48 px the photo has averaged a frame's 1–2-px bar with the skin: at the full bar contrast
    three of four wearers' frames were missed at some of these sizes and painted over, leaving the
    temples by the ears (ocasio_cortez→sykes+full36)."""
    image = shop_canvas(photo(name), face_px=face_px, face_top=0.06)
    face = detect_faces(image, min_face_px=20)[0]
    aligned = align_face(image, face, "ffhq256")
    assert wears_glasses(aligned.crop, face_mesh(aligned.crop), aligned.scale) == (name in ["hopper", *WITH_GLASSES])


def test_a_frown_s_brows_are_no_frame_bar():
    """A frown draws the brows' inner ends down to eye level, where they meet across the nose like a
    frame's bridge (a turned, frowning press photo was taken for glasses and barely swapped)."""
    crop, mesh = _aligned(photo("khanna"))
    crop, mesh = crop.copy(), mesh.astype(np.float64).copy()
    eye_top = float(min(mesh[159, 1], mesh[386, 1]))
    inner_ends = [55, 65, 107, 66, 285, 295, 336, 296]  # each brow's inner half, drawn down to the eyes
    mesh[inner_ends, 1] += eye_top - 4 - mesh[inner_ends, 1].max()
    middle = float(mesh[168, 0])  # the brows meet over the nose
    mesh[[55, 107], 0], mesh[[285, 336], 0] = middle - 1, middle + 1
    for polygon in ((46, 53, 52, 65, 55, 107, 66, 105, 63, 70), (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)):
        cv2.fillPoly(crop, [mesh[list(polygon)].round().astype(np.int32)], (40, 35, 35))
    assert not wears_glasses(crop, mesh)


@pytest.mark.parametrize("name", WITH_GLASSES)
def test_a_source_wearing_glasses_is_refused_with_the_reason(ctx, name):
    with pytest.raises(InvalidInput) as caught:
        prepare_source(photo(name))
    assert caught.value.code == "source-covered" and caught.value.http_status == 422
    assert caught.value.details == {"role": "source", "reason": "source-covered"}
    assert "glasses" in caught.value.message
    with pytest.raises(InvalidInput, match="glasses"):  # the stage refuses it the same way
        run_swap(ctx, photo("khanna"), photo(name))


def test_a_source_with_a_fringe_is_kept_but_its_hair_never_travels():
    source = prepare_source(load_image("portrait_astronaut"))
    crop, mesh = source.aligned("ffhq512").crop, source.mesh("ffhq512")
    brow_top = mesh[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1].mean()
    forehead = np.zeros(source.clean("ffhq512").shape, bool)
    forehead[int(brow_top - 60):int(brow_top - 15), int(mesh[:, 0].min()):int(mesh[:, 0].max())] = True
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    hair = forehead & (grey < np.median(grey[source.clean("ffhq512")]) - 40)  # her dark fringe
    assert hair.sum() > 200
    assert (hair & source.clean("ffhq512")).sum() < 0.05 * hair.sum()  # stray tips at the fringe's edge at most


def test_the_thin_ends_of_a_fringe_stay_out_with_the_fringe():
    """A strand's thin end hangs from the fringe's mass: pasted alone it was a dark stroke on the forehead."""
    image = photo("ocasio_cortez")
    _, mesh = _face_and_mesh("ocasio_cortez")
    covered = with_fringe(image, mesh)
    drawn = (np.abs(covered.astype(int) - image).max(axis=2) > 30).astype(np.uint8)
    source = prepare_source(covered)
    aligned = source.aligned("ffhq512")
    drawn = cv2.warpAffine(drawn, aligned.matrix, (aligned.size, aligned.size), flags=cv2.INTER_NEAREST) > 0
    assert drawn.sum() > 2000
    assert (drawn & source.clean("ffhq512")).sum() < 0.01 * drawn.sum()  # 3 % before the strands' ends joined


@pytest.mark.parametrize("name", ["ocasio_cortez", "obama"])
def test_a_lock_of_hair_down_one_side_of_the_source_travels_as_the_other_side_mirrored(name):
    """What hair covers on one side of the portrait's face is filled from the other side, mirrored (the issue:
    "fill it from the symmetric side of the source face"). Before, it never travelled and the photo's own pixels
    showed there: the photo's lash tips or brow tail beside the portrait's eye. With a dark lock drawn down the
    temple and cheek, the fill covers all of the lock inside MIRROR_RIM (the lids and the forehead aside) and
    lies near the portrait's own skin under it: median ΔE 21 and 6 to the undrawn portrait, the lock 38 and 46."""
    from services.swapper.blend import BROW_TOPS
    from services.swapper.faces import MIRROR_RIM, features
    from shared.faces import face_edge_px, face_oval_mask, image_face_mesh

    portrait = photo(name)
    covered, lock, _ = _with_a_lock(portrait, image_face_mesh(portrait, largest_face(portrait)))
    source = prepare_source(covered)
    template = "ffhq512"
    aligned, crop_mesh = source.aligned(template), source.mesh(template)
    truth = align_face(portrait, source.face, template).crop
    lock = cv2.warpAffine(lock, aligned.matrix, (aligned.size, aligned.size), flags=cv2.INTER_NEAREST) > 0
    oval = face_oval_mask(crop_mesh, aligned.size, 0, 0) > 0.5
    lock &= cv2.distanceTransform(oval.astype(np.uint8), cv2.DIST_L2, 3) > MIRROR_RIM * face_edge_px(crop_mesh)
    lock &= ~features(crop_mesh, aligned.size)
    lock[:int(crop_mesh[list(BROW_TOPS), 1].mean())] = False
    assert lock.sum() > 500
    filled = lock & source.mirrored(template)
    assert filled.sum() > 0.8 * lock.sum() and (source.clean(template) & lock & ~filled).sum() < 0.1 * lock.sum()
    distance = np.linalg.norm(bgr_to_lab(source.crop(template)).astype(np.float32)
                              - bgr_to_lab(truth).astype(np.float32), axis=-1)
    drawn = np.linalg.norm(bgr_to_lab(aligned.crop).astype(np.float32) - bgr_to_lab(truth).astype(np.float32), axis=-1)
    assert np.median(distance[filled]) < 0.6 * np.median(drawn[lock]), (np.median(distance[filled]),
                                                                      np.median(drawn[lock]))


def test_the_mirrored_fill_reaches_no_higher_up_the_temple_than_just_above_the_brow():
    """The astronaut's side hair reaches under her fringe, and the fill from her other temple rose with it into the
    fringe: a light fin, with the forehead cut's straight side, stood above the brow's tail on every photo and
    showed on a head turned that way (h001095, a fresh reviewer). Nothing is filled more than MIRROR_ABOVE_BROWS
    face edges above the brows' top outline (370 pixels were, 190 of them more than 1.5 edges); the temple beside
    the brow's tail still is."""
    from services.swapper.faces import MIRROR_ABOVE_BROWS, above_brows
    from shared.faces import face_edge_px

    source = prepare_source(astronaut())
    template = "ffhq512"
    mesh, filled = source.mesh(template), source.mirrored(template)
    edge = face_edge_px(mesh)
    assert not (filled & above_brows(mesh, filled.shape[0], MIRROR_ABOVE_BROWS * edge)).any()
    assert (filled & ~above_brows(mesh, filled.shape[0], -2 * edge)).sum() > 500  # beside and below the brows


def test_a_strand_of_hair_across_the_source_s_lid_is_painted_over_with_skin():
    """A strand from a lock down obama's temple crosses his upper lid. Lids never travel mirrored (a mirrored lid's
    crease beside his own is a second crease), and the strand, left as it was or mirrored with the other eye's
    lash line, read as a liner's wing beside a filled temple (a blind review). It is painted over from the skin
    round it: median L* 36 where he has 42 under it, drawn 17."""
    from services.swapper.faces import SOURCE_LID_MARGIN
    from shared.faces import face_edge_px, image_face_mesh

    portrait = photo("obama")
    covered, _, strand = _with_a_lock(portrait, image_face_mesh(portrait, largest_face(portrait)), strand_to=386)
    source = prepare_source(covered)
    template = "ffhq512"
    aligned, crop_mesh = source.aligned(template), source.mesh(template)
    eyes = (region_mask(crop_mesh, "eyes", aligned.size, feather_px=0) > 0.5).astype(np.uint8)
    reach = int(2 * SOURCE_LID_MARGIN * face_edge_px(crop_mesh)) | 1
    lids = cv2.dilate(eyes, np.ones((reach, reach), np.uint8)) > cv2.dilate(eyes, np.ones((7, 7), np.uint8))
    on_lid = lids & (cv2.warpAffine(strand, aligned.matrix, (aligned.size,) * 2, flags=cv2.INTER_NEAREST) > 0)
    assert on_lid.sum() > 50 and source.mirrored(template)[on_lid].mean() > 0.9
    lightness = {name: float(np.median(bgr_to_lab(crop)[..., 0][on_lid])) for name, crop in (
        ("drawn", aligned.crop), ("painted", source.crop(template)),
        ("his", align_face(portrait, source.face, template).crop))}
    assert abs(lightness["painted"] - lightness["his"]) < 10 < lightness["his"] - lightness["drawn"], lightness


def _with_a_lock(portrait: np.ndarray, mesh: np.ndarray,
                 strand_to: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(covered portrait, lock, strand): a dark lock of hair drawn down the face's temple and cheek (5 face edges
    wide along the outline's points 251–361), inside the face outline, and optionally a strand from its middle
    (point 356) to mesh point `strand_to`; lock and strand as uint8 masks, the lock clipped to the outline."""
    from shared.faces import face_edge_px, face_oval_mask

    edge = face_edge_px(mesh)
    lock, strand = np.zeros(portrait.shape[:2], np.uint8), np.zeros(portrait.shape[:2], np.uint8)
    cv2.polylines(lock, [mesh[[251, 389, 356, 454, 323, 361]].astype(np.int32)], False, 1, thickness=int(5 * edge))
    if strand_to is not None:
        cv2.line(strand, tuple(mesh[356].astype(int)), tuple(mesh[strand_to].astype(int)), 1,
                 thickness=max(2, int(0.6 * edge)))
    inside = (face_oval_mask(mesh, portrait.shape[:2], 0, 0) > 0.5).astype(np.uint8)
    covered = portrait.copy()
    covered[((lock | strand) & inside) > 0] = (30, 38, 52)
    return covered, lock & inside, strand


def test_behind_glasses_the_eyes_are_swapped_and_the_frames_stay(ctx):
    target = photo("khanna")
    face, mesh = _face_and_mesh("khanna")
    framed = with_glasses(target, mesh)
    frames = np.abs(framed.astype(int) - target).max(axis=2) > 60
    output = run_swap(ctx, framed, photo("ocasio_cortez"))
    changed = np.abs(output.image.astype(int) - framed).max(axis=2)
    assert frames.sum() > 500
    assert (changed[frames] == 0).mean() > 0.98  # the frames are the photo's own pixels
    eyes = region_mask(mesh, "eyes", target.shape[:2], feather_px=0) > 0.5
    assert (changed[eyes] > 8).mean() > 0.5  # the eyes seen through the lenses are the virtual model's
    # the skin the frames frame (round the eyes, under the lenses, the nose bridge) is the virtual model's too
    height, width = target.shape[:2]
    zone = glasses_zone(mesh, max(height, width))[:height, :width]
    brows = region_mask(mesh, "brows", target.shape[:2], feather_px=0) > 0.5
    inside = face_oval_mask(mesh, target.shape[:2], 0, 0) > 0.5
    skin = zone & inside & ~grown(frames, 6) & ~grown(eyes, 12) & ~grown(brows, 6)
    assert skin.sum() > 3000
    assert (changed[skin] > 4).mean() > 0.5  # 0.68; none while the whole zone round the eyes stayed
    codes = {w["code"] for f in output.report["faces"] for w in f["warnings"]}
    assert "target-glasses" in codes


@pytest.mark.parametrize("name, bridge", [("sewell", "middle"), ("khanna", "middle"), ("khanna", "top"),
                                          ("sewell", "top")])
def test_eyes_are_not_painted_onto_sunglasses(ctx, name, bridge):
    """Behind dark lenses no eye is seen, so none may be swapped in: on a dark skin the colour model took a
    black lens for skin, and the portrait's eyes were painted onto the sunglasses; and sunglasses whose bridge
    joins the lenses' tops (no bar between the eyes) were not seen as glasses at all and painted over whole."""
    target = photo(name)
    _, mesh = _face_and_mesh(name)
    shaded = target.copy()
    lenses = np.zeros(target.shape[:2], np.uint8)
    ends = []
    for outer, inner in ((33, 133), (263, 362)):
        centre = tuple(int(v) for v in np.round((mesh[outer] + mesh[inner]) / 2.0))
        axes = (int(0.85 * abs(mesh[outer, 0] - mesh[inner, 0])), int(0.6 * abs(mesh[outer, 0] - mesh[inner, 0])))
        cv2.ellipse(shaded, centre, axes, 0, 0, 360, (20, 22, 25), -1, cv2.LINE_AA)
        cv2.ellipse(lenses, centre, (axes[0] - 3, axes[1] - 3), 0, 0, 360, 1, -1)
        ends.append((centre[0], centre[1] - axes[1]) if bridge == "top" else tuple(int(v) for v in mesh[inner]))
    cv2.line(shaded, ends[0], ends[1], (20, 22, 25), 6, cv2.LINE_AA)
    output = run_swap(ctx, shaded, photo("ocasio_cortez"))
    changed = np.abs(output.image.astype(int) - shaded).max(axis=2)
    assert (changed[lenses > 0] == 0).mean() > 0.98  # before: 0.70 on sewell, and a top bridge's lenses painted over
    # where the colour model found the lenses they stay as something in front of the face, without the glasses'
    # warning; the likeness's warning says the face is still the photo's model's
    codes = {w["code"] for f in output.report["faces"] for w in f["warnings"]}
    assert codes & {"target-glasses", "identity-not-transferred"}


def test_large_round_rims_are_found_whole():
    """Large round frames reach further below the eyes than the zone where glasses were first looked
    for; the swap painted over their lower arcs and left gaps in the rims (scholten+shop)."""
    image = photo("khanna")
    face = largest_face(image)
    aligned = align_face(image, face, composite_template(face))
    mesh = face_mesh(aligned.crop).astype(np.float64)
    framed = aligned.crop.copy()
    eye_width = abs(mesh[33, 0] - mesh[133, 0])
    lower_arcs = np.zeros(framed.shape[:2], bool)
    for outer, inner in ((33, 133), (263, 362)):
        centre = tuple(int(v) for v in np.round((mesh[outer] + mesh[inner]) / 2.0))
        radius = int(round(1.05 * eye_width))
        cv2.circle(framed, centre, radius, (30, 28, 40), max(2, int(round(eye_width / 8))), cv2.LINE_AA)
        ring = np.zeros(framed.shape[:2], np.uint8)
        cv2.circle(ring, centre, radius, 1, 1)
        lower_arcs |= (ring > 0) & (np.arange(framed.shape[0])[:, None] > centre[1] + 0.7 * radius)
    assert lower_arcs.sum() > 40
    assert frame_mask(framed, mesh, aligned.scale)[lower_arcs].mean() > 0.98


@pytest.mark.parametrize("name", ["portrait_astronaut", "sewell", "blunt_rochester"])
def test_a_smiling_source_leaves_no_strokes_beside_closed_lips(ctx, name):
    """A smile's corner creases landed beside the photo's closed lips as dark strokes (3–6 % of the
    corners' surroundings darker by 12 L*): the mouth's corners stay the photo's."""
    source = load_image(name) if name.startswith("portrait_") else photo(name)
    target = photo("ocasio_cortez")
    _, mesh = _face_and_mesh("ocasio_cortez")
    output = run_swap(ctx, target, source).image
    width = float(np.linalg.norm(mesh[454] - mesh[234]))
    corners = np.zeros(target.shape[:2], np.uint8)
    for point in mesh[[61, 291]]:
        cv2.circle(corners, tuple(int(v) for v in np.round(point)), int(0.08 * width), 1, -1)
    lips = region_mask(mesh, "lips", target.shape[:2], feather_px=0) > 0.5
    around = (corners > 0) & ~(cv2.dilate(lips.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    darker = bgr_to_lab(target)[..., 0] - bgr_to_lab(output)[..., 0] > 12
    assert around.sum() > 500
    assert darker[around].mean() < 0.01


def test_a_small_portrait_takes_the_photo_s_skin_texture(ctx):
    """A 78-px portrait face put on a 300-px face: upscaled, its cheeks had a quarter of the photo's fine
    texture (pores, grain: lightness above a 1.5-px Gaussian) and looked airbrushed."""
    target = photo("obama")
    _, mesh = _face_and_mesh("obama")
    output = run_swap(ctx, target, scaled(photo("ocasio_cortez"), 78)).image
    cheeks = region_mask(mesh, "blush", target.shape[:2], feather_px=0) > 0.5

    def fine_texture(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return float((grey - cv2.GaussianBlur(grey, (0, 0), 1.5))[cheeks].std())

    assert fine_texture(output) > 0.6 * fine_texture(target)  # 0.26 × before


def test_a_small_portrait_s_eyes_are_not_drawn(ctx):
    """Real-ESRGAN alone outlined a 78-px portrait's eyes, lashes and brows harder than any photograph
    (edges around them 1.5 × the photo's at the 99th percentile): it looked drawn."""
    target = photo("khanna")
    _, mesh = _face_and_mesh("khanna")
    output = run_swap(ctx, target, scaled(photo("ocasio_cortez"), 78)).image
    shape = target.shape[:2]
    features = ((region_mask(mesh, "eyes", shape, feather_px=0) > 0.5)
                | (region_mask(mesh, "brows", shape, feather_px=0) > 0.5))
    reach = int(0.04 * float(np.linalg.norm(mesh[454] - mesh[234])))
    around = cv2.dilate(features.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0

    def strongest_edges(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        return float(np.percentile(gradient[around], 99))

    assert strongest_edges(output) < 1.3 * strongest_edges(target)


def test_a_bearded_photo_keeps_its_beard_and_moustache(ctx):
    """A shaven source's skin left a hole under the photo's lower lip and half a moustache: the beard is
    hair in front of the face."""
    target = photo("casar")
    _, mesh = _face_and_mesh("casar")
    output = run_swap(ctx, target, photo("sewell")).image
    lower = np.zeros(target.shape[:2], bool)
    lower[int(mesh[2, 1]):int(mesh[152, 1]), int(mesh[172, 0]):int(mesh[397, 0])] = True  # nose base to chin
    lightness = bgr_to_lab(target)[..., 0]
    hair = lower & (lightness < np.median(lightness[lower]) - 15)
    hair &= ~(region_mask(mesh, "lips", target.shape[:2], feather_px=0) > 0.5)
    assert hair.sum() > 2000
    unchanged = np.abs(output.astype(int) - target).max(axis=2) <= 2
    assert unchanged[hair].mean() > 0.9


def test_a_bearded_source_leaves_no_stubble_on_a_shaven_chin(ctx):
    """A bearded portrait's beard stayed out, but the skin it frames (under the lower lip, its sparse
    edges) travelled with its stubble, toned to the photo's skin: a mottled grey-brown patch under
    Biden's lip. The area a beard frames stays the photo's."""
    target = photo("biden")
    _, mesh = _face_and_mesh("biden")
    output = run_swap(ctx, target, photo("casar")).image
    chin = np.zeros(target.shape[:2], bool)  # from the lower lip halfway to the chin, between the mouth corners
    chin[int(mesh[17, 1]):int(mesh[17, 1] + mesh[152, 1]) // 2, int(mesh[61, 0]):int(mesh[291, 0])] = True
    change = np.abs(bgr_to_lab(output)[..., 0].astype(float) - bgr_to_lab(target)[..., 0])
    assert (change[chin] > 6).mean() < 0.02


def _dark_specks(image: np.ndarray, region: np.ndarray, sigma: float) -> float:
    """Share of `region` whose lightness is 8 L* or more below its surroundings (Gaussian of σ px)."""
    lightness = bgr_to_lab(image)[..., 0].astype(np.float32)
    return float(((lightness - cv2.GaussianBlur(lightness, (0, 0), sigma)) < -8.0)[region].mean())


def test_a_shaven_man_s_stubble_leaves_no_dots_on_a_woman_s_chin(ctx):
    """Khanna's stubble, too sparse to be a beard, travelled as dark dots onto a woman's upper lip and chin
    (a fresh user's review): below the nose the portrait's dark specks are lifted."""
    target = photo("ocasio_cortez")
    _, mesh = _face_and_mesh("ocasio_cortez")
    output = run_swap(ctx, target, photo("khanna")).image
    chin = np.zeros(target.shape[:2], bool)  # below the lower lip, between the mouth corners
    chin[int(mesh[17, 1]) + 5:int(mesh[152, 1]) - 5, int(mesh[61, 0]):int(mesh[291, 0])] = True
    chin &= ~(region_mask(mesh, "lips", target.shape[:2], feather_px=0) > 0.5)
    sigma = 0.02 * float(mesh[:, 0].max() - mesh[:, 0].min())
    assert _dark_specks(output, chin, sigma) <= 1.5 * _dark_specks(target, chin, sigma)  # without: 2 ×


def test_a_smile_s_folds_on_a_closed_mouth_take_the_photo_s_shading(ctx):
    """Obama's smile folds, warped onto Biden's closed mouth, read as dark creases beside the nose (5.6 %
    of forehead and cheeks darker than the photo); along the folds the shading is now the photo's, and the
    result stays nearer Obama (by 0.028 of SFace since his portrait is turned to Biden's pose for its shape,
    0.044 before: inside the development set's 0.03 margin, see bench/README.md)."""
    report = run_swap(ctx, photo("biden"), photo("obama")).report["faces"][0]
    assert report["realism"]["dark_patches"] <= 0.03
    assert report["realism"]["identity_to_source"] > report["realism"]["identity_to_original"] + 0.02


@pytest.mark.parametrize("source, mismatch", [("sewell", True), ("ocasio_cortez", False)])
def test_a_smile_on_a_closed_mouth_is_flagged(ctx, source, mismatch):
    """The photo's closed mouth stays, but a smiling portrait's creases can read as a smirk: never silently."""
    output = run_swap(ctx, photo("biden"), photo(source))
    codes = {w["code"] for f in output.report["faces"] for w in f["warnings"]}
    assert ("expression-mismatch" in codes) == mismatch


@pytest.mark.parametrize("face_px", [None, 110])
def test_a_source_s_lipstick_leaves_no_specks_beside_the_photo_s_lips(ctx, face_px):
    """Red lipstick on a fuller lip landed beside a thin closed mouth as red specks (0.5–0.6 % of the
    lips' surroundings 8 a* redder): the source's lips never travel."""
    source = photo("ocasio_cortez") if face_px is None else scaled(photo("ocasio_cortez"), face_px)
    target = photo("biden")
    _, mesh = _face_and_mesh("biden")
    output = run_swap(ctx, target, source).image
    lips = (region_mask(mesh, "lips", target.shape[:2], feather_px=0) > 0.5).astype(np.uint8)
    reach = int(0.06 * float(np.linalg.norm(mesh[454] - mesh[234])))
    around = cv2.dilate(lips, np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    around &= ~(cv2.dilate(lips, np.ones((3, 3), np.uint8)) > 0)
    redder = bgr_to_lab(output)[..., 1] - bgr_to_lab(target)[..., 1] > 8
    assert redder[around].mean() < 0.002


def test_a_source_with_a_fringe_carries_its_identity(ctx):
    """Her fringe rests on her brows: they travel with the hair on them, and where his own (higher) brows
    would show above hers the photo's forehead fills in. Before, her brows stayed out with the fringe: the
    result kept his brows and stayed nearer him (SFace 0.47 to her, 0.58 to him; now 0.52 and 0.57)."""
    output = run_swap(ctx, photo("khanna"), photo("gluesenkamp_perez"))
    assert output.report["faces"][0]["realism"]["identity_to_source"] > 0.5


def test_a_dark_portrait_s_irises_stay_dark_on_a_lighter_face(ctx):
    """The whites of the eyes take a share of a lighter photo's light; the irises lifted with them had
    turned grey-blue (the eyes' darkest quarter 12 L* lighter than the photo's own, now within 6)."""
    target = photo("gluesenkamp_perez")
    _, mesh = _face_and_mesh("gluesenkamp_perez")
    output = run_swap(ctx, target, photo("sewell")).image
    eyes = region_mask(mesh, "eyes", target.shape[:2], feather_px=0) > 0.5
    darkest = [np.percentile(bgr_to_lab(image)[..., 0][eyes], 25) for image in (target, output)]
    assert darkest[1] < darkest[0] + 6


def test_a_source_cut_by_its_border_is_refused():
    image = photo("ocasio_cortez")
    face = largest_face(image)
    x, y, w, h = face.box
    cut = np.ascontiguousarray(image[int(y + 0.45 * h):, :])  # the top of the head and the eyes gone
    with pytest.raises(Exception) as caught:
        prepare_source(cut)
    assert getattr(caught.value, "details", {}).get("role") == "source"


def test_a_source_cut_beside_an_eye_is_refused():
    """Cut 12 % of a face width inside its box, obama's portrait keeps 95 % of the box (under the 12 % bar) but
    not his eye's outer corner: beyond the border and round it the lids were masked out, and a broken eye went
    onto every photo (SFace 0.13 to him on biden). An eye centre nearer the border than SOURCE_EYE_MARGIN face
    widths is refused with the reason; cut at 5 % it is kept."""
    from services.swapper.faces import SOURCE_EYE_MARGIN, eye_margin

    image = photo("obama")
    x, y, w, h = (int(v) for v in largest_face(image).box)
    with pytest.raises(InvalidInput, match="cut beside an eye") as caught:
        prepare_source(np.ascontiguousarray(image[:, x + int(0.12 * w):]))
    assert caught.value.details.get("role") == "source"
    kept = np.ascontiguousarray(image[:, x + int(0.05 * w):])
    assert eye_margin(prepare_source(kept).original_face, kept.shape) >= SOURCE_EYE_MARGIN


def test_a_face_whose_eyes_are_outside_the_photo_is_cut_by_the_frame():
    image = photo("khanna")
    face = largest_face(image)
    assert not cut_by_frame(face, image.shape)
    x, y, w, h = face.box
    shifted = type(face)(box=(x, y - 0.45 * h, w, h), landmarks5=face.landmarks5 - (0, 0.45 * h + y),
                         score=face.score, roll=face.roll)
    assert cut_by_frame(shifted, image.shape)


@pytest.mark.parametrize("turn", [cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_a_face_turned_any_way_round_is_found_with_its_roll(turn):
    upright = photo("ocasio_cortez")
    expected = {cv2.ROTATE_180: 180.0, cv2.ROTATE_90_CLOCKWISE: 90.0, cv2.ROTATE_90_COUNTERCLOCKWISE: -90.0}[turn]
    roll_upright = largest_face(upright).roll
    faces = detect_faces(cv2.rotate(upright, turn))
    assert len(faces) == 1
    difference = (faces[0].roll - roll_upright - expected + 180.0) % 360.0 - 180.0
    assert abs(difference) < 20.0


@pytest.mark.parametrize("target_face_px, warned", [(140.0, True), (104.0, False)])
def test_a_portrait_smaller_than_the_photo_s_face_is_warned(ctx, target_face_px, warned):
    """A portrait's face 100 px wide on a photo's face 140 px wide (0.71 of it) has had its detail invented
    by upscaling: the result warns `low-source-detail` (a fresh reviewer found such results unpublishable
    while they reported `pass`); on a face of about its own size it does not."""
    source = scaled(photo("ocasio_cortez"), 100.0)
    target = shop_canvas(photo("khanna"), face_px=target_face_px)
    output = run_swap(ctx, target, source, engine="classical")
    codes = {w["code"] for face in output.report["faces"] for w in face["warnings"]}
    assert ("low-source-detail" in codes) == warned
