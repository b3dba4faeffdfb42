"""A toy swapper engine: what a newcomer's engine module looks like, registered by one statement."""
from __future__ import annotations

import numpy as np

from shared.engines import Device, EngineInfo, EngineRegistry
from shared.weights import ModelStore

TOY_INFO = EngineInfo(name="toy", stage="swapper", title="toy engine of the tests", code_licence="MIT",
                      licence="MIT (tests)", description="returns the target crop unchanged")
loads: list[Device] = []


class ToyEngine:
    info = TOY_INFO

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "ToyEngine":
        loads.append(device)
        return cls()

    @classmethod
    def template_for(cls, face) -> str:
        return "ffhq256"

    def run_batch(self, pairs: list, ctx) -> list:
        from services.swapper.engines import EngineOutput

        return [EngineOutput(crop=target.aligned.crop, mesh=target.mesh,
                             valid=np.ones(target.aligned.crop.shape[:2], np.float32)) for target, _ in pairs]


def register(registry: EngineRegistry) -> None:
    registry.register(TOY_INFO, "tests.engines.toy:ToyEngine")
