"""What every stage's registry test checks (tests/<stage>/test_engine_registry.py)."""
from __future__ import annotations

from shared.engines import EngineRegistry, licence_allows_commercial


def check_registry(registry: EngineRegistry, default: str, commercial: dict[str, bool]) -> None:
    """The registry lists the stage's engines with `default` first in params; each named engine's
    commercial use is what its licences give (`commercial`: as the code recorded it before the registries),
    its implementation is the registered class; and a packaged weight file's declared licence agrees
    with its package record (commercial use and pinned hash)."""
    from services.ops import packaged_weights

    assert registry.default == default and default in registry
    assert set(commercial) <= set(registry), f"{registry.stage} lacks {set(commercial) - set(registry)}"
    for name, expected in commercial.items():
        info = registry[name]
        assert info.stage == registry.stage and info.name == name
        assert info.commercial_use is expected, name
        assert registry.engine_class(name).info is info, name
    packaged = packaged_weights()
    for info in registry.values():
        for weight in info.weight_files:
            if weight.name in packaged:
                record = packaged[weight.name]
                assert licence_allows_commercial(weight.licence) is record.commercial_use, (info.name, weight.name)
                assert weight.sha256 in (None, record.sha256), (info.name, weight.name)
