"""The classical engine's parts on their own: the piecewise-affine mesh warp, the shape transfer and
the occluder finder."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.swapper.meshwarp import (EYES, IRIS_CLEARANCE, delaunay_triangles, keep_eye_opening, piecewise_affine,
                                       transfer_shape, yaw_proxy)
from services.swapper.occlusion import keep_out_weight, occluder_mask
from shared.errors import InvalidInput
from shared.faces import (align_face, apply_affine, face_mesh, face_oval_mask, largest_face, mesh_topology, region_mask,
                          similarity_matrix)
from tests.data import astronaut, load_image, sample


@pytest.fixture(scope="module")
def aligned_astronaut():
    image = astronaut()
    aligned = align_face(image, largest_face(image), "ffhq512")
    return aligned.crop, face_mesh(aligned.crop).astype(np.float64)


def test_a_global_affine_is_reproduced_triangle_by_triangle(aligned_astronaut):
    crop, mesh = aligned_astronaut
    matrix = cv2.getRotationMatrix2D((256, 256), 7.0, 0.9)
    moved = mesh @ matrix[:, :2].T + matrix[:, 2]
    warped, covered = piecewise_affine(crop, mesh, moved, 512)
    expected = cv2.warpAffine(crop, matrix, (512, 512), flags=cv2.INTER_LINEAR)
    inner = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inner.sum() > 0.2 * 512 * 512
    assert np.abs(warped[inner].astype(int) - expected[inner].astype(int)).max() <= 2


def test_coverage_is_the_mesh_hull_and_triangles_do_not_overlap(aligned_astronaut):
    _, mesh = aligned_astronaut
    triangles = delaunay_triangles(mesh, (512, 512))
    hull = np.zeros((512, 512), np.uint8)
    cv2.fillConvexPoly(hull, np.round(cv2.convexHull(mesh.astype(np.float32))[:, 0]).astype(np.int32), 1)
    areas = 0.5 * np.abs(np.cross(mesh[triangles[:, 1]] - mesh[triangles[:, 0]],
                                  mesh[triangles[:, 2]] - mesh[triangles[:, 0]]))
    assert areas.sum() == pytest.approx(cv2.contourArea(cv2.convexHull(mesh.astype(np.float32))), rel=1e-3)
    _, covered = piecewise_affine(np.zeros((512, 512, 3), np.uint8), mesh, mesh, 512)
    assert abs(int(covered.sum()) - int(hull.sum())) < 0.01 * hull.sum()


def test_points_outside_the_crop_and_repeated_points_are_left_out_of_the_triangles(aligned_astronaut):
    _, mesh = aligned_astronaut
    cut = mesh - (mesh[:, 0].min() + 40, 0)  # the face's left edge falls off the crop
    repeated = np.concatenate([cut, cut[:5]])  # the last five points repeat the first five
    triangles = delaunay_triangles(repeated, (512, 512))
    used = np.unique(triangles)
    assert (cut[used, 0] >= 0).all() and used.max() < len(cut)
    assert np.array_equal(used, np.flatnonzero(cut[:, 0] >= 0))  # every point inside is a vertex
    with pytest.raises(InvalidInput):
        delaunay_triangles(mesh - 1000, (512, 512))


@pytest.fixture(scope="module")
def astronaut_depth(aligned_astronaut):
    crop, mesh = aligned_astronaut
    points = face_mesh(crop, with_depth=True).astype(np.float64)
    assert np.array_equal(points[:, :2], mesh)  # the same crop meshes the same with its depths
    return points[:, 2]


def _turned(mesh: np.ndarray, depth: np.ndarray, yaw_deg: float) -> np.ndarray:
    """The mesh's head turned `yaw_deg` about the vertical axis and seen straight on (orthographic)."""
    yaw = np.radians(yaw_deg)
    centre = np.array([*mesh.mean(0), depth.mean()])
    points = np.column_stack([mesh, depth]) - centre
    turned = points @ np.array([[np.cos(yaw), 0.0, np.sin(yaw)], [0.0, 1.0, 0.0], [-np.sin(yaw), 0.0, np.cos(yaw)]]).T
    return turned[:, :2] + centre[:2]


