"""The tone transfer's modelling match (services.swapper.blend.match_modelling) on synthetic faces: a
lightness wave at the scale of a face's shading, set on a skin of the other face's level."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.swapper import blend
from shared.faces import (align_face, bgr_to_lab, face_edge_px, face_mesh, face_oval_mask, lab_to_bgr, largest_face,
                          region_mask)
from tests.data import astronaut

SIZE, SIGMA = 256, 20.0  # σ in pixels, as the composite passes TONE_SIGMA × the face edge
PERIOD = 60.0  # pixels: shading at the scale of cheekbones and the nose, below σ's reach


@pytest.fixture(scope="module")
def aligned_astronaut_mesh() -> tuple[np.ndarray, int]:
    image = astronaut()
    aligned = align_face(image, largest_face(image), "ffhq512")
    return face_mesh(aligned.crop).astype(np.float64), aligned.size


def _skin(level: float, amplitude: float) -> np.ndarray:
    """BGR uint8 skin at L* `level` with a vertical lightness wave of `amplitude` L*."""
    x = np.arange(SIZE, dtype=np.float32)
    lab = np.zeros((SIZE, SIZE, 3), np.float32)
    lab[..., 0] = level + amplitude * np.sin(2 * np.pi * x / PERIOD)[None, :]
    lab[..., 1], lab[..., 2] = 14.0, 18.0
    return lab_to_bgr(lab)


def _wave(bgr: np.ndarray) -> float:
    """Amplitude (L*) of the wave across the middle of the image."""
    row = bgr_to_lab(bgr)[SIZE // 2, SIZE // 4:3 * SIZE // 4, 0].astype(float)
    return float(np.percentile(row, 95) - np.percentile(row, 5)) / 2


def _transfer(source: np.ndarray, target: np.ndarray, inner: float | None = None) -> np.ndarray:
    skin = np.ones((SIZE, SIZE), bool)
    if inner is None:
        return blend.transfer_tone(source, skin, target, skin, sigma=SIGMA)
    return blend.transfer_tone(source, skin, target, skin, sigma=SIGMA, inner=np.full((SIZE, SIZE), inner, np.float32),
                               inner_sigma=4 * SIGMA)


@pytest.mark.parametrize("source_wave, target_wave, lower, upper", [
    (15.0, 2.0, 0.0, 0.7),  # a dark portrait's strong sheen on an evenly lit face: weaker
    (3.0, 12.0, 1.5, 99.0),  # a flat-lit portrait on a modelled face: stronger
    (6.0, 6.0, 0.9, 1.1),  # alike: as it was
])
def test_the_portrait_s_modelling_takes_the_photo_s_strength(monkeypatch, source_wave, target_wave, lower, upper):
    source, target = _skin(35.0, source_wave), _skin(75.0, target_wave)
    matched = _wave(_transfer(source, target))
    monkeypatch.setattr(blend, "MODELLING_GAIN", (1.0, 1.0))
    unmatched = _wave(_transfer(source, target))
    assert unmatched > 1.0
    assert lower <= matched / unmatched <= upper


@pytest.mark.parametrize("source_wave, target_wave", [(15.0, 2.0), (3.0, 12.0)])
def test_around_the_features_the_portrait_s_modelling_stays(monkeypatch, source_wave, target_wave):
    """Eye sockets' and the nose's shading is identity: flattened there, the dlib judge lost a pair;
    strengthened, brows and sockets turned ashy on a strongly lit photo."""
    source, target = _skin(35.0, source_wave), _skin(75.0, target_wave)
    matched = _wave(_transfer(source, target, inner=1.0))
    monkeypatch.setattr(blend, "MODELLING_GAIN", (1.0, 1.0))
    assert 0.95 < matched / _wave(_transfer(source, target, inner=1.0)) < 1.05


def test_the_tone_is_the_photo_s_whatever_the_modelling():
    result = bgr_to_lab(_transfer(_skin(35.0, 15.0), _skin(75.0, 2.0)))[..., 0]
    assert abs(float(np.median(result)) - 75.0) < 2.0


def _flat_lab(shape: tuple[int, int], lab: tuple[float, float, float]) -> np.ndarray:
    out = np.empty((*shape, 3), np.float32)
    out[...] = lab
    return out


def _chroma(lab: np.ndarray) -> np.ndarray:
    return np.hypot(lab[..., 1], lab[..., 2])


def test_a_dark_feature_on_a_darker_photo_keeps_little_of_the_skin_s_colour():
    """A light portrait's brown brow set on a dark photo's skin: the skin's chroma darkened with it reads
    maroon; shading scales L* + 16 and a*b* alike, so it keeps about its share of the lightness."""
    source = _flat_lab((SIZE, SIZE), (75.0, 10.0, 14.0))
    source[100:116, 60:196] = (45.0, 10.0, 14.0)  # the brow: darker, the skin's own hue
    target = _flat_lab((SIZE, SIZE), (35.0, 17.0, 17.0))
    skin = np.ones((SIZE, SIZE), bool)
    source_skin = skin.copy()
    source_skin[100:116, 60:196] = False  # as the composite's skin masks leave the brows out
    result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), source_skin, lab_to_bgr(target), skin, sigma=SIGMA))
    result = result.astype(np.float32)
    brow, cheek = result[104:112, 100:156], result[180:220, 60:196]
    assert abs(float(np.median(_chroma(cheek))) - float(np.hypot(17.0, 17.0))) < 2.0  # the skin is the photo's
    assert float(np.median(brow[..., 0])) < 12.0
    assert float(np.median(_chroma(brow))) < 0.65 * float(np.median(_chroma(cheek)))


def test_the_skin_s_own_soft_shadows_keep_their_colour():
    """Above the knee (a face's modelling, an eye socket) chroma stays: skin shadows do not turn ashy."""
    source, target = _skin(75.0, 5.0), _skin(75.0, 5.0)
    result = bgr_to_lab(_transfer(source, target)).astype(np.float32)
    row = result[SIZE // 2, SIZE // 4:3 * SIZE // 4]
    darkest = row[np.argsort(row[:, 0])[:10]]
    assert float(np.median(_chroma(darkest))) > 0.95 * float(np.hypot(14.0, 18.0))


def test_the_eyes_take_the_photo_s_light_but_not_its_skin_colour():
    """The whites were tinted orange by a darker, warmer skin's a*b*; an iris in the photo's shade loses
    chroma with its lightness instead of turning maroon."""
    source = _flat_lab((SIZE, SIZE), (75.0, 8.0, 12.0))
    source[96:160, 40:100] = (85.0, 0.0, 2.0)  # a white
    source[96:160, 156:216] = (30.0, 8.0, 20.0)  # an iris
    target = _flat_lab((SIZE, SIZE), (35.0, 18.0, 20.0))
    eyes = np.zeros((SIZE, SIZE), np.float32)
    eyes[96:160, 40:100] = eyes[96:160, 156:216] = 1.0
    skin = np.ones((SIZE, SIZE), bool) & (eyes == 0)
    result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                            eyes=eyes)).astype(np.float32)
    white, iris = np.median(result[110:146, 55:85], axis=(0, 1)), np.median(result[110:146, 170:200], axis=(0, 1))
    assert abs(white[1] - 0.0) < 1.5 and abs(white[2] - 2.0) < 1.5
    assert iris[0] < 26.0  # in the photo's shade
    assert np.hypot(iris[1], iris[2]) < np.hypot(8.0, 20.0) - 2.0


