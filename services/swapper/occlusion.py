"""Occluders in the target face: pixels inside the face outline that do not look like this face.

Hands, hair, glasses or objects in front of the face must stay in front after a swap. The target's
own skin colour is modelled robustly (median and spread in CIELAB over the skin region, so an
occluder covering part of it does not bias the model); pixels far from it are "not skin". Eyes,
brows and lips are not skin either, so not-skin blobs count as occluders only where they reach
outside those features by a meaningful area; inside the features, a blob's pixels are occluder only
when they share its colour (a dark lens over an eye, not the eye beside it).
"""
from __future__ import annotations

import cv2
import numpy as np

from shared.faces import (LAB_L_OFFSET, bgr_to_lab, disk, face_edge_px, face_oval_mask, grown, mesh_topology,
                          region_mask)

FEATURE_REGIONS = ("eyes", "brows", "lips", "mouth")
EYE_CORNERS = (33, 263)  # MediaPipe mesh: the eyes' outer corners, whose line parts the face above the eyes from below
FEATURE_GROW = 0.3  # features are grown by this × the face edge width
SKIN_FLOOR = np.array([4.0, 2.0, 2.0])  # minimum spread of L, a, b in the skin model
CHROMA_LIMIT = 4.0  # robust z-distance in (a, b) beyond which a pixel is not skin
LIGHTNESS_LIMIT = 5.0  # robust z-distance in L beyond which a pixel is not skin
DARKER_LIMIT = 4.0  # with the cheek model: z-distance below the cheeks' L beyond which a pixel is a cover
MIN_OCCLUDER_FRACTION = 0.01  # of the face-oval area, outside the features
EYE_MAKEUP_REACH = 1.2  # × face edge width round the eye outlines: a dark blob within it is the eye's make-up (a
# fashion model's false lashes and smoky shadow had been kept as a cover, and with them the photo's eye); a lens
# reaches 2–3 face edges beyond the eye
EYE_MAKEUP_SPILL = 0.05  # share of a blob's pixels off the features that may lie beyond EYE_MAKEUP_REACH
OCCLUDER_FLOOR = np.array([3.0, 3.0, 3.0])
OCCLUDER_LIMIT = 3.0
INLIER_Z = 2.5
MIN_SKIN_PIXELS = 16


