"""The `prepare` step (issue 13: a virtual model's source is prepared once, at accept/import, and stored with
it): what it stores gives back the same source, a swap from it equals a swap from the portrait, and a
portrait that cannot make a clean source is refused with the reason."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from services.swapper.contract import PREPARE, PREPARED_SOURCE
from services.swapper.faces import prepare_source, source_from_arrays
from services.swapper.stage import PREPARED_TEMPLATES, STAGE
from shared.errors import FaceTooSmall, InvalidInput, NoFaceFound
from shared.faces import largest_face
from shared.stage import StageInputs
from tests.data.realism import photo
from tests.swapper.conftest import decoded, swap_inputs


def prepared(ctx, portrait: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """The prepare step's artifact as a swap reads it back (through a .npz, as the runtime stores it)."""
    output = STAGE.runner(PREPARE)(STAGE.parse_params({}, PREPARE),
                                   StageInputs(image=None, extras={"source": decoded(portrait)}), ctx)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **output.artifacts[PREPARED_SOURCE])
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as arrays:
        return dict(arrays), output.report


def test_the_prepared_source_is_the_source_prepared_on_the_fly(ctx):
    portrait = photo("matsui")
    arrays, report = prepared(ctx, portrait)
    again, fresh = source_from_arrays(arrays), prepare_source(portrait)
    assert np.array_equal(again.pixels, fresh.pixels) and np.array_equal(again.embedding, fresh.embedding)
    assert again.report() == fresh.report() == report["source_face"]
    assert report["embedding"] == pytest.approx(fresh.embedding.tolist(), abs=1e-6) and len(report["embedding"]) == 128
    for template in PREPARED_TEMPLATES:  # stored, not recomputed
        assert template in again._meshes and template in again._clean and template in again._depths
        assert template in again._mirrored
        assert np.array_equal(again.clean(template), fresh.clean(template))
        assert np.array_equal(again.crop(template), fresh.crop(template))
        assert template in again._lips and np.array_equal(again.lips(template), fresh.lips(template))
        assert np.array_equal(again.mesh(template), fresh.mesh(template))
        assert np.array_equal(again.depth(template), fresh.depth(template))


def test_a_source_prepared_before_depths_were_kept_measures_them_on_first_use(ctx):
    arrays, _ = prepared(ctx, photo("matsui"))
    older = {key: value for key, value in arrays.items() if not key.startswith("depth-")}
    source, fresh = source_from_arrays(older), prepare_source(photo("matsui"))
    template = PREPARED_TEMPLATES[0]
    assert template not in source._depths
    assert np.array_equal(source.depth(template), fresh.depth(template))
    assert np.array_equal(source.mesh(template), arrays[f"mesh-{template}"])  # the stored mesh is kept


def test_a_swap_from_the_prepared_source_equals_a_swap_from_the_portrait(ctx):
    target, portrait = photo("khanna"), photo("matsui")
    arrays, _ = prepared(ctx, portrait)
    params = STAGE.parse_params({})
    from_portrait = STAGE.run(params, swap_inputs(target, portrait), ctx)
    inputs = swap_inputs(target, None)
    inputs.extras["source"] = arrays
    from_prepared = STAGE.run(params, inputs, ctx)
    assert np.array_equal(from_prepared.image, from_portrait.image)
    assert from_prepared.report == from_portrait.report
    assert not np.array_equal(from_prepared.image, target)  # a face was swapped


def test_a_small_source_is_stored_super_resolved(ctx):
    portrait = photo("matsui")
    scale = 80 / largest_face(portrait).width  # an 80-px face: usable, but below the super-resolution bar
    small = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    arrays, report = prepared(ctx, small)
    assert report["source_face"]["super_resolved"] > 1
    assert arrays["face-box"][2] >= 2 * 0.9 * 80  # the stored face is the super-resolved one
    assert int(arrays["super_resolved"]) == report["source_face"]["super_resolved"]


@pytest.mark.parametrize("portrait, error, words", [
    (np.full((256, 256, 3), 128, np.uint8), NoFaceFound, "no face"),
    ("small", FaceTooSmall, "at least 64 px"),
    ("cut", InvalidInput, "cut by the image border"),
])
def test_a_portrait_that_cannot_make_a_clean_source_is_refused_with_the_reason(ctx, portrait, error, words):
    if isinstance(portrait, str):
        image = photo("ocasio_cortez")
        x, y, w, h = (int(v) for v in largest_face(image).box)
        if portrait == "small":
            portrait = cv2.resize(image, None, fx=50 / w, fy=50 / w, interpolation=cv2.INTER_AREA)
        else:
            portrait = np.ascontiguousarray(image[:, x + w // 2:])  # half the face beyond the border
    with pytest.raises(error) as caught:
        prepared(ctx, portrait)
    assert words in caught.value.message and caught.value.details.get("role") == "source"


@pytest.mark.parametrize("layout", [1, 2, 3, 4, 5])
def test_a_source_prepared_in_an_older_layout_gets_its_clean_masks_made_again(ctx, layout):
    """Layout 1's clean masks predate the brows travelling and the lips staying, layout 2's the whole
    brow travelling, layout 3's the rim below the eyes staying, layout 4's the covered side filled from the
    other (it stored no fill), layout 5's that fill kept below the temples' top: they are made again."""
    arrays, _ = prepared(ctx, photo("matsui"))
    current = source_from_arrays(arrays)
    older = {key: value for key, value in arrays.items() if not key.startswith(("mirror", "lips"))}
    older.update({key: np.zeros_like(value) for key, value in arrays.items() if key.startswith("clean-")},
                 format=np.array(layout))
    source = source_from_arrays(older)
    template = next(key for key in arrays if key.startswith("clean-")).partition("-")[2]
    assert np.array_equal(source.clean(template), current.clean(template))
    assert np.array_equal(source.crop(template), current.crop(template))
    assert current.mirrored(template).any()  # her hair covers one side more than the other


def test_a_prepared_source_of_another_layout_is_refused(ctx):
    arrays, _ = prepared(ctx, photo("matsui"))
    arrays["format"] = np.array(99)
    with pytest.raises(InvalidInput, match="prepare it again"):
        source_from_arrays(arrays)
