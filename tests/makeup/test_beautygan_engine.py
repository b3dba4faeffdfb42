"""The beautygan engine through the model store: import, sha256, strict keys, run, paste back."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from services.makeup.engines import beautygan
from services.makeup.nets import BeautyGANConcatGenerator, BeautyGANGenerator
from shared.errors import EngineUnavailable, WeightsMismatch
from shared.faces import find_faces
from shared.weights import file_sha256
from tests.makeup.conftest import run_makeup

LICENCE = "test weights, random init, no rights reserved"


def _save(module: nn.Module, path) -> None:
    torch.save(module.state_dict(), path)


def _tiny_branch(seed: int = 0) -> BeautyGANGenerator:
    torch.manual_seed(seed)
    return BeautyGANGenerator(conv_dim=4, repeat_num=2)


def _import(ctx, checkpoint, input_size=None):
    return ctx.models.import_file(beautygan.WEIGHTS, checkpoint, licence=LICENCE, commercial_use=False,
                                  source="tests/makeup", input_size=input_size)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    path = tmp_path / "G.pth"
    _save(_tiny_branch(), path)
    return path


def test_a_published_layout_checkpoint_runs_end_to_end(ctx, astronaut, red_lips_reference, tiny_checkpoint):
    record = _import(ctx, tiny_checkpoint)
    result = run_makeup(ctx, astronaut, red_lips_reference, engine="beautygan", intensity=0.8)
    assert result.report["engine"] == "beautygan" and result.report["commercial_use"] is False
    assert result.report["weights"]["sha256"] == file_sha256(tiny_checkpoint) == record.sha256
    assert result.report["weights"]["licence"] == LICENCE
    face = find_faces(astronaut)[0]
    x, y, w, h = (int(v) for v in face.box)
    changed = np.any(result.image != astronaut, axis=2)
    assert changed[y:y + h, x:x + w].mean() > 0.3, "the face oval was not pasted"
    outside = np.ones_like(changed)
    outside[max(0, y - h // 4):y + h + h // 4, max(0, x - w // 4):x + w + w // 4] = False
    assert not changed[outside].any()


def test_intensity_zero_keeps_the_photo_and_regions_limit_the_paste(ctx, astronaut, red_lips_reference,
                                                                   astronaut_masks, tiny_checkpoint):
    _import(ctx, tiny_checkpoint)
    untouched = run_makeup(ctx, astronaut, red_lips_reference, engine="beautygan", intensity=0.0)
    assert np.array_equal(untouched.image, astronaut)
    lips_only = run_makeup(ctx, astronaut, red_lips_reference, engine="beautygan", regions=["lips"])
    changed = np.any(lips_only.image != astronaut, axis=2)
    assert changed[astronaut_masks["lips"] >= 0.5].mean() > 0.9
    assert not changed[astronaut_masks["brows"] >= 0.5].any()
    assert not changed[astronaut_masks["blush"] >= 0.5].any()


def test_the_alternative_concatenating_layout_loads_through_the_same_path(ctx, astronaut, tmp_path):
    path = tmp_path / "G_normal.pth"
    torch.manual_seed(1)
    _save(BeautyGANConcatGenerator(conv_dim=4, repeat_num=1, input_nc=6), path)
    ctx.models.import_file(beautygan.WEIGHTS, path, licence="MIT (own training)", commercial_use=True,
                           source="tests/makeup", input_size=128)
    model, record = beautygan.load_generator(ctx.models)
    assert isinstance(model, BeautyGANConcatGenerator) and model.repeat_num == 1 and model.conv_dim == 4
    assert beautygan.network_size(record) == 128
    result = run_makeup(ctx, astronaut, astronaut, engine="beautygan", regions=["lips"])
    assert result.image.shape == astronaut.shape
    assert result.report["commercial_use"] is True, "the imported weights' terms decide"


def test_architecture_is_read_from_the_checkpoint():
    model = beautygan.generator_for_state_dict(BeautyGANGenerator(conv_dim=8, repeat_num=3).state_dict())
    assert isinstance(model, BeautyGANGenerator) and (model.conv_dim, model.repeat_num) == (8, 3)


def test_missing_weights_make_the_engine_unavailable_by_name(ctx, astronaut):
    with pytest.raises(EngineUnavailable, match="missing weights in the model store: beautygan-generator"):
        run_makeup(ctx, astronaut, astronaut, engine="beautygan")


def test_a_checkpoint_with_a_missing_key_is_refused_by_name(ctx, astronaut, tmp_path):
    state = _tiny_branch().state_dict()
    del state["main.3.main.4.bias"]
    torch.save(state, tmp_path / "broken.pth")
    _import(ctx, tmp_path / "broken.pth")
    with pytest.raises(WeightsMismatch, match=r"1 missing keys \(first: main\.3\.main\.4\.bias\)"):
        run_makeup(ctx, astronaut, astronaut, engine="beautygan")


def test_a_checkpoint_of_another_network_is_refused(ctx, astronaut, tmp_path):
    torch.save(nn.Sequential(nn.Linear(3, 3)).state_dict(), tmp_path / "other.pth")
    _import(ctx, tmp_path / "other.pth")
    with pytest.raises(WeightsMismatch, match="not a BeautyGAN generator state_dict"):
        run_makeup(ctx, astronaut, astronaut, engine="beautygan")


def test_a_file_changed_after_import_fails_its_hash(ctx, astronaut, tiny_checkpoint):
    record = _import(ctx, tiny_checkpoint)
    _save(_tiny_branch(seed=5), ctx.models.root / record.file)
    with pytest.raises(WeightsMismatch, match="sha256"):
        run_makeup(ctx, astronaut, astronaut, engine="beautygan")


class _PassThrough(nn.Module):
    """Returns its inputs, so a round trip checks the engine's own pre- and post-processing."""

    def forward(self, source, reference):
        return source, reference


def test_crops_go_in_as_rgb_minus_one_to_one_and_come_back_unchanged(astronaut):
    crop = np.ascontiguousarray(astronaut[100:356, 100:356])
    tensor = beautygan.network_input(crop, 256)
    assert tensor.shape == (1, 3, 256, 256)
    assert tensor[0, 0, 0, 0].item() == pytest.approx(crop[0, 0, 2] / 127.5 - 1.0)  # channel 0 is red
    assert tensor.min() >= -1.0 and tensor.max() <= 1.0
    (back,) = beautygan.made_up_crops(_PassThrough(), [tensor], [tensor])
    assert np.abs(back.astype(int) - crop.astype(int)).max() <= 1
