import numpy as np
import pytest

from shared.errors import InvalidInput, NoFaceFound
from shared.faces import (MESH_POINTS, REGIONS, align_face, face_edge_px, face_mesh, face_oval_mask, image_face_mesh,
                          mesh_topology, person_mask, region_mask)

IRIS_CENTERS = (468, 473)  # subject's right, left


def test_mesh_has_478_points_inside_the_crop(astronaut_mesh):
    assert astronaut_mesh.shape == (MESH_POINTS, 2) == (478, 2)
    assert astronaut_mesh.dtype == np.float32
    assert np.all((astronaut_mesh > 0) & (astronaut_mesh < 512))


def test_iris_centres_sit_on_the_detected_eyes(astronaut_mesh, astronaut_aligned, astronaut_face):
    eyes = astronaut_aligned.to_crop(astronaut_face.landmarks5[:2])
    error = np.linalg.norm(astronaut_mesh[list(IRIS_CENTERS)] - eyes, axis=1)
    assert error.max() < 0.05 * 512


def test_image_mesh_is_mapped_back_to_the_photo(astronaut_image, astronaut_face):
    mesh = image_face_mesh(astronaut_image, astronaut_face)
    error = np.linalg.norm(mesh[list(IRIS_CENTERS)] - astronaut_face.landmarks5[:2], axis=1)
    assert error.max() < 0.08 * astronaut_face.width


def test_mesh_on_a_faceless_crop_is_no_face_found():
    with pytest.raises(NoFaceFound):
        face_mesh(np.full((256, 256, 3), 180, np.uint8))


def test_topology_outlines_are_closed_loops():
    topology = mesh_topology()
    assert len(topology["oval"][0]) == 36
    assert [len(loop) for loop in topology["eyes"]] == [16, 16]
    assert 0 in topology["lips_outer"][0] and 13 in topology["lips_inner"][0]


def test_face_oval_mask_is_soft_inside_and_zero_outside(astronaut_mesh):
    mask = face_oval_mask(astronaut_mesh, 512)
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    nose_tip = np.round(astronaut_mesh[1]).astype(int)
    assert mask[nose_tip[1], nose_tip[0]] == pytest.approx(1.0)
    assert mask[0, 0] == 0 and mask[511, 511] == 0
    assert 0.0 < mask[(mask > 0) & (mask < 1)].size  # feathered, not a hard cut
    oval = np.zeros((512, 512), np.uint8)
    import cv2

    cv2.fillPoly(oval, [np.round(astronaut_mesh[mesh_topology()["oval"][0]]).astype(np.int32)], 1)
    grown = cv2.dilate(oval, np.ones((3, 3), np.uint8))
    assert mask[grown == 0].max() == 0.0


def test_feather_scales_with_face_size(astronaut_image, astronaut_face):
    small = face_mesh(align_face(astronaut_image, astronaut_face, "ffhq256").crop)
    large = face_mesh(align_face(astronaut_image, astronaut_face, "ffhq1024").crop)
    assert face_edge_px(large) / face_edge_px(small) == pytest.approx(4.0, rel=0.1)
    area = np.sqrt(abs(__import__("cv2").contourArea(small[mesh_topology()["oval"][0]])))
    assert face_edge_px(small) == pytest.approx(area / 20)


@pytest.mark.parametrize("region", REGIONS)
def test_every_region_is_a_non_empty_part_of_the_face(astronaut_mesh, region):
    mask = region_mask(astronaut_mesh, region, 512)
    oval = face_oval_mask(astronaut_mesh, 512, erode_px=0, feather_px=0)
    assert mask.shape == (512, 512) and mask.max() == pytest.approx(1.0, abs=0.05)
    assert (mask > 0.5).sum() > 100
    assert ((mask > 0.5) & (oval == 0)).sum() < 0.1 * (mask > 0.5).sum()


def test_regions_sit_where_they_belong(astronaut_mesh):
    def at(mask, index):
        x, y = np.round(astronaut_mesh[index]).astype(int)
        return mask[y, x]

    eyes, lips, skin = (region_mask(astronaut_mesh, r, 512) for r in ("eyes", "lips", "skin"))
    eyeshadow, blush, nose = (region_mask(astronaut_mesh, r, 512) for r in ("eyeshadow", "blush", "nose"))
    assert at(eyes, 468) > 0.9 and at(skin, 468) < 0.1  # iris: eye, not skin
    assert at(lips, 17) > 0.5 and at(skin, 17) < 0.5  # lower lip
    assert at(skin, 50) > 0.9 and at(blush, 50) > 0.5  # cheek
    assert at(nose, 4) > 0.9 and at(eyes, 4) == 0
    assert at(eyeshadow, 468) < 0.1
    shadow_rows = np.nonzero((eyeshadow > 0.5).any(axis=1))[0]
    assert shadow_rows.mean() < astronaut_mesh[468, 1]  # above the eyes


def test_bad_mask_requests(astronaut_mesh):
    with pytest.raises(InvalidInput, match="unknown face region"):
        region_mask(astronaut_mesh, "ears", 512)
    with pytest.raises(InvalidInput, match="mesh"):
        face_oval_mask(np.zeros((5, 2)), 512)
    with pytest.raises(InvalidInput):
        face_oval_mask(astronaut_mesh, 512, feather_px=-1)


def test_person_mask_covers_the_person_not_the_backdrop(astronaut_image, astronaut_face):
    mask = person_mask(astronaut_image)
    assert mask.shape == astronaut_image.shape[:2] and mask.dtype == np.float32
    cx, cy = np.round(astronaut_face.center).astype(int)
    assert mask[cy, cx] > 0.8
    assert mask[:60, :60].mean() < 0.2  # the flag in the top-left corner
