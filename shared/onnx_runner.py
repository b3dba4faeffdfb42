"""The one ONNX runner every ONNX engine uses: onnxruntime sessions, their signatures checked at load.

An engine describes what it needs of a model file as a `Signature`: each input and output with the
names the published files use, its shape (`None` for a dimension the engine does not fix, such as the
batch) and the element types it can feed. `OnnxModel.load` opens the session on the chosen execution
providers and checks the file against it, so a file of another family, a cut-down export or a wrong
layout fails at load with an error that names the mismatching tensor, never halfway through a job.

Providers (https://onnxruntime.ai/docs/execution-providers/): `CPUExecutionProvider` always;
`CUDAExecutionProvider` when the device is CUDA (the CUDA image installs `onnxruntime-gpu`), with its
inputs and outputs bound on the device (IO binding: one upload per batch, one download, no host copies
between the session's kernels); `TensorrtExecutionProvider` in front of CUDA when asked for, with its
engine cache in a folder so a worker builds each TensorRT engine once. Models that ship in fp16
(`inswapper_128_fp16`) declare float16 inputs: feeds are cast to the model's own input type, and every
output comes back as float32.

Batching: when every batched input has a dynamic first dimension the runner sends up to `max_batch`
items per call; a file exported with batch 1 is run one item at a time (same results, one call each).

Sessions loaded from the model store live in the one bounded weight cache (`shared.engines.WEIGHT_CACHE`),
keyed by the file's sha256, the signature and the execution, like every other engine's weights.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.errors import EngineUnavailable, WeightsMismatch

# onnxruntime's type strings → numpy
ORT_TYPES: dict[str, np.dtype] = {
    "tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16),
    "tensor(double)": np.dtype(np.float64), "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32), "tensor(uint8)": np.dtype(np.uint8), "tensor(bool)": np.dtype(np.bool_),
}
FLOATS = ("float32", "float16")
DEFAULT_MAX_BATCH = {"cpu": 8, "cuda": 32}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output an engine uses.

    `names`: the names the published files give it (any of them matches); empty matches any name
    (inputs: the one input left unclaimed; outputs: the tensor at this position).
    `shape`: one entry per axis; an int must equal the file's fixed size (a symbolic, dynamic size in
    the file is accepted), `None` accepts any size. The first axis of a `batched` tensor is the batch.
    `dtypes`: numpy dtype names the engine can feed or read. `optional`: an input some files lack
    (CodeFormer's fidelity `weight`)."""
    role: str
    names: tuple[str, ...]
    shape: tuple[int | None, ...]
    dtypes: tuple[str, ...] = FLOATS
    optional: bool = False
    batched: bool = True


@dataclass(frozen=True)
class Signature:
    """What an engine needs of a model file: its inputs (every input of the file must be one of them)
    and its leading outputs, in order (later outputs the engine does not read are allowed)."""
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class Execution:
    """Where sessions run: `device` "cpu" or "cuda" (device 0 unless `device_id`), TensorRT in front of
    CUDA when `tensorrt` (its engines cached in `trt_cache_dir`, fp16 kernels allowed when `trt_fp16`).
    `io_binding` defaults to on for CUDA; tests switch it on for CPU to run the same code path."""
    device: str = "cpu"
    device_id: int = 0
    tensorrt: bool = False
    trt_cache_dir: Path | None = None
    trt_fp16: bool = True
    io_binding: bool | None = None
    threads: int = 0  # intra-op threads; 0: onnxruntime's default

    def providers(self) -> list:
        """The provider list for `InferenceSession`, most specific first; CPU always last."""
        import onnxruntime as ort

        available = set(ort.get_available_providers())
        chosen: list = []
        if self.device == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise EngineUnavailable("the CUDA device was chosen but this onnxruntime has no CUDA execution "
                                        "provider (install onnxruntime-gpu, as the CUDA image does)")
            if self.tensorrt:
                if "TensorrtExecutionProvider" not in available:
                    raise EngineUnavailable("TensorRT was asked for but onnxruntime has no TensorRT provider")
                options = {"device_id": self.device_id, "trt_fp16_enable": self.trt_fp16,
                           "trt_engine_cache_enable": self.trt_cache_dir is not None}
                if self.trt_cache_dir is not None:
                    Path(self.trt_cache_dir).mkdir(parents=True, exist_ok=True)
                    options["trt_engine_cache_path"] = str(self.trt_cache_dir)
                chosen.append(("TensorrtExecutionProvider", options))
            chosen.append(("CUDAExecutionProvider", {"device_id": self.device_id}))
        elif self.device != "cpu":
            raise EngineUnavailable(f"unknown device {self.device!r} for onnxruntime (cpu or cuda)")
        chosen.append("CPUExecutionProvider")
        return chosen

    @property
    def binds_io(self) -> bool:
        return self.device == "cuda" if self.io_binding is None else self.io_binding

    def key(self) -> tuple:
        return (self.device, self.device_id, self.tensorrt, str(self.trt_cache_dir), self.trt_fp16, self.binds_io,
                self.threads)


