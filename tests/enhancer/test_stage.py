"""The enhancer stage with its default engine (Real-ESRGAN): quality bars, sizes, bad input."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from services.enhancer import contract as enhancer_contract
from services.enhancer import stage as enhancer
from services.enhancer.stage import STAGE
from shared.errors import ImageTooLarge, NoFaceFound
from shared.faces import align_face, cosine_similarity, find_faces, identity_embedding, sharpness
from shared.settings import Settings
from shared.stage import StageContext
from tests.data import load_image
from tests.enhancer.conftest import blurred, decoded, jpeg_degraded

DEGRADATIONS = {"blurred": blurred, "jpeg": jpeg_degraded}


def _face_sharpness(image: np.ndarray, face) -> float:
    return sharpness(align_face(image, face, "arcface112").crop)


def _outside_dilated_face_box(shape, face) -> np.ndarray:
    """True outside the face box grown by half its size on every side."""
    x, y, w, h = face.box
    outside = np.ones(shape[:2], bool)
    outside[max(0, int(y - 0.5 * h)):int(y + 1.5 * h) + 1, max(0, int(x - 0.5 * w)):int(x + 1.5 * w) + 1] = False
    return outside


@pytest.mark.parametrize("portrait", ["portrait_astronaut", "portrait_hopper"])
@pytest.mark.parametrize("degradation", sorted(DEGRADATIONS))
def test_restoration_sharpens_degraded_faces_keeps_identity_and_nothing_else(ctx, portrait, degradation):
    degraded = DEGRADATIONS[degradation](load_image(portrait))
    face = find_faces(degraded)[0]
    result = STAGE.run(STAGE.parse_params({}), decoded(degraded), ctx)
    before, after = _face_sharpness(degraded, face), _face_sharpness(result.image, face)
    identity = cosine_similarity(identity_embedding(degraded, face), identity_embedding(result.image, face))
    print(f"{portrait} {degradation}: sharpness {before:.0f} → {after:.0f}, identity {identity:.3f}")
    assert after > 1.1 * before  # measured ×1.2 (hopper, JPEG) to ×3.6 (astronaut, blurred)
    assert identity >= 0.80  # measured 0.87 to 0.98
    changed = (result.image != degraded).any(axis=2)
    assert not changed[_outside_dilated_face_box(degraded.shape, face)].any()  # byte-identical there
    assert changed.sum() > 0.3 * face.area
    assert result.report["engine"] == "realesrgan" and result.report["commercial_use"] is True
    assert result.report["faces_restored"] == 1 and result.image.shape == degraded.shape


def test_without_the_mesh_the_landmark_oval_still_confines_the_change(ctx, astronaut, monkeypatch):
    def no_mesh(*args, **kwargs):
        raise NoFaceFound("the face mesh found no face in the aligned crop")

    monkeypatch.setattr(enhancer, "image_face_mesh", no_mesh)
    soft = blurred(astronaut)
    face = find_faces(soft)[0]
    result = STAGE.run(STAGE.parse_params({}), decoded(soft), ctx)
    changed = (result.image != soft).any(axis=2)
    assert changed.sum() > 0.3 * face.area
    assert not changed[_outside_dilated_face_box(soft.shape, face)].any()


def test_upscale_4_gives_exact_size_and_restores_the_face(ctx, astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    crop = np.ascontiguousarray(small[15:115, 70:170])  # one 100×100 tile around a 45-px face
    result = STAGE.run(STAGE.parse_params({"scale": 4}), decoded(crop), ctx)
    assert result.image.shape == (400, 400, 3)
    assert result.report["faces_restored"] == 1 and result.report["output_size"] == [400, 400]
    assert result.report["upscaler"]["engine"] == "realesrgan"
    reported = result.report["faces"][0]["box"]
    found = find_faces(result.image)[0]
    assert abs(found.center[0] - (reported[0] + reported[2] / 2)) < 0.1 * found.width
    assert abs(found.width - reported[2]) < 0.15 * found.width


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_without_a_face_gives_exact_size_and_says_no_face_was_restored(ctx, scale):
    image = np.ascontiguousarray(load_image("noface_brick")[:23, :37])
    result = STAGE.run(STAGE.parse_params({"scale": scale}), decoded(image), ctx)
    assert result.image.shape == (23 * scale, 37 * scale, 3)
    assert result.report["faces_restored"] == 0
    assert "no face restored" in result.report["note"]


def test_no_face_at_scale_1_fails_the_job(ctx):
    with pytest.raises(NoFaceFound):
        STAGE.run(STAGE.parse_params({}), decoded(load_image("noface_brick")), ctx)


def test_upscale_over_the_pixel_limit_is_refused_before_any_work(tmp_path, astronaut, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("work started before the size check")

    monkeypatch.setattr(enhancer, "find_faces", must_not_run)
    monkeypatch.setattr(enhancer.realesrgan, "upscale", must_not_run)
    ctx = StageContext(settings=Settings(data_dir=tmp_path, max_pixels=2_000_000), models=None)
    with pytest.raises(ImageTooLarge, match="2,000,000") as refused:
        STAGE.run(STAGE.parse_params({"scale": 4}), decoded(astronaut), ctx)  # 2048² = 4.2 MP
    assert refused.value.details["max_pixels"] == 2_000_000


def test_params_are_checked():
    assert STAGE.parse_params({}).pre_blur_sigma == enhancer_contract.DEFAULT_PRE_BLUR_SIGMA
    for bad in ({"scale": 3}, {"blend": 1.5}, {"engine": "gfpgan"}, {"pre_blur_sigma": -1}, {"strength": 1}):
        with pytest.raises(ValidationError):
            STAGE.parse_params(bad)
    assert STAGE.parse_params({"face_selector": "index", "face_index": 1}).face_index == 1


def test_reference_selector_restores_only_the_matching_face(ctx, astronaut, hopper):
    left, right = astronaut[:300, 100:360], hopper[60:360, 110:410]
    pair = blurred(np.ascontiguousarray(np.hstack([left, right])))  # both faces soft: both worth restoring
    inputs = decoded(pair)
    inputs.extras["reference"] = identity_embedding(hopper, find_faces(hopper)[0])
    result = STAGE.run(STAGE.parse_params({"face_selector": "reference"}), inputs, ctx)
    changed = (result.image != pair).any(axis=2)
    assert changed[:, left.shape[1]:].sum() > 1000 and not changed[:, :left.shape[1]].any()
