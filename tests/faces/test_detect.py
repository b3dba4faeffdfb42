import threading
import warnings

import cv2
import numpy as np
import pytest

from shared.errors import InvalidInput, UnsupportedImage
from shared.faces import detect_faces
from shared.faces.detect import SEARCH_MAX_PIXELS, TILE_OVERLAP, _tiles, downscale, pyramid_scales
from tests.data import load_image, testset


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


@pytest.fixture(scope="module")
def detections():
    return {s.name: detect_faces(load_image(s.name)) for s in testset()}


def test_recall_on_the_synthetic_set_is_at_least_95_percent(detections):
    found, total, misses = 0, 0, []
    for sample in testset(kind="face"):
        for truth in sample.faces:
            total += 1
            best = max((iou(truth.box, f.box) for f in detections[sample.name]), default=0.0)
            if best >= 0.5:
                found += 1
            else:
                misses.append((sample.name, round(best, 2)))
    assert total >= 30
    assert found / total >= 0.95, f"recall {found}/{total}, missed {misses}"


def test_no_detections_on_no_face_images(detections):
    negatives = testset(kind="no-face")
    assert len(negatives) >= 8
    assert {s.name: len(detections[s.name]) for s in negatives if detections[s.name]} == {}


def test_no_extra_faces_on_face_images(detections):
    extra = {s.name: len(detections[s.name]) - len(s.faces) for s in testset(kind="face")
             if len(detections[s.name]) > len(s.faces)}
    assert extra == {}


def test_small_faces_from_40_px_in_large_canvases(detections):
    small = testset(tag="small-face")
    assert min(s.faces[0].box[2] for s in small) <= 40
    for sample in small:
        assert any(iou(sample.faces[0].box, f.box) >= 0.5 for f in detections[sample.name]), sample.name


def test_turned_faces_report_their_roll(detections):
    turned = testset(tag="rotated")
    assert {abs(s.faces[0].roll) for s in turned} >= {30, 45, 60}
    for sample in turned:
        face = max(detections[sample.name], key=lambda f: iou(sample.faces[0].box, f.box))
        assert abs(face.roll - sample.faces[0].roll) < 10, (sample.name, face.roll)


def test_landmarks_follow_an_in_plane_rotation(astronaut_image, astronaut_face):
    width = astronaut_face.width
    for angle in (-60, -45, 45, 60):
        matrix = cv2.getRotationMatrix2D((256, 256), angle, 1.0)
        turned = cv2.warpAffine(astronaut_image, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT)
        expected = astronaut_face.landmarks5 @ matrix[:, :2].T + matrix[:, 2]
        faces = detect_faces(turned)
        assert len(faces) == 1
        error = np.linalg.norm(faces[0].landmarks5 - expected, axis=1).max()
        assert error < 0.08 * width, (angle, error)


def test_landmark_order_is_right_eye_left_eye_nose_right_mouth_left_mouth(astronaut_face):
    right_eye, left_eye, nose, right_mouth, left_mouth = astronaut_face.landmarks5
    assert right_eye[0] < nose[0] < left_eye[0]
    assert right_mouth[0] < left_mouth[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])
    x, y, w, h = astronaut_face.box
    assert np.all((astronaut_face.landmarks5 >= [x, y]) & (astronaut_face.landmarks5 <= [x + w, y + h]))


def test_min_score_is_applied(astronaut_image):
    assert detect_faces(astronaut_image, min_score=0.999) == []
    assert len(detect_faces(astronaut_image, min_score=0.5)) == 1


@pytest.mark.parametrize("kwargs", [{"min_score": 0.0}, {"min_score": 1.5}, {"min_face_px": 0}])
def test_bad_parameters_are_refused(astronaut_image, kwargs):
    with pytest.raises(InvalidInput):
        detect_faces(astronaut_image, **kwargs)


@pytest.mark.parametrize("array", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
                                   np.zeros((64, 64, 4), np.uint8), "image.png"])
def test_non_bgr_arrays_are_refused_clearly(array):
    with pytest.raises(UnsupportedImage, match="decode_image"):
        detect_faces(array)


def test_tiny_images_are_refused():
    with pytest.raises(UnsupportedImage, match="at least 8×8"):
        detect_faces(np.zeros((4, 4, 3), np.uint8))


def test_pyramid_runs_coarse_to_fine_down_to_the_minimum_face():
    assert pyramid_scales(512, 512, 40) == [0.5]
    assert pyramid_scales(512, 512, 10) == [1.0]
    assert pyramid_scales(3000, 2000, 40) == [0.125, 0.25, 0.5]  # 40 px faces become 20 px at the finest
    scales = pyramid_scales(8000, 5000, 40)  # 40 MP: the finest level is held to SEARCH_MAX_PIXELS
    assert scales[-1] == pytest.approx((SEARCH_MAX_PIXELS / (8000 * 5000)) ** 0.5) and 8000 * scales[0] <= 640
    assert all(b == 2 * a for a, b in zip(scales, scales[1:]))


def test_tiles_cover_a_large_level_with_overlap():
    level = np.zeros((1500, 2700, 3), np.uint8)
    covered = np.zeros(level.shape[:2], np.int32)
    tiles = list(_tiles(level))
    assert len(tiles) > 1
    for x0, y0, tile in tiles:
        covered[y0:y0 + tile.shape[0], x0:x0 + tile.shape[1]] += 1
        assert tile.base is level  # views, not copies
    assert covered.min() >= 1
    xs = sorted({x0 for x0, _, _ in tiles})
    assert all(b - a <= 1280 - TILE_OVERLAP for a, b in zip(xs, xs[1:]))
    assert len(list(_tiles(level[:500, :500]))) == 1


def test_downscale_matches_a_plain_area_resize():
    image = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (900, 600, 3), dtype=np.uint8), (0, 0), 2)
    fast = downscale(image, 0.17)
    plain = cv2.resize(image, fast.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(fast.astype(int) - plain.astype(int)).mean() < 2.5
    assert downscale(image, 1.0) is image


@pytest.mark.parametrize("scale", [0.82, 0.58])
def test_downscale_above_half_size_matches_a_plain_area_resize(scale):
    image = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (900, 600, 3), dtype=np.uint8), (0, 0), 2)
    fast = downscale(image, scale)
    plain = cv2.resize(image, fast.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert fast.shape[:2] == (round(900 * scale), round(600 * scale))
    assert np.abs(fast.astype(int) - plain.astype(int)).mean() < 1.5


def test_degenerate_shapes_and_extreme_minimums_are_handled(astronaut_image):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert detect_faces(np.zeros((8, 3000, 3), np.uint8)) == []
        assert len(detect_faces(astronaut_image, min_face_px=5000)) == 1  # levels never shrink below 160 px


def test_first_level_search_still_returns_the_largest_face():
    image = load_image("group_three")
    everything = detect_faces(image)
    quick = detect_faces(image, exhaustive=False)
    assert len(everything) == 3
    largest = max(everything, key=lambda f: f.area)
    assert any(iou(largest.box, f.box) > 0.8 for f in quick)


def test_threads_get_their_own_detectors_and_agree():
    image = load_image("body_w72")
    expected = detect_faces(image)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(detect_faces(image))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 9
    for faces in results:
        assert len(faces) == 1
        np.testing.assert_allclose(faces[0].landmarks5, expected[0].landmarks5, atol=1e-3)