def robust_lab_stats(pixels: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the inliers (within 2.5 robust σ of the median on every channel)."""
    median = np.median(pixels, axis=0)
    spread = np.maximum(np.median(np.abs(pixels - median), axis=0) * 1.4826, floor)
    inliers = (np.abs(pixels - median) / spread < INLIER_Z).all(axis=1)
    chosen = pixels[inliers] if inliers.sum() >= 16 else pixels
    return chosen.mean(axis=0), np.maximum(chosen.std(axis=0), floor)


def far_from_skin(z: np.ndarray) -> np.ndarray:
    """Bool H×W: pixels whose robust z-distance (H×W×3, L*a*b* less the skin's median over its spread) puts
    them off the skin, by CHROMA_LIMIT in (a, b) or LIGHTNESS_LIMIT in L."""
    return (np.hypot(z[..., 1], z[..., 2]) > CHROMA_LIMIT) | (np.abs(z[..., 0]) > LIGHTNESS_LIMIT)


def line_response(grey: np.ndarray, element: np.ndarray) -> np.ndarray:
    """uint8 H×W: how far each pixel of `grey` stands below or above its surroundings on lines thinner than
    the structuring `element` (the larger of black-hat and top-hat): dark and light rims, bars, strands."""
    return np.maximum(cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, element),
                      cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, element))


def bounding_slices(mask: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the smallest box holding every True pixel (empty when none)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def feature_mask(mesh: np.ndarray, size: int) -> np.ndarray:
    """Eyes, brows, lips and mouth, slightly grown: where not-skin colours are expected."""
    features = np.zeros((size, size), bool)
    for region in FEATURE_REGIONS:
        features |= region_mask(mesh, region, size, feather_px=0) > 0.5
    grow = max(1, int(round(FEATURE_GROW * face_edge_px(mesh))))
    return grown(features, grow)


def occluder_mask(crop: np.ndarray, mesh: np.ndarray, skin_from_cheeks: bool = False) -> np.ndarray:
    """Bool mask (crop pixels) of what covers the face in an aligned crop.

    `skin_from_cheeks` models the skin on the cheeks alone: stricter, for a source portrait, where a
    fringe can cover a third of the face outline and would otherwise widen the model until hair
    counts as skin; only darker pixels then count as covering it."""
    size = crop.shape[0]
    occluders = np.zeros((size, size), bool)
    oval_full = face_oval_mask(mesh, size, erode_px=0, feather_px=0) > 0.5
    box = bounding_slices(oval_full)  # colour work only around the face
    lab = bgr_to_lab(crop[box])
    oval = oval_full[box]
    features = feature_mask(mesh, size)[box]
    skin = oval & ~features
    if skin.sum() < MIN_SKIN_PIXELS:
        return occluders
    reference = skin
    if skin_from_cheeks:
        cheeks = skin & (region_mask(mesh, "blush", size, feather_px=0) > 0.5)[box]
        reference = cheeks if cheeks.sum() >= 4 * MIN_SKIN_PIXELS else skin
    mean, spread = robust_lab_stats(lab[reference].astype(np.float64), SKIN_FLOOR)
    z = (lab - mean) / spread
    if skin_from_cheeks:
        # The strict cheek model would call a lit forehead or cheek (brighter, less saturated) not skin:
        # there only what is darker than the skin counts (hair, a hat, a shadowing hand).
        not_skin = oval & (z[..., 0] < -DARKER_LIMIT)
    else:
        not_skin = oval & far_from_skin(z)
    not_skin = cv2.morphologyEx(not_skin.astype(np.uint8), cv2.MORPH_OPEN, disk(1))
    count, labels = cv2.connectedComponents(not_skin, connectivity=8)
    min_area = MIN_OCCLUDER_FRACTION * oval.sum()
    found = occluders[box]
    round_eyes = grown(region_mask(mesh, "eyes", size, feather_px=0) > 0.5,
                       max(1, int(round(EYE_MAKEUP_REACH * face_edge_px(mesh)))))[box]
    for k in range(1, count):
        blob = labels == k
        outside = blob & ~features
        if outside.sum() < min_area:
            continue  # nostrils, freckles, the features themselves
        if (outside & ~round_eyes).sum() < EYE_MAKEUP_SPILL * outside.sum():
            continue  # false lashes, liner and eye shadow: the eye's own make-up, swapped with the eye
        found |= outside
        inside = blob & features
        if inside.any():
            blob_mean, blob_spread = robust_lab_stats(lab[outside].astype(np.float64), OCCLUDER_FLOOR)
            found |= inside & (np.abs((lab - blob_mean) / blob_spread) < OCCLUDER_LIMIT).all(axis=2)
    return occluders


KEEP_OUT_EASE = 2.0  # × radius beyond the band over which the keep-out weight eases to 0


def keep_out_weight(occluders: np.ndarray, radius: int) -> np.ndarray:
    """1 on the occluders and a band of `radius` around them, easing (smoothstep) to 0 over KEEP_OUT_EASE ×
    `radius` beyond: multiply the paste mask by (1 − this) so occluder pixels are left byte-identical. A
    blurred band held at 1 stepped from 0.5 to 1 at its edge, a seam line down a cheek beside the photo's
    hair and across the nose under a kept glasses bridge (a fresh user's review)."""
    if not occluders.any():
        return np.zeros(occluders.shape, np.float32)
    distance = cv2.distanceTransform((~occluders.astype(bool)).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    t = np.clip((radius * (1.0 + KEEP_OUT_EASE) - distance) / (KEEP_OUT_EASE * radius), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


HAND_SEARCH_SCALE = 2.6  # hands are looked for in the face box scaled by this (a hand at the face reaches past it)
HAND_SEARCH_PX = 384  # that region is resized to at most this side for the hand model
FINGER_WIDTH = 0.28  # × palm width (wrist to the index-finger base): the drawn finger thickness
_PALM = (0, 1, 5, 9, 13, 17)


def hand_mask(image: np.ndarray, face, aligned) -> np.ndarray:
    """Bool mask (aligned-crop pixels) of the hands in front of or beside a target face.

    MediaPipe Hands (Apache-2.0, shipped in the pinned wheel) finds up to two hands in a region around
    the face; each hand is drawn as its palm polygon and thick finger bones, so a skin-coloured hand
    that the colour model cannot tell from the face still stays in front."""
    from mediapipe.python.solutions.hands_connections import HAND_CONNECTIONS

    from shared.faces import packaged_models

    size = aligned.size
    mask = np.zeros((size, size), np.uint8)
    cx, cy = face.center
    half = HAND_SEARCH_SCALE * max(face.width, face.height) / 2
    height, width = image.shape[:2]
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(width, int(cx + half)), min(height, int(cy + half))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return mask.astype(bool)
    region = image[y0:y1, x0:x1]
    zoom = min(1.0, HAND_SEARCH_PX / max(region.shape[:2]))
    if zoom < 1.0:
        region = cv2.resize(region, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    result = packaged_models.mediapipe_hands().process(cv2.cvtColor(region, cv2.COLOR_BGR2RGB))
    for hand in result.multi_hand_landmarks or []:
        points = np.array([[p.x * region.shape[1], p.y * region.shape[0]] for p in hand.landmark], np.float64)
        points = points / zoom + (x0, y0)  # image pixels
        crop_points = aligned.to_crop(points)
        palm_width = float(np.linalg.norm(crop_points[0] - crop_points[5]))
        thickness = max(2, int(round(FINGER_WIDTH * palm_width)))
        cv2.fillPoly(mask, [np.round(crop_points[list(_PALM)]).astype(np.int32)], 1)
        for a, b in HAND_CONNECTIONS:
            cv2.line(mask, tuple(int(v) for v in np.round(crop_points[a])),
                     tuple(int(v) for v in np.round(crop_points[b])), 1, thickness)
        for point in crop_points:
            cv2.circle(mask, tuple(int(v) for v in np.round(point)), thickness // 2, 1, -1)
    return mask.astype(bool)



BRIDGE_LINE = 0.6  # × face edge width: the tallest frame bar the horizontal-line filter finds
BRIDGE_CONTRAST = 15.0  # grey levels of black-hat/top-hat response that a frame bar reaches
BRIDGE_SPAN = 0.5  # a bar must cross this share of the gap between the inner eye corners (glasses: 0.60–0.91 on
# the development set and a fresh user's shop canvases; faces without: up to 0.47, a turned head)
BRIDGE_ABOVE_EYES = 0.5  # × face edge width: how far above the eyes' top the bar is looked for
BRIDGE_BROW_MARGIN = 0.6  # × face edge width around the brows: their lines, and the skin under them, are no frame's
BRIDGE_MIN_RUN = 0.3  # × face edge width: the shortest horizontal run of bar response that counts (a noisy or
# over-sharpened photo's specks and vertical streaks add up to a span across a turned head's narrow bridge)
BRIDGE_SHARP_EDGE_PX = 3.2  # photo pixels of face edge width (a face about 64 px wide) from which a bar keeps
# its contrast; on smaller faces a frame 1–2 px thick is averaged with the skin beside it


def small_face_contrast(contrast: float, edge: float, crop_scale: float) -> float:
    """The grey-level `contrast` a thin line is asked for on a face of `edge` crop pixels of face edge width
    at `crop_scale` crop pixels a photo pixel: in full from BRIDGE_SHARP_EDGE_PX photo pixels (a face about 64
    px wide), less below, where the photo itself has averaged a line 1–2 px thick with the skin beside it."""
    return contrast * min(1.0, edge / max(crop_scale, 1e-6) / BRIDGE_SHARP_EDGE_PX)


def wears_glasses(crop: np.ndarray, mesh: np.ndarray, crop_scale: float = 1.0) -> bool:
    """True when a frame bar crosses the nose bridge between the eyes (aligned, upright crop; `crop_scale`:
    crop pixels per photo pixel, `AlignedFace.scale`).

    Frames are thin and often skin-coloured or metallic, so the colour model misses them; their bridge
    is a horizontal line across the nose at eye level, which skin never draws there (the glabella's
    creases and the brows' inner ends sit higher, so the bar is looked for no higher than half a face
    edge above the eyes; patterned frames break a bar up, so it need only cross most of the gap). On a
    face under about 64 px wide the photo itself has averaged the bar with the skin, so the contrast asked
    of it falls with the face's size: at the full contrast three of four wearers' frames were missed at
    24–48 px and painted over, leaving their temples by the ears. Only runs of response at least
    `BRIDGE_MIN_RUN` long count: a heavily sharpened photo of a turned head (its bridge between the inner
    eye corners narrow) otherwise reached a span of 0.54 on specks and streaks alone. Measured on the
    development set's 23 photos, each as it is and with its face 28, 36, 48 and 96 px wide: wearers 0.53 or
    more, faces without glasses 0.47 or less, against 0.5 asked."""
    edge = face_edge_px(mesh)
    contrast = small_face_contrast(BRIDGE_CONTRAST, edge, crop_scale)
    inner_right, inner_left = mesh[133], mesh[362]
    eye_top = float(min(mesh[159, 1], mesh[386, 1]))
    eye_bottom = float(max(mesh[145, 1], mesh[374, 1]))
    x0, x1 = int(round(min(inner_right[0], inner_left[0]))), int(round(max(inner_right[0], inner_left[0])))
    y0, y1 = int(round(eye_top - BRIDGE_ABOVE_EYES * edge)), int(round(eye_bottom + 0.2 * edge))
    size = crop.shape[0]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(size, x1), min(size, y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return False
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    tall = max(3, 2 * int(round(BRIDGE_LINE * edge)) + 1)
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (1, tall))  # removes horizontal lines thinner than it
    response = line_response(grey, element)[y0:y1, x0:x1]
    strong = response > contrast
    # a frown draws the brows' inner ends down to eye level, where they and the strip of skin under them
    # make bars of their own
    brows = (region_mask(mesh, "brows", size, feather_px=0) > 0.5).astype(np.uint8)
    grow = max(1, int(round(BRIDGE_BROW_MARGIN * edge)))
    strong &= ~grown(brows, grow)[y0:y1, x0:x1]
    run = max(1, int(round(BRIDGE_MIN_RUN * edge)))
    strong = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_OPEN,
                              cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1))) > 0
    # a bar may tilt a little: take the best span over three-row bands
    rows = np.convolve(strong.mean(axis=1), np.ones(3) / 3.0, mode="same") if strong.shape[0] >= 3 \
        else strong.mean(axis=1)
    banded = np.array([strong[max(0, r - 1):r + 2].any(axis=0).mean() for r in range(strong.shape[0])])
    return bool(banded.max() >= BRIDGE_SPAN and rows.max() > 0)


GLASSES_ZONE = 3.2  # × face edge width around each eye, and across the nose bridge, where frames sit


def glasses_zone(mesh: np.ndarray, size: int, reach: float = GLASSES_ZONE) -> np.ndarray:
    """Bool crop mask of where a pair of glasses lies: within `reach` × the face edge width of the eyes
    and the nose bridge."""
    edge = face_edge_px(mesh)
    eyes = (region_mask(mesh, "eyes", size, feather_px=0) > 0.5).astype(np.uint8)
    bridge = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(bridge, cv2.convexHull(mesh[[133, 362, 168, 6]].astype(np.float32)).astype(np.int32), 1)
    radius = max(2, int(round(reach * edge)))
    # within `radius` of the eyes or the bridge: a distance transform, linear in the pixels where a
    # dilation by a disk this large costs its radius again
    distance = cv2.distanceTransform(((eyes | bridge) == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance <= radius


FRAME_REACH = 4.5  # × face edge width round the eyes and the bridge where frames are looked for: large round
# rims reach past GLASSES_ZONE, and only what looks like a frame is kept
FRAME_THIN = 1.0  # × face edge width: the widest dark or light line (rim, hinge, pattern) the thin-line filter finds
FRAME_THIN_CONTRAST = 20.0  # grey levels of black-hat/top-hat response that such a line reaches
FRAME_MIN_AREA = 0.5  # × face edge width squared: smaller specks are the skin's own (pores, freckles)
FRAME_GROW = 0.15  # × face edge width (at least one photo pixel) kept round what was found: the rims' soft edges


def frame_mask(crop: np.ndarray, mesh: np.ndarray, crop_scale: float = 1.0) -> np.ndarray:
    """Bool crop mask of the glasses themselves (upright aligned crop of a face `wears_glasses` found;
    `crop_scale`: crop pixels per photo pixel): frames, hinges, tinted or reflecting lens areas, and what
    is as dark as a frame beside them (the brows, the frames' shadows).

    Within the glasses zone a pixel is frame where its colour is not skin by `occluder_mask`'s limits,
    against the skin round the glasses (the face's skin outside the zone), or where it lies on a line
    thinner than FRAME_THIN (black-hat/top-hat), which finds metal and light rims the colour misses; on
    a face under about 64 px wide the line's contrast asked falls as the bridge test's does (a 36-px
    face's tortoiseshell rims were otherwise half missed and painted over). Specks smaller than
    FRAME_MIN_AREA are dropped and the rest grown over the rims' soft edges. Keeping
    the whole zone instead (the first build) kept the cheeks under the lenses, the nose bridge and the
    skin round the eyes the photo's: the results stayed the original model (SFace likeness to her
    0.71–0.88 on the development set's five wearers, to the portrait 0.15–0.38; keeping the frames
    alone, 0.59–0.81 and 0.17–0.49; a tinted lens, as on hopper, is kept whole). The frames are looked
    for FRAME_REACH round the eyes: a large round rim's lower arc lies beyond GLASSES_ZONE and was
    painted over, a gap in the rim."""
    size = crop.shape[0]
    edge = face_edge_px(mesh)
    zone = glasses_zone(mesh, size, FRAME_REACH)
    box = bounding_slices(zone)
    lab = bgr_to_lab(crop[box]).astype(np.float64)
    skin = (face_oval_mask(mesh, size, erode_px=0, feather_px=0) > 0.5) & ~feature_mask(mesh, size)
    reference = (skin & ~zone)[box]
    if reference.sum() < MIN_SKIN_PIXELS:
        reference = skin[box]
    if reference.sum() < MIN_SKIN_PIXELS:
        return zone  # no skin to tell frames from: the whole zone stays
    mean, spread = robust_lab_stats(lab[reference], SKIN_FLOOR)
    z = (lab - mean) / spread
    not_skin = far_from_skin(z)
    grey = cv2.cvtColor(crop[box], cv2.COLOR_BGR2GRAY)
    element = disk(max(1, int(round(FRAME_THIN * edge / 2))))
    thin = line_response(grey, element) > small_face_contrast(FRAME_THIN_CONTRAST, edge, crop_scale)
    found = ((not_skin | thin) & zone[box]).astype(np.uint8)
    found = cv2.morphologyEx(found, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    large = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= FRAME_MIN_AREA * edge * edge)
    frame = np.zeros((size, size), bool)
    frame[box] = np.isin(labels, large[large > 0])
    return grown(frame, max(1, int(round(max(FRAME_GROW * edge, crop_scale)))))


LENS_EYE_GROW = (0.4, 0.5)  # × face edge width (across, up and down): the eye and lids, inside a lens's rim
LASH_BAND = 0.25  # × face edge width beyond the eye outline: lashes and liner, not a rim
FRAME_LINE = 0.6  # × face edge width: the tallest rim line the horizontal-line filter finds
FRAME_CONTRAST = 25.0  # grey levels of black-hat/top-hat response that a rim line reaches
FRAME_SPAN = 0.5  # a rim line crosses this share of the eye's width
FRAME_CLEARANCE = 0.25  # × face edge width kept between a rim line and the swapped eye
LENS_IRIS_DEPTH = 10.0  # L*: an eye seen has its iris or lash line this far below its lids' upper quartile
LENS_RING = (0.3, 0.8)  # × face edge width round an eye's outline: its lids, seen through the lens
LENS_DARK_RATIO = 0.5  # lids darker than this share of the cheeks' (L* + 16) lie behind a dark lens
LIDS_QUANTILE = 75  # the lids' level is this percentile of their L*: a rim close to the eye darkens their median


def eyes_behind_dark_lenses(crop: np.ndarray, mesh: np.ndarray, covers: np.ndarray) -> list[bool]:
    """For each eye of the mesh (upright aligned crop), whether no eye is seen there: sunglasses. An eye
    mostly under `covers` (bool crop mask: hair, a hand, an object the colour model found) is not behind a lens.

    An eye seen shows its iris or lash line well below its lids (their upper quartile's L* less the eye
    outline's 10th percentile, at least LENS_IRIS_DEPTH), and its lids are not dark behind a tint (their (L* +
    16) at least LENS_DARK_RATIO × the cheeks'). Measured on the development photos' eyes (the official
    portraits, glasses wearers and turned heads as they are, and faces 24–36 px wide on shop canvases): 14.5–77
    in depth, lids 0.72–1.11 × the cheeks (a hat's shadow over the eyes 0.57–0.68); on dark, tinted, gradient
    and highlighted lenses drawn on seven faces: 2.6–9.0 and 0.36–0.64, but for one eye the mesh had set astray
    behind its lens (39.5, 0.78); mirrored lenses, 12–14 and 0.76–0.83, are not told from eyes. A bridge set
    high on the lenses has no bar between the eyes for `wears_glasses` to find, so this is the only sign of such
    sunglasses: without it they were painted over whole, and with it, on a dark skin whose colour model took a
    black lens for skin, the portrait's eyes were painted onto the lenses."""
    size = crop.shape[0]
    edge = face_edge_px(mesh)
    inner, outer = (max(1, int(round(share * edge))) for share in LENS_RING)
    eyes = [np.round(mesh[list(contour)]).astype(np.int32) for contour in mesh_topology()["eyes"]]
    cheeks = region_mask(mesh, "blush", size, feather_px=0) > 0.5
    # the work is done in the box round the eyes' lids and the cheeks (a tenth of a 512 crop)
    rows, cols = bounding_slices(cheeks)
    (left, top), (right, bottom) = np.vstack(eyes).min(0), np.vstack(eyes).max(0)
    y0, y1 = max(0, min(int(top) - outer - 1, rows.start)), min(size, max(int(bottom) + outer + 2, rows.stop))
    x0, x1 = max(0, min(int(left) - outer - 1, cols.start)), min(size, max(int(right) + outer + 2, cols.stop))
    lightness = bgr_to_lab(crop[y0:y1, x0:x1])[..., 0]
    skin = cheeks[y0:y1, x0:x1]
    skin_level = float(np.median(lightness[skin] if skin.sum() >= MIN_SKIN_PIXELS else lightness))
    hidden = []
    for outline in eyes:
        eye = np.zeros(lightness.shape, np.uint8)
        cv2.fillPoly(eye, [outline - np.array([x0, y0], np.int32)], 1)
        if not eye.any():
            hidden.append(False)
            continue
        if covers[y0:y1, x0:x1][eye > 0].mean() > 0.5:
            hidden.append(False)
            continue
        lids = float(np.percentile(lightness[grown(eye, outer) & ~grown(eye, inner)], LIDS_QUANTILE))
        iris = float(np.percentile(lightness[eye > 0], 10))
        tinted = lids + LAB_L_OFFSET < LENS_DARK_RATIO * (skin_level + LAB_L_OFFSET)
        hidden.append(lids - iris < LENS_IRIS_DEPTH or tinted)
    return hidden


def lens_openings(crop: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Bool crop mask of what is seen through each lens of a pair of glasses (upright aligned crop): the
    eye with its lids, so the eyes can be swapped behind the lenses while the frames stay.

    Each eye is grown by LENS_EYE_GROW, less than a lens reaches past the eye's corners; a narrow frame's
    upper or lower rim can come closer, so above and below each eye the nearest horizontal line that
    crosses most of the eye's width (the bridge test's line filter) bounds its opening."""
    size = crop.shape[0]
    edge = face_edge_px(mesh)
    across, up_down = (max(1, int(round(share * edge))) for share in LENS_EYE_GROW)
    tall = max(3, 2 * int(round(FRAME_LINE * edge)) + 1)
    eye_rows = mesh[[i for contour in mesh_topology()["eyes"] for i in contour], 1]
    band = slice(max(0, int(eye_rows.min()) - up_down - tall), min(size, int(eye_rows.max()) + up_down + tall + 1))
    grey = cv2.cvtColor(crop[band], cv2.COLOR_BGR2GRAY)  # the filter's work only around the eyes
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (1, tall))
    lines = np.zeros((size, size), bool)
    lines[band] = line_response(grey, element) > FRAME_CONTRAST
    clearance = max(1, int(round(FRAME_CLEARANCE * edge)))
    lashes = max(1, int(round(LASH_BAND * edge)))
    openings = np.zeros((size, size), np.uint8)
    for contour in mesh_topology()["eyes"]:
        eye = np.zeros((size, size), np.uint8)
        cv2.fillPoly(eye, [np.round(mesh[list(contour)]).astype(np.int32)], 1)
        rows, cols = np.flatnonzero(eye.any(1)), np.flatnonzero(eye.any(0))
        if rows.size == 0:
            continue
        x0, x1 = cols[0], cols[-1] + 1
        top, bottom = max(0, rows[0] - up_down), min(size, rows[-1] + 1 + up_down)
        span = lines[:, x0:x1].mean(axis=1)
        above = [r for r in range(rows[0] - lashes, top - 1, -1) if span[r] >= FRAME_SPAN]
        below = [r for r in range(rows[-1] + lashes, bottom) if span[r] >= FRAME_SPAN]
        opening = cv2.dilate(eye, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * across + 1, 2 * up_down + 1)))
        opening[:max(rows[0] - lashes, above[0] + clearance) if above else top] = 0
        opening[min(rows[-1] + lashes, below[0] - clearance) if below else bottom:] = 0
        openings |= opening
    return openings > 0


STRAND_WIDTH = 0.6  # × face edge width: the widest dark line (a strand or a lock of a few) the black-hat finds
STRAND_CONTRAST = 30.0  # grey levels below the skin beside it that a strand's line reaches (a crease: 10–25)
STRAND_SHADE = 0.4  # share of the skin's light beside it a strand's core takes away (drawn strands 0.5–0.86;
# crow's feet and creases 0.24–0.30)
STRAND_LENGTH = 1.5  # × face edge width: the shortest run of line a strand makes inside the face
STRAND_HAIR_REACH = 0.3  # × face edge width: a strand starts this close to the hair it falls from
STRAND_HAIR_RING = 1.0  # × face edge width outside the face outline where the head's hair is looked for
STRAND_GAP = 0.15  # × face edge width: gaps in a strand's line (where strands cross) bridged when joining it
STRAND_BREAK = 2.0  # × face edge width: a piece of strand this close to a strand found continues it (across a brow)
STRAND_ROUNDS = 3  # how many times pieces are chained on to the strands found
STRAND_FROM_MASS = 1.0  # × face edge width from the hair's mass (what a disk of STRAND_WIDTH fits in) where a
# line is its ragged edge, not a strand
STRAND_BROW_MARGIN = 0.5  # × face edge width round the mesh's brow outline: the brow's own hairs, not matted
STRAND_FIRST_OFF = 0.5  # the share of a strand's first piece that may lie within STRAND_BROW_MARGIN of the brows
# or EYE_MAKEUP_REACH of the eyes
STRAND_MATTE_GAIN = 1.5  # × a pixel's depth over the strand's full depth: its matte (a pixel a hair half covers
# stands half as deep; scaled up, the strand's soft edge keeps its width instead of thinning)


def strand_matte(crop: np.ndarray, mesh: np.ndarray, covers: np.ndarray, frames: np.ndarray,
                 crop_scale: float = 1.0) -> np.ndarray:
    """H×W float32 0..1: how much of each pixel of the face (upright aligned crop; `crop_scale` crop pixels a
    photo pixel) is a strand of hair falling over it; 0 where there is none. `covers` (bool): what the colour
    model found covering the face; `frames` (bool): glasses already kept, whose temples run to the hair too.

    A strand is a line darker than the skin beside it by STRAND_CONTRAST grey levels (black-hat thinner than
    STRAND_WIDTH; the contrast asked falls on faces under 64 px as the glasses' does) whose core takes away
    STRAND_SHADE of the light beside it, at least STRAND_LENGTH long inside the face, starting at the hair: the
    colour model's covers, or what above the eyes, in a ring round the face outline, is that dark. Pieces
    beyond a brow or eye within STRAND_BREAK continue it. Creases, crow's feet and smile folds are thin lines
    too, but shade the skin less and start at no hair. Not matted: the features and what lies within
    EYE_MAKEUP_REACH of the eyes and STRAND_BROW_MARGIN of the brows (lashes, liner and a brow's own hairs are
    lines too; a strand is cut across them), and a fringe's ragged edge within STRAND_FROM_MASS of the hair's
    mass. The matte is a pixel's depth below the skin beside it over the strand's full depth nearby, so a
    pixel a hair half covers is about half strand (a colour-difference matte, Smith & Blinn 1996, with the
    skin beside the line for the backing).

    Why: kept as a cover with a margin, strands over one eye kept that eye and the skin between them the
    photo's, a face split down the middle; strands the colour model missed (dark brown on a brown skin)
    were painted over, and the hair in front of the face was gone."""
    size = crop.shape[0]
    edge = face_edge_px(mesh)
    oval = face_oval_mask(mesh, size, erode_px=0, feather_px=0) > 0.5
    ring = _within(oval, STRAND_HAIR_RING * edge)
    box = bounding_slices(ring)
    grey = cv2.cvtColor(crop[box], cv2.COLOR_BGR2GRAY)
    features = feature_mask(mesh, size)[box]
    skin = oval[box] & ~features & ~covers[box]
    matte = np.zeros((size, size), np.float32)
    if skin.sum() < MIN_SKIN_PIXELS:
        return matte
    contrast = small_face_contrast(STRAND_CONTRAST, edge, crop_scale)
    depth = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, disk(max(1, int(round(STRAND_WIDTH * edge / 2)))))
    # how much of the light beside it a line takes away (the black-hat over the closing it is taken from)
    shade = depth / np.maximum(depth.astype(np.float32) + grey, 1.0)
    # Hair is the colour model's covers and, above the eyes, what is darker than the skin by the contrast or by
    # STRAND_SHADE of its light (black hair on a dark skin stands 30 grey levels below it, not more); strands fall
    # from it (below the eyes a dark backdrop or collar meets the jaw).
    above = np.zeros((size, size), bool)
    above[: int(np.ceil(mesh[list(EYE_CORNERS), 1].max()))] = True
    skin_level = float(np.median(grey[skin]))
    dark = grey <= max(skin_level - contrast, skin_level * (1.0 - STRAND_SHADE))
    # A fringe's ragged edge is tips in its shade, not strands: within STRAND_FROM_MASS of the hair's mass
    # they are left as they were (matted alone, the tips stood as black squiggles on the lighter swapped
    # forehead), and a strand from the fringe starts at that edge.
    hair_mass = covers_mass(covers[box] | (dark & (ring & above)[box] & ~features), edge)
    near_mass = _within(hair_mass, STRAND_FROM_MASS * edge)
    hair = covers[box] | near_mass | ((ring & ~oval & above)[box] & dark)
    # (a strand across an eye or brow is one line through it: they join its pieces)
    lines = (depth >= contrast) & ring[box] & ~near_mass \
        & ~grown(frames, max(1, int(round(STRAND_HAIR_REACH * edge))))[box]
    if not (lines & ~features).any():
        return matte
    # where strands cross, the dark is wider than the filter: their pieces are joined across such gaps
    joined = grown(lines, max(1, int(round(STRAND_GAP * edge))))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined.astype(np.uint8), connectivity=8)
    inside = oval[box] & ~features
    round_features = (_within(region_mask(mesh, "brows", size, feather_px=0)[box] > 0.5, STRAND_BROW_MARGIN * edge)
                      | _within(region_mask(mesh, "eyes", size, feather_px=0)[box] > 0.5, EYE_MAKEUP_REACH * edge))
    candidates = []
    for k in range(1, count):
        if max(stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]) < STRAND_LENGTH * edge:
            continue
        line = (labels == k) & lines
        rows, cols = np.nonzero(line & inside)
        if rows.size and max(np.ptp(rows), np.ptp(cols)) >= STRAND_LENGTH * edge:
            core = line & inside & (depth >= np.median(depth[line & inside]))
            if np.median(shade[core]) >= STRAND_SHADE:
                candidates.append(line)
    # a strand starts at the hair; where it crosses a brow (as dark as it) its line breaks, and the piece
    # beyond starts at the strand's first piece
    strands = np.zeros(lines.shape, bool)
    anchor = hair
    for round_ in range(STRAND_ROUNDS):
        near = _within(anchor, (STRAND_BREAK if round_ else STRAND_HAIR_REACH) * edge)
        found, rest = [], []
        for line in candidates:
            # a strand's first piece lies mostly off the brows and eyes: a fringe's tip on a brow, matted alone
            # beside the portrait's brow, was a dark smudge; false lashes reach past a turned head's outline
            starts = (line & near).any() and (round_ > 0 or (line & inside & round_features).sum()
                                               < STRAND_FIRST_OFF * (line & inside).sum())
            (found if starts else rest).append(line)
        if not found:
            break
        candidates, anchor = rest, np.logical_or.reduce(found)
        strands |= anchor
    if not strands.any():
        return matte
    # A crease or smile fold a strand crosses joins its line but not its matte: only pixels as dark as hair,
    # and a soft edge round them, are matted. Round the eyes and brows a line may be their own (a brow's hairs
    # above the mesh's outline, matted alone, stood as a dark smudge above the portrait's brow): not matted.
    strands &= shade >= STRAND_SHADE
    reach = grown(strands, max(1, int(round(STRAND_GAP * edge)), int(round(crop_scale)))) & ~round_features
    if not reach.any():
        return matte
    # Where strands cross, the dark is wider than the line filter: the matte reads the depth with a wider one,
    # against the strand's own full depth nearby (a strand is shallower over a darker cheek than a lit brow),
    # on the box round the strands with the filters' reach (the values are those of the whole crop).
    radius, half = max(1, int(round(STRAND_WIDTH * edge))), max(1, int(round(STRAND_BREAK * edge)))
    rows, cols = bounding_slices(reach)
    around = (slice(max(0, rows.start - radius - half), rows.stop + radius + half),
              slice(max(0, cols.start - radius - half), cols.stop + radius + half))
    wide_depth = cv2.morphologyEx(grey[around], cv2.MORPH_BLACKHAT, disk(radius))
    # a square's maximum filter is separable, so fast at any size
    full = cv2.dilate(np.where(strands[around], wide_depth, 0).astype(np.uint8), np.ones((2 * half + 1,) * 2, np.uint8))
    share = STRAND_MATTE_GAIN * wide_depth.astype(np.float32) / np.maximum(full.astype(np.float32), contrast)
    matte[box][around] = np.where(reach[around], np.clip(share, 0.0, 1.0), 0.0)
    matte[~oval] = 0.0
    return matte


def _within(mask: np.ndarray, radius: float) -> np.ndarray:
    """Bool mask: pixels within `radius` px of `mask` (bool); a distance transform, whose cost does not grow with
    the radius as a disk's dilation does."""
    if not mask.any():
        return np.zeros(mask.shape, bool)
    # + 0.5: the pixels a disk of that radius covers (`grown`), whose corners reach past it
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5) <= max(1, round(radius)) + 0.5


def covers_mass(covers: np.ndarray, edge: float) -> np.ndarray:
    """Bool mask: the parts of `covers` (bool) a disk of STRAND_WIDTH face edges (`edge` px) fits in: hair's
    mass, without its strands."""
    return cv2.morphologyEx(covers.astype(np.uint8), cv2.MORPH_OPEN, disk(max(1, int(round(STRAND_WIDTH * edge))))) > 0


def without_strands(covers: np.ndarray, strands: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Bool crop mask: `covers` less what `strand_matte` (`strands`, float) takes as strands away from the
    covers' mass, and less what is then left too small off the features to be a cover (`occluder_mask`'s rule:
    the iris and lash line a strand crossing an eye had joined to it). Within STRAND_FROM_MASS of the mass (a
    fringe's ragged edge, its tips in its shade) the covers stay whole: matted alone there, the tips stood as
    black fragments on the lighter swapped forehead."""
    if not (strands > 0).any():
        return covers
    size = covers.shape[0]
    edge = face_edge_px(mesh)
    near_mass = _within(covers_mass(covers, edge), STRAND_FROM_MASS * edge)
    left = covers & (near_mass | ~grown(strands > 0, 1))
    features = feature_mask(mesh, size)
    oval_area = float((face_oval_mask(mesh, size, erode_px=0, feather_px=0) > 0.5).sum())
    count, labels = cv2.connectedComponents(left.astype(np.uint8), connectivity=8)
    kept = np.zeros(covers.shape, bool)
    for k in range(1, count):
        blob = labels == k
        if (blob & ~features).sum() >= MIN_OCCLUDER_FRACTION * oval_area:
            kept |= blob
    return kept