def test_the_eyes_take_the_photo_s_colour_cast_off_its_whites_and_irises_keep_their_colour():
    """A warm-lit portrait's orange-tinted whites set in a neutral photo: the whites take the photo's
    whites' a*b*; a brown iris stays brown (the cast taken off it whole had turned it blue)."""
    source = _flat_lab((SIZE, SIZE), (45.0, 18.0, 22.0))
    target = _flat_lab((SIZE, SIZE), (70.0, 9.0, 14.0))
    eyes = np.zeros((SIZE, SIZE), np.float32)
    source[96:160, 40:180] = (78.0, 6.0, 16.0)  # the portrait's warm whites
    target[96:160, 40:180] = (82.0, 0.0, 2.0)  # the photo's neutral ones
    source[112:144, 90:130] = (28.0, 9.0, 18.0)  # a brown iris
    target[112:144, 90:130] = (30.0, 2.0, 6.0)
    eyes[96:160, 40:180] = 1.0
    skin = eyes == 0
    result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                            eyes=eyes, photo_eyes=eyes)).astype(np.float32)
    white, iris = np.median(result[100:110, 45:85], axis=(0, 1)), np.median(result[118:138, 98:122], axis=(0, 1))
    assert abs(white[1] - 0.0) < 2.0 and abs(white[2] - 2.0) < 2.5
    assert iris[1] > 4.0 and iris[2] > 10.0  # still brown


def test_an_eye_whose_whites_the_photo_does_not_show_takes_the_photo_eye_s_colour_and_light():
    """A full-body face's eye, a few pixels wide, is softened into its lids: the photo shows no white to read
    its cast off. The portrait's crisp eye then stayed neutral and bright, and read blue-grey on a warm face (or
    glowed on a head in shade). It takes the mean a*b* of the photo's eye, and its whites stand no more than
    WHITES_HEADROOM above the brightest share of the photo's eye."""
    source = _flat_lab((SIZE, SIZE), (60.0, 14.0, 20.0))
    target = _flat_lab((SIZE, SIZE), (58.0, 17.0, 26.0))
    eyes = np.zeros((SIZE, SIZE), np.float32)
    eyes[96:160, 40:180] = 1.0
    source[96:160, 40:180] = (82.0, 0.0, 2.0)  # the portrait's neutral whites
    source[112:144, 90:130] = (25.0, 2.0, 3.0)  # and a dark, near-neutral iris
    target[96:160, 40:180] = (40.0, 16.0, 23.0)  # the photo's eye: a warm, soft blob, no white in it
    skin = eyes == 0

    def eye(photo_eyes: np.ndarray | None) -> np.ndarray:
        return bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                              eyes=eyes, photo_eyes=photo_eyes)).astype(np.float32)[eyes > 0.5]

    shown, unread = eye(eyes), eye(None)
    assert np.abs(shown[:, 1:].mean(axis=0) - (16.0, 23.0)).max() < 2.0
    assert np.hypot(*unread[:, 1:].mean(axis=0)) < 12.0  # without the photo's eye: near neutral
    assert np.quantile(shown[:, 0], 0.9) <= 40.0 + blend.WHITES_HEADROOM + 1.0
    assert np.quantile(unread[:, 0], 0.9) > 60.0


def test_sharpening_raises_texture_but_leaves_no_halo_beside_an_edge():
    edge = np.full((64, 64, 3), 200, np.uint8)
    edge[:, 32:] = 60  # light skin beside a dark brow
    edge = cv2.GaussianBlur(edge, (0, 0), 1.5)
    sharpened = blend.unsharp(edge, 3.0).astype(int)
    assert sharpened.max() <= int(edge.max()) + blend.SHARPEN_OVERSHOOT + 1
    assert sharpened.min() >= int(edge.min()) - blend.SHARPEN_OVERSHOOT - 1
    texture = cv2.GaussianBlur(np.clip(128 + np.random.default_rng(0).normal(0, 6, (64, 64, 3)), 0, 255)
                               .astype(np.uint8), (0, 0), 1.0)

    def detail(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32), cv2.CV_32F).var())

    assert detail(blend.unsharp(texture, 3.0)) > 4 * detail(texture)


