"""The faceshifter engine end to end through the model store, with random weights in the published
key layout: AEI-Net and HEAR-Net at 1/16 width (the engine reads the widths off the checkpoint
shapes), ArcFace IR-SE50 at full size. Random weights make no real face, so these tests check the
plumbing: store → strict load → batched inference → paste back → report."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from services.swapper.compose import change_box
from services.swapper.engines import faceshifter
from services.swapper.nets import AEI_Net, Backbone, HearNet
from services.swapper.stage import STAGE, run_batch
from shared.errors import WeightsMismatch
from shared.faces import largest_face
from shared.settings import Settings
from shared.stage import StageContext
from shared.weights import ModelStore
from tests.data import astronaut, load_image, unrelated_face
from tests.swapper.conftest import run_swap, swap_inputs

WIDTH_DIVISOR = 16


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    networks = {faceshifter.AEI_WEIGHTS: AEI_Net(c_id=512, width_divisor=WIDTH_DIVISOR),
                faceshifter.HEAR_WEIGHTS: HearNet(width_divisor=WIDTH_DIVISOR),
                faceshifter.ARCFACE_WEIGHTS: Backbone(50, 0.6, "ir_se")}
    paths = {}
    for name, network in networks.items():
        paths[name] = folder / f"{name}.pth"
        torch.save(network.eval().state_dict(), paths[name])
    return paths


@pytest.fixture(scope="module")
def store(tmp_path_factory, checkpoints) -> ModelStore:
    models = ModelStore(root=tmp_path_factory.mktemp("models"))
    for name, path in checkpoints.items():
        models.import_file(name, path, licence="test weights", commercial_use=False, source="random init")
    return models


@pytest.fixture(scope="module")
def fs_ctx(tmp_path_factory, store) -> StageContext:
    torch.set_num_threads(2)
    return StageContext(settings=Settings(data_dir=tmp_path_factory.mktemp("data")), models=store)


def test_the_weights_load_strictly_at_the_checkpoint_widths(store):
    nets = faceshifter.nets_from_store(store)
    assert nets.aei.encoder.conv1[0].out_channels == 32 // WIDTH_DIVISOR
    assert nets.hear.down1[0].out_channels == 64 // WIDTH_DIVISOR
    assert nets.dtype == (torch.float16 if torch.cuda.is_available() else torch.float32)
    assert faceshifter.nets_from_store(store) is nets  # loaded once per set of files


def test_swap_is_the_two_stage_pipeline(store):
    """HEAR(cat(AEI(Xt, z_src), Xt − AEI(Xt, z_tgt))) with z from ArcFace on the 19:237 sub-crop."""
    nets = faceshifter.nets_from_store(store)
    if nets.device.type != "cpu":
        pytest.skip("compared in float32 on the CPU")
    torch.manual_seed(1)
    targets, sources = torch.rand(1, 3, 256, 256) * 2 - 1, torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        def embed(x):
            return nets.arcface(F.interpolate(x[:, :, 19:237, 19:237], (112, 112), mode="bilinear", align_corners=True))
        swapped, _ = nets.aei(targets, embed(sources))
        reconstructed, _ = nets.aei(targets, embed(targets))
        expected = nets.hear(torch.cat((swapped, targets - reconstructed), dim=1))
    assert torch.allclose(nets.swap(targets, nets.identity(sources)), expected, atol=1e-5)


def test_the_stage_swaps_with_faceshifter_and_says_it_is_not_for_commercial_use(fs_ctx):
    target = load_image("body_w120")
    output = run_swap(fs_ctx, target, unrelated_face(), engine="faceshifter")
    face = largest_face(target)
    x0, y0, x1, y1 = change_box(face, target.shape)
    outside = np.ones(target.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert output.image.shape == target.shape
    assert np.array_equal(output.image[outside], target[outside])
    assert (output.image != target).any(axis=2).sum() > 0.3 * face.area
    (report,) = output.report["faces"]
    assert report["engine"] == "faceshifter" and report["commercial_use"] is False
    assert "no LICENSE" in report["licence"] and output.report["commercial_use"] is False


def test_a_batch_of_events_gives_what_single_events_give(fs_ctx):
    items = [(STAGE.parse_params({"engine": "faceshifter"}), swap_inputs(load_image(name), source))
             for name, source in (("portrait_astronaut", unrelated_face()), ("body_w96", astronaut()))]
    batched = run_batch(items, fs_ctx)
    for (params, inputs), result in zip(items, batched):
        single = STAGE.run(params, inputs, fs_ctx)
        assert np.abs(result.image.astype(int) - single.image.astype(int)).max() <= 2


def test_a_checkpoint_of_the_wrong_network_is_refused_by_name(tmp_path, checkpoints):
    models = ModelStore(root=tmp_path)
    models.import_file(faceshifter.AEI_WEIGHTS, checkpoints[faceshifter.HEAR_WEIGHTS], licence="x",
                       commercial_use=False, source="swapped by mistake")
    for name in (faceshifter.HEAR_WEIGHTS, faceshifter.ARCFACE_WEIGHTS):
        models.import_file(name, checkpoints[name], licence="x", commercial_use=False, source="test")
    with pytest.raises(WeightsMismatch, match="faceshifter-aei"):
        faceshifter.nets_from_store(models)
