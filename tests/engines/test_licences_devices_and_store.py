"""The licence table's ids for the community files, the report of what a loaded engine ran, the ONNX
engines' torch-free device choice, and the file name the model store gives an imported file."""
from __future__ import annotations

import subprocess
import sys

import pytest

from shared import engines
from shared.engines import (CPU, LICENCES, Device, EngineInfo, WeightFile, choose_device, commercial_use,
                            licence_allows_commercial, licence_report, loaded_provenance)
from shared.onnx_catalog import CARDS
from shared.settings import Settings
from shared.weights import ModelRecord, ModelStore


# ---- the licence table --------------------------------------------------------------------------------
def test_the_community_files_licence_ids_are_in_the_table_with_their_terms():
    assert LICENCES["LicenseRef-insightface-NC"] is False
    # GPL-3.0 grants running the file for any purpose; its source duty applies to distributing it
    assert LICENCES["GPL-3.0-only"] is True and LICENCES["GPL-3.0-or-later"] is True
    assert {card.licence_id for card in CARDS.values()} <= set(LICENCES)  # none falls to "unknown" by accident
    assert commercial_use("MIT", ["Apache-2.0", "GPL-3.0-only"]) is True  # a bisenet-free swap with xseg
    assert commercial_use("MIT", ["GPL-3.0-only", "LicenseRef-insightface-NC"]) is False
    assert licence_allows_commercial("GPL-3.0") is False  # not an SPDX id: unknown terms allow nothing


# ---- what a result reports ------------------------------------------------------------------------------
INFO = EngineInfo(name="t", stage="swapper", title="t", code_licence="MIT", licence="published terms",
                  weight_files=(WeightFile("swap-file", "LicenseRef-insightface-NC", "somewhere"),
                                WeightFile("packaged", "Apache-2.0", "a package")))


def _record(name: str, licence: str, commercial: bool) -> ModelRecord:
    return ModelRecord(name=name, file=f"{name}.onnx", sha256="0" * 64, licence=licence, commercial_use=commercial,
                       source="imported")


class _Loaded:
    info = INFO

    def __init__(self, records):
        self._records = records

    def records(self):
        return self._records


class _NoStoreFiles:
    info = INFO


def test_the_report_reads_the_records_of_the_files_the_engine_ran():
    bought = _record("swap-file", "LicenseRef-bought", True)
    mask = _record("xseg_1", "GPL-3.0-only", True)
    report = licence_report(_Loaded({"swap-file": bought, "xseg_1": mask}))
    assert report["commercial_use"] is True and report["engine"] == "t"
    assert report["weight_licences"] == {"swap-file": "LicenseRef-bought", "packaged": "Apache-2.0",
                                         "xseg_1": "GPL-3.0-only"}
    assert report["licence"] == "published terms; as imported: swap-file: LicenseRef-bought, xseg_1: GPL-3.0-only"
    assert [entry["name"] for entry in report["model_weights"]] == ["swap-file", "packaged", "xseg_1"]
    assert report["model_weights"][0]["sha256"] == "0" * 64 and report["model_weights"][1]["source"] == "a package"

    # a mask model imported as non-commercial makes the whole run non-commercial
    assert licence_report(_Loaded({"swap-file": bought, "xseg_1": _record("xseg_1", "GPL-3.0-only", False)}))[
        "commercial_use"] is False


def test_without_records_the_declared_files_decide():
    report = licence_report(_NoStoreFiles())
    assert report["commercial_use"] is False and report["licence"] == "published terms"
    assert report["weight_licences"] == {"swap-file": "LicenseRef-insightface-NC", "packaged": "Apache-2.0"}
    assert loaded_provenance(_NoStoreFiles()) == [w.public() for w in INFO.weight_files]


def test_a_helper_engine_counts_for_commercial_use():
    bought = _Loaded({"swap-file": _record("swap-file", "LicenseRef-bought", True)})
    report = licence_report(bought, _NoStoreFiles())
    assert report["commercial_use"] is False  # the helper's declared file is non-commercial
    assert len(report["model_weights"]) == 4 and report["weight_licences"]["swap-file"] == "LicenseRef-bought"


