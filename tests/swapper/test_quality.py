"""Issue 4's quality bars for the classical engine, measured on the face test set with the toolkit's
metrics: untouched pixels outside the face, identity carried over and consistent across a catalogue,
occluders kept in front, skin tone matched to the body.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.swapper.compose import CHANGE_BOX_SCALE, change_box
from shared.faces import (Face, bgr_to_lab, cosine_similarity, delta_e_ciede2000, detect_faces, identity_embedding,
                          image_face_mesh, largest_face, region_mask)
from tests.data import load_image, sample, unrelated_face
from tests.data.realism import photo
from tests.swapper.conftest import run_swap

# Ten catalogue-like photos of one person (the astronaut): portraits, full-body canvases, mirrored,
# turned in-plane, dim. The source is a different person without glasses (a public-domain congressional
# portrait from the realism development set; Grace Hopper's glasses would keep her eye area out).
CATALOGUE = ("portrait_astronaut", "portrait_astronaut_mirror", "portrait_closeup", "body_w72", "body_w120",
             "rot-30", "rot+30", "mirror_w80", "dark_w80", "jpeg_q12_w64")
DILATED_BOX_SCALE = 2.0  # the "dilated face box"; the engine promises CHANGE_BOX_SCALE ≤ this
NON_SKIN_GREEN = (40, 160, 60)  # BGR


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return photo("ocasio_cortez")


@pytest.fixture(scope="module")
def catalogue(ctx, source) -> dict[str, dict]:
    """Every catalogue photo swapped once, with its original face and the SFace similarities."""
    source_embedding = identity_embedding(source, largest_face(source))
    results = {}
    for name in CATALOGUE:
        target = load_image(name)
        face = largest_face(target)
        output = run_swap(ctx, target, source)
        swapped = identity_embedding(output.image, face)
        results[name] = {"target": target, "face": face, "output": output,
                         "to_source": cosine_similarity(swapped, source_embedding),
                         "to_original": cosine_similarity(swapped, identity_embedding(target, face))}
    return results


def _dilated_box_mask(box: tuple[float, ...], shape: tuple[int, ...], scale: float) -> np.ndarray:
    """A square about the box centre, `scale` × the box's longer side wide (turned faces included)."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    half = max(w, h) * scale / 2
    mask = np.zeros(shape[:2], bool)
    mask[max(0, int(cy - half)):int(np.ceil(cy + half)) + 1, max(0, int(cx - half)):int(np.ceil(cx + half)) + 1] = True
    return mask


def test_change_box_is_within_the_dilated_face_box():
    assert CHANGE_BOX_SCALE <= DILATED_BOX_SCALE


@pytest.mark.parametrize("name", ["portrait_astronaut", "body_w120", "rot-45", "rot+60", "occluded_block",
                                  "body_large_w180"])
def test_outside_the_dilated_face_box_is_byte_identical(ctx, source, name):
    target = load_image(name)
    output = run_swap(ctx, target, source).image
    face = largest_face(target)
    assert output.shape == target.shape and output.dtype == np.uint8
    inside = _dilated_box_mask(sample(name).faces[0].box, target.shape, DILATED_BOX_SCALE)  # ground truth
    assert np.array_equal(output[~inside], target[~inside])
    x0, y0, x1, y1 = change_box(face, target.shape)
    outside_change_box = np.ones(target.shape[:2], bool)
    outside_change_box[y0:y1, x0:x1] = False
    assert np.array_equal(output[outside_change_box], target[outside_change_box])
    changed = (output != target).any(axis=2)
    # the face itself did change (the upper forehead, the lips and anything covering either face stay the
    # target's own pixels, so a face behind a block changes over less of its box)
    assert changed.sum() > 0.2 * face.area


def test_identity_is_the_source_on_average_and_the_original_is_gone(catalogue):
    to_source = [r["to_source"] for r in catalogue.values()]
    to_original = {name: round(r["to_original"], 3) for name, r in catalogue.items()}
    print("identity to source:", {n: round(r["to_source"], 3) for n, r in catalogue.items()})
    print("identity to original:", to_original)
    assert np.mean(to_source) >= 0.40
    assert min(to_source) >= 0.40
    # The target's hair, head outline, upper forehead and lips stay (issue 13: the target's mouth state
    # wins), so some of the original remains (0.22–0.38 measured); every result must be nearer the
    # source than the original, and none may come close to a same-person score (> 0.5).
    assert np.mean(list(to_original.values())) < 0.36, to_original
    assert all(r["to_source"] > r["to_original"] + 0.1 for r in catalogue.values()), to_original
    assert max(to_original.values()) < 0.45, to_original


def test_identity_is_consistent_across_the_catalogue(catalogue):
    to_source = [r["to_source"] for r in catalogue.values()]
    assert len(to_source) == 10
    assert max(to_source) - min(to_source) <= 0.15, str({n: round(r["to_source"], 3) for n, r in catalogue.items()})


def test_report_matches_the_measured_identity(catalogue):
    for name, result in catalogue.items():
        (face_report,) = result["output"].report["faces"]
        assert face_report["engine"] == "classical" and face_report["commercial_use"] is True
        # the stage finds the source face with its own minimum size; landmarks differ by a pixel or so
        assert face_report["identity_similarity"] == pytest.approx(result["to_source"], abs=0.04), name
        assert face_report["seam_delta_e"] is not None