def test_shape_transfer_keeps_the_outline_and_lips_and_moves_the_inside(aligned_astronaut, astronaut_depth):
    _, mesh = aligned_astronaut
    other = mesh.copy()
    eye_points = sorted({i for loop in mesh_topology()["eyes"] for i in loop})
    other[eye_points, 1] -= 12.0  # a face whose eyes sit higher
    moved = transfer_shape(other, astronaut_depth, mesh, strength=1.0, ramp=0.15, turn_blend=0.25)
    outline = mesh_topology()["oval"][0]
    lips = sorted({i for loop in mesh_topology()["lips_outer"] for i in loop})
    assert np.allclose(moved[outline], mesh[outline], atol=1e-6)
    assert np.allclose(moved[lips], mesh[lips], atol=1e-6)
    assert (mesh[eye_points, 1] - moved[eye_points, 1]).mean() > 6.0
    assert np.allclose(transfer_shape(other, astronaut_depth, mesh, 0.0, 0.15, 0.25), mesh)


@pytest.mark.parametrize("yaw_deg", [-35.0, 25.0])
def test_a_frontal_portrait_is_turned_to_a_three_quarter_face_before_its_shape_is_taken(aligned_astronaut,
                                                                                       astronaut_depth, yaw_deg):
    """The same face turned 25–35°: a 2-D fit reads the turn as shape and would pull the features across
    the face; the portrait turned to the photo's pose has no shape to give but the eyes moved up."""
    _, mesh = aligned_astronaut
    target = _turned(mesh, astronaut_depth, yaw_deg)
    assert abs(yaw_proxy(target) - yaw_proxy(mesh)) > 0.25
    inner = sorted({i for loop in mesh_topology()["eyes"] for i in loop} | {1, 4, 5, 6, 168, 197})  # eyes, nose ridge
    unmoved = transfer_shape(mesh, astronaut_depth, target, 1.0, 0.15, 0.25)
    assert np.abs(unmoved[inner] - target[inner]).max() < 1.0
    flat_fit = apply_affine(similarity_matrix(mesh[:468], target[:468]), mesh)
    assert np.abs(flat_fit[inner] - target[inner]).max() > 8.0  # what the 2-D fit alone would have moved
    other = mesh.copy()
    eye_points = sorted({i for loop in mesh_topology()["eyes"] for i in loop})
    other[eye_points, 1] -= 12.0
    moved = transfer_shape(other, astronaut_depth, target, 1.0, 0.15, 0.25)
    assert (target[eye_points, 1] - moved[eye_points, 1]).mean() > 6.0
    assert np.abs(moved[eye_points, 0] - target[eye_points, 0]).mean() < 2.0


def _narrowed(mesh: np.ndarray, share: float) -> np.ndarray:
    """The mesh with both eyes' lid margins drawn towards the line between their corners by `share`."""
    narrowed = mesh.copy()
    for (outer, inner), upper, lower, _ in EYES:
        corner, axis = mesh[outer], mesh[inner] - mesh[outer]
        normal = np.array([-axis[1], axis[0]]) / np.linalg.norm(axis)
        for lid in (upper, lower):
            height = (mesh[list(lid)] - corner) @ normal
            narrowed[list(lid)] -= share * height[:, None] * normal[None, :]
    return narrowed


