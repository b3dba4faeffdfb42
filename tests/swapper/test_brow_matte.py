"""The portrait's brow beside a brow fill travels as a matte: its hair, not the skin round it."""
from __future__ import annotations

import numpy as np

from services.swapper.engines.classical import BROW_MATTE_MIN_CONTRAST, BROW_MATTE_REACH, brow_matte


def _brow_on_skin(skin: int, hair: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    crop = np.full((60, 80, 3), skin, np.uint8)
    crop[26:34, 10:70] = hair  # the brow's hair
    zone = np.zeros((60, 80), bool)
    zone[16:44, 5:75] = True  # the brow with its margin of skin
    brows = np.zeros((60, 80), bool)
    brows[27:33, 15:65] = True  # the mesh's brow outline
    return crop, zone, brows


def test_the_brows_hair_is_matted_and_its_skin_left_out():
    crop, zone, brows = _brow_on_skin(skin=120, hair=50)
    matte = brow_matte(crop, zone, brows)
    assert matte[30, 40] > 0.95  # the hair travels
    assert matte[18, 40] < 0.05 and matte[42, 40] < 0.05  # the skin round it is the photo's forehead
    assert 0.05 < matte[26, 40] < 0.95 or 0.05 < matte[25, 40] < 0.95  # the hair's edge is soft


def test_a_brow_as_light_as_its_skin_travels_whole():
    crop, zone, brows = _brow_on_skin(skin=120, hair=int(120 - BROW_MATTE_MIN_CONTRAST / 2))
    assert np.array_equal(brow_matte(crop, zone, brows), zone.astype(np.float32))


def test_the_astronauts_brow_beside_her_fringes_fill_travels_as_hair():
    """Her fringe covers her forehead, so the photo's forehead fills above her brows; beside that fill her
    brow's hair travels (a small share of the photo) and the lighter skin round it is the photo's."""
    import cv2

    from services.swapper.engines.classical import swap_one
    from services.swapper.faces import composite_template, prepare_source, prepare_target
    from shared.faces import largest_face
    from tests.data import astronaut
    from tests.data.realism import photo

    target_image = photo("khanna")
    face = largest_face(target_image)
    target = prepare_target(target_image, face, composite_template(face))
    output = swap_one(target, prepare_source(astronaut()))
    share = output.from_photo
    matted = (share > 0) & (share < 1)
    assert matted.sum() > 50
    grey = cv2.cvtColor(output.crop, cv2.COLOR_BGR2GRAY)[matted]
    dark, light = grey <= np.quantile(grey, 0.15), grey >= np.quantile(grey, 0.85)
    # the hair keeps far more of the portrait than the skin beside it (the matte also gives way with the
    # distance from the fill)
    assert share[matted][dark].mean() < 0.5 * share[matted][light].mean()


def test_around_the_fill_the_composites_fade_meets_the_fills_colour_not_the_photos_brow():
    """The composite fades the fill on into the portrait beside it; there `photo_fill` must hold the forehead's
    colour: holding the photo's own pixels, it faded the photo's dark brow in as a grey dash."""
    import cv2

    from services.swapper.engines.classical import swap_one
    from services.swapper.faces import composite_template, prepare_source, prepare_target
    from shared.faces import face_edge_px, grown, largest_face
    from tests.data import astronaut
    from tests.data.realism import photo

    target_image = photo("ocasio_cortez")  # dark, thick brows
    face = largest_face(target_image)
    target = prepare_target(target_image, face, composite_template(face))
    output = swap_one(target, prepare_source(astronaut()))
    fill = output.from_photo >= 1
    assert fill.sum() > 50
    edge = face_edge_px(target.mesh)

    def around(share: float) -> np.ndarray:
        return grown(fill, int(round(share * edge)))
    # beyond the brow's matte (BROW_MATTE_REACH), within the composite's fade
    beside = around(1.2) & ~around(BROW_MATTE_REACH + 0.1) & (output.from_photo == 0) & (output.valid > 0.5)
    grey = cv2.cvtColor(output.photo_fill, cv2.COLOR_BGR2GRAY).astype(float)
    photo_grey = cv2.cvtColor(target.aligned.crop, cv2.COLOR_BGR2GRAY).astype(float)
    forehead = float(np.median(grey[fill]))
    probe = beside & (photo_grey < forehead - 40)  # the photo's brow beside the fill
    assert probe.sum() > 5
    assert np.abs(grey[probe] - forehead).mean() < 20  # the forehead's colour there, not her dark brow
