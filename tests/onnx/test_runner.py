"""The ONNX runner: signature checks at load, batching, dtypes, IO binding, providers, the weight cache."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engines import CPU, WEIGHT_CACHE, Device
from shared.errors import EngineUnavailable, WeightsMismatch
from shared.onnx_catalog import CARDS
from shared.onnx_runner import Execution, OnnxModel, Signature, TensorSpec, execution_for, last_initializer, load_from_store
from shared.settings import Settings
from tests.onnx import tiny

SIGNATURE = Signature(inputs=(TensorSpec("target", ("target",), (None, 3, 128, 128)),
                              TensorSpec("source", ("source",), (None, 512))),
                      outputs=(TensorSpec("output", (), (None, 3, 128, 128)),))


@pytest.fixture
def model_file(tmp_path):
    return tiny.swapper(tmp_path / "m.onnx", CARDS["inswapper_128"], emap=np.eye(512))


@pytest.mark.parametrize("io_binding", [False, True])
def test_runs_in_chunks_and_gives_every_item_back(model_file, io_binding):
    model = OnnxModel.load(model_file, SIGNATURE, Execution(io_binding=io_binding), max_batch=3)
    assert model.dynamic_batch and model.max_batch == 3
    x = np.random.default_rng(0).random((7, 3, 128, 128)).astype(np.float32)
    out = model.run({"target": x, "source": np.zeros((7, 512))})
    np.testing.assert_array_equal(out["output"], x)


def test_fp16_file_outputs_float32(tmp_path):
    path = tiny.swapper(tmp_path / "h.onnx", CARDS["inswapper_128_fp16"], fp16=True)
    model = OnnxModel.load(path, SIGNATURE, Execution())
    x = np.random.default_rng(1).random((2, 3, 128, 128)).astype(np.float32)
    out = model.run({"target": x, "source": np.zeros((2, 512), np.float32)})["output"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x, atol=1e-3)  # through half precision and back


def test_signature_errors_name_the_mismatch(model_file, tmp_path):
    with pytest.raises(WeightsMismatch, match=r"no input 'embedding'.*'target' \[N, 3, 128, 128\]"):
        OnnxModel.load(model_file, Signature(inputs=(TensorSpec("e", ("embedding",), (None, 512)),), outputs=()))
    with pytest.raises(WeightsMismatch, match="unexpected input.*'source'"):
        OnnxModel.load(model_file, Signature(inputs=(SIGNATURE.inputs[0],), outputs=()))
    with pytest.raises(WeightsMismatch, match=r"input 'source' \(source\) has element type tensor\(float\); "
                                              r"this engine needs int64"):
        OnnxModel.load(model_file, Signature(inputs=(SIGNATURE.inputs[0], TensorSpec("source", ("source",), (None, 512),
                                                                                      dtypes=("int64",))), outputs=()))
    with pytest.raises(WeightsMismatch, match="output 'output' where this engine expects 'swapped'"):
        OnnxModel.load(model_file, Signature(inputs=SIGNATURE.inputs,
                                             outputs=(TensorSpec("o", ("swapped",), (None, 3, 128, 128)),)))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(WeightsMismatch, match="junk.onnx: not a loadable ONNX model"):
        OnnxModel.load(junk, SIGNATURE)


def test_feeds_are_checked(model_file):
    model = OnnxModel.load(model_file, SIGNATURE, Execution())
    with pytest.raises(ValueError, match="do not match the model's inputs"):
        model.run({"target": np.zeros((1, 3, 128, 128))})
    with pytest.raises(ValueError, match="axis 2 must be 128, got 64"):
        model.run({"target": np.zeros((1, 3, 64, 64)), "source": np.zeros((1, 512))})
    with pytest.raises(ValueError, match="disagree on the item count"):
        model.run({"target": np.zeros((2, 3, 128, 128)), "source": np.zeros((1, 512))})


def test_providers():
    assert Execution().providers() == ["CPUExecutionProvider"]
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():  # the CUDA image
        assert Execution(device="cuda").providers()[0] == ("CUDAExecutionProvider", {"device_id": 0})
    else:  # the CPU build
        with pytest.raises(EngineUnavailable, match="no CUDA execution provider"):
            Execution(device="cuda").providers()
    assert Execution(device="cuda").binds_io and not Execution().binds_io
    settings = Settings(onnx_tensorrt=True)
    cuda = execution_for(Device("cuda", fp16=True), settings)
    assert cuda.tensorrt and cuda.trt_fp16 and cuda.trt_cache_dir is not None
    assert execution_for(CPU, settings) == Execution(device="cpu", tensorrt=False, trt_cache_dir=None, trt_fp16=False)


def test_last_initializer_is_the_emap(model_file):
    np.testing.assert_array_equal(last_initializer(model_file), np.eye(512, dtype=np.float32))


def test_sessions_live_in_the_weight_cache(store, model_file):
    store.path("m").write_bytes(model_file.read_bytes())
    store.add("m")
    WEIGHT_CACHE.clear()
    first = load_from_store(store.models, "m", SIGNATURE, Execution())
    assert load_from_store(store.models, "m", SIGNATURE, Execution()) is first
    assert any(key[0] == "onnx" for key in WEIGHT_CACHE.keys())