def _iris_gap(mesh: np.ndarray) -> float:
    """The smallest distance from an upper or lower lid's middle point to its iris's edge, in eye widths."""
    gaps = []
    for (outer, inner), upper, lower, iris in EYES:
        width = np.linalg.norm(mesh[inner] - mesh[outer])
        radius = np.mean(np.linalg.norm(mesh[list(iris[1:])] - mesh[iris[0]], axis=1))
        for lid in (upper, lower):
            gaps.append((np.linalg.norm(mesh[lid[len(lid) // 2]] - mesh[iris[0]]) - radius) / width)
    return float(min(gaps))


def test_an_eye_more_open_than_the_photo_s_is_narrowed_down_to_its_iris(aligned_astronaut):
    """Doll eyes: a wide-eyed portrait on a photo's smiling, narrowed eyes showed white all round the iris."""
    _, mesh = aligned_astronaut
    wide = _narrowed(mesh, -1.5)  # a portrait's eyes wide open: white above and below the iris
    kept = keep_eye_opening(wide, _narrowed(mesh, 0.8))  # on a photo's nearly closed eyes
    lids = [i for _, upper, lower, _ in EYES for i in (*upper, *lower)]
    corners = [i for (outer, inner), *_ in EYES for i in (outer, inner)]
    assert _iris_gap(wide) > 0.1
    assert np.abs(kept[lids] - wide[lids]).max() > 3.0  # the lids came closer
    assert np.allclose(kept[corners], wide[corners]) and np.allclose(kept[468:], wide[468:])
    assert IRIS_CLEARANCE - 0.01 <= _iris_gap(kept) < 0.5 * _iris_gap(wide)  # down to the iris, not over it
    assert np.allclose(keep_eye_opening(mesh, wide), mesh)  # an eye less open than the photo's stays


def test_a_clean_face_has_almost_no_occluders(aligned_astronaut):
    crop, mesh = aligned_astronaut
    occluders = occluder_mask(crop, mesh)
    oval = face_oval_mask(mesh, 512, 0, 0) > 0.5
    assert occluders.sum() < 0.03 * oval.sum()


@pytest.mark.parametrize("color", [(40, 160, 60), (160, 60, 40), (30, 30, 30), (235, 235, 240)])
def test_a_non_skin_block_over_the_face_is_found(aligned_astronaut, color):
    crop, mesh = aligned_astronaut
    covered = crop.copy()
    block = np.zeros((512, 512), bool)
    block[300:380, 180:300] = True  # over the mouth and a cheek
    covered[block] = color
    occluders = occluder_mask(covered, mesh)
    oval = face_oval_mask(mesh, 512, 0, 0) > 0.5
    inside = block & oval
    assert occluders[inside].mean() > 0.95
    assert (occluders & ~block).sum() < 0.03 * oval.sum()


def test_the_keep_out_weight_is_one_on_occluders_and_fades_outside():
    occluders = np.zeros((64, 64), bool)
    occluders[20:30, 20:30] = True
    weight = keep_out_weight(occluders, 3)
    assert (weight[occluders] == 1).all()
    assert weight[25, 32] == 1 and 0 < weight[25, 34] < 1 and weight[25, 45] == 0
    # no step anywhere: a jump of the paste weight shows as a seam line
    assert np.abs(np.diff(weight, axis=1)).max() < 0.4 and np.abs(np.diff(weight, axis=0)).max() < 0.4


def test_glasses_in_the_test_set_are_found():
    image = load_image("occluded_glasses")
    aligned = align_face(image, largest_face(image), "ffhq512")
    mesh = face_mesh(aligned.crop)
    lenses = np.zeros((512, 512), np.uint8)
    for polygon in sample("occluded_glasses").occluders[0]["polygons"]:
        cv2.fillPoly(lenses, [np.round(aligned.to_crop(np.array(polygon, np.float64))).astype(np.int32)], 1)
    lenses = cv2.erode(lenses, np.ones((5, 5), np.uint8)).astype(bool)  # the anti-aliased rim is half skin
    lenses &= face_oval_mask(mesh, 512, 0, 0) > 0.5
    assert lenses.sum() > 1000
    assert occluder_mask(aligned.crop, mesh)[lenses].mean() > 0.95


def test_a_fashion_model_s_false_lashes_and_eye_shadow_are_no_cover(monkeypatch):
    """On a shop canvas c001130's false lashes and smoky shadow reached past the features' margin and were kept
    as a cover (911 px of her 384-px crop), and with them the photo's own eye and lashes beside the portrait's.
    A dark blob within EYE_MAKEUP_REACH of the eyes is their make-up and is swapped with them; a lens reaches
    further (`test_glasses_in_the_test_set_are_found`)."""
    from services.swapper import occlusion
    from services.swapper.faces import composite_template, find_targets, prepare_target
    from shared.faces import FaceSelection
    from tests.data.realism.make_variants import TURNED_SPECS, build

    image = build(next(s for s in TURNED_SPECS if s.name == "astronaut→c001130+shop")).target
    face = find_targets(image, FaceSelection(), None)[0]  # as the stage finds it
    target = prepare_target(image, face, composite_template(face))
    eyes = region_mask(target.mesh, "eyes", target.aligned.size, feather_px=0) > 0.5
    near_eyes = cv2.dilate(eyes.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
    assert occluder_mask(target.aligned.crop, target.mesh)[near_eyes].sum() == 0
    monkeypatch.setattr(occlusion, "EYE_MAKEUP_SPILL", -1.0)  # every dark blob a cover, as before
    assert occluder_mask(target.aligned.crop, target.mesh)[near_eyes].sum() > 500
