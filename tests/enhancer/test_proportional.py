"""Enhance must not make a face worse: restoration in proportion to the face's measured degradation.

The test's own sharpness figure is the variance of the Laplacian inside the face box (inner 60 %, image
pixels), independent of the window the stage measures in."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.enhancer import degradation
from services.enhancer.stage import STAGE
from shared.faces import find_faces, noise_sigma, sharpness
from tests.data import load_image
from tests.enhancer.conftest import blurred, decoded, jpeg_degraded


def face_sharpness(image: np.ndarray, face) -> float:
    x, y, w, h = face.box
    mask = np.zeros(image.shape[:2], np.float32)
    mask[int(y + 0.2 * h):int(y + 0.8 * h), int(x + 0.2 * w):int(x + 0.8 * w)] = 1
    return sharpness(image, mask)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


@pytest.mark.parametrize("portrait", ["portrait_astronaut", "portrait_hopper"])
def test_a_sharp_face_stays_as_sharp(ctx, portrait):
    """Restored at full strength these faces lost their texture (Hopper's sharpness ×0.22, the
    astronaut's ×0.57); measured as clean, they are left as they are."""
    image = load_image(portrait)
    face = find_faces(image)[0]
    result = STAGE.run(STAGE.parse_params({}), decoded(image), ctx)
    ratio = face_sharpness(result.image, face) / face_sharpness(image, face)
    assert 0.85 <= ratio <= 1.2, ratio
    (entry,) = result.report["restoration"]
    assert entry["degradation"]["score"] < 0.2 and entry["degradation"]["cause"] in ("none", "soft", "blocky", "noisy")
    assert entry["strength"] == pytest.approx(0.8 * entry["degradation"]["score"], abs=1e-3)
    assert 0.85 <= entry["sharpness_ratio"] <= 1.2
    assert result.report["restore"] == "auto"


def test_a_face_restored_below_the_sharpness_bar_is_never_silent(ctx, hopper):
    """`restore: full` on Hopper's clean, grainy face takes it to about a fifth of its sharpness: the
    report says so (`soft-face`), so the job carries a warning; `auto` leaves it and says nothing."""
    full = STAGE.run(STAGE.parse_params({"restore": "full"}), decoded(hopper), ctx).report
    (entry,) = full["restoration"]
    assert entry["sharpness_ratio"] < 0.6
    assert [(w["code"], w["face"]) for w in full["warnings"]] == [("soft-face", 0)]
    assert "warnings" not in STAGE.run(STAGE.parse_params({}), decoded(hopper), ctx).report


def test_noise_is_told_from_texture():
    """The noise measure reads added Gaussian noise at its σ and a clean portrait's pores and edges as
    little noise (Immerkær's mean read them as 2–3 grey levels)."""
    image = load_image("portrait_astronaut")
    grain = np.random.default_rng(0).normal(0, 8, image.shape[:2])[..., None]  # σ 8 in grey as in each channel
    noisy = np.clip(image + grain, 0, 255).astype(np.uint8)
    assert noise_sigma(image) < 1.5
    assert 6.5 < noise_sigma(noisy) < 9.0


def test_a_blurred_face_gets_sharper_at_full_strength(ctx, hopper):
    soft = blurred(hopper)
    face = find_faces(soft)[0]
    result = STAGE.run(STAGE.parse_params({}), decoded(soft), ctx)
    ratio = face_sharpness(result.image, face) / face_sharpness(soft, face)
    assert ratio > 2.0, ratio  # measured ×5
    (entry,) = result.report["restoration"]
    assert entry["degradation"]["cause"] == "soft" and entry["degradation"]["score"] == 1.0
    assert entry["strength"] == pytest.approx(0.8) and entry["sharpness_ratio"] > 2.0
    assert result.report["faces_restored"] == 1


def test_the_measures_rank_clean_soft_blocky_and_noisy_faces(astronaut, hopper):
    for image in (astronaut, hopper, load_image("body_large_w180")):
        face = find_faces(image)[0]
        clean = degradation.measure(image, face)
        assert clean.score == 0.0 and clean.cause == "none", clean
        for soft in (blurred(image, 1.0), blurred(image, 2.0), jpeg_degraded(image)):
            measured = degradation.measure(soft, face)
            assert measured.cause == "soft" and measured.score > 0.6, measured
        assert degradation.measure(jpeg(image, 40), face).score == 0.0  # mild compression: texture is worth more
        blocky = degradation.measure(jpeg(image, 15), face)
        assert blocky.cause == "blocky" and blocky.score == 1.0, blocky
        noise = np.random.default_rng(0).normal(0, 20, image.shape)
        noisy = degradation.measure(np.clip(image + noise, 0, 255).astype(np.uint8), face)
        assert noisy.cause == "noisy" and noisy.score == 1.0, noisy
    shipped = load_image("jpeg_q10_portrait")  # the test set's own quality-10 JPEG
    assert degradation.measure(shipped, find_faces(shipped)[0]).cause == "blocky"
