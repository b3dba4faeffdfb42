"""Realism figures of one swapped face: does the result pass for a photograph of the body it is on?

FaceCast's own measures (numpy/OpenCV only), computed per face from the original photo, the result,
and the target face's 478-point mesh in original image pixels (`image_face_mesh`). Every figure
compares the result with the original at the same place, so what the photo already had (a fringe,
a shadow, an open mouth, a collar) is never held against the swap.

| figure | what it measures | bar (defaults of `RealismThresholds`) |
|---|---|---|
| `tone_gap_delta_e` | change of the cheek−neck colour relation (ΔE76; to the face's own tone without a neck) | ≤ 5 |
| `sharpness_ratio` | Laplacian variance of the inner face, result / original | 0.6 – 1.8 |
| `seam_excess_delta_e` | `seam_delta_e` along the paste outline, result − original | ≤ 3 |
| `skin_colour_delta_e` | the face skin's a*b* at equal lightness, result against original (ΔE76) | ≤ 5 |
| `teeth_added` | share of the mouth that became teeth-like | ≤ 0.03 |
| `dark_patches` | share of forehead + cheeks that became markedly darker than the skin | ≤ 0.03 |
| `identity_to_source`, `identity_to_original` | SFace cosine of the result face | to_source > to_original |

All work happens in a crop around the face (the face and a neck band below it), so a 2000×3000
photo costs what a portrait does. Images are H×W×3 uint8 BGR, masks H×W (uint8 0..255 or float
0..1), points (x, y) float image pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from shared.errors import InvalidInput
from shared.faces.color import bgr_to_lab, colour_by_lightness
from shared.faces.identity import cosine_similarity, identity_embedding
from shared.faces.masks import (_BROW_POLYGONS, _CHEEK_POINTS, _NOSE_POINTS, face_edge_px, face_oval_mask, grown,
                               mesh_topology, region_mask)
from shared.faces.metrics import seam_delta_e
from shared.faces.types import Face, check_bgr

__all__ = ["CRITERIA", "RealismThresholds", "SharpnessMeter", "dark_patches", "identity_to_original",
           "identity_to_source", "forehead_mask", "meets_criteria", "neck_mask", "realism_figures", "realism_warnings",
           "seam_excess_delta_e", "sharpness_ratio", "skin_colour_delta_e", "teeth_added", "tone_gap_delta_e",
           "upper_cheeks_mask"]

# The neck band, in units of the face height (forehead top, mesh point 10, to chin, point 152),
# measured from the chin along the face's own "down" direction, and its width in face widths.
NECK_BAND = (0.12, 0.50)
NECK_WIDTH = 0.55
NECK_MIN_PIXELS = 40  # and at least NECK_MIN_SHARE of the band: fewer and the neck is cut or covered
NECK_MIN_SHARE = 0.08
NECK_CHROMA_TOLERANCE = 14.0  # |(a, b) − cheeks' (a, b)| of a skin-like neck pixel in the original
NECK_L_RANGE = (-38.0, 15.0)  # L of a skin-like neck pixel relative to the cheeks (necks are shaded)

# Skin colour at equal lightness: the inner face's skin in L* bins this wide, each counted when it holds this share
# of the skin in both images; about SKIN_COLOUR_SAMPLES pixels on a grid are read (a median needs no more).
SKIN_COLOUR_BIN = 4.0
SKIN_COLOUR_SHARE = 0.03
SKIN_COLOUR_SAMPLES = 4_000

# Teeth: bright and far less red / saturated than the skin around them.
TEETH_L_BELOW_SKIN = 18.0  # L ≥ skin L − this (and ≥ TEETH_MIN_L)
TEETH_MIN_L = 45.0
TEETH_A_SHARE = 0.45  # a* ≤ this × the skin's a* (+1): teeth are not red
TEETH_CHROMA_SHARE = 0.65  # chroma ≤ this × the skin's chroma (+2)
TEETH_ORIGINAL_SLACK = 0.02  # × face width: original teeth may move this far and still be the same teeth

# Dark patches: L below the region's skin level by DARK_MAD_FACTOR × robust σ of skin L, within MIN..MAX.
DARK_MIN_DROP = 12.0
DARK_MAX_DROP = 20.0  # shading spreads skin L widely; a strand is darker than this below the level anyway
DARK_MAD_FACTOR = 3.0
DARK_LEVEL_SHARE = 0.4  # on dark skin (L* 35) a strand is 40 % darker, not 12 L* units
DARK_SKIN_CHROMA = 14.0  # skin-like pixels of the original set the level: a*b* within this of the cheeks'
DARK_SKIN_L = 25.0  # … and L* within this
DARK_ORIGINAL_SLACK = 0.02  # × face width, as for teeth
DARK_LOCAL_DROP = 10.0  # L* below the median of its surroundings (6 % of the face width across)
DARK_LOCAL_SIZE = 0.06
DARK_EYE_MARGIN = 1.0  # × face edge kept clear around the eyes (lashes, liner and lid creases are no patch)
DARK_FOOTPRINT = 0.02  # × face width: a thin strand counts with this much skin either side of it
DARK_MIN_EXTENT = 0.05  # × face width: darker specks smaller than this across (noise, a mole) are no strand


@dataclass(frozen=True)
class RealismThresholds:
    """The bars a swapped face must meet; `from_settings` reads the FACECAST_REALISM_* settings."""
    tone_gap_max: float = 5.0
    sharpness_min: float = 0.6
    sharpness_max: float = 1.8
    seam_excess_max: float = 3.0
    skin_colour_max: float = 5.0
    teeth_added_max: float = 0.03
    dark_patches_max: float = 0.03

    @classmethod
    def from_settings(cls, settings=None) -> "RealismThresholds":
        if settings is None:
            from shared.settings import get_settings
            settings = get_settings()
        return cls(tone_gap_max=settings.realism_tone_gap_max, sharpness_min=settings.realism_sharpness_min,
                   sharpness_max=settings.realism_sharpness_max, seam_excess_max=settings.realism_seam_excess_max,
                   skin_colour_max=settings.realism_skin_colour_max,
                   teeth_added_max=settings.realism_teeth_added_max,
                   dark_patches_max=settings.realism_dark_patches_max)


# ---------------------------------------------------------------------------------------------- figures

def tone_gap_delta_e(original: np.ndarray, result: np.ndarray, mesh_image: np.ndarray,
                     require_neck: bool = False) -> float | None:
    """How far the face's colour relation to its own neck moved, CIELAB ΔE76 (0 = kept).

    Cheeks: the mesh cheek polygons (`masks._CHEEK_POINTS`, convex hulls). Neck: `neck_mask`, a band
    below the jaw kept to pixels that are skin-like in the ORIGINAL (so a collar, hair or background is
    never neck). Means are robust (pixels more than 3 robust σ from the median ΔE are dropped). The
    figure is |(cheek − neck) in the result − (cheek − neck) in the original|, the ΔE76 of the two
    difference vectors.

    When the neck has too few skin pixels (cut by the frame, covered by a collar or a scarf) it cannot
    have been changed by the paste either, and the neck terms cancel: the figure is then
    |cheek(result) − cheek(original)|, the same quantity measured against the original face's own tone
    (`tone_reference` says which in `realism_figures`). With `require_neck` it is None instead.
    """
    return _tone_gap(_Pair(original, result, mesh_image), require_neck)


def _tone_gap(pair: "_Pair", require_neck: bool = False) -> float | None:
    cheeks = pair.cheeks
    if cheeks.sum() < 8:
        return None
    lab_o, lab_r = pair.lab_o, pair.lab_r
    neck = pair.neck
    if neck is None:
        if require_neck:
            return None
        return float(np.linalg.norm(_robust_mean(lab_r[cheeks]) - _robust_mean(lab_o[cheeks])))
    gap_o = _robust_mean(lab_o[cheeks]) - _robust_mean(lab_o[neck])
    gap_r = _robust_mean(lab_r[cheeks]) - _robust_mean(lab_r[neck])
    return float(np.linalg.norm(gap_r - gap_o))


def sharpness_ratio(original: np.ndarray, result: np.ndarray, mesh_image: np.ndarray) -> float | None:
    """Variance of the Laplacian (3×3, grey) over the inner face, result / original.

    Inner face: the mesh face oval eroded by one face edge (√(oval area)/20), eyes, brows and mouth
    included. 1 = as sharp as the photo was; < 0.6 a pasted face softer than the photo, > 1.8 one
    over-sharpened or noisier. None when the original face is flat (variance 0).
    """
    return _sharpness(_Pair(original, result, mesh_image))


def _sharpness(pair: "_Pair") -> float | None:
    return SharpnessMeter(pair.full_original, pair.full_mesh)(pair.full_result)


class SharpnessMeter:
    """`sharpness_ratio` of any number of results against one original and mesh: the inner face and the
    original's variance are found once (services.swapper.compose tries several sharpenings of one face).

    Only the inner face and the Laplacian's one pixel around it are read, so the figure is taken on a
    window around the face mesh, not on the whole crop: the same values, on a fraction of the pixels."""

    def __init__(self, original: np.ndarray, mesh_image: np.ndarray):
        pair = _Pair(original, original, mesh_image)
        mesh = pair.mesh
        edge = face_edge_px(mesh)
        window, mesh = pair.face_window(int(round(edge)) + 2)  # the erosion's reach and the Laplacian's pixel
        self._shape = pair.full_original.shape
        self._box = tuple(slice(outer.start + inner.start, outer.start + inner.stop)
                          for outer, inner in zip(pair.crop, window))
        self._inner = face_oval_mask(mesh, (window[0].stop - window[0].start, window[1].stop - window[1].start),
                                     erode_px=edge, feather_px=0.0) > 0.5
        measurable = self._inner.sum() >= 16
        self._before = _laplacian_var(pair.full_original[self._box], self._inner) if measurable else None

    def __call__(self, result: np.ndarray) -> float | None:
        result = check_bgr(result, "result")
        if result.shape != self._shape:
            raise InvalidInput(f"original {self._shape} and result {result.shape} differ in size")
        if self._before is None or self._before <= 1e-9:
            return None
        return _laplacian_var(result[self._box], self._inner) / self._before


def seam_excess_delta_e(original: np.ndarray, result: np.ndarray, paste_mask: np.ndarray | None = None,
                        mesh_image: np.ndarray | None = None) -> float | None:
    """`metrics.seam_delta_e` (mean CIEDE2000 across the outline) of the result minus the original's.

    `paste_mask` (H×W, > 0.5 = pasted): the weight the face was pasted with; without it the mesh face
    oval eroded and feathered by half a face edge (the classical composite's weight). The original's
    value is the natural edge (skin against hair or collar); the excess is the seam the paste made.
    None when the mask has no outline inside the image.
    """
    original, result = check_bgr(original, "original"), check_bgr(result, "result")
    if original.shape != result.shape:
        raise InvalidInput(f"original {original.shape} and result {result.shape} differ in size")
    if paste_mask is None:
        if mesh_image is None:
            raise InvalidInput("seam_excess_delta_e needs a paste_mask or the face mesh")
        mesh = _check_mesh(mesh_image)
        crop, mesh = _crop(mesh, original.shape)
        edge = face_edge_px(mesh)
        mask = face_oval_mask(mesh, original[crop].shape[:2], 0.5 * edge, 0.5 * edge)
        inner = _mask_crop(mask > 0.5)
        if inner is None:
            return None
        mask = mask[inner]
        crop = (slice(crop[0].start + inner[0].start, crop[0].start + inner[0].stop),
                slice(crop[1].start + inner[1].start, crop[1].start + inner[1].stop))
    else:
        mask = _as_float_mask(paste_mask, original.shape[:2])
        crop = _mask_crop(mask > 0.5)
        if crop is None:
            return None
        mask = mask[crop]
    try:
        return float(seam_delta_e(result[crop], mask) - seam_delta_e(original[crop], mask))
    except InvalidInput:
        return None


def skin_colour_delta_e(original: np.ndarray, result: np.ndarray, mesh_image: np.ndarray) -> float | None:
    """How far the face's skin colour moved at equal lightness, CIELAB ΔE76 of a*b* (0 = kept).

    Skin: the mesh face oval eroded by one face edge, eyes, brows and lips left out. Each image's skin is
    binned by its own L* (SKIN_COLOUR_BIN wide); for every bin holding SKIN_COLOUR_SHARE of the skin in both,
    the distance between the two medians of a*b*; the figure is the median over those bins. None when no bin
    counts. The face must take the body's colour, and a face's colour changes with its light: on a high-key
    photo a fair skin fades to white where it is lit and keeps its colour where shaded, so comparing the cheeks'
    means (the tone gap) read a grey mask on a yellow-white face as the photo's own white (gluesenkamp_perez
    one stop over: tone gap 3.0–4.3, this figure 11–14). Swaps that read right on the development sets stay
    under 3."""
    return _skin_colour(_Pair(original, result, mesh_image))


def _skin_colour(pair: "_Pair") -> float | None:
    # read on a grid of about SKIN_COLOUR_SAMPLES of the face oval's pixels (its area is 400 face edges²), the
    # masks drawn on that grid, which is anchored to the face (the same samples wherever the face is)
    stride = max(1, int(20.0 * face_edge_px(pair.mesh) / np.sqrt(SKIN_COLOUR_SAMPLES)))
    x0, y0 = (int(np.floor(v)) % stride for v in pair.mesh.min(axis=0))
    grid = (slice(y0, None, stride), slice(x0, None, stride))
    mesh, shape = (pair.mesh - (x0, y0)) / stride, pair.lab_o[grid].shape[:2]
    skin = face_oval_mask(mesh, shape, face_edge_px(mesh), 0.0) > 0.5
    for region in ("eyes", "brows", "lips"):
        skin &= region_mask(mesh, region, shape, 0.0) <= 0.5
    count = int(skin.sum())
    if count < 64:
        return None
    least = max(16, SKIN_COLOUR_SHARE * count)
    bins_o, colours_o = colour_by_lightness(pair.lab_o[grid][skin], SKIN_COLOUR_BIN, least)
    bins_r, colours_r = colour_by_lightness(pair.lab_r[grid][skin], SKIN_COLOUR_BIN, least)
    _, in_o, in_r = np.intersect1d(bins_o, bins_r, assume_unique=True, return_indices=True)
    if not len(in_o):
        return None
    return float(np.median(np.linalg.norm(colours_o[in_o] - colours_r[in_r], axis=1)))


def teeth_added(original: np.ndarray, result: np.ndarray, mesh_image: np.ndarray) -> float:
    """Share (0..1) of the mouth that is teeth-like in the result and was not in the original.

    Mouth: the outer-lip polygon of the mesh. Teeth-like: bright (L ≥ the cheeks' L − 18, ≥ 45) and not
    red or saturated relative to the skin of the same image (a* ≤ 0.45 × the cheeks' a* + 1,
    chroma ≤ 0.65 × their chroma + 2) — what lips, gums, the mouth's inside and skin are not.
    Original teeth are grown by 2 % of the face width, so teeth that stay where they were never count.
    A closed mouth that gains teeth gives the teeth's share of the lips; an open mouth kept open, 0.
    """
    return _teeth(_Pair(original, result, mesh_image))


def _teeth(pair: "_Pair") -> float:
    mesh, shape = pair.mesh, pair.shape
    mouth = _fill(shape, [mesh[mesh_topology()["lips_outer"][0]]])
    if mouth.sum() == 0:
        return 0.0
    slack = TEETH_ORIGINAL_SLACK * _face_width(mesh)
    window = _mask_crop(mouth, pad=int(np.ceil(slack)) + 1)
    mouth = mouth[window]
    teeth_o = _teeth_like(pair.lab_o[window], pair.cheek_reference)
    teeth_r = _teeth_like(pair.lab_r[window], _robust_mean(pair.lab_r[pair.cheeks]))
    teeth_o = _dilate(teeth_o & mouth, slack)
    return float((teeth_r & mouth & ~teeth_o).sum() / mouth.sum())


def dark_patches(original: np.ndarray, result: np.ndarray, mesh_image: np.ndarray,
                 result_mesh: np.ndarray | None = None) -> float:
    """Share (0..1) of forehead + cheeks that is markedly darker in the result and was not in the original.

    Region: the forehead (`forehead_mask`: between the brows and the top of the mesh face oval, brows
    cut out) and the cheeks (`upper_cheeks_mask`: the skin from below the eyes to the nose tip beside the
    nose, and the mesh cheek polygons), where a source's fringe, glasses' rims and shadows land; one
    face edge around the eyes is left out (a source's lashes, liner and lid creases are features). The
    skin level is the median L* (lightly smoothed) of the region's
    pixels that are skin-like in the ORIGINAL (within 14 of the cheeks' a*b*, 25 of their L*), in each
    image on those same pixels, so a face merely darker all over is a tone figure, not a patch. A pixel
    is dark when its L* is below its image's level by 3 × the robust σ of the original's skin L*, kept
    within 12..20 and at most 0.4 × the level (dark skin), or by 10 below the median of its own
    surroundings (6 % of the face width; thin frames and edges): strands of hair, glasses' frames,
    shadows pasted from the source. Dark pixels of the original (the target's own fringe, its shadows), grown
    by 2 % of the face width, never count. Added dark specks less than 5 % of the face width across are
    dropped (noise, a mole); the rest count with their surroundings to 2 % of the face width (a strand
    3 px wide spoils more skin than its own pixels). `result_mesh` (478, 2), optional: the mesh of the
    face the result shows (the virtual model's features where the swap put them); its brows, grown as the
    original's dark pixels are, and its eyes, with the same margin, are features, not patches: a virtual
    model's brow that sits higher or reaches further than the photo's, or her eyeliner's wing, is no strand.
    """
    return _dark(_Pair(original, result, mesh_image, result_mesh))


def _dark(pair: "_Pair") -> float:
    width, sigma = _face_width(pair.mesh), max(0.6, face_edge_px(pair.mesh) / 8.0)
    size = _local_size(width)
    if size // LOCAL_LEVEL_KERNEL > 1:  # a wide local level is read off a shrunk copy laid on the whole crop
        window, mesh = (slice(None), slice(None)), pair.mesh
    else:
        # The region lies on the face, and no filter below looks further from it than the smoothing's and the
        # local median's reach: a window that much larger than the face gives the whole crop's values.
        window, mesh = pair.face_window(_gaussian_reach(sigma) + size // 2 + 1)
    lab_o, lab_r = pair.lab_o[window], pair.lab_r[window]
    shape = lab_o.shape[:2]
    eyes = region_mask(mesh, "eyes", shape, feather_px=0.0) > 0.5
    region = (forehead_mask(mesh, shape) | upper_cheeks_mask(mesh, shape)) \
        & ~_dilate(eyes, DARK_EYE_MARGIN * face_edge_px(mesh))
    if pair.result_mesh is not None:
        shown = pair.result_mesh - (pair.mesh[0] - mesh[0])  # into the window, as `mesh`
        region &= ~_dilate(region_mask(shown, "eyes", shape, feather_px=0.0) > 0.5,
                           DARK_EYE_MARGIN * face_edge_px(shown))
        region &= ~_dilate(region_mask(shown, "brows", shape, feather_px=0.0) > 0.5, DARK_ORIGINAL_SLACK * width)
    if region.sum() < 16 or pair.cheeks.sum() < 8:
        return 0.0
    l_o = cv2.GaussianBlur(lab_o[:, :, 0], (0, 0), sigma)
    l_r = cv2.GaussianBlur(lab_r[:, :, 0], (0, 0), sigma)
    ref = pair.cheek_reference
    skin = region & (np.hypot(lab_o[:, :, 1] - ref[1], lab_o[:, :, 2] - ref[2]) < DARK_SKIN_CHROMA) \
        & (np.abs(lab_o[:, :, 0] - ref[0]) < DARK_SKIN_L)
    if skin.sum() < 16:
        skin = region
    level_o, level_r = float(np.median(l_o[skin])), float(np.median(l_r[skin]))
    spread = 1.4826 * float(np.median(np.abs(l_o[skin] - level_o)))
    drop = min(float(np.clip(DARK_MAD_FACTOR * spread, DARK_MIN_DROP, DARK_MAX_DROP)), DARK_LEVEL_SHARE * level_o)
    dark_o = _dilate(region & (l_o < level_o - drop), DARK_ORIGINAL_SLACK * width)
    # thin structures (glasses' frames, a moustache's edge) are darker than the skin right around them
    # even where they are not far below the face's level: the same test against a local median
    local_o, local_r = _local_level(l_o, width), _local_level(l_r, width)
    dark_o |= _dilate(region & (local_o - l_o > DARK_LOCAL_DROP), DARK_ORIGINAL_SLACK * width)
    darker = (l_r < level_r - drop) | (local_r - l_r > DARK_LOCAL_DROP)
    added = _large_components(region & darker & ~dark_o, DARK_MIN_EXTENT * width)
    footprint = region & _dilate(added, DARK_FOOTPRINT * width)  # what a strand visibly spoils
    return float(footprint.sum() / region.sum())


def identity_to_source(result: np.ndarray, face: Face, source_embedding: np.ndarray) -> float:
    """SFace cosine of the result's face (at the target face's detection) to the source embedding."""
    return cosine_similarity(identity_embedding(check_bgr(result, "result"), face), source_embedding)


def identity_to_original(original: np.ndarray, result: np.ndarray, face: Face) -> float:
    """SFace cosine of the result's face to the original face at the same detection."""
    return cosine_similarity(identity_embedding(check_bgr(result, "result"), face),
                             identity_embedding(check_bgr(original, "original"), face))


def realism_figures(original: np.ndarray, result: np.ndarray, mesh_image: np.ndarray, face: Face,
                    source_embedding: np.ndarray, paste_mask: np.ndarray | None = None, *,
                    result_embedding: np.ndarray | None = None,
                    original_embedding: np.ndarray | None = None,
                    result_mesh: np.ndarray | None = None) -> dict:
    """Every realism figure of one swapped face, rounded for a JSON report.

    `mesh_image`: the target face's (478, 2) mesh in original image pixels; `face`: its detection;
    `source_embedding`: the virtual model's SFace embedding; `paste_mask`: the paste weight (H×W),
    optional. Keys: tone_gap_delta_e, sharpness_ratio, seam_excess_delta_e, skin_colour_delta_e, teeth_added,
    dark_patches,
    identity_to_source, identity_to_original (floats; None where not measurable), and tone_reference
    ("neck", or "face" when the neck is not visible and the tone gap is to the original face's cheeks).
    `result_embedding` / `original_embedding`: SFace embeddings of the result's and the original's face
    at `face`, when the caller has them already (each saves one SFace run). `result_mesh`: the (478, 2)
    mesh, in image pixels, of the face the result shows, when known (see `dark_patches`).
    """
    pair = _Pair(original, result, mesh_image, result_mesh)
    swapped = identity_embedding(pair.full_result, face) if result_embedding is None else result_embedding
    before = identity_embedding(pair.full_original, face) if original_embedding is None else original_embedding
    figures = {
        "tone_gap_delta_e": _tone_gap(pair),
        "sharpness_ratio": _sharpness(pair),
        "seam_excess_delta_e": seam_excess_delta_e(pair.full_original, pair.full_result, paste_mask, pair.full_mesh),
        "skin_colour_delta_e": _skin_colour(pair),
        "teeth_added": _teeth(pair),
        "dark_patches": _dark(pair),
        "identity_to_source": cosine_similarity(swapped, source_embedding),
        "identity_to_original": cosine_similarity(swapped, before),
    }
    rounded = {name: None if value is None else round(float(value), 4) for name, value in figures.items()}
    return {**rounded, "tone_reference": "neck" if pair.neck is not None else "face"}


# ---------------------------------------------------------------------------------------------- verdicts

# "Closer to the source" must be clear: two measurements of one face (meshes and crops a pixel apart)
# differ by up to about this much in SFace cosine.
IDENTITY_MARGIN = 0.03

# The five done-when criteria (the seam and the skin colour at equal lightness are warnings, not among them).
CRITERIA = ("teeth_added", "sharpness_ratio", "tone_gap_delta_e", "dark_patches", "identity")

_MESSAGES = {
    "tone-mismatch": "the face's skin tone does not match the body (cheek tone relative to the {reference} "
                     "changed by ΔE {value:.1f}, bar {bar:.1f})",
    "soft-face": "the face is softer than the photo (sharpness {value:.2f}× the original's, at least {bar:.2f}×)",
    "over-sharpened": "the face is sharper or noisier than the photo (sharpness {value:.2f}× the original's, "
                      "at most {bar:.2f}×)",
    "visible-seam": "the face's outline shows (seam ΔE {value:.1f} above the photo's own edge, bar {bar:.1f})",
    "skin-colour-mismatch": "the face's skin is another colour than the photo's at the same lightness (ΔE "
                            "{value:.1f}, bar {bar:.1f}): it reads grey or tinted against the body",
    "teeth-added": "teeth appear where the photo's mouth had none ({value:.0%} of the mouth, bar {bar:.0%})",
    "dark-patches": "dark strands or patches appear on the forehead or cheeks ({value:.1%} of them, "
                    "bar {bar:.1%})",
    "identity-not-transferred": "the face still looks more like the original ({original:.2f}) than like the "
                                "virtual model ({source:.2f})",
}


def realism_warnings(figures: dict, thresholds: RealismThresholds | None = None) -> list[dict]:
    """`[{code, message}]` for every bar the figures miss (none: quality "pass").

    Codes: tone-mismatch, soft-face / over-sharpened, visible-seam, skin-colour-mismatch, teeth-added, dark-patches,
    identity-not-transferred. A figure that is None (not measurable) raises no warning.
    """
    t = thresholds or RealismThresholds()
    warnings = []

    def add(code: str, **values) -> None:
        warnings.append({"code": code, "message": _MESSAGES[code].format(**values)})

    value = figures.get("tone_gap_delta_e")
    if value is not None and value > t.tone_gap_max:
        reference = "neck" if figures.get("tone_reference", "neck") == "neck" else "original face"
        add("tone-mismatch", value=value, bar=t.tone_gap_max, reference=reference)
    value = figures.get("sharpness_ratio")
    if value is not None and value < t.sharpness_min:
        add("soft-face", value=value, bar=t.sharpness_min)
    elif value is not None and value > t.sharpness_max:
        add("over-sharpened", value=value, bar=t.sharpness_max)
    value = figures.get("seam_excess_delta_e")
    if value is not None and value > t.seam_excess_max:
        add("visible-seam", value=value, bar=t.seam_excess_max)
    value = figures.get("skin_colour_delta_e")
    if value is not None and value > t.skin_colour_max:
        add("skin-colour-mismatch", value=value, bar=t.skin_colour_max)
    value = figures.get("teeth_added")
    if value is not None and value > t.teeth_added_max:
        add("teeth-added", value=value, bar=t.teeth_added_max)
    value = figures.get("dark_patches")
    if value is not None and value > t.dark_patches_max:
        add("dark-patches", value=value, bar=t.dark_patches_max)
    source, original = figures.get("identity_to_source"), figures.get("identity_to_original")
    if source is not None and original is not None and not source > original + IDENTITY_MARGIN:
        add("identity-not-transferred", source=source, original=original)
    return warnings


def meets_criteria(figures: dict, thresholds: RealismThresholds | None = None) -> dict[str, bool]:
    """The issue's five done-when criteria, each True/False (a None figure passes: not measurable)."""
    codes = {w["code"] for w in realism_warnings(figures, thresholds)}
    return {"teeth_added": "teeth-added" not in codes,
            "sharpness_ratio": not codes & {"soft-face", "over-sharpened"},
            "tone_gap_delta_e": "tone-mismatch" not in codes,
            "dark_patches": "dark-patches" not in codes,
            "identity": "identity-not-transferred" not in codes}


# ---------------------------------------------------------------------------------------------- regions

def neck_mask(image: np.ndarray, mesh_image: np.ndarray) -> np.ndarray | None:
    """Skin-like pixels of a band below the jaw (bool, image-sized), or None when too few are visible.

    The band runs from 0.12 to 0.50 face heights below the chin along the face's own down direction
    (turned faces included), 0.55 face widths wide, outside the face oval; skin-like means within 14
    of the cheeks' (a*, b*) and −38..+15 of their L* (necks are shaded) in `image` (pass the original).
    """
    image = check_bgr(image)
    mesh = _check_mesh(mesh_image)
    shape = image.shape[:2]
    cheeks = _cheek_mask(mesh, shape)
    if cheeks.sum() < 8:
        return None
    lab = bgr_to_lab(image)
    return _neck(lab, mesh, _robust_mean(lab[cheeks]))


def _neck(lab: np.ndarray, mesh: np.ndarray, cheek_reference: np.ndarray) -> np.ndarray | None:
    shape = lab.shape[:2]
    chin, top = mesh[152], mesh[10]
    down = chin - top
    height = float(np.linalg.norm(down))
    if height < 4:
        return None
    down /= height
    across = np.array([-down[1], down[0]])
    half = NECK_WIDTH * _face_width(mesh) / 2.0
    near, far = chin + NECK_BAND[0] * height * down, chin + NECK_BAND[1] * height * down
    band = _fill(shape, [np.array([near - half * across, near + half * across,
                                   far + half * across, far - half * across])])
    band &= ~_fill(shape, [mesh[mesh_topology()["oval"][0]]])
    if not band.any():
        return None
    ref = cheek_reference
    chroma_gap = np.hypot(lab[:, :, 1] - ref[1], lab[:, :, 2] - ref[2])
    l_gap = lab[:, :, 0] - ref[0]
    skin = band & (chroma_gap < NECK_CHROMA_TOLERANCE) & (l_gap > NECK_L_RANGE[0]) & (l_gap < NECK_L_RANGE[1])
    # a full band, as the photo would have it uncut, sets the share (a band cut by the frame counts whole)
    if skin.sum() < max(NECK_MIN_PIXELS, NECK_MIN_SHARE * _band_area(near, far, half)):
        return None
    return skin


def forehead_mask(mesh_image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The forehead (bool): hull of the face oval's arc above the brows and the brows' upper edges,
    brows (grown by a third of a face edge) cut out."""
    mesh = _check_mesh(mesh_image)
    up = mesh[10] - mesh[152]
    up /= max(1e-6, float(np.linalg.norm(up)))
    brow_upper = [polygon[5:] for polygon in _BROW_POLYGONS]  # 107, 66, 105, 63, 70 / 336, 296, ...
    brow_points = mesh[[i for chain in brow_upper for i in chain]]
    oval = mesh[mesh_topology()["oval"][0]]
    level = float(np.mean(mesh[[70, 300]] @ up))
    arc = oval[oval @ up > level]
    if len(arc) < 2:
        return np.zeros(shape, bool)
    hull = cv2.convexHull(np.concatenate([arc, brow_points]).astype(np.float32))[:, 0]
    forehead = _fill(shape, [hull]) & _fill(shape, [oval])
    brows = _fill(shape, [mesh[list(polygon)] for polygon in _BROW_POLYGONS])
    return forehead & ~_dilate(brows, face_edge_px(mesh) / 3.0)


def upper_cheeks_mask(mesh_image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The cheeks (bool): skin (`region_mask` "skin") from the lower eyelids down to the nose tip, the
    nose (grown by half a face edge) cut out, with the mesh cheek polygons added."""
    mesh = _check_mesh(mesh_image)
    down = mesh[152] - mesh[10]
    down /= max(1e-6, float(np.linalg.norm(down)))
    skin = region_mask(mesh, "skin", shape, feather_px=0.0) > 0.5
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    depth = cols * down[0] + rows * down[1]
    top, bottom = float(np.mean(mesh[[145, 374]] @ down)), float(mesh[2] @ down)
    band = skin & (depth > top) & (depth < bottom)
    nose = _fill(shape, [cv2.convexHull(mesh[list(_NOSE_POINTS)].astype(np.float32))[:, 0]])
    return (band & ~_dilate(nose, face_edge_px(mesh) / 2.0)) | _cheek_mask(mesh, shape)


# ---------------------------------------------------------------------------------------------- helpers

class _Pair:
    """One face's original and result, cropped to the face and its neck band, with what several
    figures share (CIELAB of both crops, the cheeks, their reference colour, the neck) computed once."""

    def __init__(self, original, result, mesh_image, result_mesh=None):
        self.full_original, self.full_result, self.full_mesh, _ = _prepare(original, result, mesh_image)
        self.crop, self.mesh = _crop(self.full_mesh, self.full_original.shape)
        # the mesh of the face the result shows, in the crop's pixels
        self.result_mesh = None if result_mesh is None else \
            _check_mesh(result_mesh) - (self.crop[1].start, self.crop[0].start)
        self.original, self.result = self.full_original[self.crop], self.full_result[self.crop]
        self.shape = self.original.shape[:2]

    def face_window(self, reach: int) -> tuple[tuple[slice, slice], np.ndarray]:
        """Slices of the crop around the face mesh grown by `reach` pixels, and the mesh shifted into them."""
        height, width = self.shape
        x0, y0 = np.maximum(np.floor(self.mesh.min(0)).astype(int) - reach, 0)
        x1, y1 = np.minimum(np.ceil(self.mesh.max(0)).astype(int) + reach + 1, (width, height))
        return (slice(int(y0), int(y1)), slice(int(x0), int(x1))), self.mesh - (x0, y0)

    @cached_property
    def lab_o(self) -> np.ndarray:
        return bgr_to_lab(self.original)

    @cached_property
    def lab_r(self) -> np.ndarray:
        return bgr_to_lab(self.result)

    @cached_property
    def cheeks(self) -> np.ndarray:
        return _cheek_mask(self.mesh, self.shape)

    @cached_property
    def cheek_reference(self) -> np.ndarray:
        return _robust_mean(self.lab_o[self.cheeks]) if self.cheeks.sum() else np.zeros(3)

    @cached_property
    def neck(self) -> np.ndarray | None:
        if self.cheeks.sum() < 8:
            return None
        return _neck(self.lab_o, self.mesh, self.cheek_reference)


def _prepare(original, result, mesh_image):
    original, result = check_bgr(original, "original"), check_bgr(result, "result")
    if original.shape != result.shape:
        raise InvalidInput(f"original {original.shape} and result {result.shape} differ in size")
    mesh = _check_mesh(mesh_image)
    return original, result, mesh, original.shape


def _check_mesh(mesh_image) -> np.ndarray:
    mesh = np.asarray(mesh_image, np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468 or mesh.shape[1] < 2 or not np.all(np.isfinite(mesh[:, :2])):
        raise InvalidInput(f"mesh must be a finite (478, 2) array of image pixels, got shape {mesh.shape}")
    return mesh[:, :2]


def _crop(mesh: np.ndarray, shape: tuple[int, ...]) -> tuple[tuple[slice, slice], np.ndarray]:
    """Slices of a box around the face and its neck band, and the mesh shifted into it."""
    height = float(np.linalg.norm(mesh[152] - mesh[10]))
    low, high = mesh.min(0), mesh.max(0)
    reach = (NECK_BAND[1] + 0.15) * height + 0.25 * (high - low).max()
    x0, y0 = np.floor(low - reach).astype(int)
    x1, y1 = np.ceil(high + reach).astype(int) + 1
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise InvalidInput("the face mesh lies outside the image")
    return (slice(y0, y1), slice(x0, x1)), mesh - (x0, y0)


def _mask_crop(mask: np.ndarray, pad: int | None = None):
    """Slices of the box around `mask` > 0, grown by `pad` (default: four of its edge widths + 4)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    if pad is None:
        pad = int(4 * max(1.0, math.sqrt(len(xs)) / 20.0)) + 4
    return (slice(max(0, ys.min() - pad), min(mask.shape[0], ys.max() + pad + 1)),
            slice(max(0, xs.min() - pad), min(mask.shape[1], xs.max() + pad + 1)))


def _as_float_mask(mask, shape) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != tuple(shape):
        raise InvalidInput(f"paste mask shape {mask.shape} does not match the image {tuple(shape)}")
    return mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)


def _fill(shape, polygons) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(np.asarray(p, np.float64) * 16).astype(np.int32) for p in polygons], 1,
                 lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def _cheek_mask(mesh: np.ndarray, shape) -> np.ndarray:
    return _fill(shape, [cv2.convexHull(mesh[list(cheek)].astype(np.float32))[:, 0] for cheek in _CHEEK_POINTS])


def _face_width(mesh: np.ndarray) -> float:
    return float(np.linalg.norm(mesh[454] - mesh[234]))


def _band_area(near, far, half) -> float:
    return float(np.linalg.norm(far - near) * 2 * half)


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    r = int(round(radius))
    if r < 1:
        return mask
    return grown(mask, r)


def _large_components(mask: np.ndarray, min_extent: float) -> np.ndarray:
    """The connected parts of `mask` at least `min_extent` pixels across (bounding box)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask, bool)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = extent >= min_extent
    keep[0] = False
    return keep[labels]


LOCAL_LEVEL_KERNEL = 9  # widest median taken at full size; wider ones on a copy shrunk to this


def _local_size(face_width: float) -> int:
    """The local level's window side in pixels (odd): DARK_LOCAL_SIZE × the face width."""
    return max(3, int(round(DARK_LOCAL_SIZE * face_width)) | 1)


def _gaussian_reach(sigma: float) -> int:
    """How far `cv2.GaussianBlur(…, (0, 0), sigma)` of a float image looks (its kernel is 8σ + 1 wide)."""
    return int(math.ceil(4.0 * sigma)) + 1


def _local_level(lightness: np.ndarray, face_width: float) -> np.ndarray:
    """The median L* of each pixel's surroundings, DARK_LOCAL_SIZE × the face width across."""
    size = _local_size(face_width)
    coded = np.clip(lightness * 2.55 + 0.5, 0, 255).astype(np.uint8)
    shrink = max(1, size // LOCAL_LEVEL_KERNEL)  # a wide median costs its width: take it on a smaller copy
    if shrink == 1:
        return cv2.medianBlur(coded, size).astype(np.float32) / 2.55
    height, width = coded.shape
    small = cv2.resize(coded, (max(1, width // shrink), max(1, height // shrink)), interpolation=cv2.INTER_AREA)
    level = cv2.medianBlur(small, max(3, (size // shrink) | 1))
    return cv2.resize(level, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 2.55


def _robust_mean(lab_pixels: np.ndarray) -> np.ndarray:
    """Mean LAB of the pixels within 3 robust σ (ΔE76 from the median) of the median."""
    pixels = np.asarray(lab_pixels, np.float64).reshape(-1, 3)
    median = np.median(pixels, 0)
    distance = np.linalg.norm(pixels - median, axis=1)
    spread = 1.4826 * float(np.median(distance)) + 1e-6
    kept = pixels[distance <= 3.0 * spread]
    return (kept if len(kept) else pixels).mean(0)


def _teeth_like(lab: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Teeth-like pixels of `lab` given the skin's mean CIELAB colour `skin`."""
    chroma_skin = math.hypot(skin[1], skin[2])
    chroma = np.hypot(lab[:, :, 1], lab[:, :, 2])
    return ((lab[:, :, 0] >= max(TEETH_MIN_L, skin[0] - TEETH_L_BELOW_SKIN))
            & (lab[:, :, 1] <= TEETH_A_SHARE * max(skin[1], 0.0) + 1.0)
            & (chroma <= TEETH_CHROMA_SHARE * chroma_skin + 2.0))


def _laplacian_var(image: np.ndarray, mask: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F, ksize=1)[mask].var())
