"""The gpen engine's load path (model store → sha256 → inferred config → strict keys) and batching,
with a tiny random GPEN checkpoint in the published key layout (no real weights are available here)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from services.enhancer import stage as enhancer
from services.enhancer.engines import gpen
from services.enhancer.nets.gpen import FullGenerator
from services.enhancer.stage import STAGE
from shared.errors import EngineUnavailable, NoFaceFound, WeightsMismatch
from shared.faces import find_faces
from tests.data import load_image
from tests.enhancer.conftest import decoded
from tests.parity.harness import PARITY_DIR

TINY = {"size": 64, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 1, "narrow": 0.0625}  # 32 channels
GPEN_PARAMS = {"engine": "gpen", "blend": 1.0, "restore": "full"}  # the network path, whatever the face


def _tiny_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return FullGenerator(**TINY).state_dict()


def _import(ctx, tmp_path, state_dict, commercial_use=False):
    path = tmp_path / "gpen-tiny.pth"
    torch.save(state_dict, path)
    return ctx.models.import_file(gpen.WEIGHTS_NAME, path, licence="GPEN: academic and non-commercial use only",
                                  commercial_use=commercial_use, source="tests: random tiny GPEN", input_size=64)


def test_the_published_layout_gives_the_published_configuration():
    manifest = json.loads((PARITY_DIR / "gpen" / "manifest.json").read_text())
    shapes = {e["key"]: torch.empty(e["shape"], device="meta") for e in manifest["state_dict"]}
    assert gpen.infer_config(shapes) == gpen.GpenConfig(size=512, style_dim=512, n_mlp=8, channel_multiplier=2,
                                                        narrow=1.0, isconcat=True)


def test_tiny_checkpoint_restores_a_face_through_the_model_store(ctx, tmp_path, astronaut):
    record = _import(ctx, tmp_path, _tiny_state_dict())
    result = STAGE.run(STAGE.parse_params(GPEN_PARAMS), decoded(astronaut), ctx)
    report = result.report
    assert report["engine"] == "gpen" and report["commercial_use"] is False and "non-commercial" in report["licence"]
    (weights,) = report["model_weights"]
    assert weights["sha256"] == record.sha256 and weights["config"]["size"] == 64
    face = find_faces(astronaut)[0]
    x, y, w, h = face.box
    changed = (result.image != astronaut).any(axis=2)
    assert changed.sum() > 0.3 * face.area
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x - 0.5 * w and xs.max() <= x + 1.5 * w and ys.min() >= y - 0.5 * h and ys.max() <= y + 1.5 * h


def test_weights_marked_commercial_do_not_make_gpen_commercial(ctx, tmp_path):
    _import(ctx, tmp_path, _tiny_state_dict(), commercial_use=True)
    assert enhancer._engine_report(STAGE.parse_params(GPEN_PARAMS), ctx)["commercial_use"] is False


def test_missing_weights_make_the_engine_unavailable_before_any_work(ctx, astronaut, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("work started although the engine is unavailable")

    monkeypatch.setattr(enhancer, "find_faces", must_not_run)
    with pytest.raises(EngineUnavailable, match=gpen.WEIGHTS_NAME) as refused:
        STAGE.run(STAGE.parse_params(GPEN_PARAMS), decoded(astronaut), ctx)
    assert refused.value.code == "engine-unavailable"


def test_a_file_changed_after_import_is_refused(ctx, tmp_path, astronaut):
    record = _import(ctx, tmp_path, _tiny_state_dict())
    with open(ctx.models.root / record.file, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(WeightsMismatch, match="sha256"):
        STAGE.run(STAGE.parse_params(GPEN_PARAMS), decoded(astronaut), ctx)


def test_checkpoints_with_other_keys_or_shapes_are_refused_by_name(ctx, tmp_path):
    renamed = _tiny_state_dict()
    renamed["final_linear.0.scale"] = renamed.pop("final_linear.0.bias")
    _import(ctx, tmp_path, renamed)
    with pytest.raises(WeightsMismatch, match="final_linear.0.bias") as refused:
        gpen.load(ctx.models)
    assert "final_linear.0.scale" in refused.value.message

    reshaped = _tiny_state_dict()
    reshaped["generator.conv1.conv.modulation.bias"] = torch.zeros(7)
    _import(ctx, tmp_path, reshaped)
    with pytest.raises(WeightsMismatch, match="generator.conv1.conv.modulation.bias"):
        gpen.load(ctx.models)

    _import(ctx, tmp_path, {"generator.style.1.weight": torch.zeros(2, 2)})
    with pytest.raises(WeightsMismatch, match="not a GPEN FullGenerator checkpoint"):
        gpen.load(ctx.models)


def test_run_batch_restores_all_gpen_faces_in_one_pass_and_isolates_a_failing_event(ctx, tmp_path, astronaut,
                                                                                      hopper, monkeypatch):
    _import(ctx, tmp_path, _tiny_state_dict())
    restorer = gpen.load(ctx.models)
    batches = []
    original_restore = restorer.restore

    def counting_restore(crops):
        batches.append(len(crops))
        return original_restore(crops)

    monkeypatch.setattr(restorer, "restore", counting_restore)
    params = STAGE.parse_params(GPEN_PARAMS)
    items = [(params, decoded(astronaut)), (params, decoded(load_image("noface_brick"))), (params, decoded(hopper))]
    results = STAGE.run_batch(items, ctx)
    assert batches == [2]
    assert isinstance(results[1], NoFaceFound)
    singles = [STAGE.run(params, decoded(image), ctx).image for image in (astronaut, hopper)]
    for batched, single in zip((results[0], results[2]), singles):
        assert batched.report["faces_restored"] == 1
        assert np.abs(batched.image.astype(int) - single.astype(int)).max() <= 1
