"""Piecewise-affine warping over the face mesh, and the identity-shape transfer the classical engine uses.

The source face texture is mapped triangle by triangle onto the target's 478-point mesh geometry:
the destination points are Delaunay-triangulated (so destination triangles never overlap and every
covered pixel belongs to exactly one triangle), each triangle gets the affine map back to its source
triangle, and one `cv2.remap` samples the whole crop.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import minimize_scalar

from shared.errors import InvalidInput
from shared.faces import apply_affine, mesh_topology, similarity_matrix

SUBPIXEL_BITS = 4  # fixed-point precision of the triangle raster
TURN_LIMIT_RAD = 1.2  # the most `turned_fit` turns a face (about 70°: beyond, a profile)
MESH_SURFACE_POINTS = 468  # the 10 iris points follow the eyes; shape fits use the surface only
# Landmarks on the face's left/right edge and the nose tip: a 2-D proxy for head yaw.
_FACE_EDGE_RIGHT, _FACE_EDGE_LEFT, _NOSE_TIP = 234, 454, 1


def delaunay_triangles(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(K, 3) indices of the Delaunay triangles of `points` inside an image of (height, width)."""
    height, width = size
    points = np.asarray(points, np.float32) + np.float32(0.0)  # + 0: −0.0 and 0.0 are one vertex
    # a mesh point outside the crop (face partly out of frame) is simply not used; of points at one place, the first
    x, y = points[:, 0], points[:, 1]
    inside = np.flatnonzero((x >= 0) & (x < width) & (y >= 0) & (y < height))
    if not len(inside):
        raise InvalidInput("the face mesh is degenerate: no triangles inside the crop")
    keys, first = np.unique(_vertex_keys(points[inside]), return_index=True)
    used = inside[np.sort(first)]
    subdiv = cv2.Subdiv2D((0, 0, width, height))
    for px, py in points[used]:
        subdiv.insert((float(px), float(py)))
    # each corner back to its point: triangles on Subdiv2D's virtual outer vertices find none and are dropped
    corners = _vertex_keys(np.asarray(subdiv.getTriangleList(), np.float32).reshape(-1, 2) + np.float32(0.0))
    slot = np.clip(np.searchsorted(keys, corners), 0, len(keys) - 1)
    found = (keys[slot] == corners).reshape(-1, 3)
    ids = inside[first[slot]].reshape(-1, 3)
    triangles = ids[found.all(1)]
    if not len(triangles):
        raise InvalidInput("the face mesh is degenerate: no triangles inside the crop")
    return triangles.astype(np.int64)


def _vertex_keys(points: np.ndarray) -> np.ndarray:
    """One int64 per float32 (x, y) pair, equal exactly when both coordinates are."""
    return np.ascontiguousarray(points, np.float32).view(np.int64).reshape(-1)