# ---- devices ------------------------------------------------------------------------------------------
ONNX_ENGINE = EngineInfo(name="o", stage="swapper", title="o", code_licence="MIT", licence="MIT",
                         devices=("cpu", "cuda"), fp16=True, runtime="onnxruntime")


def test_an_onnx_engine_asks_onnxruntime_not_torch(monkeypatch):
    def torch_check():
        raise AssertionError("the torch check was asked for an ONNX engine")

    monkeypatch.setattr(engines, "cuda_available", torch_check)
    monkeypatch.setattr(engines, "onnxruntime_cuda_available", lambda: True)
    assert choose_device(ONNX_ENGINE, Settings(device="auto", fp16=True)) == Device("cuda", fp16=True)
    monkeypatch.setattr(engines, "onnxruntime_cuda_available", lambda: False)
    assert choose_device(ONNX_ENGINE, Settings(device="auto")) == CPU
    with pytest.raises(engines.EngineUnavailable, match="no CUDA device is available to onnxruntime"):
        choose_device(ONNX_ENGINE, Settings(device="cuda"))


@pytest.mark.parametrize("providers, gpus, expected", [
    (["CUDAExecutionProvider", "CPUExecutionProvider"], 1, True),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], 0, False),  # onnxruntime-gpu on a machine without a GPU
    (["AzureExecutionProvider", "CPUExecutionProvider"], 1, False),  # the CPU build
])
def test_onnxruntime_cuda_needs_the_provider_and_a_gpu(monkeypatch, providers, gpus, expected):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: providers)
    monkeypatch.setattr(engines, "nvidia_device_count", lambda: gpus)
    assert engines.onnxruntime_cuda_available() is expected


@pytest.mark.parametrize("visible, count", [("", 0), ("-1", 0), ("-1,0", 0), ("0,1", 2), ("3", 1), (None, 4)])
def test_cuda_visible_devices_limits_the_gpus_the_driver_reports(monkeypatch, visible, count):
    monkeypatch.setattr(engines, "_nvml_device_count", lambda: 4)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert engines.nvidia_device_count() == count


def test_the_onnx_engines_are_onnxruntime_engines_and_choosing_their_device_imports_no_torch():
    from services.enhancer.engines import REGISTRY as ENHANCER
    from services.swapper.engines import REGISTRY as SWAPPER

    assert SWAPPER.info("inswapper_128").runtime == "onnxruntime"
    assert ENHANCER.info("gfpgan_1.4").runtime == "onnxruntime"
    assert SWAPPER.info("faceshifter").runtime == "torch"
    code = ("import sys; from shared.engines import choose_device; from shared.settings import Settings; "
            "from services.swapper.engines import REGISTRY; "
            "print(choose_device(REGISTRY.info('inswapper_128'), Settings(device='auto')).kind); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("cpu", "cuda")


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="runtime must be one of torch, onnxruntime"):
        EngineInfo(name="x", stage="swapper", title="x", code_licence="MIT", licence="MIT", runtime="tensorflow")


# ---- the model store's file names ------------------------------------------------------------------------
@pytest.mark.parametrize("file_name, name, stored", [
    ("gfpgan_1.4.onnx", "gfpgan_1.4", "gfpgan_1.4.onnx"),
    ("GFPGANv1.4.pth", "gfpgan-v1.4", "gfpgan-v1.4.pth"),
    ("weights", "plain", "plain.bin"),
])
def test_an_imported_file_keeps_its_real_final_suffix(tmp_path, file_name, name, stored):
    source = tmp_path / "in" / file_name
    source.parent.mkdir()
    source.write_bytes(b"weights")
    store = ModelStore(root=tmp_path / "models")
    record = store.import_file(name, source, licence="Apache-2.0", commercial_use=True, source="test")
    assert record.file == stored and (tmp_path / "models" / stored).read_bytes() == b"weights"
    assert store.path(name) == tmp_path / "models" / stored
