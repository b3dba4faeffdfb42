"""The shared engine interface: the one commercial-use rule, the bounded weight cache, the one device
choice, registries listed without importing an implementation, and a toy engine that appears
everywhere the registries are read (params validation, JSON schema, CLI choices) by one registration."""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading

import pytest
from pydantic import ValidationError

from shared import engines
from shared.engines import (CPU, Device, EngineInfo, EngineRegistry, WeightCache, WeightFile, choose_device,
                            commercial_use, licence_allows_commercial)
from shared.settings import Settings
from shared.weights import ModelRecord, ModelStore
from tests.engines import toy


def _record(name: str, commercial: bool) -> ModelRecord:
    return ModelRecord(name=name, file=f"{name}.pt", sha256="0" * 64, licence="as imported",
                       commercial_use=commercial, source="test")


# ---- the rule -------------------------------------------------------------------------------------------
def test_commercial_only_when_the_code_and_every_weight_file_allow_it():
    assert commercial_use("MIT", ["Apache-2.0", "BSD-3-Clause"]) is True
    assert commercial_use("MIT", ["Apache-2.0", "CC-BY-NC-4.0"]) is False
    assert commercial_use("LicenseRef-none", []) is False
    assert commercial_use("MIT", ["a-licence-nobody-recorded"]) is False  # unknown ids do not allow it
    assert commercial_use("MIT", [], [_record("w", True)]) is True
    assert commercial_use("MIT", [], [_record("w", True), _record("v", False)]) is False
    assert licence_allows_commercial("LicenseRef-NVIDIA-SCL-NC") is False


def test_an_imported_files_record_stands_for_it_at_run_time():
    info = EngineInfo(name="e", stage="swapper", title="e", code_licence="MIT", licence="MIT",
                      weight_files=(WeightFile("main", "LicenseRef-unknown"), WeightFile("aux", "Apache-2.0")))
    assert info.commercial_use is False  # declared: the main file's terms are unknown
    assert info.commercial_use_with({"main": _record("main", True)}) is True
    assert info.commercial_use_with({"main": _record("main", False)}) is False
    gated = EngineInfo(name="g", stage="swapper", title="g", code_licence="LicenseRef-academic-NC", licence="NC",
                       weight_files=(WeightFile("main", "MIT"),))
    assert gated.commercial_use_with({"main": _record("main", True)}) is False  # the code forbids it


# ---- the weight cache -------------------------------------------------------------------------------------
def test_the_cache_evicts_the_least_recently_used_beyond_its_size():
    cache = WeightCache(max_entries=2)
    built = []

    def build(key):
        return lambda: built.append(key) or key

    cache.get(("a",), build("a"))
    cache.get(("b",), build("b"))
    cache.get(("a",), build("a"))  # a is now the most recent
    cache.get(("c",), build("c"))  # evicts b
    assert cache.keys() == [("a",), ("c",)] and built == ["a", "b", "c"]
    cache.resize(1)
    assert cache.keys() == [("c",)]
    with pytest.raises(ValueError):
        cache.resize(0)


def test_a_key_is_built_once_when_threads_ask_together():
    cache = WeightCache(max_entries=4)
    gate, calls = threading.Event(), []

    def slow():
        calls.append(1)
        gate.wait(5)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(("k",), slow))) for _ in range(4)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_a_failed_build_is_not_cached():
    cache = WeightCache()
    with pytest.raises(RuntimeError):
        cache.get(("x",), lambda: (_ for _ in ()).throw(RuntimeError("missing weights")))
    assert cache.get(("x",), lambda: "loaded") == "loaded"


# ---- the device choice ------------------------------------------------------------------------------------
GPU_ENGINE = EngineInfo(name="g", stage="swapper", title="g", code_licence="MIT", licence="MIT",
                        devices=("cpu", "cuda"), fp16=True)
CPU_ENGINE = EngineInfo(name="c", stage="swapper", title="c", code_licence="MIT", licence="MIT")


