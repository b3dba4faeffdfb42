"""`run_batch`: the beautygan faces of several events in one forward pass, with each event's own result."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from services.makeup.engines import beautygan
from services.makeup.nets import BeautyGANGenerator
from services.makeup.stage import STAGE
from shared.errors import FaceCastError
from shared.stage import StageInputs
from tests.makeup.conftest import decoded, read_test_image


@pytest.fixture
def gan_ctx(ctx, tmp_path):
    """The stage context with a small random-init Generator_branch imported as the beautygan weights."""
    torch.manual_seed(3)
    torch.save(BeautyGANGenerator(conv_dim=4, repeat_num=2).state_dict(), tmp_path / "G.pth")
    ctx.models.import_file(beautygan.WEIGHTS, tmp_path / "G.pth", licence="test weights, random init",
                           commercial_use=False, source="tests/makeup")
    return ctx


@pytest.fixture
def forward_batches(gan_ctx, monkeypatch) -> list[int]:
    """The batch size of every forward pass of the loaded generator, in call order."""
    model, _ = beautygan.load_generator(gan_ctx.models)
    calls: list[int] = []
    forward = model.forward

    def counted(source, reference):
        calls.append(source.shape[0])
        return forward(source, reference)

    monkeypatch.setattr(model, "forward", counted)
    return calls


def _item(image: np.ndarray, reference: np.ndarray | None = None, **params):
    extras = {} if reference is None else {"reference": decoded(reference)}
    return STAGE.parse_params(params), StageInputs(image=decoded(image), extras=extras)


def _gan_items(astronaut, red_lips_reference):
    """Three events: other photos, other references, other parameters (one event has three faces)."""
    hopper = read_test_image("images/portrait_hopper.jpg")
    group = read_test_image("images/group_three.jpg")
    return [
        _item(astronaut, red_lips_reference, engine="beautygan", intensity=0.8),
        _item(hopper, astronaut, engine="beautygan", regions=["lips", "blush"]),
        _item(group, red_lips_reference, engine="beautygan", face_selector="all", region_intensity={"lips": 0.5}),
    ]


def test_a_batch_equals_the_events_run_one_by_one(gan_ctx, astronaut, red_lips_reference, forward_batches):
    items = _gan_items(astronaut, red_lips_reference)
    alone = [STAGE.run(params, inputs, gan_ctx) for params, inputs in items]
    assert forward_batches == [1, 1, 3], "each run is one pass over its own faces"
    batched = STAGE.run_batch(items, gan_ctx)
    assert len(batched) == 3
    for (_, inputs), one, together in zip(items, alone, batched):
        assert not isinstance(together, Exception), together
        assert not np.array_equal(together.image, inputs.image.pixels), "the faces were not made up"
        # per-instance InstanceNorm and per-sample convolutions: on CPU a batch is bit-identical to a pass alone
        assert np.array_equal(together.image, one.image)
        assert together.report == one.report
    assert len(batched[2].report["faces"]) == 3


def test_a_failing_event_fails_alone(gan_ctx, astronaut, red_lips_reference, forward_batches):
    no_face = read_test_image("images/noface_coffee.jpg")
    items = [_item(astronaut, red_lips_reference, engine="beautygan"),
             _item(no_face, red_lips_reference, engine="beautygan"),
             _item(astronaut, look="natural")]
    with pytest.raises(FaceCastError) as alone:
        STAGE.run(*items[1], gan_ctx)
    batched = STAGE.run_batch(items, gan_ctx)
    assert [type(r).__name__ for r in batched] == ["StageOutput", type(alone.value).__name__, "StageOutput"]
    assert batched[1].code == alone.value.code == "no-face-found"
    assert batched[0].report["engine"] == "beautygan" and batched[2].report["engine"] == "landmarks"
    assert np.array_equal(batched[0].image, STAGE.run(*items[0], gan_ctx).image)
    assert np.array_equal(batched[2].image, STAGE.run(*items[2], gan_ctx).image)


def test_a_bad_reference_fails_its_event_only(gan_ctx, astronaut, red_lips_reference, forward_batches):
    items = [_item(astronaut, read_test_image("images/noface_chelsea.jpg"), engine="beautygan"),
             _item(astronaut, red_lips_reference, engine="beautygan")]
    batched = STAGE.run_batch(items, gan_ctx)
    assert isinstance(batched[0], FaceCastError) and batched[0].code == "no-face-found"
    assert batched[0].details["input"] == "reference"
    assert not isinstance(batched[1], Exception)
    assert forward_batches == [1]


def test_the_network_is_called_once_for_the_batch(gan_ctx, astronaut, red_lips_reference, forward_batches):
    items = _gan_items(astronaut, red_lips_reference)
    STAGE.run_batch(items, gan_ctx)
    assert forward_batches == [5], "one pass over the five faces of the three events"


def test_a_failing_forward_pass_fails_its_events_and_not_the_landmarks_ones(gan_ctx, astronaut, red_lips_reference,
                                                                          monkeypatch):
    model, _ = beautygan.load_generator(gan_ctx.models)

    def broken(source, reference):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(model, "forward", broken)
    items = [_item(astronaut, red_lips_reference, engine="beautygan"), _item(astronaut, look="natural"),
             _item(astronaut, astronaut, engine="beautygan")]
    batched = STAGE.run_batch(items, gan_ctx)
    assert isinstance(batched[0], RuntimeError) and batched[2] is batched[0]
    assert not isinstance(batched[1], Exception)


def test_more_faces_than_max_batch_take_several_passes(gan_ctx, astronaut, red_lips_reference, forward_batches,
                                                       monkeypatch):
    monkeypatch.setattr(beautygan, "MAX_BATCH", 2)
    STAGE.run_batch(_gan_items(astronaut, red_lips_reference), gan_ctx)
    assert forward_batches == [2, 2, 1]