def test_bare_skin_takes_no_more_than_the_skin_gain_while_the_features_take_the_whole_amount():
    """A retouched photo's sharpness lies in its lashes and brows; matching it at gains of 4.2–5.6 raised the
    portrait's skin into a crackle. Where `skin` is 1 the amount stops at SKIN_DETAIL_GAIN."""
    texture = cv2.GaussianBlur(np.clip(128 + np.random.default_rng(1).normal(0, 8, (64, 64, 3)), 0, 255)
                               .astype(np.uint8), (0, 0), 1.0)
    skin = np.zeros((64, 64), np.float32)
    skin[:, :32] = 1.0
    high = blend.SKIN_DETAIL_GAIN + 2.6
    sparing, plain = blend.unsharp_at(texture, skin), blend.unsharp_at(texture)
    assert np.array_equal(sparing(high)[:, :32], plain(blend.SKIN_DETAIL_GAIN)[:, :32])
    assert np.array_equal(sparing(high)[:, 32:], plain(high)[:, 32:])
    assert not np.array_equal(plain(high)[:, :32], plain(blend.SKIN_DETAIL_GAIN)[:, :32])  # the cap changed it
    assert np.array_equal(sparing(1.2), plain(1.2))  # below the skin gain nothing differs


def test_a_brow_fill_fades_into_the_relit_portrait_without_a_step():
    """The fill (the photo's tone, 180) meets the re-lit portrait (150) across a vertical edge: the crop changes
    smoothly there, and each keeps its own value away from the edge."""
    relit = np.full((40, 80, 3), 150, np.uint8)
    filled = np.full((40, 80, 3), 180, np.uint8)
    fill = np.zeros((40, 80), bool)
    fill[:, 40:] = True
    faded = blend.fade_in_fill(relit, filled, fill, np.zeros_like(fill), sigma=3.0).astype(int)
    assert np.abs(np.diff(faded[20, :, 0])).max() <= 10  # a hard switch steps by 30
    assert faded[20, 5, 0] == 150 and (faded[:, 40:, 0] == 180).all()  # the fade lies outside the fill


def test_a_matte_share_of_the_fill_is_kept_as_it_is():
    relit = np.full((20, 20, 3), 100, np.uint8)
    filled = np.full((20, 20, 3), 200, np.uint8)
    share = np.zeros((20, 20), np.float32)
    share[5:15, 5:15] = 0.25  # a brow hair's pixels: three quarters the re-lit portrait
    faded = blend.fade_in_fill(relit, filled, share, np.zeros(share.shape, bool), sigma=2.0)
    assert faded[10, 10, 0] == 125 and faded[0, 0, 0] == 100


def test_a_brow_fill_does_not_fade_towards_where_the_crop_holds_no_face():
    """Beyond the fill the crop holds the photo's pixels re-lit as if they were the portrait's (here blown out
    to 255): there, and up to its edge, the fill is taken whole."""
    relit = np.full((40, 80, 3), 255, np.uint8)
    filled = np.full((40, 80, 3), 180, np.uint8)
    fill = np.zeros((40, 80), bool)
    fill[:, 40:] = True
    outside = ~fill
    faded = blend.fade_in_fill(relit, filled, fill, outside, sigma=3.0)
    assert (faded == 180).all()


def test_a_brow_fills_fade_spares_the_portraits_hair_beside_it():
    """A thin brow tail (60) just beside the fill (180) keeps its pixels; the skin (170) beside it fades."""
    relit = np.full((40, 80, 3), 170, np.uint8)
    relit[:, 36:38] = 60  # the tail's hairs, within the fade's reach
    filled = np.full((40, 80, 3), 180, np.uint8)
    fill = np.zeros((40, 80), bool)
    fill[:, 40:] = True
    faded = blend.fade_in_fill(relit, filled, fill, np.zeros_like(fill), sigma=3.0)
    assert (faded[:, 36:38] == 60).all()
    assert faded[20, 38, 0] > 170  # the skin next to it takes some of the fill


@pytest.mark.parametrize("sigma", [2.0, 20.0, 50.0])
def test_smooth_blur_matches_the_full_size_blur(sigma):
    """The blur computed on a shrunk copy is the full-size Gaussian to within 1 % of the weight's range."""
    mask = np.zeros((512, 512), np.float32)
    cv2.circle(mask, (256, 220), 90, 1.0, -1)
    cv2.rectangle(mask, (200, 300), (320, 360), 1.0, -1)
    full = cv2.GaussianBlur(mask, (0, 0), sigma)
    fast = blend.smooth_blur(mask, sigma)
    assert fast.shape == mask.shape and fast.dtype == np.float32
    assert np.abs(fast - full).max() < 0.01