@dataclass
class _Bound:
    spec: TensorSpec
    name: str
    shape: tuple
    dtype: np.dtype


@dataclass
class OnnxModel:
    """A checked onnxruntime session: `run` takes and returns arrays by the engine's roles."""
    session: object = field(repr=False)
    what: str
    execution: Execution
    inputs: dict[str, _Bound]
    outputs: list[_Bound]
    max_batch: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path, signature: Signature, execution: Execution | None = None, what: str | None = None,
             max_batch: int | None = None) -> "OnnxModel":
        """Open `path` on `execution`'s providers and check it against `signature`.

        Raises WeightsMismatch (naming the file and the tensor) when the file is not an ONNX model or
        its inputs/outputs differ in name, rank, fixed size or element type."""
        import onnxruntime as ort

        execution = execution or Execution()
        what = what or Path(path).name
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if execution.threads:
            options.intra_op_num_threads = execution.threads
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=execution.providers())
        except (ort.capi.onnxruntime_pybind11_state.InvalidProtobuf, ort.capi.onnxruntime_pybind11_state.Fail,
                ort.capi.onnxruntime_pybind11_state.InvalidGraph) as exc:
            raise WeightsMismatch(f"{what}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
        inputs = _match_inputs(session.get_inputs(), signature.inputs, what)
        outputs = _match_outputs(session.get_outputs(), signature.outputs, what)
        dynamic = all(not isinstance(b.shape[0], int) for b in inputs.values() if b.spec.batched)
        limit = max_batch or DEFAULT_MAX_BATCH.get(execution.device, 8)
        return cls(session=session, what=what, execution=execution, inputs=inputs, outputs=outputs,
                   max_batch=limit if dynamic else 1)

    @property
    def dynamic_batch(self) -> bool:
        return self.max_batch > 1

    def input_dtype(self, role: str) -> np.dtype:
        return self.inputs[role].dtype

    def has_input(self, role: str) -> bool:
        return role in self.inputs

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on `feeds` (role → array; batched inputs share their first axis, N items) in chunks of
        `max_batch`; returns role → float32 (or the output's own integer type) array with N items."""
        missing = [role for role in self.inputs if role not in feeds]
        unknown = [role for role in feeds if role not in self.inputs]
        if missing or unknown:
            raise ValueError(f"{self.what}: feeds {sorted(feeds)} do not match the model's inputs {sorted(self.inputs)}")
        batched = {role: np.asarray(feeds[role]) for role, b in self.inputs.items() if b.spec.batched}
        sizes = {len(a) for a in batched.values()}
        if len(sizes) > 1:
            raise ValueError(f"{self.what}: batched inputs disagree on the item count: "
                             + ", ".join(f"{r}={len(a)}" for r, a in batched.items()))
        count = sizes.pop() if sizes else 1
        fixed = {role: self._cast(role, np.asarray(feeds[role])) for role, b in self.inputs.items() if not b.spec.batched}
        chunks: list[list[np.ndarray]] = []
        for start in range(0, count, self.max_batch):
            chunk = {role: self._cast(role, a[start:start + self.max_batch]) for role, a in batched.items()}
            chunks.append(self._call({**chunk, **fixed}))
        return {bound.spec.role: _as_output(np.concatenate([c[i] for c in chunks])) if chunks else np.empty((0,))
                for i, bound in enumerate(self.outputs)}

    def _cast(self, role: str, array: np.ndarray) -> np.ndarray:
        bound = self.inputs[role]
        rank = len(bound.shape)
        if array.ndim != rank:
            raise ValueError(f"{self.what}: input {bound.name!r} ({role}) needs rank {rank}, got shape {array.shape}")
        for axis, (want, got) in enumerate(zip(bound.shape, array.shape)):
            if isinstance(want, int) and want != got and not (axis == 0 and bound.spec.batched and want == 1):
                raise ValueError(f"{self.what}: input {bound.name!r} ({role}) axis {axis} must be {want}, got {got}")
        return np.ascontiguousarray(array, dtype=bound.dtype)

    def _call(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        names = {self.inputs[role].name: array for role, array in feeds.items()}
        wanted = [b.name for b in self.outputs]
        with self._lock:  # one call at a time per session keeps device memory predictable
            if not self.execution.binds_io:
                return self.session.run(wanted, names)
            return self._call_bound(names, wanted)

    def _call_bound(self, names: dict[str, np.ndarray], wanted: list[str]) -> list[np.ndarray]:
        """IO binding: inputs uploaded once as device OrtValues, outputs left on the device by the
        session and copied to the host once at the end."""
        import onnxruntime as ort

        device = self.execution.device
        binding = self.session.io_binding()
        keep = []  # the OrtValues must outlive the run
        for name, array in names.items():
            value = ort.OrtValue.ortvalue_from_numpy(array, device, self.execution.device_id)
            keep.append(value)
            binding.bind_ortvalue_input(name, value)
        for name in wanted:
            binding.bind_output(name, device, self.execution.device_id)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()


def _as_output(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype in (np.float16, np.float64) else array


def _dims(node) -> tuple:
    return tuple(d if isinstance(d, int) else None for d in (node.shape or ()))


def _check(node, spec: TensorSpec, what: str, kind: str) -> _Bound:
    dtype = ORT_TYPES.get(node.type)
    if dtype is None or dtype.name not in spec.dtypes:
        raise WeightsMismatch(f"{what}: {kind} {node.name!r} ({spec.role}) has element type {node.type}; "
                              f"this engine needs {' or '.join(spec.dtypes)}")
    shape = _dims(node)
    if len(shape) != len(spec.shape):
        raise WeightsMismatch(f"{what}: {kind} {node.name!r} ({spec.role}) has shape {_show(node.shape)}; "
                              f"this engine needs rank {len(spec.shape)} {_show(spec.shape)}")
    for axis, (want, got) in enumerate(zip(spec.shape, shape)):
        if want is not None and got is not None and want != got and not (axis == 0 and spec.batched):
            raise WeightsMismatch(f"{what}: {kind} {node.name!r} ({spec.role}) has shape {_show(node.shape)}; "
                                  f"this engine needs {_show(spec.shape)} (axis {axis}: {got} != {want})")
    return _Bound(spec=spec, name=node.name, shape=shape, dtype=dtype)


def _show(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _match_inputs(nodes, specs: tuple[TensorSpec, ...], what: str) -> dict[str, _Bound]:
    by_name = {node.name: node for node in nodes}
    bound: dict[str, _Bound] = {}
    claimed: set[str] = set()
    for spec in sorted(specs, key=lambda s: not s.names):  # named specs first, then the catch-all
        candidates = [n for n in spec.names if n in by_name and n not in claimed] if spec.names else \
            [n for n in by_name if n not in claimed]
        if len(candidates) != 1 or (not spec.names and len(by_name) - len(claimed) != 1):
            if spec.optional and not candidates:
                continue
            expected = " or ".join(repr(n) for n in spec.names) if spec.names else "one more input"
            raise WeightsMismatch(f"{what}: no input {expected} ({spec.role}); the file's inputs are "
                                  + ", ".join(f"{n.name!r} {_show(n.shape)} {n.type}" for n in nodes))
        claimed.add(candidates[0])
        bound[spec.role] = _check(by_name[candidates[0]], spec, what, "input")
    extra = [name for name in by_name if name not in claimed]
    if extra:
        raise WeightsMismatch(f"{what}: unexpected input(s) {', '.join(map(repr, extra))}: this file is not the "
                              f"model this engine runs (it feeds {', '.join(s.role for s in specs)})")
    return bound


def _match_outputs(nodes, specs: tuple[TensorSpec, ...], what: str) -> list[_Bound]:
    if len(nodes) < len(specs):
        raise WeightsMismatch(f"{what}: {len(nodes)} output(s), this engine reads {len(specs)} "
                              f"({', '.join(s.role for s in specs)})")
    bound = []
    for node, spec in zip(nodes, specs):
        if spec.names and node.name not in spec.names:
            raise WeightsMismatch(f"{what}: output {node.name!r} where this engine expects "
                                  f"{' or '.join(map(repr, spec.names))} ({spec.role})")
        bound.append(_check(node, spec, what, "output"))
    return bound


def last_initializer(path: Path, what: str | None = None) -> np.ndarray:
    """The graph's last initializer as an array (inswapper keeps its 512×512 `emap` there, the
    matrix that maps an ArcFace embedding into the generator's identity space; insightface's
    `INSwapper` reads it the same way)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    if not model.graph.initializer:
        raise WeightsMismatch(f"{what or Path(path).name}: the graph has no initializers (no emap matrix)")
    return numpy_helper.to_array(model.graph.initializer[-1])


def execution_for(device, settings=None) -> Execution:
    """The runner's execution for the engine interface's device choice (`shared.engines.Device`) and the
    settings' TensorRT option (`FACECAST_ONNX_TENSORRT`, `FACECAST_ONNX_TRT_CACHE_DIR`)."""
    if settings is None:
        from shared.settings import get_settings

        settings = get_settings()
    cuda = device.kind == "cuda"
    return Execution(device=device.kind, tensorrt=cuda and settings.onnx_tensorrt,
                     trt_cache_dir=Path(settings.onnx_trt_cache_dir) if cuda and settings.onnx_tensorrt else None,
                     trt_fp16=device.fp16)


def load_from_store(store, name: str, signature: Signature, execution: Execution) -> OnnxModel:
    """The model-store file `name` (sha256 checked against the manifest) as a checked session, kept in the
    one bounded weight cache (`shared.engines.WEIGHT_CACHE`) under its hash, signature and execution."""
    from shared.engines import WEIGHT_CACHE

    path = store.path(name)  # EngineUnavailable when not imported, WeightsMismatch on a wrong hash
    record = store.records()[name]
    key = ("onnx", str(path.resolve()), record.sha256, signature, execution.key())
    return WEIGHT_CACHE.get(key, lambda: OnnxModel.load(path, signature, execution, f"weights {name!r} ({path.name})"))
