"""Bad input fails with a specific reason, never with a partial image: no face in the target or the
source, a source that is not a face, faces below the minimum size, missing or wrong inputs, bad
parameters, an engine whose weights are not in the model store."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from services.swapper.faces import MIN_TARGET_FACE_PX, SOURCE_MIN_FACE_PX
from services.swapper.stage import STAGE, run_batch
from shared.errors import EngineUnavailable, FaceSelectionError, FaceTooSmall, InvalidInput, NoFaceFound
from shared.faces import largest_face
from shared.stage import StageInputs
from tests.data import astronaut, load_image, unrelated_face
from tests.swapper.conftest import decoded, run_swap, swap_inputs


def _shrunk(image: np.ndarray, face_width: float) -> np.ndarray:
    """The image scaled so its face is about `face_width` pixels wide."""
    scale = face_width / largest_face(image).width
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("name", ["noface_coffee", "noface_mannequin0"])
def test_a_target_without_a_face_is_refused(ctx, name):
    with pytest.raises(NoFaceFound, match="target photo") as caught:
        run_swap(ctx, load_image(name), unrelated_face())
    assert caught.value.code == "no-face-found" and caught.value.details["role"] == "target"


@pytest.mark.parametrize("name", ["noface_chelsea", "noface_mannequin1", "noface_noise"])
def test_a_source_that_is_not_a_face_is_refused(ctx, name):
    with pytest.raises(NoFaceFound, match="source portrait") as caught:
        run_swap(ctx, astronaut(), load_image(name))
    assert caught.value.details["role"] == "source"


def test_a_target_face_below_the_minimum_is_refused_with_its_size(ctx):
    target = _shrunk(astronaut(), 15)
    with pytest.raises(FaceTooSmall, match="target photo's face is too small") as caught:
        run_swap(ctx, target, unrelated_face())
    assert caught.value.code == "face-too-small" and caught.value.details["face_width"] < MIN_TARGET_FACE_PX


def test_a_source_face_below_the_minimum_is_refused(ctx):
    source = _shrunk(unrelated_face(), SOURCE_MIN_FACE_PX * 0.8)
    with pytest.raises(FaceTooSmall, match="source portrait") as caught:
        run_swap(ctx, astronaut(), source)
    assert caught.value.details["role"] == "source"


def test_a_missing_source_is_an_input_error(ctx):
    with pytest.raises(InvalidInput, match="'source' input"):
        STAGE.run(STAGE.parse_params({}), swap_inputs(astronaut(), None), ctx)


def test_a_source_that_is_an_array_not_an_image_is_refused(ctx):
    inputs = StageInputs(image=decoded(astronaut()), extras={"source": np.zeros((4, 4), np.float32)})
    with pytest.raises(InvalidInput, match="must be an image"):
        STAGE.run(STAGE.parse_params({}), inputs, ctx)


def test_an_unexpected_input_is_refused(ctx):
    with pytest.raises(InvalidInput, match="reads only"):
        STAGE.run(STAGE.parse_params({}), swap_inputs(astronaut(), unrelated_face(), mask=astronaut()), ctx)


def test_a_face_index_beyond_the_faces_found_is_refused(ctx):
    with pytest.raises(FaceSelectionError, match="face_index 3"):
        run_swap(ctx, load_image("group_three"), unrelated_face(), face_selector="index", face_index=3)


def test_reference_selection_needs_a_reference_photo(ctx):
    with pytest.raises(InvalidInput, match="'reference' input"):
        run_swap(ctx, load_image("group_three"), unrelated_face(), face_selector="reference")


def test_reference_selection_picks_the_face_of_that_person(ctx):
    group = load_image("group_three")
    inputs = swap_inputs(group, astronaut(), reference=load_image("portrait_hopper"))
    output = STAGE.run(STAGE.parse_params({"face_selector": "reference"}), inputs, ctx)
    (face,) = output.report["faces"]
    assert 700 < face["box"][0] < 860  # the middle face is Grace Hopper's (testset.json)


@pytest.mark.parametrize("params", [
    {"engine": "inswapper"}, {"blend": 1.5}, {"blend": -0.1}, {"colour": True}, {"face_selector": "smallest"},
    {"face_index": 1}, {"source": "vm_123"},
])
def test_bad_parameters_are_refused(params):
    with pytest.raises(ValidationError):
        STAGE.parse_params(params)


def test_faceshifter_without_weights_names_every_missing_file(ctx):
    with pytest.raises(EngineUnavailable) as caught:
        run_swap(ctx, astronaut(), unrelated_face(), engine="faceshifter")
    message = caught.value.message
    assert caught.value.code == "engine-unavailable"
    for name in ("faceshifter-aei", "faceshifter-hear", "arcface-ir-se50"):
        assert name in message
    assert sorted(caught.value.details["missing"]) == ["arcface-ir-se50", "faceshifter-aei", "faceshifter-hear"]


def test_a_batch_keeps_good_events_and_reports_each_bad_one(ctx):
    good = (STAGE.parse_params({}), swap_inputs(astronaut(), unrelated_face()))
    no_face = (STAGE.parse_params({}), swap_inputs(load_image("noface_coffee"), unrelated_face()))
    unavailable = (STAGE.parse_params({"engine": "faceshifter"}), swap_inputs(astronaut(), unrelated_face()))
    results = run_batch([good, no_face, unavailable, good], ctx)
    assert isinstance(results[1], NoFaceFound) and isinstance(results[2], EngineUnavailable)
    for result in (results[0], results[3]):
        assert result.image.shape == astronaut().shape
        assert result.report["faces"][0]["engine"] == "classical"
    assert np.array_equal(results[0].image, results[3].image)
