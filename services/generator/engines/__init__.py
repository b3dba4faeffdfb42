"""Face generators behind one interface (`CastingEngine`); `load_engine` builds and caches them.

Engines are cached by weights hash, so a worker loads a checkpoint once, and a re-imported file
with other bytes is loaded afresh.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from services.generator.engines.base import CastingEngine
from shared.errors import InvalidInput
from shared.weights import EngineInfo, ModelStore

ENGINE_NAMES = ("stylegan2", "demo")
CACHE_SIZE = 2

_cache: OrderedDict[tuple[str, ...], CastingEngine] = OrderedDict()
_lock = threading.Lock()


def engine_infos() -> dict[str, EngineInfo]:
    from services.generator.engines import demo, stylegan2

    return {"stylegan2": stylegan2.INFO, "demo": demo.INFO}


def load_engine(name: str, weights: str | None, models: ModelStore) -> CastingEngine:
    """The engine `name` with the named weights (stylegan2: a model-store name; demo: packaged)."""
    if name == "demo":
        from services.generator.engines.demo import DCGAN_WEIGHTS, DemoEngine

        if weights not in (None, DCGAN_WEIGHTS.name):
            raise InvalidInput(f"the demo engine always uses its packaged weights; got weights={weights!r}")
        return _cached(("demo", DCGAN_WEIGHTS.sha256), DemoEngine)
    if name == "stylegan2":
        from services.generator.engines.stylegan2 import DEFAULT_WEIGHTS, StyleGAN2Engine

        weights_name = weights or DEFAULT_WEIGHTS
        path = models.path(weights_name)  # EngineUnavailable when absent, WeightsMismatch on a wrong hash
        record = models.records()[weights_name]
        return _cached(("stylegan2", weights_name, record.sha256), lambda: StyleGAN2Engine(path, record))
    raise InvalidInput(f"unknown generator engine {name!r}; engines are {', '.join(ENGINE_NAMES)}")


def _cached(key: tuple[str, ...], build) -> CastingEngine:
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    engine = build()
    with _lock:
        _cache[key] = engine
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return engine