@pytest.mark.parametrize("cuda, device, fp16, info, expected", [
    (True, "auto", True, GPU_ENGINE, Device("cuda", fp16=True)),
    (True, "auto", False, GPU_ENGINE, Device("cuda", fp16=False)),
    (False, "auto", True, GPU_ENGINE, CPU),
    (True, "cpu", True, GPU_ENGINE, CPU),
    (True, "cuda", True, CPU_ENGINE, CPU),  # a CPU-only engine runs on the CPU whatever is asked
    (True, "auto", True, EngineInfo(name="n", stage="swapper", title="n", code_licence="MIT", licence="MIT",
                                    devices=("cpu", "cuda")), Device("cuda", fp16=False)),  # no fp16 support
])
def test_one_device_choice_from_the_settings(monkeypatch, cuda, device, fp16, info, expected):
    monkeypatch.setattr(engines, "cuda_available", lambda: cuda)
    assert choose_device(info, Settings(device=device, fp16=fp16)) == expected


def test_asking_for_cuda_without_one_is_a_clear_error(monkeypatch):
    from shared.errors import EngineUnavailable

    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    with pytest.raises(EngineUnavailable, match="no CUDA device"):
        choose_device(GPU_ENGINE, Settings(device="cuda"))


# ---- registries -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", ["generator", "swapper", "enhancer", "makeup"])
def test_listing_a_stages_engines_imports_no_model_stack(stage):
    code = (f"import sys; from services.{stage}.engines import REGISTRY; "
            "rows = [(i.name, i.commercial_use, i.public()) for i in REGISTRY.values()]; "
            "heavy = [m for m in ('torch', 'cv2', 'mediapipe', 'onnxruntime', 'diffusers') if m in sys.modules]; "
            "assert rows and not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_registry_refuses_a_wrong_stage_a_second_name_and_a_bad_path():
    registry = EngineRegistry(stage="swapper", default="toy")
    toy.register(registry)
    with pytest.raises(ValueError, match="twice"):
        toy.register(registry)
    with pytest.raises(ValueError, match="for stage 'makeup'"):
        registry.register(EngineInfo(name="m", stage="makeup", title="m", code_licence="MIT", licence="MIT"), "a:B")
    with pytest.raises(ValueError, match="module:Class"):
        registry.register(EngineInfo(name="n", stage="swapper", title="n", code_licence="MIT", licence="MIT"), "a.B")


@pytest.fixture
def toy_swapper():
    from services.swapper.engines import REGISTRY

    toy.register(REGISTRY)
    yield REGISTRY
    REGISTRY.unregister("toy")


def test_a_registered_toy_engine_is_accepted_by_params_listed_in_the_schema_and_offered_by_the_cli(toy_swapper):
    from services.swapper import cli
    from services.swapper.stage import STAGE

    assert STAGE.parse_params({"engine": "toy"}).engine == "toy"
    assert "toy" in STAGE.params_model.model_json_schema()["properties"]["engine"]["enum"]
    assert "toy" in STAGE.engines and STAGE.engines["toy"].commercial_use is True
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["swap", "t.png", "s.png", "-o", "o.png", "--engine", "toy"])
    assert args.engine == "toy"


def test_an_unregistered_name_is_refused_with_the_names_there_are(toy_swapper):
    from services.swapper.stage import STAGE

    toy_swapper.unregister("toy")
    try:
        with pytest.raises(ValidationError, match="'classical' or 'faceshifter'"):
            STAGE.parse_params({"engine": "toy"})
    finally:
        toy.register(toy_swapper)


def test_a_registered_engine_loads_once_through_the_cache_on_the_chosen_device(toy_swapper, tmp_path):
    settings = Settings(device="cpu", data_dir=tmp_path)
    models = ModelStore(root=tmp_path / "models")
    toy.loads.clear()
    first = toy_swapper.load("toy", models, settings)
    assert toy_swapper.load("toy", models, settings) is first and toy.loads == [CPU]
