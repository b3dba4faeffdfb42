"""Finding a stage by name: its contract (`services.<name>.contract.CONTRACT`, torch-free: what the gateway
loads) or its definition (`services.<name>.stage.STAGE`: what a worker runs), or `module:attribute` for
stages that live elsewhere (the test-only stages of the backbone tests)."""
from __future__ import annotations

import importlib

from shared.events import STAGES
from shared.stage import StageContract, StageDefinition


def _load(spec: str, module: str, attribute: str):
    if ":" in spec:
        module_name, name = spec.split(":", 1)
        return getattr(importlib.import_module(module_name), name)
    if spec not in STAGES:
        raise SystemExit(f"unknown stage {spec!r}; stages are {', '.join(STAGES)} (or module:attribute)")
    return getattr(importlib.import_module(f"services.{spec}.{module}"), attribute)


def load_stage(spec: str) -> StageDefinition:
    return _load(spec, "stage", "STAGE")


def load_contract(spec: str) -> StageContract:
    """A stage's contract without its implementation; a `module:attribute` stage gives its definition's."""
    found = _load(spec, "contract", "CONTRACT")
    return found.contract if isinstance(found, StageDefinition) else found


def stage_names(settings) -> list[str]:
    """Every stage this deployment knows: the four services plus `extra_stages` from settings."""
    return [*STAGES, *settings.extra_stages]


def load_stage_by_name(name: str, settings) -> StageDefinition:
    if name in settings.extra_stages:
        return load_stage(settings.extra_stages[name])
    return load_stage(name)


def load_contract_by_name(name: str, settings) -> StageContract:
    if name in settings.extra_stages:
        return load_contract(settings.extra_stages[name])
    return load_contract(name)
