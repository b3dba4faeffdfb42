"""The one engine interface of every stage: what an engine is, how it is registered, loaded and cached.

An engine is one way a stage does its model work (the swapper's `classical` mesh warp, its `faceshifter`
networks, …). Everything a stage, the gateway, the CLI and the README need to know about it is its
`EngineInfo`; everything it does is `load(models, device)` once and `run_batch(items, ctx)` per batch.

Registering an engine (docs/add-an-engine.md walks through it):

1. Write `services/<stage>/engines/<name>.py` with a class that satisfies `Engine`:
   `info` (take it from the registry: `INFO = REGISTRY.info("<name>")`), a classmethod
   `load(models, device, weights=None)` that builds the networks from verified weight files, and
   `run_batch(items, ctx)` that takes the stage's engine items (each stage documents its item type in
   its `engines/__init__.py`) and returns one result per item, in order.
2. Add ONE statement to `services/<stage>/engines/__init__.py`:
   `REGISTRY.register(EngineInfo(...), "services.<stage>.engines.<name>:<Class>")`.
   That file imports nothing heavy (no torch, cv2 or MediaPipe), so the gateway, the contracts and the
   CLI list engines without loading any; the implementation is imported on first `REGISTRY.load`.
3. Write its test (`tests/<stage>/test_<name>_engine.py`).

Then the stage's params accept the name (`REGISTRY.name_field`), `GET /v1/engines` lists it, the
CLI's `--engine` offers it and `tests/test_readme.py` asks for its row in the README's engine table
(`engine_table`).

Licences: an engine may be used commercially only when its code's licence and every weight file's
licence allow it (`commercial_use`). Licences are SPDX ids, or `LicenseRef-…` ids for terms SPDX
does not name; `LICENCES` answers one question per id: may a shop run the file to make results it
uses or sells commercially? Duties that come with the grant are not a refusal: OpenRAIL's use
restrictions (shown with the result) and the GPL's source disclosure when a file is *distributed*
(FaceCast runs files, it does not distribute them) leave the answer yes. An id not in the table counts
as not allowing it. A weight file imported into the model store carries its own record (licence and
commercial use as the operator stated them on import); at run time that record stands for the file
(`EngineInfo.commercial_use_with`), and every result's report says so through `licence_report`: the
records of the files the engine actually ran, and `commercial_use` by the one rule over them.

Devices: `choose_device` gives one `Device` per engine from the settings (`FACECAST_DEVICE`:
auto | cpu | cuda; `FACECAST_FP16`): CUDA only for engines that list it, fp16 only for engines that
support it. Whether a CUDA device is there is asked of the engine's runtime (`EngineInfo.runtime`):
torch for torch engines, onnxruntime's providers and the NVIDIA driver for ONNX engines (no torch
import). Loaded engines live in one bounded LRU cache (`WEIGHT_CACHE`, `FACECAST_ENGINE_CACHE_SIZE`
entries) keyed by stage, engine, device and the sha256 of every weight file, so a re-imported file with
other bytes is loaded afresh and a worker loads a checkpoint once.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Callable, ClassVar, Iterable, Protocol, runtime_checkable

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from shared.errors import EngineUnavailable, InvalidInput
from shared.weights import ModelRecord, ModelStore

if TYPE_CHECKING:
    from shared.stage import StageContext

# ---- licences and the one commercial-use rule --------------------------------------------------------
# licence id → whether it allows commercial use. Ids are SPDX where SPDX has one.
LICENCES: dict[str, bool] = {
    "MIT": True,
    "BSD-2-Clause": True,
    "BSD-3-Clause": True,
    "Apache-2.0": True,
    "CC0-1.0": True,
    "CC-BY-4.0": True,
    # Copyleft: the GPL grants running the file for any purpose, commercial included; it obliges whoever
    # DISTRIBUTES the file (or a work made from it) to pass it on under the GPL with its source. FaceCast
    # runs weight files, it does not ship them to customers, so a GPL file (XSeg occluders) counts as
    # allowing commercial use; an operator who redistributes the model store must meet the GPL's terms.
    "GPL-3.0-only": True,
    "GPL-3.0-or-later": True,
    "CreativeML-OpenRAIL-M": True,  # use restrictions, commercial use allowed
    "OpenRAIL++": True,
    "CC-BY-NC-4.0": False,
    "CC-BY-NC-SA-4.0": False,
    "LicenseRef-NVIDIA-SCL-NC": False,  # Nvidia Source Code License-NC (StyleGAN2 FFHQ checkpoints)
    "LicenseRef-DigiFace-1M-NC": False,  # Microsoft DigiFace-1M: non-commercial research use only
    "LicenseRef-MS-Celeb-1M-research": False,  # weights trained on MS-Celeb-1M: research use
    "LicenseRef-academic-NC": False,  # "for academic and non-commercial use only"
    "LicenseRef-insightface-NC": False,  # insightface model zoo: non-commercial research use
    "LicenseRef-hyperswap-research": False,
    "LicenseRef-S-Lab-1.0": False,  # S-Lab License 1.0 (CodeFormer): non-commercial
    "LicenseRef-none": False,  # no licence file: nothing is granted
    "LicenseRef-unknown": False,  # terms not known until the file is imported with its own record
}


def licence_allows_commercial(licence: str) -> bool:
    """Whether a licence id allows commercial use; an id the table does not know does not."""
    return LICENCES.get(licence, False)


def commercial_use(code_licence: str, weight_licences: Iterable[str] = (),
                   weight_records: Iterable[ModelRecord] = ()) -> bool:
    """THE rule: commercial only when the code's licence and every weight file allow it. Files are
    judged by their licence id (`weight_licences`) or, once imported, by their model-store record."""
    return (licence_allows_commercial(code_licence)
            and all(licence_allows_commercial(licence) for licence in weight_licences)
            and all(record.commercial_use for record in weight_records))


RUNTIMES = ("torch", "onnxruntime")  # what runs an engine's networks on CUDA (`EngineInfo.runtime`)


# ---- what an engine is ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightFile:
    """One weight file an engine needs.

    `name` is its model-store or package name (`facecast models list`); `licence` its licence id;
    `source` where it comes from (URL, package pin, paper). `sha256` pins the bytes when the engine
    fixes them itself; None where the pin lives with the file (the package's `PackagedWeights` or the
    model store's manifest, which records the hash on import)."""
    name: str
    licence: str
    source: str = ""
    sha256: str | None = None

    def public(self) -> dict:
        return {"name": self.name, "licence": self.licence, "source": self.source, "sha256": self.sha256,
                "commercial_use": licence_allows_commercial(self.licence)}


@dataclass(frozen=True)
class EngineInfo:
    """What an engine is and may be used for; every result report carries `public()` (through
    `licence_report` once the engine is loaded).

    `licence` is the sentence a person reads (code and weights); `code_licence` and each weight file's
    `licence` are the ids the commercial-use rule reads. `devices` lists where it runs ("cpu", "cuda");
    `fp16` whether it runs in half precision on CUDA; `runtime` the library that runs it on CUDA
    ("torch" or "onnxruntime"), which `choose_device` asks whether a CUDA device is there. `demo` marks
    engines meant for trying the product (low quality, never for customers)."""
    name: str
    stage: str
    title: str
    code_licence: str
    licence: str
    weight_files: tuple[WeightFile, ...] = ()
    demo: bool = False
    devices: tuple[str, ...] = ("cpu",)
    fp16: bool = False
    description: str = ""
    runtime: str = "torch"

    def __post_init__(self):
        if self.runtime not in RUNTIMES:
            raise ValueError(f"engine {self.name!r}: runtime must be one of {', '.join(RUNTIMES)}, "
                             f"not {self.runtime!r}")

    @property
    def commercial_use(self) -> bool:
        return commercial_use(self.code_licence, [w.licence for w in self.weight_files])

    @property
    def weights(self) -> tuple[str, ...]:
        """The weight files' names."""
        return tuple(w.name for w in self.weight_files)

    def commercial_use_with(self, records: Mapping[str, ModelRecord]) -> bool:
        """The rule at run time: the files loaded from the model store judged by their records (keyed by
        the weight file they stand for), the others by their declared licence."""
        declared = [w.licence for w in self.weight_files if w.name not in records]
        return commercial_use(self.code_licence, declared, records.values())

    def public(self) -> dict:
        return {"engine": self.name, "stage": self.stage, "licence": self.licence,
                "commercial_use": self.commercial_use, "demo": self.demo, "weights": list(self.weights),
                "code_licence": self.code_licence,
                "weight_licences": {w.name: w.licence for w in self.weight_files}}


# ---- devices ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Device:
    """Where an engine runs: `kind` "cpu" or "cuda"; `fp16` half precision (CUDA only)."""
    kind: str
    fp16: bool = False

    def torch(self):
        """The `torch.device` (imports torch)."""
        import torch

        return torch.device(self.kind)

    def torch_dtype(self):
        import torch

        return torch.float16 if self.fp16 else torch.float32


CPU = Device("cpu")


def cuda_available() -> bool:
    """A CUDA device torch can use (False without torch installed)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def nvidia_device_count() -> int:
    """GPUs the NVIDIA driver reports through NVML (`nvmlDeviceGetCount_v2`), no more than
    `CUDA_VISIBLE_DEVICES` lists (none for "" or a list starting with -1); 0 without a driver. NVML, not
    the CUDA driver API: it creates no CUDA context, so a process that forks workers afterwards can
    still use CUDA in them (torch's PYTORCH_NVML_BASED_CUDA_CHECK makes the same choice)."""
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and (not visible.strip() or visible.strip().startswith("-1")):
        return 0
    found = _nvml_device_count()
    if visible is not None:
        found = min(found, len([part for part in visible.split(",") if part.strip()]))
    return found


@functools.cache
def _nvml_device_count() -> int:
    """The driver's GPU count, asked once per process (GPUs do not come and go under a running worker)."""
    import ctypes

    for library in ("libnvidia-ml.so.1", "nvml.dll"):
        try:
            nvml = ctypes.CDLL(library)
        except OSError:
            continue
        if nvml.nvmlInit_v2() != 0:
            return 0
        try:
            count = ctypes.c_uint(0)
            return count.value if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0 else 0
        finally:
            nvml.nvmlShutdown()
    return 0


def onnxruntime_cuda_available() -> bool:
    """A CUDA device onnxruntime can use, asked without importing torch: this onnxruntime build has the
    `CUDAExecutionProvider` (onnxruntime-gpu) and the driver reports a GPU (`nvidia_device_count`).
    False without onnxruntime installed."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers() and nvidia_device_count() > 0


def _cuda_for(info: EngineInfo) -> bool:
    """Whether the engine's runtime has a CUDA device (each check is looked up when called)."""
    if info.runtime == "onnxruntime":
        return onnxruntime_cuda_available()
    return cuda_available()


def choose_device(info: EngineInfo, settings) -> Device:
    """The one device choice. `settings.device`: "auto" (CUDA when the engine supports it and its runtime
    has one), "cpu" or "cuda" (EngineUnavailable when none is there); an engine that runs on CPU only
    gets the CPU whatever is asked. fp16 when on CUDA, the engine supports it and `settings.fp16`."""
    wanted = settings.device
    if wanted == "cpu" or "cuda" not in info.devices:
        kind = "cpu"
    elif wanted == "cuda":
        if not _cuda_for(info):
            raise EngineUnavailable(f"FACECAST_DEVICE=cuda but no CUDA device is available to {info.runtime} for "
                                    f"engine {info.name!r}")
        kind = "cuda"
    else:
        kind = "cuda" if _cuda_for(info) else "cpu"
    if kind not in info.devices:
        raise EngineUnavailable(f"engine {info.name!r} runs only on {', '.join(info.devices)}; this machine "
                                f"offers {kind}")
    return Device(kind, fp16=kind == "cuda" and info.fp16 and bool(settings.fp16))


# ---- the engine protocol --------------------------------------------------------------------------------
@runtime_checkable
class Engine(Protocol):
    """A loaded engine. `load` verifies and loads its weight files (EngineUnavailable naming what is
    missing, WeightsMismatch for a wrong file); `weights` is a model-store name standing in for the
    engine's first weight file (engines without alternatives refuse anything but None). `run_batch`
    returns one result per item, in order; its item and result types are the stage's.

    An engine that loads files from the model store also gives `records()`: the record of each file it
    ran, keyed by the weight file it stands for (mask or helper models it found imported under their own
    names); and may give `provenance()`, the report's entry per file when it has more to say than the
    record. `licence_report` reads both; an engine without them ran only its declared files."""
    info: ClassVar[EngineInfo]

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None) -> "Engine": ...

    def run_batch(self, items: list, ctx: "StageContext") -> list: ...


# ---- what a result reports ----------------------------------------------------------------------------
def loaded_records(engine) -> dict[str, ModelRecord]:
    """The model-store records of the files a loaded engine ran, keyed by the weight file each stands for
    (its `records()`); {} for an engine that loads no model-store file."""
    records = getattr(engine, "records", None)
    return dict(records()) if records is not None else {}


def loaded_provenance(engine) -> list[dict]:
    """One entry per file a loaded engine ran: its `provenance()` when it gives one, else each declared
    file's record (`ModelRecord.public()`) when it came from the model store or its declaration
    (`WeightFile.public()`), then the records of files it found imported beyond its declared ones."""
    provenance = getattr(engine, "provenance", None)
    if provenance is not None:
        return list(provenance())
    records, info = loaded_records(engine), engine.info
    declared = [records[w.name].public() if w.name in records else w.public() for w in info.weight_files]
    return declared + [record.public() for name, record in records.items() if name not in info.weights]


def licence_report(engine, *helpers) -> dict:
    """The licence part of a result's report, from the loaded engines that made it: `engine` (the one the
    params named) and any `helpers` it ran with (the enhancer's upscaler).

    `engine.info.public()` with, from what was actually loaded:
    - `commercial_use`: the one rule over every engine, each file judged by its model-store record when it
      was imported (`EngineInfo.commercial_use_with`), by its declared licence otherwise;
    - `weight_licences`: weight file → licence id of `engine`'s files, an imported record's id in place
      of the published one, files found imported beyond the declared ones (mask models) included;
    - `licence`: the published sentence, followed by "as imported: <file>: <id>, …" for each file whose
      record states another licence than the one published, or that the engine does not declare;
    - `model_weights`: every engine's `loaded_provenance`."""
    info, records = engine.info, loaded_records(engine)
    declared = {w.name: w.licence for w in info.weight_files}
    imported = {name: record.licence for name, record in records.items()}
    restated = [f"{name}: {licence}" for name, licence in imported.items() if declared.get(name) != licence]
    engines = (engine, *helpers)
    return {**info.public(),
            "licence": info.licence + (f"; as imported: {', '.join(restated)}" if restated else ""),
            "commercial_use": all(e.info.commercial_use_with(loaded_records(e)) for e in engines),
            "weight_licences": {**declared, **imported},
            "model_weights": [entry for e in engines for entry in loaded_provenance(e)]}


# ---- the weight cache ----------------------------------------------------------------------------------
class WeightCache:
    """Loaded engines, least recently used evicted beyond `max_entries`. A key is built once even when
    several threads ask for it at the same time."""

    def __init__(self, max_entries: int = 4):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._entries[key] = value
                self._evict()
            return value

    def resize(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"the weight cache holds at least one engine, got {max_entries}")
        with self._lock:
            self.max_entries = max_entries
            self._evict()

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def keys(self) -> list[tuple]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Drop every loaded engine (tests that re-import weights under the same names)."""
        with self._lock:
            self._entries.clear()


WEIGHT_CACHE = WeightCache()


# ---- registries -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineEntry:
    """A registered engine: its info and where its implementation lives ("module:Class")."""
    info: EngineInfo
    implementation: str

    def engine_class(self) -> type:
        module_name, _, attribute = self.implementation.partition(":")
        return getattr(importlib.import_module(module_name), attribute)


@dataclass(eq=False)
class EngineRegistry(Mapping[str, EngineInfo]):
    """The engines of one stage, in registration order; `default` is the one params default to. As a
    mapping it is name → EngineInfo, live (what `StageDefinition.engines` holds)."""
    stage: str
    default: str
    _entries: dict[str, EngineEntry] = field(default_factory=dict, repr=False)

    def register(self, info: EngineInfo, implementation: str) -> EngineInfo:
        if info.stage != self.stage:
            raise ValueError(f"engine {info.name!r} is for stage {info.stage!r}, not {self.stage!r}")
        if info.name in self._entries:
            raise ValueError(f"{self.stage} engine {info.name!r} is registered twice")
        if ":" not in implementation:
            raise ValueError(f"implementation must be 'module:Class', got {implementation!r}")
        self._entries[info.name] = EngineEntry(info, implementation)
        return info

    def unregister(self, name: str) -> None:
        """Remove an engine (a plug-in withdrawn, a test's toy engine)."""
        del self._entries[name]

    # listing: never imports an implementation
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def infos(self) -> dict[str, EngineInfo]:
        return {name: entry.info for name, entry in self._entries.items()}

    def info(self, name: str) -> EngineInfo:
        return self.entry(name).info

    def entry(self, name: str) -> EngineEntry:
        if name not in self._entries:
            raise InvalidInput(f"unknown {self.stage} engine {name!r}; engines are {', '.join(self._entries)}")
        return self._entries[name]

    def __getitem__(self, name: str) -> EngineInfo:
        return self._entries[name].info

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check_name(self, name: str) -> str:
        """A params validator: the name of a registered engine (a literal_error naming them otherwise)."""
        if name not in self._entries:
            raise PydanticCustomError("literal_error", "Input should be {expected}",
                                      {"expected": " or ".join(repr(n) for n in self._entries)})
        return name

    @property
    def name_field(self):
        """The type of a params `engine` field: a string checked against this registry when validated, an
        enum of the registered names in the JSON schema (both read the registry at that moment)."""
        registry = self

        class _EngineNames:
            @classmethod
            def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema,
                                             handler: GetJsonSchemaHandler) -> JsonSchemaValue:
                return {"type": "string", "enum": list(registry.names())}

            @classmethod
            def __get_pydantic_core_schema__(cls, source, handler):
                return core_schema.no_info_after_validator_function(registry.check_name, core_schema.str_schema())

        return Annotated[str, _EngineNames]

    # loading
    def engine_class(self, name: str) -> type:
        return self.entry(name).engine_class()

    def load(self, name: str, models: ModelStore, settings, weights: str | None = None) -> Engine:
        """The loaded engine from the weight cache (built on first use), on the device the settings choose."""
        entry = self.entry(name)
        device = choose_device(entry.info, settings)
        key = (self.stage, name, device, *weights_key(entry.info, models, weights))
        WEIGHT_CACHE.resize(settings.engine_cache_size)
        return WEIGHT_CACHE.get(key, lambda: entry.engine_class().load(models, device, weights))


def weights_key(info: EngineInfo, models: ModelStore, weights: str | None = None) -> tuple[str, ...]:
    """What identifies the bytes an engine loads: each model-store file's local path and sha256, checked
    against the manifest on every call (a file changed after import is refused even when its engine is
    cached: WeightsMismatch), the first replaced by `weights` when given; each other file's declared name
    and pin. A file absent from the store is left to the engine's `load` to report."""
    records = models.records()
    names = list(info.weights)
    if weights is not None and names:
        names[0] = weights
    parts: list[str] = []
    for position, name in enumerate(names):
        if name in records:
            parts += [str(models.path(name)), records[name].sha256]
        else:
            pinned = info.weight_files[position].sha256 if position < len(info.weight_files) else None
            parts += [name, pinned or ""]
    return tuple(parts)


def engine_table(registries: Iterable[EngineRegistry]) -> str:
    """The README's engine table (markdown), one row per registered engine."""
    rows = ["| stage | engine | what it does | weights | licences (code; weights) | commercial |",
            "|---|---|---|---|---|---|"]
    for registry in registries:
        for info in registry.infos().values():
            marks = [m for m, on in (("default", info.name == registry.default), ("**demo only**", info.demo)) if on]
            engine = f"`{info.name}`" + (f" ({', '.join(marks)})" if marks else "")
            weights = ", ".join(f"`{w.name}`" for w in info.weight_files) or "none"
            weight_licences = ", ".join(sorted({w.licence for w in info.weight_files})) or "none"
            rows.append(f"| {info.stage} | {engine} | {info.title} | {weights} | {info.code_licence}; "
                        f"{weight_licences} | {'yes' if info.commercial_use else 'no'} |")
    return "\n".join(rows) + "\n"
