"""Finding a stage definition by name: `services.<name>.stage.STAGE`, or `module:attribute` for
stages that live elsewhere (the test-only stages of the backbone tests)."""
from __future__ import annotations

import importlib

from shared.events import STAGES
from shared.stage import StageDefinition


def load_stage(spec: str) -> StageDefinition:
    if ":" in spec:
        module_name, attribute = spec.split(":", 1)
        return getattr(importlib.import_module(module_name), attribute)
    if spec not in STAGES:
        raise SystemExit(f"unknown stage {spec!r}; stages are {', '.join(STAGES)} (or module:attribute)")
    return importlib.import_module(f"services.{spec}.stage").STAGE


def stage_names(settings) -> list[str]:
    """Every stage this deployment knows: the four services plus `extra_stages` from settings."""
    return [*STAGES, *settings.extra_stages]


def load_stage_by_name(name: str, settings) -> StageDefinition:
    if name in settings.extra_stages:
        return load_stage(settings.extra_stages[name])
    return load_stage(name)
