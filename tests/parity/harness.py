"""Shared machinery for the parity tests: fixture files, the portable weight recipe, and case calls.

The fixtures in ../shared/parity (beside the checkout) were made with the reference implementations;
our networks must load their state_dicts with strict=True and reproduce the stored outputs.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

PARITY_DIR = Path(os.environ.get("FACECAST_PARITY_DIR", Path(__file__).resolve().parents[3] / "shared" / "parity"))
FIXTURE_TOL = 1e-4
PROBE_TOL = 1e-3


def load_fixture(model: str, name: str = "fixture.pt") -> dict:
    path = PARITY_DIR / model / name
    if not path.is_file():
        pytest.fail(f"parity fixture {path} is missing: the checkout must sit beside ../shared/parity")
    return torch.load(path, weights_only=True)


def recipe_tensor(shape, seed: int, amp: float, offset: float) -> torch.Tensor:
    """The fixtures' portable pseudo-random recipe (see ../shared/parity/README.md), in numpy uint64."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    h = (i * np.uint64(1103515245) + np.uint64((seed * 12345 + 1013904223) % 2**32)) & mask
    for _ in range(2):
        h ^= h >> np.uint64(16)
        h = (h * np.uint64(73244475)) & mask
    h ^= h >> np.uint64(16)
    u = h.astype(np.float64) / 2.0**32 * 2.0 - 1.0
    v = u * amp
    v = v + offset
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def probe_state_dict(probe: dict) -> dict[str, torch.Tensor]:
    state = {}
    for entry in probe["weights"]:
        if "literal" in entry:
            state[entry["key"]] = entry["literal"]
        else:
            state[entry["key"]] = recipe_tensor(entry["shape"], entry["seed"], entry["amp"], entry["offset"])
    return state


def probe_inputs(probe: dict) -> dict[str, torch.Tensor]:
    inputs = dict(probe.get("inputs", {}))
    for name, spec in probe.get("input_recipes", {}).items():
        tensor = recipe_tensor(spec["shape"], spec["seed"], spec["amp"], spec["offset"])
        assert math.isclose(tensor.double().sum().item(), spec["sum"], rel_tol=1e-9, abs_tol=1e-6), name
        inputs[name] = tensor
    return inputs


def _resolve(value, inputs):
    if isinstance(value, str) and value.startswith("@"):
        return inputs[value[1:]]
    if isinstance(value, list):
        return [_resolve(v, inputs) for v in value]
    return value


def call_case(model: torch.nn.Module, spec: dict, inputs: dict) -> dict:
    """Run one case spec and return {output name: tensor or list of tensors}."""
    method = getattr(model, spec.get("method", "forward"))
    args = [[inputs[n] for n in a] if isinstance(a, list) else inputs[a] for a in spec.get("args", [])]
    kwargs = {k: _resolve(v, inputs) for k, v in spec.get("kwargs", {}).items()}
    with torch.no_grad():
        result = method(*args, **kwargs)
    names = spec["output_names"]
    if len(names) == 1:
        result = (result,)
    return {name: value for name, value in zip(names, result) if name != "<None>"}


def max_abs_diff(ours, reference) -> float:
    if isinstance(reference, (list, tuple)):
        return max(max_abs_diff(o, r) for o, r in zip(ours, reference))
    assert tuple(ours.shape) == tuple(reference.shape), (tuple(ours.shape), tuple(reference.shape))
    return (ours.float() - reference.float()).abs().max().item()


def probe_output(full: torch.Tensor | list, stored_name: str):
    """Slice our full output the way the probe stored it: `name[.i][_strideN]`."""
    base, _, stride = stored_name.partition("_stride")
    value = full
    if "." in base:
        value = value[int(base.split(".")[1])]
    if stride:
        s = int(stride)
        value = value[:, :, ::s, ::s]
    return value


def assert_summary_matches(tensor: torch.Tensor, summary: dict, rel: float = PROBE_TOL) -> None:
    t = tensor.double()
    for stat, ours in (("sum", t.sum()), ("abs_sum", t.abs().sum()), ("sq_sum", (t * t).sum())):
        expected = summary[stat]
        assert math.isclose(ours.item(), expected, rel_tol=rel, abs_tol=rel * max(1.0, summary["abs_sum"]) * 1e-3), \
            f"{stat}: ours {ours.item()} vs reference {expected}"
