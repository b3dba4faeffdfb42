"""Parity of our FaceShifter networks (AEI-Net, HEAR-Net) and ArcFace IR-SE50 with the reference.

Width-reduced fixtures: strict load of the reference state_dict, every stored output within 1e-4.
Full-size probes: weights rebuilt from the portable recipe, outputs within 1e-3 and float64 sums within
1e-3 relative. Full-size layouts: keys, shapes and order equal the published manifests.
"""
from __future__ import annotations

import json

import pytest
import torch

from services.swapper.nets import AEI_Net, Backbone, HearNet
from tests.parity.harness import (FIXTURE_TOL, PARITY_DIR, PROBE_TOL, assert_summary_matches, call_case,
                                  load_fixture, max_abs_diff, probe_inputs, probe_output, probe_state_dict)

BUILDERS = {"aei": AEI_Net, "hear": HearNet}


@pytest.fixture(autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _manifest(name: str) -> dict:
    return json.loads((PARITY_DIR / "faceshifter" / name).read_text())


def _build_eval(builder: str, config: dict, state: dict) -> torch.nn.Module:
    model = BUILDERS[builder](**config)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.mark.parametrize("fixture_name", ["fixture.pt", "hear_fixture.pt"])
def test_width_reduced_fixture_reproduces_every_output(fixture_name):
    fixture = load_fixture("faceshifter", fixture_name)
    model = _build_eval(fixture["builder"], fixture["config"], fixture["state_dict"])
    for case, spec in fixture["cases"].items():
        ours = call_case(model, spec, fixture["inputs"])
        reference = fixture["outputs"][case]
        assert set(reference) <= set(ours), case
        for name, expected in reference.items():
            value = ours[name]
            if isinstance(expected, list):
                value = list(value)[: len(expected)]
            diff = max_abs_diff(value, expected)
            print(f"{fixture_name} {case}.{name}: max abs diff {diff:.3g}")
            assert diff <= FIXTURE_TOL, f"{case}.{name}: {diff}"


def test_identity_changes_the_fixture_output():
    """The fixture's two samples must differ when z_id is swapped: the generator really uses z_id."""
    fixture = load_fixture("faceshifter")
    model = _build_eval("aei", fixture["config"], fixture["state_dict"])
    with torch.no_grad():
        swapped, _ = model(fixture["inputs"]["Xt"], fixture["inputs"]["z_id"].flip(0))
    assert (swapped - fixture["outputs"]["forward"]["Y"]).abs().mean().item() > 0.02


@pytest.mark.parametrize("manifest_name, build", [
    ("manifest.json", lambda: AEI_Net(c_id=512)),
    ("hear_manifest.json", lambda: HearNet()),
    ("arcface_manifest.json", lambda: Backbone(50, 0.6, "ir_se")),
])
def test_full_size_layout_equals_manifest(manifest_name, build):
    manifest = _manifest(manifest_name)
    with torch.device("meta"):  # layout only: no memory, no initialisation time
        model = build()
    ours = [(key, list(t.shape)) for key, t in model.state_dict().items()]
    expected = [(entry["key"], entry["shape"]) for entry in manifest["state_dict"]]
    assert ours == expected
    assert sum(p.numel() for p in model.parameters()) == manifest["total_params"]
    assert len(ours) == manifest["num_state_dict_entries"]


def test_arcface_returns_unit_embeddings_that_depend_on_the_face():
    torch.manual_seed(0)
    model = Backbone(50, 0.6, "ir_se").eval()
    faces = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        embedding = model(faces)
    assert embedding.shape == (2, 512)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(2), atol=1e-5)
    assert (embedding[0] - embedding[1]).abs().max().item() > 1e-3


def _run_probe(name: str):
    probe = load_fixture("faceshifter", name)
    model = _build_eval(probe["builder"], probe["config"], probe_state_dict(probe))
    ours = call_case(model, probe["cases"]["probe"], probe_inputs(probe))
    return probe, ours


@pytest.fixture(scope="module")
def aei_probe_result():
    """The 184M-parameter AEI-Net is built and run once for all its probe checks."""
    torch.set_num_threads(2)
    return _run_probe("fullsize_probe.pt")


@pytest.mark.slow
def test_aei_full_size_probe_outputs(aei_probe_result):
    probe, ours = aei_probe_result
    for stored, expected in probe["outputs"].items():
        base = stored.partition("_stride")[0].split(".")[0]
        diff = max_abs_diff(probe_output(ours[base], stored), expected)
        print(f"AEI probe {stored}: max abs diff {diff:.3g}")
        assert diff <= PROBE_TOL, f"{stored}: {diff}"


@pytest.mark.slow
def test_aei_full_size_probe_sums(aei_probe_result):
    probe, ours = aei_probe_result
    for name, summary in probe["output_summary"].items():
        base, _, index = name.partition(".")
        tensor = ours[base][int(index)] if index else ours[base]
        assert list(tensor.shape) == summary["shape"], name
        assert_summary_matches(tensor, summary)


@pytest.mark.slow
def test_hear_full_size_probe():
    probe, ours = _run_probe("hear_fullsize_probe.pt")
    for stored, expected in probe["outputs"].items():
        diff = max_abs_diff(probe_output(ours["Y"], stored), expected)
        print(f"HEAR probe {stored}: max abs diff {diff:.3g}")
        assert diff <= PROBE_TOL, f"{stored}: {diff}"
    assert_summary_matches(ours["Y"], probe["output_summary"]["Y"])
