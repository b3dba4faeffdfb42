"""GPEN FullGenerator parity against yangxy/GPEN (fixtures in ../shared/parity/gpen)."""
from __future__ import annotations

import json

import pytest
import torch

from services.enhancer.nets.gpen import FullGenerator
from tests.parity.harness import (FIXTURE_TOL, PARITY_DIR, PROBE_TOL, assert_summary_matches, call_case,
                                  load_fixture, max_abs_diff, probe_inputs, probe_output, probe_state_dict)


def _config(config: dict) -> dict:
    """The reference's `device` argument only picks its CUDA or CPU kernels; ours has one code path."""
    return {k: v for k, v in config.items() if k != "device"}


def _manifest() -> dict:
    path = PARITY_DIR / "gpen" / "manifest.json"
    if not path.is_file():
        pytest.fail(f"parity manifest {path} is missing")
    return json.loads(path.read_text())


def test_fixture_matches_reference_outputs():
    torch.set_num_threads(2)
    fixture = load_fixture("gpen")
    model = FullGenerator(**_config(fixture["config"])).eval()
    model.load_state_dict(fixture["state_dict"], strict=True)
    assert set(fixture["cases"]) == {"default", "return_latents", "trunc07"}
    for case, spec in fixture["cases"].items():
        ours = call_case(model, spec, fixture["inputs"])
        assert set(ours) == set(fixture["outputs"][case])
        for name, reference in fixture["outputs"][case].items():
            diff = max_abs_diff(ours[name], reference)
            print(f"gpen fixture {case}.{name}: max abs diff {diff:.3e}")
            assert diff <= FIXTURE_TOL, f"{case}.{name}: {diff}"


def test_full_size_keys_and_shapes_equal_manifest():
    manifest = _manifest()
    with torch.device("meta"):
        model = FullGenerator(**_config(manifest["config"]))
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(e["key"], e["shape"]) for e in manifest["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == manifest["total_params"]
    assert sum(b.numel() for b in model.buffers()) == manifest["total_buffer_elements"]
    assert model.generator.n_latent == manifest["n_latent"]


def test_wrong_input_size_is_refused():
    model = FullGenerator(size=16, style_dim=8, n_mlp=1, narrow=1 / 64)
    with pytest.raises(ValueError, match="16×16"):
        model(torch.zeros(1, 3, 32, 32))


@pytest.mark.slow
def test_full_size_probe_matches_reference():
    torch.set_num_threads(2)
    probe = load_fixture("gpen", "fullsize_probe.pt")
    model = FullGenerator(**_config(probe["config"])).eval()
    model.load_state_dict(probe_state_dict(probe), strict=True)
    ours = call_case(model, probe["cases"]["probe"], probe_inputs(probe))
    for stored_name, reference in probe["outputs"].items():
        base = stored_name.split("_stride")[0]
        diff = max_abs_diff(probe_output(ours[base], stored_name), reference)
        print(f"gpen probe {stored_name}: max abs diff {diff:.3e}")
        assert diff <= PROBE_TOL, f"{stored_name}: {diff}"
    for name, summary in probe["output_summary"].items():
        assert list(ours[name].shape) == summary["shape"]
        assert_summary_matches(ours[name], summary)
