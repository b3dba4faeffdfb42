"""BeautyGAN generator parity against wtjiang98/BeautyGAN_pytorch (fixtures in ../shared/parity/beautygan)."""
from __future__ import annotations

import json

import pytest
import torch

from services.makeup.nets import GENERATOR_CLASSES, BeautyGANConcatGenerator, BeautyGANGenerator
from tests.parity.harness import (FIXTURE_TOL, PARITY_DIR, PROBE_TOL, assert_summary_matches, call_case,
                                  load_fixture, max_abs_diff, probe_inputs, probe_output, probe_state_dict)


def _build(config: dict) -> torch.nn.Module:
    kwargs = {k: v for k, v in config.items() if k != "class"}
    return GENERATOR_CLASSES[config["class"]](**kwargs).eval()


def _manifest(name: str) -> dict:
    path = PARITY_DIR / "beautygan" / name
    if not path.is_file():
        pytest.fail(f"parity manifest {path} is missing")
    return json.loads(path.read_text())


def test_fixture_matches_reference_outputs():
    torch.set_num_threads(2)
    fixture = load_fixture("beautygan")
    model = _build(fixture["config"])
    model.load_state_dict(fixture["state_dict"], strict=True)
    for case, spec in fixture["cases"].items():
        ours = call_case(model, spec, fixture["inputs"])
        for name, reference in fixture["outputs"][case].items():
            diff = max_abs_diff(ours[name], reference)
            print(f"beautygan fixture {case}.{name}: max abs diff {diff:.3e}")
            assert diff <= FIXTURE_TOL, f"{case}.{name}: {diff}"


@pytest.mark.parametrize("manifest_name, cls", [("manifest.json", BeautyGANGenerator),
                                                ("manifest_generator_makeup.json", BeautyGANConcatGenerator)])
def test_full_size_keys_and_shapes_equal_manifest(manifest_name, cls):
    manifest = _manifest(manifest_name)
    assert GENERATOR_CLASSES[manifest["config"]["class"]] is cls
    model = _build(manifest["config"])
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(e["key"], e["shape"]) for e in manifest["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == manifest["total_params"]
    assert sum(b.numel() for b in model.buffers()) == manifest["total_buffer_elements"]


def test_sizes_not_divisible_by_four_are_refused():
    model = BeautyGANGenerator(conv_dim=4, repeat_num=1)
    image = torch.zeros(1, 3, 30, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(image, image)


@pytest.mark.slow
def test_full_size_probe_matches_reference():
    torch.set_num_threads(2)
    probe = load_fixture("beautygan", "fullsize_probe.pt")
    model = _build(probe["config"])
    model.load_state_dict(probe_state_dict(probe), strict=True)
    ours = call_case(model, probe["cases"]["probe"], probe_inputs(probe))
    for stored_name, reference in probe["outputs"].items():
        base = stored_name.split("_stride")[0]
        diff = max_abs_diff(probe_output(ours[base], stored_name), reference)
        print(f"beautygan probe {stored_name}: max abs diff {diff:.3e}")
        assert diff <= PROBE_TOL, f"{stored_name}: {diff}"
    for name, summary in probe["output_summary"].items():
        assert list(ours[name].shape) == summary["shape"]
        assert_summary_matches(ours[name], summary)