def test_a_cover_s_shade_on_the_portrait_is_lifted_and_its_light_detail_kept():
    """The portrait's skin beside hair that lay along its cheek is in the hair's shade, a strip darker than
    its skin: re-lit where `shade_lift` is 1 it takes the skin's level, while a lighter spot there stays."""
    source = _flat_lab((SIZE, SIZE), (70.0, 14.0, 18.0))
    source[60:200, 180:196] = (55.0, 10.0, 12.0)  # the shade beside the hair
    source[120:130, 150:160] = (80.0, 14.0, 18.0)  # a highlight inside the lifted zone
    target = _flat_lab((SIZE, SIZE), (60.0, 16.0, 20.0))
    target[220:250, 20:60] = (80.0, 14.0, 18.0)  # the photo's own lit skin: room for the highlight
    skin = np.ones((SIZE, SIZE), bool)
    lift = np.zeros((SIZE, SIZE), np.float32)
    lift[:, 140:] = 1.0

    def relit(shade_lift):
        out = blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                  shade_lift=shade_lift)
        return bgr_to_lab(out).astype(np.float32)[..., 0]

    plain, lifted = relit(None), relit(lift)
    cheek = float(np.median(lifted[60:200, 40:100]))
    assert float(np.median(plain[100:160, 184:192])) < cheek - 5.0  # the strip stays dark without the lift
    assert abs(float(np.median(lifted[100:160, 184:192])) - cheek) < 3.0
    assert float(np.median(lifted[122:128, 152:158])) > cheek + 5.0  # lighter detail is not flattened
    assert np.array_equal(plain[:, :120], lifted[:, :120])  # outside the lift nothing changes


def test_the_cover_shade_weight_lies_beside_a_cover_below_the_eyes_only(aligned_astronaut_mesh):
    """1 on the skin beside a gap in the portrait's clean mask below the eye line (hair along a cheek), 0 over
    the eyes, the nose and above the eye line; None when the only gaps are the lips' own."""
    mesh, size = aligned_astronaut_mesh
    edge = face_edge_px(mesh)
    oval = face_oval_mask(mesh, size, 0, 0) > 0.5
    assert blend.cover_shade_weights(oval.astype(np.float32), mesh, size, edge) == (None, None)
    lips_gap = oval & ~(region_mask(mesh, "lips", size, feather_px=0) > 0.5)
    assert blend.cover_shade_weights(lips_gap.astype(np.float32), mesh, size, edge) == (None, None)
    valid = oval.copy()
    eye_line = int(mesh[[33, 263], 1].mean())
    cheek_x = int(mesh[234, 0])  # the face outline at the cheek (MediaPipe's point 234)
    valid[eye_line - 40:eye_line + 80, :cheek_x + int(edge)] = False  # hair lying along that cheek
    weight, _ = blend.cover_shade_weights(valid.astype(np.float32), mesh, size, edge)
    assert weight is not None and weight.shape == (size, size)
    beside = weight[eye_line + 20:eye_line + 60, cheek_x + int(1.3 * edge)]
    assert beside.min() > 0.9
    assert weight[:eye_line - int(edge)].max() == 0.0  # a fringe's edge keeps its shading
    assert weight[region_mask(mesh, "nose", size, feather_px=0) > 0.5].max() < 0.05
    assert weight[region_mask(mesh, "eyes", size, feather_px=0) > 0.5].max() < 0.05


def test_a_fringe_s_tips_weight_lies_above_the_eyes_only(aligned_astronaut_mesh):
    """The tips' weight lies on the strip a fringe leaves above the brows, sparing the brows, and nowhere
    below the eye line; the same fringe gives no shade weight (its strip keeps its shading)."""
    mesh, size = aligned_astronaut_mesh
    edge = face_edge_px(mesh)
    valid = face_oval_mask(mesh, size, 0, 0) > 0.5
    brow_top = int(mesh[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1].min())
    fringe_bottom = brow_top - int(0.8 * edge)
    valid[:fringe_bottom] = False  # a fringe down to just above the brows
    shade, tips = blend.cover_shade_weights(valid.astype(np.float32), mesh, size, edge)
    assert shade is None
    assert tips is not None
    centre = int(mesh[9, 0])  # between the brows (MediaPipe's point 9)
    assert tips[fringe_bottom:brow_top, centre].max() > 0.95
    assert tips[int(mesh[[33, 263], 1].mean()) + 1:].max() == 0.0
    assert tips[region_mask(mesh, "brows", size, feather_px=0) > 0.5].max() < 0.05