def piecewise_affine(source: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
                     size: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp `source` so that `source_points` land on `target_points`; returns (size×size crop, coverage).

    Coverage is a bool mask of the pixels inside the triangulated target mesh; outside it the crop
    holds reflected filler that callers must mask out.
    """
    source_points = np.asarray(source_points, np.float64)
    target_points = np.asarray(target_points, np.float64)
    if source_points.shape != target_points.shape:
        raise InvalidInput(f"meshes differ in shape: {source_points.shape} vs {target_points.shape}")
    triangles = delaunay_triangles(target_points, (size, size))
    labels = np.zeros((size, size), np.int32)
    fixed = np.round(target_points * (1 << SUBPIXEL_BITS)).astype(np.int32)
    for k, tri in enumerate(triangles, start=1):
        cv2.fillConvexPoly(labels, fixed[tri], k, cv2.LINE_8, SUBPIXEL_BITS)
    # Affine per triangle: [x, y, 1] @ A[k] = source point, solved from its three vertices.
    corners = np.concatenate([target_points[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    solvable = np.abs(np.linalg.det(corners)) > 1e-9
    affines = np.zeros((len(triangles), 3, 2))
    affines[solvable] = np.linalg.solve(corners[solvable], source_points[triangles][solvable])
    labels[np.isin(labels, np.flatnonzero(~solvable) + 1)] = 0
    ys, xs = np.nonzero(labels)
    coeff = affines[labels[ys, xs] - 1]
    map_x = np.full((size, size), -1.0, np.float32)
    map_y = np.full((size, size), -1.0, np.float32)
    map_x[ys, xs] = xs * coeff[:, 0, 0] + ys * coeff[:, 1, 0] + coeff[:, 2, 0]
    map_y[ys, xs] = xs * coeff[:, 0, 1] + ys * coeff[:, 1, 1] + coeff[:, 2, 1]
    warped = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return warped, labels > 0


def yaw_proxy(mesh: np.ndarray) -> float:
    """Where the nose tip sits between the face's edges: 0 frontal, about ±0.5 in full profile."""
    right, left, nose = mesh[_FACE_EDGE_RIGHT, 0], mesh[_FACE_EDGE_LEFT, 0], mesh[_NOSE_TIP, 0]
    width = left - right
    return 0.0 if abs(width) < 1e-6 else float((nose - right) / width - 0.5)


def turned_fit(source_mesh: np.ndarray, source_depth: np.ndarray, target_mesh: np.ndarray) -> np.ndarray:
    """(N, 2) `source_mesh` turned in depth to the target's yaw and fitted onto `target_mesh`.

    The source's points, with their depths (`face_mesh(with_depth=True)`), are turned about the vertical
    axis by the angle whose orthographic projection, similarity-fitted (`similarity_matrix`: roll, scale,
    shift), lies closest to the target's surface points (weak perspective, the pose model of 3-D
    morphable-model fitting; Blanz & Vetter 1999). Yaw only: a pitch fitted from MediaPipe's monocular
    depth took up part of a face's length and nose as pose, and the portrait's likeness fell on frontal
    pairs (two development pairs inside the identity margin)."""
    surface = MESH_SURFACE_POINTS
    points = np.column_stack([source_mesh, source_depth]).astype(np.float64)
    points -= points[:surface].mean(axis=0)
    target = np.asarray(target_mesh, np.float64)

    def fitted(yaw: float) -> np.ndarray:
        flat = np.column_stack([points[:, 0] * np.cos(yaw) + points[:, 2] * np.sin(yaw), points[:, 1]])
        return apply_affine(similarity_matrix(flat[:surface], target[:surface]), flat)

    best = minimize_scalar(lambda yaw: float(((fitted(yaw)[:surface] - target[:surface]) ** 2).sum()),
                           bounds=(-TURN_LIMIT_RAD, TURN_LIMIT_RAD), method="bounded")
    return fitted(float(best.x))


def transfer_shape(source_mesh: np.ndarray, source_depth: np.ndarray, target_mesh: np.ndarray, strength: float,
                   ramp: float, turn_blend: float) -> np.ndarray:
    """Target geometry with the source's inner-face shape (eye spacing, nose, brow line) blended in.

    The source mesh is fitted to the target; its residual shape moves the target points by `strength`,
    fading to zero towards the face outline (over `ramp` × face size) so the jaw and hairline stay the
    target's, and not at all on the lips (the target's expression and teeth stay). A 2-D similarity fit
    leaves the difference of two head poses in the residual, which would pull a frontal portrait's
    features across a three-quarter face, so as the two faces' yaw proxies differ by up to `turn_blend`
    the fit passes over to the source turned in depth to the target's pose (`turned_fit`). Faces
    turned alike keep the 2-D fit, whose residual carries a little of the portrait's own slight turn: on
    the development set's near-frontal pairs it kept the likeness 0.01–0.02 of SFace closer.
    """
    source_mesh = np.asarray(source_mesh, np.float64)
    target_mesh = np.asarray(target_mesh, np.float64)
    if strength <= 0.0:
        return target_mesh.copy()
    fit = similarity_matrix(source_mesh[:MESH_SURFACE_POINTS], target_mesh[:MESH_SURFACE_POINTS])
    residual = apply_affine(fit, source_mesh) - target_mesh
    turned = min(1.0, abs(yaw_proxy(source_mesh) - yaw_proxy(target_mesh)) / turn_blend)
    if turned > 0.0:
        residual = (1.0 - turned) * residual + turned * (turned_fit(source_mesh, source_depth, target_mesh)
                                                         - target_mesh)
    topology = mesh_topology()
    outline = target_mesh[topology["oval"][0]].astype(np.float32)
    face_size = np.sqrt(abs(cv2.contourArea(outline)))
    depth = np.array([cv2.pointPolygonTest(outline, (float(x), float(y)), True) for x, y in target_mesh])
    weight = np.clip(depth / (ramp * face_size), 0.0, 1.0) * strength
    lips = sorted({i for loop in topology["lips_outer"] + topology["lips_inner"] for i in loop})
    weight[lips] = 0.0
    return target_mesh + weight[:, None] * residual


# Each eye on MediaPipe's mesh: its corners, upper and lower lid margins, and iris (centre first, then its edge).
EYES = (((33, 133), (246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155),
         (468, 469, 470, 471, 472)),
        ((263, 362), (466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382),
         (473, 474, 475, 476, 477)))
IRIS_CLEARANCE = 0.04  # × the eye's width a lid margin keeps from the iris's edge


def keep_eye_opening(geometry: np.ndarray, target_mesh: np.ndarray) -> np.ndarray:
    """`geometry` (the target's mesh with the source's shape, `transfer_shape`) with each eye no more open
    than the target's, relative to the eye's width: how far a lid is open is expression, like the mouth's.

    A wide-eyed portrait on a photo's smiling, narrowed eyes stared with white all round the iris inside
    the photo's own crow's feet (a fresh reviewer's "doll eyes"). Each lid margin point moves towards where
    the target's lid sits, measured across the line between the eye's corners in units of its width, but
    stops IRIS_CLEARANCE short of the iris's edge: a warp cannot tuck an iris under a lid, it could only
    squash it. An eye less open than the target's is left as it is."""
    geometry = np.asarray(geometry, np.float64).copy()
    target_mesh = np.asarray(target_mesh, np.float64)
    for (outer, inner), upper, lower, iris in EYES:
        corner, axis = geometry[outer], geometry[inner] - geometry[outer]
        width = float(np.linalg.norm(axis))
        target_axis = target_mesh[inner] - target_mesh[outer]
        target_width = float(np.linalg.norm(target_axis))
        if width < 1e-6 or target_width < 1e-6:
            continue
        along = axis / width
        across = _towards(np.array([-axis[1], axis[0]]) / width, geometry[list(lower)] - corner)
        target_across = _towards(np.array([-target_axis[1], target_axis[0]]) / target_width,
                                 target_mesh[list(lower)] - target_mesh[outer])
        centre = (geometry[iris[0]] - corner) @ np.stack([along, across], 1)
        radius = float(np.mean(np.linalg.norm(geometry[list(iris[1:])] - geometry[iris[0]], axis=1)))
        for lid, side in ((upper, -1.0), (lower, 1.0)):  # `across` points to the lower lid
            points = geometry[list(lid)] - corner
            x = points @ along
            # each margin point's opening: its distance from the corners' line, away from the eye's middle
            opening = side * (points @ across)
            wanted = side * ((target_mesh[list(lid)] - target_mesh[outer]) @ target_across) / target_width * width
            # the least opening: the iris's edge plus the clearance where the margin point lies over the
            # iris, the corners' line beyond it
            dx = np.abs(x - centre[0])
            iris_edge = side * centre[1] + np.sqrt(np.clip(radius ** 2 - dx ** 2, 0.0, None)) + IRIS_CLEARANCE * width
            least = np.where(dx < radius, iris_edge, 0.0)
            narrowed = np.minimum(opening, np.maximum(np.minimum(opening, wanted), least))
            geometry[list(lid)] += (side * (narrowed - opening))[:, None] * across[None, :]
    return geometry


def _towards(normal: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`normal`, or its opposite, whichever points towards the mean of `points` (N×2, relative)."""
    return normal if float(np.mean(points @ normal)) >= 0 else -normal
