"""The quality bars of issue 6 for the landmarks engine, measured on the astronaut portrait."""
from __future__ import annotations

import numpy as np
import pytest

from services.makeup.looks import load_looks
from shared.faces import bgr_to_lab, delta_e_ciede2000, find_faces, identity_similarity
from tests.makeup.conftest import read_test_image, run_makeup
from tests.makeup.measure import CORE, mean_lab, region_delta_e

INTENSITIES = (0.25, 0.5, 0.75, 1.0)
BOX_DILATION = 0.25  # of the face box's width/height on each side


def test_lips_move_toward_the_reference_monotonically(ctx, astronaut, astronaut_masks, red_lips_reference):
    lips = astronaut_masks["lips"]
    goal = mean_lab(red_lips_reference, lips)
    before = float(delta_e_ciede2000(mean_lab(astronaut, lips), goal))
    assert before > 15, "the red reference must differ clearly from the natural lips"
    drops = []
    for intensity in INTENSITIES:
        result = run_makeup(ctx, astronaut, red_lips_reference, regions=["lips"], intensity=intensity)
        drops.append(1 - float(delta_e_ciede2000(mean_lab(result.image, lips), goal)) / before)
    print("ΔE drop by intensity", dict(zip(INTENSITIES, np.round(drops, 3))))
    assert all(later > earlier for earlier, later in zip(drops, drops[1:])), drops
    assert drops[-1] >= 0.5
    assert 0.35 <= drops[1] / drops[-1] <= 0.65  # intensity 0.5 goes about half the way


@pytest.mark.parametrize("requested", [["lips"], ["lips", "blush"]])
def test_regions_not_requested_do_not_change(ctx, astronaut, astronaut_masks, requested):
    result = run_makeup(ctx, astronaut, look="evening-red", regions=requested)
    for region, mask in astronaut_masks.items():
        change = region_delta_e(astronaut, result.image, mask)
        if region in requested:
            assert change > 3, f"{region} was requested but hardly changed (ΔE {change:.2f})"
        else:
            assert change < 1, f"{region} was not requested but changed by ΔE {change:.2f}"


@pytest.mark.parametrize("source", [*sorted(load_looks()), "red-lips-reference"])
def test_identity_is_preserved(ctx, astronaut, red_lips_reference, source):
    if source == "red-lips-reference":
        result = run_makeup(ctx, astronaut, red_lips_reference)
    else:
        result = run_makeup(ctx, astronaut, look=source)
    similarity = identity_similarity(astronaut, result.image)
    print(f"identity {source}: {similarity:.3f}")
    assert similarity >= 0.85


def _changed_outside(original: np.ndarray, result: np.ndarray, boxes) -> int:
    """Count of changed pixels outside every face box dilated by BOX_DILATION."""
    outside = np.ones(original.shape[:2], bool)
    for x, y, w, h in boxes:
        x0, y0 = int(x - BOX_DILATION * w), int(y - BOX_DILATION * h)
        x1, y1 = int(np.ceil(x + w + BOX_DILATION * w)), int(np.ceil(y + h + BOX_DILATION * h))
        outside[max(0, y0):y1, max(0, x0):x1] = False
    return int((np.any(original != result, axis=2) & outside).sum())


def test_only_the_face_changes_in_a_full_body_photo(ctx):
    photo = read_test_image("images/body_w120.jpg")
    result = run_makeup(ctx, photo, look="autumn-warm")
    face = find_faces(photo)[0]
    assert np.any(photo != result.image), "the look changed nothing"
    assert _changed_outside(photo, result.image, [face.box]) == 0


def test_face_selection_picks_which_faces_change(ctx):
    group = read_test_image("images/group_three.jpg")
    faces = sorted(find_faces(group, {"face_selector": "all"}), key=lambda f: f.center[0])
    assert len(faces) == 3
    middle = run_makeup(ctx, group, look="evening-red", face_selector="index", face_index=1)
    assert _changed_outside(group, middle.image, [faces[1].box]) == 0
    assert len(middle.report["faces"]) == 1
    everyone = run_makeup(ctx, group, look="evening-red", face_selector="all")
    assert _changed_outside(group, everyone.image, [f.box for f in faces]) == 0
    for face in faces:
        x, y, w, h = (int(v) for v in face.box)
        assert np.any(group[y:y + h, x:x + w] != everyone.image[y:y + h, x:x + w]), face.box


def test_intensity_zero_leaves_the_photo_byte_identical(ctx, astronaut):
    result = run_makeup(ctx, astronaut, look="evening-red", intensity=0.0)
    assert np.array_equal(result.image, astronaut)


def test_lip_texture_and_shading_are_kept(ctx, astronaut, astronaut_masks, red_lips_reference):
    """Makeup shifts colour; it must not paste a flat colour over the lips' highlights and creases."""
    core = astronaut_masks["lips"] >= CORE
    result = run_makeup(ctx, astronaut, red_lips_reference, regions=["lips"])
    spread_before = bgr_to_lab(astronaut)[core][:, 0].std()
    spread_after = bgr_to_lab(result.image)[core][:, 0].std()
    assert 0.7 <= spread_after / spread_before <= 1.3, (spread_before, spread_after)


@pytest.mark.parametrize("name", sorted(load_looks()))
def test_every_look_moves_its_lips_toward_its_color(ctx, astronaut, astronaut_masks, name):
    look = load_looks()[name]
    result = run_makeup(ctx, astronaut, look=name, regions=["lips"])
    goal = look.regions["lips"].lab()
    lips = astronaut_masks["lips"]
    before = float(delta_e_ciede2000(mean_lab(astronaut, lips), goal))
    after = float(delta_e_ciede2000(mean_lab(result.image, lips), goal))
    assert after < before * (1 - 0.4 * look.regions["lips"].intensity), (before, after)
    assert result.report["faces"][0]["regions"]["lips"]["weight"] == pytest.approx(look.regions["lips"].intensity)
