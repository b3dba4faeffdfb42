"""The stages this deployment runs, by API name, as their contracts (params, inputs, engines): the gateway
never loads a stage's implementation, so it runs without torch, OpenCV or MediaPipe."""
from __future__ import annotations

import logging

from pydantic import BaseModel, ValidationError

from services.gateway.problems import StageUnavailable, field_errors
from services.stages import load_contract_by_name, stage_names
from shared.errors import InvalidInput
from shared.stage import StageContract

logger = logging.getLogger("facecast.gateway")
ALIASES = {"swap": "swapper", "enhance": "enhancer", "generate": "generator"}


class StageCatalog:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.names = stage_names(settings)
        self._loaded: dict[str, StageContract | str] = {}
        self._models = None

    def canonical(self, name: str) -> str:
        name = ALIASES.get(name, name)
        if name not in self.names:
            raise InvalidInput(f"unknown stage {name!r}; stages are {', '.join(sorted({*ALIASES, *self.names}))}",
                               stage=name)
        return name

    def _load(self, name: str) -> StageContract | str:
        if name not in self._loaded:
            try:
                self._loaded[name] = load_contract_by_name(name, self.settings)
            except (ImportError, AttributeError, SystemExit) as exc:
                logger.warning(f"stage {name} is unavailable: {exc}")
                self._loaded[name] = f"{type(exc).__name__}: {exc}"
        return self._loaded[name]

    def get(self, name: str) -> StageContract:
        name = self.canonical(name)
        stage = self._load(name)
        if isinstance(stage, str):
            raise StageUnavailable(f"stage {name!r} is not installed in this deployment ({stage})", stage=name)
        return stage

    def validate_params(self, stage: StageContract, raw: dict, input_names: frozenset[str] = frozenset()) -> dict:
        """The step's params as the stage will read them, or a 422 naming the first problem; the stage's
        `check_inputs` sees them with the names of the step's inputs."""
        try:
            params: BaseModel = stage.parse_params(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "params"
            raise InvalidInput(f"invalid parameters for stage {stage.name!r}: {where}: {first['msg']}",
                               stage=stage.name, errors=field_errors(exc.errors()))
        except (InvalidInput, ValueError) as exc:
            raise InvalidInput(f"invalid parameters for stage {stage.name!r}: {exc}", stage=stage.name) from None
        if stage.check_inputs is not None:
            stage.check_inputs(params, input_names)
        return params.model_dump(mode="json", exclude_unset=True)

    def unavailable(self, weights: tuple[str, ...]) -> str | None:
        """Why an engine with these weights cannot run now (a missing package file or model-store file, each
        named), or None: `available` must mean a job asking for the engine can run.

        A gateway-only install (requirements/gateway.txt) has neither the packages that carry weight files
        nor the code declaring them: there it judges the model-store files only, and the files that ship in
        the workers' packages are checked by each worker when it starts (`check_weights_at_start`)."""
        from services.ops import packaged_weights
        from shared.weights import ModelStore

        if self._models is None:
            self._models = ModelStore.from_settings(self.settings)
        try:
            packaged = packaged_weights()
        except ImportError:  # a gateway-only install
            packaged = None
        reasons = []
        for name in weights:
            if packaged is None:
                if name in self._models.records() and (reason := self._models.unavailable(name)) is not None:
                    reasons.append(reason)
            elif name in packaged:
                try:
                    packaged[name].path()
                except Exception as exc:  # the package or its file is missing
                    reasons.append(str(getattr(exc, "message", exc)))
            elif (reason := self._models.unavailable(name)) is not None:
                reasons.append(reason)
        return "; ".join(reasons) or None

    def engines(self) -> list[dict]:
        rows = []
        for name in self.names:
            stage = self._load(name)
            if isinstance(stage, str):
                rows.append({"stage": name, "engine": "*", "licence": "unknown", "commercial_use": False,
                             "demo": False, "weights": [], "available": False, "unavailable_reason": stage})
                continue
            for engine in stage.engines.values():
                reason = self.unavailable(tuple(engine.weights))
                rows.append({**engine.public(), "stage": name, "description": engine.description,
                             "available": reason is None, "unavailable_reason": reason})
        return rows