def _paint_block(image: np.ndarray, face: Face, fraction_x: float, fraction_y: float) -> tuple[np.ndarray, np.ndarray]:
    """A flat non-skin block over the lower-left part of the face box."""
    x, y, w, h = face.box
    painted, mask = image.copy(), np.zeros(image.shape[:2], np.uint8)
    cv2.rectangle(mask, (int(x), int(y + (1 - fraction_y) * h)), (int(x + fraction_x * w), int(y + h)), 1, -1)
    painted[mask.astype(bool)] = NON_SKIN_GREEN
    return painted, mask.astype(bool)


def _unchanged_fraction(output: np.ndarray, target: np.ndarray, occluder: np.ndarray, face: Face) -> float:
    box = np.zeros(occluder.shape, bool)
    x, y, w, h = (int(round(v)) for v in face.box)
    box[y:y + h, x:x + w] = True
    pixels = occluder & box
    return float((output[pixels] == target[pixels]).all(axis=1).mean())


@pytest.mark.parametrize("name", ["portrait_astronaut", "body_w120"])
def test_synthetic_occluder_stays_in_front(ctx, source, name):
    clean = load_image(name)
    face = largest_face(clean)
    target, occluder = _paint_block(clean, face, 0.5, 0.45)
    x, y, w, h = (int(round(v)) for v in face.box)
    coverage = occluder[y:y + h, x:x + w].mean()
    assert 0.15 <= coverage <= 0.30
    output = run_swap(ctx, target, source).image
    assert _unchanged_fraction(output, target, occluder, largest_face(target)) >= 0.90
    assert (output != target).any(axis=2).sum() > 0.2 * face.area  # the rest of the face was swapped


@pytest.mark.parametrize("name", ["occluded_glasses", "occluded_block"])
def test_test_set_occluders_stay_in_front(ctx, source, name):
    target = load_image(name)
    occluder = np.zeros(target.shape[:2], np.uint8)
    for item in sample(name).occluders:
        cv2.fillPoly(occluder, [np.array(p, np.int32) for p in item["polygons"]], 1)
    output = run_swap(ctx, target, source).image
    assert _unchanged_fraction(output, target, occluder.astype(bool), largest_face(target)) >= 0.90


def test_keep_occlusions_off_paints_over_the_occluder(ctx, source):
    clean = load_image("portrait_astronaut")
    target, occluder = _paint_block(clean, largest_face(clean), 0.5, 0.45)
    output = run_swap(ctx, target, source, keep_occlusions=False).image
    assert _unchanged_fraction(output, target, occluder, largest_face(target)) < 0.5


def _hand_skin(image: np.ndarray, name: str) -> np.ndarray:
    """LAB pixels of the mannequin's hands, located from the canvas geometry of make_testset.py
    (unit = 1.15 × face width, neck 0.55 units below the face centre, hands 1.52 units to the side
    and 3.45 units below the neck)."""
    x, y, w, h = sample(name).faces[0].box
    unit = w * 1.15
    neck_x, neck_y = x + w / 2, y + h / 2 + 0.55 * unit
    mask = np.zeros(image.shape[:2], np.uint8)
    for side in (-1, 1):
        cv2.circle(mask, (int(neck_x + side * 1.52 * unit), int(neck_y + 3.45 * unit)), max(1, int(0.12 * unit)), 1, -1)
    pixels = bgr_to_lab(image)[mask.astype(bool)]
    assert pixels[:, 0].std() < 3.0, "the sampled patch is not the flat-coloured hand"
    return pixels


@pytest.mark.parametrize("name", ["body_w120", "body_w72", "dark_w80", "mirror_w80"])
def test_skin_tone_matches_the_body(ctx, source, name):
    target = load_image(name)
    output = run_swap(ctx, target, source).image
    face = largest_face(output)
    mesh = image_face_mesh(output, face)
    skin = region_mask(mesh, "skin", output.shape[:2]) > 0.5
    face_lab = bgr_to_lab(output)[skin].mean(axis=0)
    body_lab = _hand_skin(target, name).mean(axis=0)
    before = delta_e_ciede2000(bgr_to_lab(target)[skin].mean(axis=0), body_lab)
    after = delta_e_ciede2000(face_lab, body_lab)
    unmatched = run_swap(ctx, target, source, color_match=False).image
    without = delta_e_ciede2000(bgr_to_lab(unmatched)[skin].mean(axis=0), body_lab)
    print(f"{name}: skin ΔE to body {after:.2f} (original face {before:.2f}, without colour match {without:.2f})")
    assert after <= 8.0
    assert without > after  # the match did the work, not a lucky source


def test_only_the_selected_face_changes(ctx, source):
    target = load_image("group_three")
    output = run_swap(ctx, target, source, face_selector="index", face_index=2).image
    faces = detect_faces(target)  # left to right
    assert len(faces) == 3
    changed = (output != target).any(axis=2)
    for index, face in enumerate(faces):
        region = _dilated_box_mask(face.box, target.shape, 1.0)
        assert changed[region].any() == (index == 2), index
    assert len(run_swap(ctx, target, source, face_selector="all").report["faces"]) == 3
