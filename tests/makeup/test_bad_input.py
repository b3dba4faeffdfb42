"""Bad requests fail with a clear reason: a 4xx-class error (InvalidInput family) or a validation error."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from services.makeup.stage import STAGE
from shared.errors import InvalidInput, NoFaceFound
from shared.images import decode_image
from shared.stage import StageInputs
from tests.makeup.conftest import DATA, decoded, read_test_image, run_makeup


@pytest.mark.parametrize("raw, fragment", [
    ({"look": "disco-glitter"}, "unknown look 'disco-glitter'; looks are autumn-warm"),
    ({"look": "natural", "intensity": 1.5}, "less than or equal to 1"),
    ({"look": "natural", "intensity": -0.1}, "greater than or equal to 0"),
    ({"look": "natural", "region_intensity": {"lips": 2}}, "less than or equal to 1"),
    ({"look": "natural", "regions": ["lips", "nose"]}, "'lips', 'eyeshadow', 'eyeliner', 'blush' or 'brows'"),
    ({"look": "natural", "regions": ["lips", "lips"]}, "regions must not repeat"),
    ({"look": "natural", "regions": []}, "at least 1 item"),
    ({"look": "natural", "regions": ["eyeshadow"]}, "look 'natural' has no eyeshadow"),
    ({"look": "natural", "regions": ["lips"], "region_intensity": {"blush": 0.5}}, "region_intensity names blush"),
    ({"look": "natural", "color": "#ff0000"}, "Extra inputs are not permitted"),
    ({"look": "natural", "engine": "beautygan"}, "need the landmarks engine"),
    ({"look": "natural", "engine": "psgan"}, "'landmarks' or 'beautygan'"),
    ({"look": "natural", "face_selector": "reference"}, "face_selector 'reference' is not available"),
])
def test_invalid_parameters_are_refused_with_the_reason(raw, fragment):
    with pytest.raises(ValidationError) as caught:
        STAGE.parse_params(raw)
    assert fragment in str(caught.value)


def test_a_look_and_a_reference_together_are_refused(ctx, astronaut):
    with pytest.raises(InvalidInput, match="exactly one makeup source.*not both"):
        run_makeup(ctx, astronaut, astronaut, look="natural")


def test_no_look_and_no_reference_is_refused(ctx, astronaut):
    with pytest.raises(InvalidInput, match="exactly one makeup source: a `look` \\(one of autumn-warm"):
        run_makeup(ctx, astronaut)


def test_a_reference_without_a_face_names_the_reference(ctx, astronaut):
    with pytest.raises(NoFaceFound, match="makeup reference photo") as caught:
        run_makeup(ctx, astronaut, read_test_image("images/noface_chelsea.jpg"))
    assert caught.value.details["input"] == "reference"


def test_a_reference_that_is_an_array_not_an_image_is_refused(ctx, astronaut):
    inputs = StageInputs(image=decoded(astronaut), extras={"reference": np.zeros(512, np.float32)})
    with pytest.raises(InvalidInput, match="must be an image of a made-up face, not a ndarray"):
        STAGE.run(STAGE.parse_params({}), inputs, ctx)


def test_a_reference_file_that_is_not_an_image_fails_at_decoding():
    """What the worker runtime does with the stored `reference` object before the stage runs."""
    with pytest.raises(InvalidInput, match="not a PNG, JPEG or WebP image"):
        decode_image((DATA / "bad" / "not_an_image.png").read_bytes())


def test_an_unknown_step_input_is_refused(ctx, astronaut):
    inputs = StageInputs(image=decoded(astronaut), extras={"source": decoded(astronaut)})
    with pytest.raises(InvalidInput, match="reads only the 'reference' input, got source"):
        STAGE.run(STAGE.parse_params({"look": "natural"}), inputs, ctx)


def test_a_photo_without_a_face_fails_with_no_face_found(ctx):
    with pytest.raises(NoFaceFound):
        run_makeup(ctx, read_test_image("images/noface_coffee.jpg"), look="natural")


def test_a_face_index_beyond_the_faces_found_is_refused(ctx, astronaut):
    with pytest.raises(InvalidInput, match="face_index 3"):
        run_makeup(ctx, astronaut, look="natural", face_selector="index", face_index=3)

