"""StyleGAN2 generator parity against rosinality/stylegan2-pytorch (fixtures in ../shared/parity/stylegan2)."""
from __future__ import annotations

import json

import pytest
import torch

from services.generator.nets.stylegan2 import Generator
from shared.nn.stylegan2_ops import upfirdn2d
from tests.parity.harness import (FIXTURE_TOL, PARITY_DIR, PROBE_TOL, assert_summary_matches, call_case,
                                  load_fixture, max_abs_diff, probe_inputs, probe_output, probe_state_dict)


def _manifest() -> dict:
    path = PARITY_DIR / "stylegan2" / "manifest.json"
    if not path.is_file():
        pytest.fail(f"parity manifest {path} is missing")
    return json.loads(path.read_text())


def test_fixture_matches_reference_outputs():
    torch.set_num_threads(2)
    fixture = load_fixture("stylegan2")
    model = Generator(**fixture["config"]).eval()
    model.load_state_dict(fixture["state_dict"], strict=True)
    assert set(fixture["cases"]) == {"trunc1", "trunc07", "mixing", "w_plus", "explicit_noise", "mapping"}
    for case, spec in fixture["cases"].items():
        ours = call_case(model, spec, fixture["inputs"])
        assert set(ours) == set(fixture["outputs"][case])
        for name, reference in fixture["outputs"][case].items():
            diff = max_abs_diff(ours[name], reference)
            print(f"stylegan2 fixture {case}.{name}: max abs diff {diff:.3e}")
            assert diff <= FIXTURE_TOL, f"{case}.{name}: {diff}"


def test_full_size_keys_and_shapes_equal_manifest():
    manifest = _manifest()
    with torch.device("meta"):
        model = Generator(**manifest["config"])
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(e["key"], e["shape"]) for e in manifest["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == manifest["total_params"]
    assert sum(b.numel() for b in model.buffers()) == manifest["total_buffer_elements"]
    assert (model.n_latent, model.num_layers) == (manifest["n_latent"], manifest["num_layers"])


def test_upfirdn2d_flips_the_kernel():
    """A true convolution: an impulse comes back as the kernel itself, not its mirror."""
    impulse = torch.zeros(1, 1, 5, 5)
    impulse[0, 0, 2, 2] = 1.0
    kernel = torch.arange(1.0, 10.0).reshape(3, 3)
    out = upfirdn2d(impulse, kernel, pad=(1, 1))
    assert torch.equal(out[0, 0, 1:4, 1:4], kernel)


def test_upfirdn2d_zero_insertion_and_decimation_are_aligned():
    """Up by 2 then down by 2 with a unit kernel is the identity; the inserted zeros sit after each pixel."""
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    unit = torch.ones(1, 1)
    assert torch.equal(upfirdn2d(x, unit, up=2, down=2), x)
    up = upfirdn2d(x, unit, up=2)
    assert up.shape == (1, 1, 6, 8) and torch.equal(up[:, :, ::2, ::2], x) and up[:, :, 1::2].abs().sum() == 0


def test_style_mixing_without_inject_index_is_refused():
    model = Generator(size=8, style_dim=8, n_mlp=1, channels_override={4: 4, 8: 4})
    z = torch.randn(1, 8)
    with pytest.raises(ValueError, match="inject_index"):
        model([z, z])


@pytest.mark.slow
def test_full_size_probe_matches_reference():
    torch.set_num_threads(2)
    probe = load_fixture("stylegan2", "fullsize_probe.pt")
    model = Generator(**probe["config"]).eval()
    model.load_state_dict(probe_state_dict(probe), strict=True)
    ours = call_case(model, probe["cases"]["probe"], probe_inputs(probe))
    for stored_name, reference in probe["outputs"].items():
        base = stored_name.split("_stride")[0]
        diff = max_abs_diff(probe_output(ours[base], stored_name), reference)
        print(f"stylegan2 probe {stored_name}: max abs diff {diff:.3e}")
        assert diff <= PROBE_TOL, f"{stored_name}: {diff}"
    for name, summary in probe["output_summary"].items():
        assert list(ours[name].shape) == summary["shape"]
        assert_summary_matches(ours[name], summary)
