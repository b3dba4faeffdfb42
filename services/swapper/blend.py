"""How a warped source face becomes part of the target photo: tone, detail, grain and the blend regions.

A pasted face reads as a mask when its low frequencies (skin tone, shading, the light on the head)
differ from the body's, when it is softer or sharper than the photo, or when it carries what does not
belong to the face (teeth into closed lips, a fringe onto a forehead). So the face is built by
frequency separation (as in retouching's "frequency separation" and in multi-band blending, Burt &
Adelson 1983): the target's skin low-pass (its tone and light) plus the source's detail above it
(its eyes, brows, nose and skin texture). Low-passes are normalised convolutions over skin pixels
only, so neither face's features, hair or occluders leak into the other's tone.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache

import cv2
import numpy as np

from services.swapper.occlusion import EYE_CORNERS, feature_mask
from shared.faces import (LAB_L_OFFSET, bgr_to_lab, colour_by_lightness, face_oval_mask, grown, lab_to_bgr,
                          mesh_topology, noise_sigma, region_mask)

INNER_TONE_SIGMA = 4.0  # × face edge width: the same around the eyes, brows and nose (their modelling is identity)
LOWPASS_SIGMA_PX = 3.0  # low-passes are computed where σ is this many pixels
TONE_SIGMA = 1.5  # × face edge width (√oval area / 20): the scale above which tone and light are the target's
EYE_LIGHT_SHARE = 0.4  # share of the tone difference between the faces that the whites of the eyes take on
WHITES_HEADROOM = 6.0  # L* the portrait's whites may stand above the photo's own whites
IRIS_L, SCLERA_L = 35.0, 65.0  # L* of the source's eye pixels: at or below IRIS_L none of that light, from SCLERA_L all
HIGHLIGHT_QUANTILE = 0.99  # the photo's brightest skin: this quantile of its skin's L*
HIGHLIGHT_HEADROOM = 3.0  # L*: how far above it the face's highlights may roll off
SCLERA_SHARE = 0.2  # the brightest share of the pixels inside an eye's outline read as its white
MIN_SCLERA_PIXELS = 12  # fewer whites than this (a closed or tiny eye): no colour cast is read
SCLERA_CHROMA = 0.75  # a white's chroma is at most this share of the skin's
SKIN_SAMPLE_STEP = 7  # the skin's median colour is taken from every 7th skin pixel (a median needs no more)
MODELLING_BAND = 0.25  # × σ: the modelling band's lower edge (finer is skin texture, matched by sharpness and grain)
MODELLING_ENERGY = 2.0  # × σ: the neighbourhood over which each face's modelling strength is measured
MODELLING_GAIN = (0.5, 2.0)  # the source's modelling is scaled by no less and no more than this
LOWER_FACE_FADE = 0.5  # × face edge width above the nose's base over which the lower face's weight fades in
CHROMA_DETAIL = 0.4  # share of the source's a*b* detail kept on the target's tone where it adds colour
HIGHLIGHT_COLOUR_BIN = 2.0  # L*: the photo's skin colour by lightness is read in bins this wide
HIGHLIGHT_COLOUR_SHARE = 0.005  # a bin holds at least this share of the skin pixels to be read
HIGHLIGHT_SHOULDER_L = 80.0  # L*: the camera's shoulder, above which the skin's colour fades with its light (below,
# a colour changing with lightness is the face's own, the lit forehead's and the ruddier cheeks', which the local
# low-pass carries)
HIGHLIGHT_COLOUR_SAMPLES = 4_000  # at most about this many skin pixels are read (a median needs no more)
SHADE_CHROMA_KNEE = 0.8  # (L* + 16) ratio to the skin's below which a darker pixel loses chroma in proportion
CHROMA_DRAIN = 0.1  # and where it takes colour away (towards grey-blue): a darker skin's greyer shading
MOUTH_GROW = 0.3  # × face edge width: the target's lips are kept with this margin
MOUTH_FEATHER = 0.5  # × face edge width
OPENING_GROW = 0.15  # × face edge width: the target's mouth opening alone is kept with this margin
OPENING_FEATHER = 0.2  # × face edge width (Gaussian σ)
MOUTH_OPEN = 0.02  # lips apart by this share of the face's height: an open mouth
FOREHEAD_KEEP = (0.4, 0.9)  # the blend fades from this fraction of the brow→hairline height to that one
SHARPNESS_TARGET = (0.85, 1.4)  # the pasted face's Laplacian variance ÷ the photo's is brought into this band
SHARPEN_WINDOW = 5  # px (aligned crop): the neighbourhood whose range limits sharpening
SHARPEN_OVERSHOOT = 10.0  # grey levels a sharpened pixel may rise above that range
SHARPEN_UNDERSHOOT = 0.08  # share of its level a sharpened pixel may fall below it (10 grey levels at mid-grey)
DETAIL_GAINS = (0.6, 1.2, 2.0, 3.0, 4.2, 5.6)  # unsharp-mask amounts tried on a face softer than the photo
SKIN_DETAIL_GAIN = 3.0  # the most unsharp-mask amount bare skin takes; the eyes and brows take the rest
SOFTEN_SIGMAS = (0.5, 0.8, 1.2, 1.7, 2.4)  # blurs tried on a face sharper than the photo
GRAIN_SIGMAS = (2.0, 3.0, 4.5, 6.0)  # grain (grey levels) tried on a face still softer than the photo at the last gain
FILL_HAIR_CONTRAST = 25.0  # grey levels darker than its surroundings at which a pixel is hair the fill's fade spares
COVER_SHADE_REACH = 0.8  # × face edge width: the portrait's skin this close to a cover below the eyes is in its shade
COVER_SHADE_FEATHER = 0.2  # × face edge width (Gaussian σ)
COVER_SHADE_MOUTH = 1.0  # × face edge width round the lips: no cover there
COVER_SHADE_SPARE = 0.1  # × face edge width round the eyes, brows and nose, whose own shading stays
OUTLINE_SHADING = 2.5  # × face edge width inside the outline over which the shading becomes the photo's
SIDE_SHADE_TOLERANCE = 5.0  # L*: how much darker than the photo's the portrait's shading may stay there
SKIN_LIGHTNESS_SHIFT = 5.0  # L*: the most the cheeks' lightness is moved towards the photo's
COLOURLESS_SKIN_CHROMA = 4.0  # skin chroma below which a photo is black and white (real skin shows 14 and more)
SKIN_CHROMA_GAIN = 1.2  # the most the face's chroma is scaled by (or divided by) towards the photo's cheeks
FRINGE_TIPS_REACH = 1.2  # × face edge width: a fringe's stray tips lie this close to it, above the eyes
BROW_TOPS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # upper brow outline on MediaPipe's mesh


def masked_lowpass(lab: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of `lab` (H×W×C or H×W float32) from the pixels where `mask` is set, filled in
    elsewhere from the nearest ones (normalised convolution at σ, then at 4σ and 16σ where σ sees none).

    Computed on a copy shrunk so that σ is LOWPASS_SIGMA_PX there, then enlarged: a low-pass holds
    nothing finer, and blurring at full size would cost σ² more."""
    if lab.ndim == 2:
        return masked_lowpass(lab[..., None], mask, sigma)[..., 0]
    height, width = mask.shape
    shrink = max(1.0, sigma / LOWPASS_SIGMA_PX)
    small = (max(1, round(width / shrink)), max(1, round(height / shrink)))
    weights = cv2.resize(mask.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    # OpenCV drops a single channel's axis; the reshapes put it back
    values = cv2.resize(lab * mask[..., None], small, interpolation=cv2.INTER_AREA).reshape(*weights.shape, -1)
    result = np.zeros(values.shape, np.float32)
    filled = np.zeros(weights.shape, bool)
    for scale in (1.0, 4.0, 16.0):
        s = max(0.5, sigma * scale / shrink)
        norm = cv2.GaussianBlur(weights, (0, 0), s)
        blurred = cv2.GaussianBlur(values, (0, 0), s).reshape(values.shape)
        usable = (norm > 1e-3) & ~filled
        result[usable] = blurred[usable] / norm[usable, None]
        filled |= usable
        if filled.all():
            break
    if not filled.all():
        result[~filled] = lab[mask].mean(0) if mask.any() else lab.reshape(-1, lab.shape[-1]).mean(0)
    return cv2.resize(result, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)


def transfer_tone(source: np.ndarray, source_skin: np.ndarray, target: np.ndarray, target_skin: np.ndarray,
                  sigma: float, inner: np.ndarray | None = None, inner_sigma: float | None = None,
                  eyes: np.ndarray | None = None, photo_modelling: np.ndarray | None = None,
                  photo_shading: np.ndarray | None = None,
                  photo_eyes: np.ndarray | None = None, shade_lift: np.ndarray | None = None,
                  shadow_ratio: np.ndarray | None = None,
                  photo_nostrils: np.ndarray | None = None) -> np.ndarray:
    """BGR uint8: the target's skin low-pass (CIELAB) plus the source's detail above its own skin low-pass.

    `source` is the source face already warped onto the target's geometry, same size as `target`;
    the masks are bool skin pixels of each; σ in pixels. Where the float weight `inner` is 1 (eyes,
    brows, nose) the low-pass is taken at `inner_sigma` instead: the modelling of eye sockets and nose
    is identity and comes from the source, while cheeks and jaw, which meet the neck, keep the photo's
    light at σ. Where the float weight `eyes` is 1 the source's own colours are kept, in the photo's light
    and colour cast (`photo_eyes`: the photo's own eye outlines; see `eye_colours`); where
    `photo_modelling` is 1 the shading is the photo's and the portrait's creases lifted, where `photo_shading`
    is 1 only the shading is the photo's (`match_modelling`); where `shade_lift` is 1 the source's
    detail darker than its skin is lifted (the shade a cover cast on the portrait, `cover_shade_weights`); where
    `shadow_ratio` is 1 a shadow on a darker photo keeps its ratio to the skin, not its depth (`nostril_weight`),
    and falls no deeper than the photo's own nostrils' where `photo_nostrils` (their zone) is given."""
    lab_source = bgr_to_lab(source).astype(np.float32)
    lab_target = bgr_to_lab(target).astype(np.float32)
    base_source = masked_lowpass(lab_source, source_skin, sigma)
    base_target = masked_lowpass(lab_target, target_skin, sigma)
    modelling = match_modelling(lab_source[..., 0], source_skin, base_source[..., 0],
                                lab_target[..., 0], target_skin, base_target[..., 0], sigma, inner,
                                photo_modelling, photo_shading)
    inner_share = None if inner is None or inner_sigma is None else inner[..., None].astype(np.float32)
    if inner_share is not None:
        base_source = (base_source * (1 - inner_share)
                       + masked_lowpass(lab_source, source_skin, inner_sigma) * inner_share)
        base_target = (base_target * (1 - inner_share)
                       + masked_lowpass(lab_target, target_skin, inner_sigma) * inner_share)
    detail = lab_source - base_source
    detail[..., 0] += modelling
    if shade_lift is not None:
        detail[..., 0] -= shade_lift * np.minimum(detail[..., 0], 0.0)
    if shadow_ratio is not None:
        # a shadow's depth is a share of the light falling on the skin: a light portrait's nostril, its depth
        # taken whole onto a darker skin, was crushed to black wedges (L* 0 where the photo's own are 4–8)
        ratio = np.clip((base_target[..., 0] + LAB_L_OFFSET) / (base_source[..., 0] + LAB_L_OFFSET), 0.0, 1.0)
        shadow = np.minimum(detail[..., 0], 0.0)
        detail[..., 0] -= shadow_ratio * (1.0 - ratio) * shadow
        if photo_nostrils is not None:  # and its depth follows the photo's light (`shadow_depth_gain`)
            gain = shadow_depth_gain(detail[..., 0], shadow_ratio, lab_target[..., 0] - base_target[..., 0],
                                     photo_nostrils)
            detail[..., 0] -= shadow_ratio * (1.0 - gain) * np.minimum(detail[..., 0], 0.0)
    # Chroma detail is the source's own pigmentation (and, on a darker skin, greyer shading): damped,
    # so a dark source does not leave grey-blue patches on a light face, nor a light one pink blotches.
    chroma = detail[..., 1:]
    detail[..., 1:] = np.where(chroma > 0, CHROMA_DETAIL, CHROMA_DRAIN) * chroma
    # The skin's colour darkens with its lightness: a brow or lash line set on the photo's skin tone
    # keeps little of that skin's chroma (on a darker face it had turned maroon)
    lab = base_target + detail
    lab[..., 0] = below_highlights(lab[..., 0], lab_target[..., 0][target_skin])
    lab[..., 1:] = base_target[..., 1:] * shade_chroma(lab[..., 0], base_target[..., 0]) + detail[..., 1:]
    if (fade := highlight_colour(lab_target, target_skin)) is not None:
        # the colour the photo's fading highlights give this lightness, less the low-pass of what they gave there
        faded = fade(lab_target[..., 0])
        base_faded = masked_lowpass(faded, target_skin, sigma)
        if inner_share is not None:
            base_faded = (base_faded * (1 - inner_share)
                          + masked_lowpass(faded, target_skin, inner_sigma) * inner_share)
        lab[..., 1:] += fade(lab[..., 0]) - base_faded
    if eyes is not None:
        w = eyes[..., None].astype(np.float32)
        lab = lab * (1 - w) + eye_colours(lab_source, eyes, source_skin, lab_target, photo_eyes, target_skin,
                                          base_target - base_source) * w
    return lab_to_bgr(lab)


def shadow_depth_gain(detail: np.ndarray, zone: np.ndarray, photo_detail: np.ndarray,
                      photo_zone: np.ndarray) -> float:
    """The share of the portrait's shadow depth under its nose to keep, from NOSTRIL_LEAST_GAIN to 1: the photo's
    nostril depth over the portrait's, each the NOSTRIL_DEPTH_QUANTILE of the L* detail (H×W: lightness less its
    low-pass) where its float weight (`zone`, `photo_zone`) is over a half. How deep a nostril's shadow falls is
    the light's hardness: a portrait lit hard from above (ocasio_cortez's nostrils 35 L* below her skin) set on a
    softly lit photo (19) drew its far nostril as a black scribble. At least NOSTRIL_LEAST_GAIN stays: a photo's
    nostrils can hide under a turned nose, and a nose without any read as a blur."""
    mine, theirs = detail[zone > 0.5], photo_detail[photo_zone > 0.5]
    if mine.size < 16 or theirs.size < 16:
        return 1.0
    depth = -float(np.quantile(mine, NOSTRIL_DEPTH_QUANTILE))
    photo_depth = max(0.0, -float(np.quantile(theirs, NOSTRIL_DEPTH_QUANTILE)))
    return 1.0 if depth <= photo_depth else float(np.clip(photo_depth / depth, NOSTRIL_LEAST_GAIN, 1.0))


def skin_colour_by_lightness(lab: np.ndarray, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L* centres (K,), median a*b* (K×2)) of the skin pixels (`skin`, bool, over `lab`, H×W×3 CIELAB) in bins
    HIGHLIGHT_COLOUR_BIN wide, for the bins holding at least HIGHLIGHT_COLOUR_SHARE of them; none under 64."""
    stride = max(1, int(np.sqrt(np.count_nonzero(skin) / HIGHLIGHT_COLOUR_SAMPLES)))  # a grid of samples
    values = lab[::stride, ::stride][skin[::stride, ::stride]]
    values = values[::max(1, int(np.ceil(len(values) / HIGHLIGHT_COLOUR_SAMPLES)))]  # the grid holds up to 4 × as many
    if len(values) < 64:
        return np.zeros(0, np.float32), np.zeros((0, 2), np.float32)
    bins, colours = colour_by_lightness(values, HIGHLIGHT_COLOUR_BIN, max(16, HIGHLIGHT_COLOUR_SHARE * len(values)))
    return (bins + 0.5) * HIGHLIGHT_COLOUR_BIN, colours


def highlight_colour(lab: np.ndarray, skin: np.ndarray) -> Callable[[np.ndarray], np.ndarray] | None:
    """The photo's skin colour by lightness where it fades in the camera's top stops: a function of L* (H×W
    float32) giving the a*b* (H×W×2) of the photo's skin (`skin`, bool, over `lab`, H×W×3 CIELAB) at that
    lightness above its most colourful lightness and HIGHLIGHT_SHOULDER_L, held below. None when no skin that
    light is read.

    A camera compresses highlights: past its shoulder the channels clip one after another and the skin's colour
    fades to white as its light rises, which shading by the light alone (`shade_chroma`) does not model. On a
    high-key photo (a fair skin one or two stops over, cheeks L* 90–100, chroma 4 where the shaded skin shows 25)
    the portrait's modelling set on the faded low-pass kept its colour, and the face read as a grey mask against
    a yellow-white neck. Reading the photo's own fade tells a shaded pixel there the colour the photo gives it."""
    centres, colours = skin_colour_by_lightness(lab, skin)
    if len(centres) < 2:
        return None
    peak = int(np.argmax(np.hypot(colours[:, 0], colours[:, 1])))
    fading = (np.arange(len(centres)) >= peak) & (centres >= HIGHLIGHT_SHOULDER_L)
    if fading.sum() < 2:  # no fade in the camera's top stops
        return None
    centres, colours = centres[fading], colours[fading]
    return lambda lightness: np.stack([np.interp(lightness, centres, colours[:, channel]).astype(np.float32)
                                       for channel in (0, 1)], -1)


def below_highlights(lightness: np.ndarray, photo_skin: np.ndarray) -> np.ndarray:
    """L* (H×W float32) whose values above the photo's brightest skin (the HIGHLIGHT_QUANTILE of `photo_skin`,
    its skin pixels' L*) roll off within HIGHLIGHT_HEADROOM above it, as a camera's shoulder does. A light skin
    leaves a face's highlights no room: set on gluesenkamp_perez's cheeks (L* 89, her brightest skin 93), the
    astronaut's lit cheek reached L* 99 and lost its colour to the sRGB gamut (a* −2 against the photo's 6), a
    white-green patch, and the cheeks' lift carried more of the face there."""
    if photo_skin.size < 16:
        return lightness
    ceiling = float(np.quantile(photo_skin, HIGHLIGHT_QUANTILE))
    over = np.maximum(lightness - ceiling, 0.0)
    return np.where(over > 0, ceiling + HIGHLIGHT_HEADROOM * np.tanh(over / HIGHLIGHT_HEADROOM), lightness)


def sclera_colour(lab: np.ndarray, eyes: np.ndarray, skin: np.ndarray) -> np.ndarray | None:
    """Median L*a*b* of an eye's white (the brightest SCLERA_SHARE of the pixels inside the outlines,
    `eyes` > 0.5), or None when there are too few or they are not whiter than the skin (`skin`, bool):
    chroma at most SCLERA_CHROMA × the skin's (a squinting eye's lid, lashes)."""
    inside = lab[eyes > 0.5]
    if len(inside) * SCLERA_SHARE < MIN_SCLERA_PIXELS or not skin.any():
        return None
    white = _brightest_share(inside)
    skin_chroma = float(np.hypot(*np.median(lab[skin][::SKIN_SAMPLE_STEP, 1:], axis=0)))
    return white if float(np.hypot(*white[1:])) <= SCLERA_CHROMA * skin_chroma else None


def _brightest_share(pixels: np.ndarray) -> np.ndarray:
    """Median L*a*b* of the brightest SCLERA_SHARE of `pixels` (N×3 L*a*b*): an eye's white, where it shows one."""
    return np.median(pixels[pixels[:, 0] >= np.quantile(pixels[:, 0], 1.0 - SCLERA_SHARE)], axis=0)


def fade_in_fill(relit: np.ndarray, filled: np.ndarray, share: np.ndarray, outside: np.ndarray,
                 sigma: float) -> np.ndarray:
    """`filled` (H×W×3 uint8) in its `share` (H×W float 0..1) of each pixel, `relit` in the rest; where the
    share is whole, the fill reaches on into the re-lit portrait beside it, fading out over about 2σ
    (`sigma` px). The fill already has the photo's tone and light (`classical.forehead_above_brows`); the
    re-lit portrait beside it follows the photo's tone only at the face's scale, so a hard switch drew a
    line where the two meet (along a brow's tail). The fade lies outside the fill: inside it the re-lit
    values are the fill's own pixels lit as if they were the portrait's, which can be blown out. Where the
    crop holds no face (`outside`, bool) `filled` is taken whole for the same reason. A matte's own values
    (0 < share < 1) are kept, and the portrait's pixels darker than their surroundings (a Gaussian of 2σ)
    by FILL_HAIR_CONTRAST grey levels (hair: a thin brow's tail) are not faded."""
    whole = share >= 1.0
    reach = np.minimum(2.0 * cv2.GaussianBlur(whole.astype(np.float32), (0, 0), sigma), 1.0)
    # the portrait's hair beside the fill (a thin brow's tail) is no skin to fade: it keeps its pixels in
    # proportion to how much darker than its surroundings it is
    grey = cv2.cvtColor(relit, cv2.COLOR_BGR2GRAY).astype(np.float32)
    darker = cv2.GaussianBlur(grey, (0, 0), 2.0 * sigma) - grey
    reach *= 1.0 - np.clip(darker / FILL_HAIR_CONTRAST, 0.0, 1.0)
    blended = np.where(whole | outside, 1.0, np.where(share > 0, share, reach))[..., None]
    return np.round(blended * filled + (1.0 - blended) * relit).astype(np.uint8)


def eye_colours(lab_source: np.ndarray, eyes: np.ndarray, source_skin: np.ndarray, lab_target: np.ndarray,
                photo_eyes: np.ndarray | None, target_skin: np.ndarray, tone_shift: np.ndarray) -> np.ndarray:
    """H×W×3 float32 L*a*b* of the portrait's eyes in the photo's light.

    The eyes are not skin: they keep their own level, lit by EYE_LIGHT_SHARE of the skins' difference in
    lightness (`tone_shift`, H×W×3), instead of standing as far above a lighter face as they stood above
    a darker one; a lighter photo lifts only the whites (a dark iris lifted with them turned grey-blue), a
    darker photo's shade falls on the whole eye and an iris in shade loses chroma with its lightness. The
    skins' difference in a*b* is mostly pigment and is not taken; the photo's colour cast is read off the
    whites of both faces instead, near-neutral reflectors: the portrait's eyes take the difference between
    the photo's whites and its own, on the whites only (a cast scales with lightness, and taken off a dark
    iris whole it turned a brown iris blue), skipped when either face shows no white (a closed eye). The
    whites are then brought down to no more than WHITES_HEADROOM L* above the photo's own."""
    out = lab_source.copy()
    shift = EYE_LIGHT_SHARE * tone_shift[..., :1]
    whites = np.clip((lab_source[..., :1] - IRIS_L) / (SCLERA_L - IRIS_L), 0.0, 1.0)
    out[..., :1] += np.where(shift > 0, shift * whites, shift)
    out[..., 1:] *= shade_chroma(out[..., 0], lab_source[..., 0])
    source_white = sclera_colour(lab_source, eyes, source_skin)
    photo_white = None if photo_eyes is None else sclera_colour(lab_target, photo_eyes, target_skin)
    if source_white is not None and photo_white is not None:
        out[..., 1:] += (photo_white[1:] - source_white[1:]) * whites
        # whites brighter than the photo's own glowed (every astronaut result, up to 34 L* above a face in
        # shade): they are lit no brighter than the photo's, within WHITES_HEADROOM, and the shade that takes
        # them down falls on the whole eye, as shading scales L* + 16: an iris kept at its own level in a
        # shaded socket glowed amber (casar's on biden, a fresh reviewer's second defect kind)
        _shade_whites(out, eyes, source_skin, float(photo_white[0]))
    elif photo_eyes is not None and int((photo_eyes > 0.5).sum()) * SCLERA_SHARE >= MIN_SCLERA_PIXELS \
            and int((eyes > 0.5).sum()) * SCLERA_SHARE >= MIN_SCLERA_PIXELS:
        # The photo's eye shows no white to read (a full-body face's eye a few pixels wide, softened into its
        # lids; an eye in deep shade): its whole eye is the reference. The portrait's eye takes its mean a*b*,
        # so its cast and the lids' light scattered into it: kept neutral, a dark eye read blue-grey on a warm
        # face (a*b* 5, 6 against the photo's eye at 16, 23 on blunt_rochester's 36-px face). And its whites
        # are lit no brighter than the photo eye's brightest share (its lids, or whites in shade), within
        # WHITES_HEADROOM: left alone they glowed on a head turned into shade (l000397).
        photo_eye = lab_target[photo_eyes > 0.5]
        _shade_whites(out, eyes, source_skin, float(np.quantile(photo_eye[:, 0], 1.0 - SCLERA_SHARE)),
                      require_white=False)
        out[..., 1:] += (photo_eye[:, 1:].mean(axis=0) - out[eyes > 0.5][:, 1:].mean(axis=0)) * eyes[..., None]
    return out


def _shade_whites(lab: np.ndarray, eyes: np.ndarray, skin: np.ndarray, ceiling: float,
                  require_white: bool = True) -> None:
    """Shade the eye `lab` (H×W×3 float32 L*a*b*, in place) so that its whites (`sclera_colour`; without
    `require_white`, the brightest SCLERA_SHARE of the pixels inside the outlines whatever their colour)
    stand no more than WHITES_HEADROOM L* above `ceiling`; the shade falls on the whole eye by a ratio of
    L* + 16, its chroma following (`shade_chroma`)."""
    if require_white:
        lit = sclera_colour(lab, eyes, skin)
        level = None if lit is None else float(lit[0])
    else:
        level = float(_brightest_share(lab[eyes > 0.5])[0])
    if level is None or level - ceiling <= WHITES_HEADROOM:
        return
    ratio = (ceiling + WHITES_HEADROOM + LAB_L_OFFSET) / (level + LAB_L_OFFSET)
    unshaded = lab[..., 0].copy()
    lab[..., 0] = (unshaded + LAB_L_OFFSET) * ratio - LAB_L_OFFSET
    lab[..., 1:] *= shade_chroma(lab[..., 0], unshaded)


def shade_chroma(lightness: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """H×W×1 float32 factor for a*b* where a surface of lightness `lit` (L*, H×W) is shown at `lightness`.

    Shading scales the tristimulus values XYZ alike, which scales L* + 16, a* and b* by the same cube
    root (CIE 1976 L*a*b*), so a pixel k times darker in L* + 16 keeps k of its chroma. Down to
    SHADE_CHROMA_KNEE nothing is taken: skin's own shadows keep their colour (light scattered under the
    skin), and a portrait's soft modelling should not turn ashy; past it the factor falls to 0 at black."""
    ratio = (lightness + LAB_L_OFFSET) / (lit + LAB_L_OFFSET)
    return np.clip(ratio / SHADE_CHROMA_KNEE, 0.0, 1.0)[..., None].astype(np.float32)


def match_modelling(l_source: np.ndarray, source_skin: np.ndarray, base_source: np.ndarray, l_target: np.ndarray,
                    target_skin: np.ndarray, base_target: np.ndarray, sigma: float,
                    inner: np.ndarray | None = None, photo_modelling: np.ndarray | None = None,
                    photo_shading: np.ndarray | None = None) -> np.ndarray:
    """H×W float32 change to the source's L* detail that sets its modelling to the photo's strength.

    The band of L* between MODELLING_BAND × σ and σ (the shading of cheekbones, nose and eye sockets,
    not skin texture, which the sharpness and grain steps match) is scaled by √(local energy of the
    photo's band ÷ the source's), the energies taken over each face's skin at MODELLING_ENERGY × σ, the
    gain kept within MODELLING_GAIN: local energy matching per band, as in Shih et al. 2014, "Style
    transfer for headshot portraits". Where the float weight `inner` is 1 (eyes, brows, nose) the
    modelling stays the portrait's: weakened, the dlib judge lost a pair; strengthened, brows and eye
    sockets turned an ashy grey-brown on a strongly lit photo (a fresh user's review). Where the float
    weight `photo_modelling` is 1 (a smile's folds on a closed mouth) the band is the photo's own and the
    source's finer creases, darker than the skin around them, are lifted; where `photo_shading` is 1 (the
    face's sides, `outline_weight`) only the band is the photo's. Inputs: L* (H×W float32), the
    skin masks (H×W bool) and both faces' skin low-pass L* at σ (pixels)."""
    band_sigma, energy_sigma = MODELLING_BAND * sigma, MODELLING_ENERGY * sigma
    fine_base = masked_lowpass(l_source, source_skin, band_sigma)
    band_source = fine_base - base_source
    band_target = masked_lowpass(l_target, target_skin, band_sigma) - base_target
    energy_source = masked_lowpass(band_source ** 2, source_skin, energy_sigma)
    energy_target = masked_lowpass(band_target ** 2, target_skin, energy_sigma)
    # + 1 L*²: where neither face has modelling the gain stays near 1, not a ratio of two noises
    gain = np.clip(np.sqrt((energy_target + 1.0) / (energy_source + 1.0)), *MODELLING_GAIN)
    if inner is not None:
        gain = gain + (1.0 - gain) * inner
    change = (gain - 1.0) * band_source
    if photo_shading is not None:
        change += photo_shading * np.maximum(band_target - band_source - change - SIDE_SHADE_TOLERANCE, 0.0)
    if photo_modelling is not None:
        change += photo_modelling * (band_target - band_source - change)
        change -= photo_modelling * np.minimum(l_source - fine_base, 0.0)
    return change


def cover_shade_weights(valid: np.ndarray, mesh: np.ndarray, size: int,
                        edge: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(shade, tips): feathered weights on the portrait's skin beside hair that covers its face, each None
    where there is none. A cover is where `valid` (the source's clean mask warped onto `mesh`) is < 0.5 inside
    the face oval, the lips' own gap left out; the eyes, brows, nose and mouth are spared.

    `shade` lies within COVER_SHADE_REACH face edges of a cover below the eyes: hair falling beside a cheek
    shades the skin next to it and leaves stray strands there; re-lit, that strip set a dark S-shaped crease
    beside the photo's cheek where the cover's gap joins it (ocasio_cortez, whose hair lies along her right
    cheek, on gluesenkamp_perez and matsui), so the composite lifts its shade (`transfer_tone`'s
    `shade_lift`). `tips` lies within FRINGE_TIPS_REACH of a cover above the eyes: the strip between a fringe
    and the brows carries much of a fringe portrait's identity, so only the fringe's stray tips there are
    lifted (`lift_specks`)."""
    lost = (face_oval_mask(mesh, size, 0, 0) > 0.5) & (valid < 0.5)
    mouth = grown(lips_and_opening(mesh, size), max(1, int(round(COVER_SHADE_MOUTH * edge))))
    lost &= ~mouth  # the lips and mouth corners never travel: their gap is no cover
    if not lost.any():
        return None, None
    distance = cv2.distanceTransform((~lost).astype(np.uint8), cv2.DIST_L2, 3)
    eye_row = int(float(mesh[list(EYE_CORNERS), 1].mean()))
    below = (distance < COVER_SHADE_REACH * edge) & ~lost
    below[:eye_row] = False
    above = (distance < FRINGE_TIPS_REACH * edge) & ~lost
    above[eye_row:] = False
    if not (below.any() or above.any()):
        return None, None
    spare = COVER_SHADE_SPARE * edge
    spared = (grown(feature_mask(mesh, size), max(1, int(round(spare)))) | mouth).astype(np.float32)
    kept = 1.0 - cv2.GaussianBlur(spared, (0, 0), max(1.0, spare))

    def feathered(near: np.ndarray) -> np.ndarray | None:
        if not near.any():
            return None
        return cv2.GaussianBlur(near.astype(np.float32), (0, 0), max(1.0, COVER_SHADE_FEATHER * edge)) * kept

    return feathered(below), feathered(above)


def eye_weight(mesh: np.ndarray, size: int, edge: float) -> np.ndarray:
    """1 inside the eye outlines, feathered over a third of a face edge."""
    return region_mask(mesh, "eyes", size, feather_px=max(1.0, edge / 3.0))


NOSTRIL_GROW = 0.3  # × face edge width around the nose's outline, and above its tip, that the nostrils' weight reaches
NOSTRIL_DEPTH_QUANTILE = 0.03  # the nostrils' darkest pixels below their skin measure their shadow's depth
NOSTRIL_LEAST_GAIN = 0.5  # the least share of the portrait's nostril depth kept on a softer-lit photo
NOSTRIL_TIP = 1  # MediaPipe mesh: the nose tip; the nostrils lie below it


def nostril_weight(mesh: np.ndarray, size: int, edge: float) -> np.ndarray:
    """Float crop weight, 1 over the nose below its tip (the nostrils and the wings' shadows), grown and
    feathered by NOSTRIL_GROW face edges."""
    grow = max(1.0, NOSTRIL_GROW * edge)
    nose = region_mask(mesh, "nose", size, feather_px=0) > 0.5
    nose = grown(nose, int(round(grow))).astype(np.float32)
    nose *= _below(float(mesh[NOSTRIL_TIP, 1]), size, edge)
    return cv2.GaussianBlur(nose, (0, 0), grow)


NASOLABIAL_FOLDS = ((142, 203, 206, 216, 212), (371, 423, 426, 436, 432))  # MediaPipe mesh: beside each
# nose wing, down past the mouth corner
FOLD_WIDTH = 1.2  # × face edge width: the band's width along each fold


def smile_fold_weight(meshes: tuple[np.ndarray, ...], size: int, edge: float) -> np.ndarray:
    """1 along the nasolabial folds (beside the nose wing, down past the mouth corner) of each mesh,
    feathered over half a face edge: where a smiling portrait's creases land on a face that does not smile."""
    band = np.zeros((size, size), np.uint8)
    width = max(1, int(round(FOLD_WIDTH * edge)))
    for mesh in meshes:
        for fold in NASOLABIAL_FOLDS:
            cv2.polylines(band, [np.round(mesh[list(fold)]).astype(np.int32)], False, 1, width)
    return cv2.GaussianBlur(band.astype(np.float32), (0, 0), max(1.0, 0.5 * edge))


def outline_weight(mesh: np.ndarray, size: int, edge: float) -> np.ndarray:
    """Float crop weight, 1 on the face outline (the mesh's oval) fading to 0 OUTLINE_SHADING face edges
    inside it, below the eyes: the sides of the cheeks, whose shape, and so whose shading, stay the photo's."""
    oval = (face_oval_mask(mesh, size, 0, 0) > 0.5).astype(np.uint8)
    inside = cv2.distanceTransform(oval, cv2.DIST_L2, 3)
    sides = np.clip(1.0 - inside / max(1.0, OUTLINE_SHADING * edge), 0.0, 1.0) * oval
    return sides * _below(float(mesh[list(EYE_CORNERS), 1].mean()), size, edge)


def inner_face_weight(mesh: np.ndarray, size: int, edge: float) -> np.ndarray:
    """1 over the eyes, brows and nose (grown by one face edge), fading out over two more."""
    inner = np.zeros((size, size), np.uint8)
    for region in ("eyes", "brows", "nose"):
        inner |= (region_mask(mesh, region, size, feather_px=0) > 0.5).astype(np.uint8)
    grow = max(1, int(round(edge)))
    return smooth_blur(grown(inner, grow).astype(np.float32), max(1.0, 2.0 * edge))


def smooth_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of σ `sigma` px of an H×W float32 array, computed on a copy shrunk so that σ is
    LOWPASS_SIGMA_PX there, then enlarged (as `masked_lowpass`): the result holds nothing finer, and
    blurring at full size costs σ² more (a 2-face-edge blur of a 512-px crop: about 21 → 2 ms)."""
    height, width = values.shape
    shrink = sigma / LOWPASS_SIGMA_PX
    if shrink <= 1.0:
        return cv2.GaussianBlur(values, (0, 0), sigma)
    small = cv2.resize(values, (max(1, round(width / shrink)), max(1, round(height / shrink))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), LOWPASS_SIGMA_PX), (width, height),
                      interpolation=cv2.INTER_LINEAR)


def unsharp(image: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp mask (σ 1 px): amount > 0 sharpens, < 0 blurs with σ = −amount, 0 returns the image.

    Sharpening works on the grey level and keeps each pixel's hue (`with_lightness`). It is limited to the
    range of each pixel's SHARPEN_WINDOW neighbourhood plus SHARPEN_OVERSHOOT grey levels (overshoot control,
    as limited sharpeners do): a strong edge such as a dark brow on light skin otherwise gains a bright halo
    line (at a gain of 3, a step 140 grey levels high and 1 px soft overshoots by 26), while texture inside
    that range is raised as before."""
    return unsharp_at(image)(amount)


def unsharp_at(image: np.ndarray, skin: np.ndarray | None = None) -> Callable[[float], np.ndarray]:
    """`unsharp(image, amount)` as a function of the amount, each result computed once and the detail and
    range limits shared: the sharpness match tries several amounts on one crop.

    Where the float H×W `skin` is 1 the amount stops at SKIN_DETAIL_GAIN (mixed in proportion below): a
    retouched photo's sharpness lies in its lashes and brows, and matching it had raised the portrait's
    skin, its JPEG blocks and its fine lines, into a crackle (gains of 4.2–5.6 on ocasio_cortez's photos: the
    skin's finest texture 1.41–1.56 × the photo's where fresh reviewers saw crackle; 1.24–1.37 × now)."""
    @cache
    def sharpening() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        colour = image.astype(np.float32)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        window = np.ones((SHARPEN_WINDOW, SHARPEN_WINDOW), np.uint8)
        # below its neighbourhood a pixel may go by a share of its level, not a fixed step: a dark nostril or
        # lash line on a darker face was sharpened down to black
        return (colour, grey, grey - cv2.GaussianBlur(grey, (0, 0), 1.0),
                cv2.erode(grey, window) * (1.0 - SHARPEN_UNDERSHOOT), cv2.dilate(grey, window) + SHARPEN_OVERSHOOT)

    @cache
    def at(amount: float) -> np.ndarray:
        if amount == 0:
            return image
        if amount < 0:
            return cv2.GaussianBlur(image, (0, 0), -amount)
        colour, grey, detail, low, high = sharpening()
        gain = amount if skin is None or amount <= SKIN_DETAIL_GAIN else amount - (amount - SKIN_DETAIL_GAIN) * skin
        return with_lightness(colour, grey, np.clip(grey + gain * detail, low, high))

    return at


def with_lightness(colour: np.ndarray, grey: np.ndarray, lightness: np.ndarray) -> np.ndarray:
    """BGR uint8 of `colour` (H×W×3 float32) whose grey level `grey` (H×W float32) becomes `lightness`, its hue
    kept. Darkened, the channels are scaled together (a shade of the same colour). Lightened, each rises by the
    same step as far as the brightest reaches white, and the rest of the change moves them towards white in
    proportion to their headroom (a highlight whitens).

    Sharpening each channel on its own moved the hue at every edge between a saturated skin and a dark line:
    the red channel fell furthest beside a lash line on a warm skin, which turned blue-grey, an eye shadow the
    portrait never wore. And a step past white clipped a light skin's red first, turning its highlights towards
    yellow-green (19° of hue at L* 90 lifted by 20 grey levels)."""
    change = lightness - grey
    step = np.clip(change, 0.0, 255.0 - colour.max(axis=2))
    rest = (change - step)[..., None]
    lifted = colour + step[..., None]
    lifted += (255.0 - lifted) * np.maximum(rest, 0.0) / np.maximum(255.0 - (grey + step)[..., None], 1.0)
    shaded = colour * ((lightness + 1.0) / (grey + 1.0))[..., None]
    return np.clip(np.where((change < 0)[..., None], shaded, lifted) + 0.5, 0, 255).astype(np.uint8)


def match_grain(face: np.ndarray, photo: np.ndarray, skin: np.ndarray, seed: int) -> np.ndarray:
    """Add Gaussian grain so the face's noise over `skin` matches the photo's (a face from a clean
    render pasted into a noisy or JPEG-grained photo looks airbrushed). Deterministic per seed.

    Noise is told from texture by `noise_sigma`, a median of Laplacian-difference responses: pores and
    wrinkles are sparse edges the median passes over, so a smoother skin is not "repaired" with grain
    (which an enhancer downstream would then read as noise and smooth away)."""
    if skin.sum() < 64:
        return face
    missing = noise_sigma(photo, skin) ** 2 - noise_sigma(face, skin) ** 2
    return add_grain(face, float(np.sqrt(missing)), seed) if missing > 0.25 else face


def fine_lightness(image: np.ndarray, sigma: float) -> np.ndarray:
    """H×W float32 grey level of a BGR uint8 image above its Gaussian of σ `sigma` px: its fine texture."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), sigma)


def add_lightness(image: np.ndarray, change: np.ndarray) -> np.ndarray:
    """BGR uint8 `image` with the H×W `change` (grey levels) added to its grey level, each pixel's hue kept
    (`with_lightness`)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return with_lightness(image.astype(np.float32), grey, grey + change)


def match_skin_colour(face: np.ndarray, photo: np.ndarray, cheeks: np.ndarray, weight: np.ndarray,
                      skin: np.ndarray | None = None) -> np.ndarray:
    """`face` (BGR uint8, the composited crop) with its L* shifted and its chroma scaled so that, over the bool
    `cheeks` mask, its median lightness and colour are the photo's (same size), within SKIN_LIGHTNESS_SHIFT
    and SKIN_CHROMA_GAIN (all the way to grey in a black-and-white photo), in proportion to the float
    `weight` (the face's interior: at its outline the tone transfer already meets the photo, and a whole-face
    shift drew a seam there); the hue is kept. Where the bool `skin` (the photo's skin pixels) is given, the
    result's lightness rolls off above the photo's brightest skin (`below_highlights`).

    The cheeks' skin is the body's colour, not the portrait's, and every step after the tone transfer (texture,
    specks, grain, sharpening) works on lightness alone, which on a saturated skin greys it: a fresh reviewer
    saw 37 of 80 faces as grey or sallow masks against warm ears and necks (cheek chroma 0.91–0.93 × the
    photo's on the darker faces, lightness down 3–4 L* on the lightest)."""
    lab_face, lab_photo = bgr_to_lab(face).astype(np.float32), bgr_to_lab(photo).astype(np.float32)
    face_median, photo_median = np.median(lab_face[cheeks], axis=0), np.median(lab_photo[cheeks], axis=0)
    shift = float(np.clip(photo_median[0] - face_median[0], -SKIN_LIGHTNESS_SHIFT, SKIN_LIGHTNESS_SHIFT))
    photo_chroma = float(np.hypot(*photo_median[1:]))
    # a black-and-white photo's skin has no colour left, and nor may the face in it (a brown iris, a pink lip
    # line gave the swap away): there the chroma follows the photo's all the way down. Told by the skin's most
    # colourful lightness, not the cheeks': an overexposed photo's cheeks clip to white, its shaded skin does not
    least = 0.0 if _skin_chroma(lab_photo, cheeks if skin is None else skin) < COLOURLESS_SKIN_CHROMA \
        else 1.0 / SKIN_CHROMA_GAIN
    gain = float(np.clip(photo_chroma / max(float(np.hypot(*face_median[1:])), 1e-3), least, SKIN_CHROMA_GAIN))
    lab_face[..., 0] += shift * weight
    if skin is not None:
        lab_face[..., 0] = below_highlights(lab_face[..., 0], lab_photo[..., 0][skin])
    lab_face[..., 1:] *= (1.0 + (gain - 1.0) * weight)[..., None]
    return lab_to_bgr(lab_face)


def _skin_chroma(lab: np.ndarray, skin: np.ndarray) -> float:
    """The chroma of the skin's most colourful lightness (`skin_colour_by_lightness`), 0 with too few pixels."""
    _, colours = skin_colour_by_lightness(lab, skin)
    return float(np.hypot(colours[:, 0], colours[:, 1]).max()) if len(colours) else 0.0


def borrow_texture(face: np.ndarray, photo_fine: np.ndarray, skin: np.ndarray, sigma: float) -> np.ndarray:
    """`face` (BGR uint8) whose fine skin texture (lightness above a Gaussian of σ `sigma` px: pores, fine
    lines, the camera's grain) is `photo_fine` (the photo's, `fine_lightness` at the same σ, H×W float32)
    where the float `skin` is 1, mixed in proportion below. An upscaled portrait has plausible outlines but no
    pores of its own: super-resolution invents a texture there which the sharpness match then raises into
    crackle (a fresh reviewer's third defect, 25 of 82 results), and grain alone leaves it airbrushed."""
    return add_lightness(face, (photo_fine - fine_lightness(face, sigma)) * skin)


def without_edges(fine: np.ndarray, zone: np.ndarray, skin: np.ndarray, level: float, grow: int) -> np.ndarray:
    """`fine` (H×W float32 fine lightness) with, inside the bool `zone`, every pixel within `grow` px of one
    beyond `level` × its robust spread over the bool `skin` (1.4826 × the median absolute deviation) set to
    0: pores and grain stay, the edges of the photo's own shapes there (nose wings, nostril rims) go."""
    values = fine[skin]
    if values.size < 16:
        return np.where(zone, 0.0, fine).astype(np.float32)
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    strong = grown(np.abs(fine) > level * max(spread, 0.5), grow)
    return np.where(zone & strong, 0.0, fine).astype(np.float32)


def lift_specks(face: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """`face` with its fine detail darker than the skin around it (lightness below a Gaussian of σ `sigma`
    px: stubble, pores' shadows) lifted where the float `weight` is 1; the lighter half of its texture stays."""
    return add_lightness(face, -np.minimum(fine_lightness(face, sigma), 0.0) * weight)


def lower_face_weight(mesh: np.ndarray, size: int, edge: float) -> np.ndarray:
    """1 below the nose's base (upright aligned crop), fading in over LOWER_FACE_FADE face edges above it."""
    return _below(float(mesh[2, 1]), size, edge)


def _below(row: float, size: int, edge: float) -> np.ndarray:
    """size×size float weight: 1 below `row` (crop pixels), fading in over LOWER_FACE_FADE face edges above it."""
    rows = np.arange(size, dtype=np.float32)
    fade = max(1.0, LOWER_FACE_FADE * edge)
    column = np.clip((rows - (row - fade)) / fade, 0.0, 1.0)
    return np.repeat(column[:, None], size, axis=1)


def add_grain(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """BGR uint8 with monochrome Gaussian grain of σ grey levels added; deterministic per seed."""
    return add_lightness(image, np.random.default_rng(seed).normal(0.0, sigma, image.shape[:2]).astype(np.float32))


def lips_and_opening(mesh: np.ndarray, size: int) -> np.ndarray:
    """Bool crop mask of the lips and the opening between them, as outlined by the mesh."""
    return (region_mask(mesh, "lips", size, 0.0) > 0.5) | (region_mask(mesh, "mouth", size, 0.0) > 0.5)


def mouth_open(mesh: np.ndarray) -> bool:
    """True when the lips are apart by more than MOUTH_OPEN × the face's height (closed mouths on the
    development set measure ≤ 0.001, smiles showing teeth 0.04–0.08)."""
    height = float(np.linalg.norm(mesh[10] - mesh[152]))  # forehead top to chin
    return float(np.linalg.norm(mesh[13] - mesh[14])) > MOUTH_OPEN * height  # inner lips' midpoints


def mouth_keep_weight(mesh: np.ndarray, size: int, edge: float, opening_only: bool = False) -> np.ndarray:
    """1 over the target's lips and mouth opening (grown a little), feathered to 0: the target's mouth
    state wins, so a smiling source never puts teeth or lip fragments into closed lips. `opening_only`:
    the opening alone (its teeth or the dark between the lips), where the portrait's lips travel
    (`faces.lips_travel`)."""
    if opening_only:
        opening = grown(region_mask(mesh, "mouth", size, 0.0) > 0.5,
                        max(1, int(round(OPENING_GROW * edge)))).astype(np.float32)
        return np.maximum(opening, cv2.GaussianBlur(opening, (0, 0), max(0.5, OPENING_FEATHER * edge)))
    lips = lips_and_opening(mesh, size)
    grow = max(1, int(round(MOUTH_GROW * edge)))
    around = grown(lips, grow).astype(np.float32)
    feather = max(1, int(round(MOUTH_FEATHER * edge)))
    return np.maximum(around, cv2.GaussianBlur(around, (4 * feather + 1, 4 * feather + 1), 0))


def forehead_taper(mesh: np.ndarray, size: int) -> np.ndarray:
    """1 up to a little above the brows, fading to 0 towards the hairline (crop rows; the crop is upright).

    The upper forehead carries little identity and is where fringes, hairlines and hat brims meet the
    skin, so it keeps the target's own pixels."""
    brows = float(mesh[list(BROW_TOPS), 1].mean())
    top = float(mesh[mesh_topology()["oval"][0], 1].min())
    height = max(brows - top, 1.0)
    start, stop = brows - FOREHEAD_KEEP[0] * height, brows - FOREHEAD_KEEP[1] * height
    ramp = np.clip((np.arange(size, dtype=np.float32) - stop) / max(start - stop, 1.0), 0.0, 1.0)
    return np.repeat(ramp[:, None], size, axis=1)
