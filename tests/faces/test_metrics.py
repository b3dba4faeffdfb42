import math

import cv2
import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.faces import bgr_to_lab, delta_e_ciede2000, outside_mask_psnr, seam_delta_e, sharpness

# Pairs and expected ΔE00 from Sharma, Wu & Dalal (2005), Table 1.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
]


def test_ciede2000_reproduces_published_values():
    lab1 = np.array([p[0] for p in SHARMA])
    lab2 = np.array([p[1] for p in SHARMA])
    np.testing.assert_allclose(delta_e_ciede2000(lab1, lab2), [p[2] for p in SHARMA], atol=1e-4)


def test_ciede2000_agrees_with_scikit_image():
    from skimage.color import deltaE_ciede2000

    rng = np.random.default_rng(3)
    lab1 = np.stack([rng.uniform(0, 100, 2000), rng.uniform(-90, 90, 2000), rng.uniform(-90, 90, 2000)], 1)
    lab2 = lab1 + rng.normal(0, 8, lab1.shape)
    np.testing.assert_allclose(delta_e_ciede2000(lab1, lab2), deltaE_ciede2000(lab1, lab2), atol=1e-9)
    assert np.all(delta_e_ciede2000(lab1, lab1) == 0)


def _scene():
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8), (0, 0), 3)
    mask = np.zeros((200, 300), np.float32)
    cv2.circle(mask, (150, 100), 50, 1.0, -1)
    return image, mask


def test_outside_psnr_is_infinite_when_only_the_face_changed():
    image, mask = _scene()
    result = image.copy()
    result[mask > 0] = 0
    assert outside_mask_psnr(image, result, mask) == math.inf


def test_outside_psnr_measures_changes_outside_the_dilated_mask():
    image, mask = _scene()
    result = image.astype(np.int16)
    result[:, :20] += 10  # a 10-level change in a strip far from the face
    result = np.clip(result, 0, 255).astype(np.uint8)
    changed = (result != image).any(axis=2)[:, :20].sum()
    outside = (cv2.dilate((mask > 0).astype(np.uint8), np.ones((11, 11), np.uint8)) == 0).sum()
    mse = 100.0 * 3 * changed / (3 * outside)
    expected = 10 * math.log10(255 ** 2 / mse)
    assert outside_mask_psnr(image, result, mask, dilate_px=5) == pytest.approx(expected, rel=0.02)


def test_seam_delta_e_sees_a_color_step_at_the_mask_edge():
    image = np.full((200, 300, 3), (120, 140, 170), np.uint8)
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 2, image.shape), 0, 255).astype(np.uint8)
    image = cv2.GaussianBlur(noisy, (0, 0), 1)
    mask = np.zeros((200, 300), np.float32)
    cv2.circle(mask, (150, 100), 50, 1.0, -1)
    seamless = seam_delta_e(image, mask)
    stepped = image.copy()
    stepped[mask > 0.5] = np.clip(stepped[mask > 0.5].astype(int) + (0, 0, 30), 0, 255)
    expected = delta_e_ciede2000(bgr_to_lab(image[100:101, 150:151]), bgr_to_lab(stepped[100:101, 150:151]))[0, 0]
    assert seamless < 1.0
    assert seam_delta_e(stepped, mask) == pytest.approx(expected, rel=0.15)


def test_sharpness_drops_with_blur(astronaut_aligned, astronaut_mesh):
    from shared.faces import face_oval_mask

    crop = astronaut_aligned.crop
    assert sharpness(cv2.GaussianBlur(crop, (0, 0), 2)) < 0.3 * sharpness(crop)
    face = face_oval_mask(astronaut_mesh, 512)
    assert sharpness(cv2.GaussianBlur(crop, (0, 0), 2), face) < 0.3 * sharpness(crop, face)


def test_metric_inputs_are_checked():
    image, mask = _scene()
    with pytest.raises(InvalidInput):
        outside_mask_psnr(image, image[:100], mask)
    with pytest.raises(InvalidInput):
        outside_mask_psnr(image, image, np.ones_like(mask))
    with pytest.raises(InvalidInput):
        seam_delta_e(image, np.zeros_like(mask))
    with pytest.raises(InvalidInput):
        delta_e_ciede2000(np.zeros((3, 3)), np.zeros((3, 2)))