def test_an_upscaled_portrait_s_invented_texture_gives_way_to_the_photo_s():
    """Super-resolution draws a crackle of its own on a small portrait's skin; where the skin weight is
    whole, the fine band is the photo's (pores and grain), not the two added, and the coarse shading stays
    the portrait's; where it is 0 the portrait is untouched."""
    rng = np.random.default_rng(3)
    shading = np.linspace(120, 160, SIZE, dtype=np.float32)[None, :].repeat(SIZE, 0)
    crackle = cv2.GaussianBlur(rng.normal(0, 9, (SIZE, SIZE)).astype(np.float32), (0, 0), 0.8)
    pores = cv2.GaussianBlur(rng.normal(0, 6, (SIZE, SIZE)).astype(np.float32), (0, 0), 0.6)
    portrait = cv2.cvtColor(np.clip(shading + crackle, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    photo = cv2.cvtColor(np.clip(140 + pores, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    weight = np.zeros((SIZE, SIZE), np.float32)
    weight[:, : SIZE // 2] = 1.0
    result = blend.borrow_texture(portrait, blend.fine_lightness(photo, 2.0), weight, sigma=2.0)
    fine = blend.fine_lightness(result, 2.0)
    inner = (slice(8, -8), slice(8, SIZE // 2 - 8))
    photo_fine, portrait_fine = blend.fine_lightness(photo, 2.0)[inner], blend.fine_lightness(portrait, 2.0)[inner]
    assert np.corrcoef(fine[inner].ravel(), photo_fine.ravel())[0, 1] > 0.9
    assert abs(np.corrcoef(fine[inner].ravel(), portrait_fine.ravel())[0, 1]) < 0.2
    assert fine[inner].std() == pytest.approx(photo_fine.std(), rel=0.2)
    coarse = cv2.GaussianBlur(cv2.cvtColor(result, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 6.0)
    assert np.abs(coarse[inner] - shading[inner]).mean() < 2.0
    assert np.array_equal(result[:, SIZE // 2 + 8:], portrait[:, SIZE // 2 + 8:])


def test_texture_without_edges_keeps_pores_and_drops_a_shape_s_edge():
    """Round the noses the photo lends its pores but not its nose wings' edges (`compose`): inside the zone a
    pixel near one far beyond the skin's spread is 0; the pores there and everything outside the zone stay."""
    rng = np.random.default_rng(5)
    pores = cv2.GaussianBlur(rng.normal(0, 4, (SIZE, SIZE)).astype(np.float32), (0, 0), 0.6)
    fine = pores.copy()
    fine[SIZE // 2 - 1:SIZE // 2 + 1, :] -= 40.0  # a crease across the whole image
    zone = np.zeros((SIZE, SIZE), bool)
    zone[:, : SIZE // 2] = True
    kept = blend.without_edges(fine, zone, ~zone, level=3.5, grow=2)
    assert np.all(kept[SIZE // 2 - 1:SIZE // 2 + 1, : SIZE // 2] == 0.0)
    assert np.array_equal(kept[:, SIZE // 2:], fine[:, SIZE // 2:])  # outside the zone the crease stays
    far = (slice(0, SIZE // 2 - 8), slice(0, SIZE // 2))
    assert np.mean(kept[far] == fine[far]) > 0.9  # the pores away from it stay


def test_a_light_portrait_s_nostril_on_a_darker_photo_keeps_its_ratio_to_the_skin():
    """A nostril's shadow is a share of the light on the skin: taken at its depth in L* from a light portrait
    onto a darker face it is crushed to black; where `shadow_ratio` is 1 its (L* + 16) stays the same share of
    the skin's, and elsewhere the depth is kept as it was."""
    source = _flat_lab((SIZE, SIZE), (68.0, 12.0, 16.0))
    source[120:132, 40:90] = (22.0, 12.0, 16.0)  # the nostril: (22 + 16) / (68 + 16) of the skin
    source[120:132, 166:216] = (22.0, 12.0, 16.0)  # the same shadow outside the weight
    target = _flat_lab((SIZE, SIZE), (30.0, 14.0, 18.0))
    skin = np.ones((SIZE, SIZE), bool)
    source_skin = skin.copy()
    source_skin[120:132] = False
    weight = np.zeros((SIZE, SIZE), np.float32)
    weight[100:152, 20:110] = 1.0
    result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), source_skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                            shadow_ratio=weight)).astype(np.float32)
    kept, outside = float(np.median(result[123:129, 50:80, 0])), float(np.median(result[123:129, 176:206, 0]))
    assert kept + 16 == pytest.approx((30.0 + 16) * (22.0 + 16) / (68.0 + 16), abs=2.0)
    assert outside < 2.0  # 30 − 46: the depth whole, clipped to black
    assert float(np.median(result[200:240, 40:216, 0])) == pytest.approx(30.0, abs=1.0)


def test_sharpening_takes_a_dark_line_on_a_darker_face_no_lower_than_a_share_of_its_level():
    """A limited sharpener's fixed 10-level undershoot crushed a nostril or lash line at grey 12 on a
    darker face to black; below its neighbourhood a pixel may fall by SHARPEN_UNDERSHOOT of its level."""
    image = np.full((64, 64, 3), 45, np.uint8)
    image[:, 30:34] = 12
    image = cv2.GaussianBlur(image, (0, 0), 1.2)
    sharpened = blend.unsharp(image, 5.6).astype(int)
    assert sharpened.min() >= int(image.min() * (1 - blend.SHARPEN_UNDERSHOOT)) - 1
    assert sharpened.min() < int(image.min())  # still sharpened


def test_sharpening_a_lash_line_on_a_warm_skin_keeps_its_hue():
    """A photo's blue channel is its noisiest and, after chroma subsampling, its edges sit off the others'.
    Sharpened channel by channel, the red of a warm skin then fell beside a dark lash line while the blue
    rose, and the line turned blue-grey (b* down to −24 on blunt_rochester's 128-px face, where the photo's
    own darkest pixel had −1): an eye shadow the portrait never wore. Sharpened on its grey level, the line
    darkens and every pixel keeps its hue."""
    lab = np.zeros((64, 64, 3), np.float32)
    lab[...] = (62.0, 16.0, 26.0)  # a warm, medium skin
    lab[:, 28:34] = (20.0, 5.0, 8.0)  # a dark brown lash line
    image = cv2.GaussianBlur(lab_to_bgr(lab), (0, 0), 1.0)
    image[..., 0] = np.roll(image[..., 0], 1, axis=1)  # the blue channel's edge a pixel off
    sharpened = blend.unsharp(image, 2.0)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    assert cv2.cvtColor(sharpened, cv2.COLOR_BGR2GRAY).min() < grey.min() - 2  # sharpened
    before, after = bgr_to_lab(image).astype(np.float32), bgr_to_lab(sharpened).astype(np.float32)
    assert after[..., 2].min() > before[..., 2].min() - 1.0  # channel by channel: −15 against −3

    def hue(lab: np.ndarray) -> np.ndarray:
        return np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))

    coloured = np.hypot(before[..., 1], before[..., 2]) > 5.0
    assert (np.abs((hue(after) - hue(before) + 180.0) % 360.0 - 180.0)[coloured]).max() < 8.0  # it was 32°


def test_a_portrait_s_strong_shadow_on_the_face_s_sides_takes_the_photo_s_light():
    """A portrait's cheek turning from the light is shaded near its outline; set on a wider, evenly lit face it
    was a dark bar in front of the ear. Where `photo_shading` is 1 the portrait's shading (the modelling band)
    ends no more than SIDE_SHADE_TOLERANCE L* darker than the photo's; a milder shade, and any shade where the
    weight is 0, is what the modelling match alone makes of it."""
    x = np.arange(SIZE, dtype=np.float32)
    l_source = np.full((SIZE, SIZE), 70.0, np.float32)
    l_source -= 40.0 * np.exp(-0.5 * ((x - 64.0) / 10.0) ** 2)[None, :]  # a strong shade at the side
    l_source -= 4.0 * np.exp(-0.5 * ((x - 192.0) / 8.0) ** 2)[None, :]  # a mild one
    l_target = np.full((SIZE, SIZE), 60.0, np.float32)
    skin = np.ones((SIZE, SIZE), bool)
    base_source, base_target = (blend.masked_lowpass(l, skin, SIGMA) for l in (l_source, l_target))
    band_source = blend.masked_lowpass(l_source, skin, blend.MODELLING_BAND * SIGMA) - base_source
    band_target = blend.masked_lowpass(l_target, skin, blend.MODELLING_BAND * SIGMA) - base_target
    sides = np.zeros((SIZE, SIZE), np.float32)
    sides[:, 32:96] = 1.0
    sides[:, 160:224] = 1.0

    def shading(weight: np.ndarray | None) -> np.ndarray:
        change = blend.match_modelling(l_source, skin, base_source, l_target, skin, base_target, SIGMA,
                                       photo_shading=weight)
        return (band_source + change)[SIZE // 2]

    alone, held = shading(None), shading(sides)
    assert alone[64] - band_target[SIZE // 2, 64] < -blend.SIDE_SHADE_TOLERANCE - 3.0
    assert held[64] - band_target[SIZE // 2, 64] == pytest.approx(-blend.SIDE_SHADE_TOLERANCE, abs=0.5)
    assert np.allclose(held[160:224], alone[160:224], atol=1e-4)  # the mild shade stays
    assert np.allclose(held[100:156], alone[100:156], atol=1e-4)  # outside the weight nothing changes


def test_the_face_s_cheeks_take_the_photo_s_lightness_and_colour_within_limits():
    """Every step after the tone transfer works on lightness alone, which greys a saturated skin: the cheeks'
    median lightness and chroma are brought to the photo's (hue kept), within SKIN_LIGHTNESS_SHIFT and
    SKIN_CHROMA_GAIN, where the weight is 1, and nothing changes where it is 0."""
    photo = _flat_lab((SIZE, SIZE), (60.0, 20.0, 24.0))
    face = _flat_lab((SIZE, SIZE), (57.0, 18.0, 21.6))  # darker and greyer, the same hue
    cheeks = np.zeros((SIZE, SIZE), bool)
    cheeks[100:160, 40:216] = True
    weight = np.ones((SIZE, SIZE), np.float32)
    weight[:, :20] = 0.0
    result = bgr_to_lab(blend.match_skin_colour(lab_to_bgr(face), lab_to_bgr(photo), cheeks, weight))
    result = result.astype(np.float32)
    cheek = np.median(result[cheeks], axis=0)
    assert cheek == pytest.approx(np.array([60.0, 20.0, 24.0]), abs=0.6)
    untouched = np.median(result[:, :20].reshape(-1, 3), axis=0)
    assert untouched == pytest.approx(np.median(bgr_to_lab(lab_to_bgr(face))[:, :20].reshape(-1, 3), axis=0), abs=0.3)
    far = _flat_lab((SIZE, SIZE), (40.0, 8.0, 9.6))  # far darker and greyer: the change is capped
    capped = bgr_to_lab(blend.match_skin_colour(lab_to_bgr(far), lab_to_bgr(photo), cheeks, weight)).astype(np.float32)
    capped_cheek = np.median(capped[cheeks], axis=0)
    assert capped_cheek[0] == pytest.approx(40.0 + blend.SKIN_LIGHTNESS_SHIFT, abs=0.6)
    capped_chroma = float(np.hypot(*capped_cheek[1:]))
    assert capped_chroma == pytest.approx(float(np.hypot(8.0, 9.6)) * blend.SKIN_CHROMA_GAIN, abs=0.6)


def test_a_face_lifted_to_a_light_photo_s_cheeks_keeps_its_highlights_below_white():
    """On a light skin (cheeks at L* 89, the brightest skin at 93) the cheeks' lift carried the portrait's lit
    cheek to L* 96–100, a white, colourless patch. Given the photo's skin, the lifted face rolls off within
    HIGHLIGHT_HEADROOM above the photo's brightest skin; the cheeks still take the photo's median."""
    photo = _flat_lab((SIZE, SIZE), (89.0, 8.0, 13.0))
    photo[:, 200:] = (93.0, 6.0, 11.0)  # its brightest skin
    face = _flat_lab((SIZE, SIZE), (85.0, 8.0, 13.0))
    face[40:80, 100:160] = (95.0, 4.0, 8.0)  # the portrait's highlight
    cheeks = np.zeros((SIZE, SIZE), bool)
    cheeks[100:200, 40:180] = True
    weight = np.ones((SIZE, SIZE), np.float32)
    skin = np.ones((SIZE, SIZE), bool)

    def matched(skin: np.ndarray | None) -> np.ndarray:
        return bgr_to_lab(blend.match_skin_colour(lab_to_bgr(face), lab_to_bgr(photo), cheeks, weight, skin)) \
            .astype(np.float32)

    rolled, lifted = matched(skin), matched(None)
    assert float(np.median(lifted[40:80, 100:160, 0])) > 98.0  # lifted whole: blown out
    assert float(rolled[40:80, 100:160, 0].max()) <= 93.0 + blend.HIGHLIGHT_HEADROOM + 0.5
    assert float(np.median(rolled[cheeks][:, 0])) == pytest.approx(89.0, abs=0.6)


def test_a_portrait_s_highlight_on_a_light_skin_rolls_off_and_keeps_its_colour():
    """The astronaut's lit cheek set on gluesenkamp_perez's light skin (cheeks L* 89, her brightest skin 93) reached
    L* 99 and left the sRGB gamut: a white-green patch (a* −2 where the photo's is 6). It rolls off within
    HIGHLIGHT_HEADROOM above the photo's brightest skin and keeps the skin's colour (without: L* 99.8, a* 0.3).
    And a light skin's pixel lightened whitens without turning its hue (by the same step in every channel its red
    clipped first: 19° towards yellow-green)."""
    x = np.arange(SIZE, dtype=np.float32)
    source = _flat_lab((SIZE, SIZE), (78.0, 9.0, 20.0))
    source[..., 0] += 8.0 * np.sin(2 * np.pi * x / PERIOD)[None, :]
    source[100:160, 100:160] = (95.0, 6.0, 14.0)  # the portrait's lit cheek
    target = _flat_lab((SIZE, SIZE), (89.0, 6.5, 9.5))
    target[..., 0] += 3.0 * np.sin(2 * np.pi * x / PERIOD)[None, :]
    target[:, 220:] = (93.0, 5.5, 8.5)  # the photo's brightest skin
    skin = np.ones((SIZE, SIZE), bool)
    result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin,
                                            sigma=SIGMA)).astype(np.float32)
    assert result[..., 0].max() <= 93.0 + blend.HIGHLIGHT_HEADROOM + 0.5
    brightest = result[..., 0] >= np.quantile(result[..., 0], 0.995)
    assert np.median(result[brightest][:, 1]) > 2.5

    def hue(lab: np.ndarray) -> float:
        return float(np.degrees(np.arctan2(lab[2], lab[1])))

    light = lab_to_bgr(_flat_lab((8, 8), (90.0, 8.0, 12.0)))
    lifted = bgr_to_lab(blend.add_lightness(light, np.full((8, 8), 20.0, np.float32))).astype(np.float32)[4, 4]
    assert lifted[0] > 95.0 and abs(hue(lifted) - hue(bgr_to_lab(light).astype(np.float32)[4, 4])) < 5.0


def test_a_portrait_s_nostril_shadow_falls_no_deeper_than_the_photo_s_own():
    """How deep a nostril's shadow falls is the light's hardness: a portrait lit hard from above set on a softly lit
    photo drew its far nostril as a black scribble. Its depth below the skin is brought to the photo's nostrils',
    keeping at least NOSTRIL_LEAST_GAIN of it; on a photo whose nostrils are as deep nothing changes."""
    nostrils = np.zeros((SIZE, SIZE), np.float32)
    nostrils[140:180, 90:170] = 1.0

    def depth(photo_depth: float, photo_nostrils: np.ndarray | None) -> float:
        source = _flat_lab((SIZE, SIZE), (70.0, 14.0, 18.0))
        source[150:162, 100:120] = source[150:162, 140:160] = (35.0, 10.0, 12.0)  # 35 L* below the skin
        target = _flat_lab((SIZE, SIZE), (70.0, 14.0, 18.0))
        target[150:162, 100:120] = target[150:162, 140:160] = (70.0 - photo_depth, 12.0, 15.0)
        skin = np.ones((SIZE, SIZE), bool)
        out = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                             shadow_ratio=nostrils, photo_nostrils=photo_nostrils))
        out = out.astype(np.float32)[..., 0]
        return float(np.median(out[100:130, 40:80]) - np.median(out[152:160, 104:116]))

    assert depth(24.0, None) > 27.0  # the portrait's nostrils, deeper than the photo's 24 L*
    assert depth(24.0, nostrils) == pytest.approx(24.0, abs=3.0)
    assert depth(40.0, nostrils) == pytest.approx(depth(40.0, None), abs=0.5)  # the photo's are as deep
    assert depth(5.0, nostrils) == pytest.approx(blend.NOSTRIL_LEAST_GAIN * depth(5.0, None), abs=1.5)


def test_the_portrait_s_whites_are_lit_no_brighter_than_the_photo_s_own():
    """A portrait's bright whites in a photo whose eyes lie in shade glowed (every astronaut result, up to
    34 L* above the photo's whites): they come down to WHITES_HEADROOM above the photo's own. The shade that
    takes them down falls on the iris too, by the same ratio of L* + 16 (kept at its own level, an amber iris
    glowed in a shaded socket); whites already as dark as the photo's stay as they were."""
    def whites_after(photo_white: float) -> tuple[float, float]:
        source = _flat_lab((SIZE, SIZE), (60.0, 14.0, 18.0))
        target = _flat_lab((SIZE, SIZE), (60.0, 14.0, 18.0))
        eyes = np.zeros((SIZE, SIZE), np.float32)
        source[96:160, 40:180] = (80.0, 1.0, 3.0)
        target[96:160, 40:180] = (photo_white, 1.0, 3.0)
        source[112:144, 90:130] = (28.0, 6.0, 14.0)
        target[112:144, 90:130] = (25.0, 6.0, 14.0)
        eyes[96:160, 40:180] = 1.0
        skin = eyes == 0
        result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin, sigma=SIGMA,
                                                eyes=eyes, photo_eyes=eyes)).astype(np.float32)
        return float(np.median(result[100:110, 45:85, 0])), float(np.median(result[118:138, 98:122, 0]))

    shaded_white, shaded_iris = whites_after(50.0)
    assert shaded_white == pytest.approx(50.0 + blend.WHITES_HEADROOM, abs=1.5)
    shade = (50.0 + blend.WHITES_HEADROOM + blend.LAB_L_OFFSET) / (80.0 + blend.LAB_L_OFFSET)
    assert shaded_iris == pytest.approx((28.0 + blend.LAB_L_OFFSET) * shade - blend.LAB_L_OFFSET, abs=1.5)
    lit_white, _ = whites_after(84.0)
    assert lit_white == pytest.approx(80.0, abs=1.5)


def test_in_a_black_and_white_photo_the_face_loses_its_colour():
    """A black-and-white photo's skin has no chroma: a portrait's brown iris or pink lip line left in it gave
    the swap away, so there the chroma follows the photo's all the way to grey (a colour photo's stops at
    1 / SKIN_CHROMA_GAIN)."""
    cheeks = np.zeros((SIZE, SIZE), bool)
    cheeks[100:160, 40:216] = True
    weight = np.ones((SIZE, SIZE), np.float32)
    face = _flat_lab((SIZE, SIZE), (60.0, 14.0, 18.0))
    face[20:40, 60:90] = (35.0, 10.0, 22.0)  # a brown iris
    grey = bgr_to_lab(blend.match_skin_colour(lab_to_bgr(face), lab_to_bgr(_flat_lab((SIZE, SIZE), (60.0, 0.0, 0.0))),
                                              cheeks, weight)).astype(np.float32)
    assert float(np.abs(grey[..., 1:]).max()) < 1.5
    muted = bgr_to_lab(blend.match_skin_colour(lab_to_bgr(face), lab_to_bgr(_flat_lab((SIZE, SIZE), (60.0, 7.0, 9.0))),
                                               cheeks, weight)).astype(np.float32)
    assert float(np.hypot(*np.median(muted[cheeks], axis=0)[1:])) == pytest.approx(
        float(np.hypot(14.0, 18.0)) / blend.SKIN_CHROMA_GAIN, abs=0.6)


def _high_key_skin(size: int = SIZE) -> np.ndarray:
    """CIELAB float32: a fair skin photographed over its camera's shoulder, lightness rising across the picture
    from L* 70 to 100 while its colour fades from a*b* (9, 18) to white, as the channels clip one by one."""
    lightness = np.linspace(70.0, 100.0, size, dtype=np.float32)[None, :].repeat(size, 0)
    fade = np.clip((100.0 - lightness) / 15.0, 0.0, 1.0)
    return np.stack([lightness, 9.0 * fade, 18.0 * fade], -1).astype(np.float32)


def test_a_camera_fading_highlights_are_read_from_the_photo_skin():
    """`highlight_colour` gives the photo's a*b* at a lightness above its most colourful one, that colour held
    below it; a skin whose colour does not fade with its light has none."""
    skin = np.ones((SIZE, SIZE), bool)
    fade = blend.highlight_colour(_high_key_skin(), skin)
    assert fade is not None
    at = fade(np.array([60.0, 80.0, 92.5, 99.0], np.float32))
    assert at[0] == pytest.approx((9.0, 18.0), abs=1.0) and at[1] == pytest.approx((9.0, 18.0), abs=1.0)
    assert at[2] == pytest.approx((4.5, 9.0), abs=1.2)
    assert float(np.hypot(*at[3])) < 2.5
    assert blend.highlight_colour(_flat_lab((SIZE, SIZE), (70.0, 12.0, 16.0)), skin) is None


def test_on_a_high_key_photo_the_portrait_shading_takes_the_photo_colour_at_its_lightness():
    """On a high-key photo the low-pass of the skin is nearly white where the face is lit: the portrait's modelling
    set on it kept that faded colour, and its shaded cheek and nose side read as grey against the photo's own
    shaded skin (gluesenkamp_perez one stop over: chroma 2–5 where her skin shows 15–20). The shade now takes
    the colour the photo gives its skin at that lightness."""
    target = _high_key_skin()
    target[:, 150:] = (99.5, 0.0, 0.5)  # the lit side clipped to white
    source = _flat_lab((SIZE, SIZE), (75.0, 12.0, 16.0))
    source[120:140, 195:215] = (45.0, 12.0, 16.0)  # a shaded crease on the portrait's lit side
    skin = np.ones((SIZE, SIZE), bool)
    result = bgr_to_lab(blend.transfer_tone(lab_to_bgr(source), skin, lab_to_bgr(target), skin,
                                            sigma=SIGMA)).astype(np.float32)
    shaded = result[124:136, 199:211]
    lightness = float(np.median(shaded[..., 0]))
    assert lightness < 92.0  # the portrait's shade stays a shade
    photo_colour = blend.highlight_colour(target, skin)(np.float32(lightness))
    assert float(np.median(_chroma(shaded))) > 0.75 * float(np.hypot(*photo_colour))


def test_an_overexposed_photo_is_not_black_and_white():
    """An overexposed photo's cheeks clip to white (chroma under COLOURLESS_SKIN_CHROMA) while its shaded skin
    keeps its colour: read as a black-and-white photo, the face was drained to grey. Given the photo's skin,
    the face's colour is damped no further than by SKIN_CHROMA_GAIN."""
    cheeks = np.zeros((SIZE, SIZE), bool)
    cheeks[100:160, 150:216] = True
    photo = _high_key_skin()
    photo[:, 150:] = (99.5, 0.0, 0.5)
    face = _flat_lab((SIZE, SIZE), (80.0, 6.0, 12.0))
    skin = np.ones((SIZE, SIZE), bool)
    kept = bgr_to_lab(blend.match_skin_colour(lab_to_bgr(face), lab_to_bgr(photo), cheeks,
                                              np.ones((SIZE, SIZE), np.float32), skin)).astype(np.float32)
    assert float(np.median(_chroma(kept[cheeks]))) == pytest.approx(
        float(np.hypot(6.0, 12.0)) / blend.SKIN_CHROMA_GAIN, abs=0.8)
