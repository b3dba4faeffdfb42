"""ONNX family timings shared by bench/swapper.py and bench/enhancer.py (imported as `bench._onnx`).

No real weights are here, and random weights of the real size need each family's exact graph, which
only the published files have. So each family runs a pass-through model with the file's exact input
and output names, shapes and dtypes (tests/onnx/tiny.py): what is timed is everything FaceCast does
around the network (the model crop warp, the tensor conversion and normalisation, the identity
path with its recogniser and converter, onnxruntime's call overhead and copies, the warp back into
the composite's crop), per face at batch 1 and 8, and per megapixel of model input so the cost of
the larger models (simswap 512, GPEN 2048) is comparable. The network's own time comes on top and
is NOT measured here. On a GPU (onnxruntime-gpu) the same code runs with the CUDA provider.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from bench._timing import timed
from shared.engines import CPU, WEIGHT_CACHE, Device
from shared.faces import Face, align_face, template_points
from shared.onnx_catalog import ARCFACE, CARDS, cards
from shared.weights import ModelStore
from tests.onnx import tiny

CANVAS = 768
FACE_SCALE = 0.45  # × the ffhq512 face: eyes 57 px apart, a face about 190 px wide (a shop photo's large face)


def _face() -> Face:
    points = (template_points("ffhq512")[1] * FACE_SCALE + 200).astype(np.float32)
    return Face(box=(200.0, 200.0, 512 * FACE_SCALE, 512 * FACE_SCALE), landmarks5=points, score=0.99)


def _photo() -> np.ndarray:
    yy, xx = np.mgrid[:CANVAS, :CANVAS]
    return np.dstack([(xx * 0.3) % 256, (yy * 0.35) % 256, ((xx + yy) * 0.2) % 256]).astype(np.uint8)


def _store(folder: Path, names: list[str]) -> ModelStore:
    store = ModelStore(root=folder / "models")
    rng = np.random.default_rng(0)
    for name in names:
        card, path = CARDS[name], folder / f"{name}.onnx"
        if card.kind == "swapper":
            tiny.swapper(path, card, fp16=card.fp16, emap=rng.normal(size=(512, 512)) if card.identity == "emap" else None)
        elif card.kind == "recogniser":
            tiny.recogniser(path, rng.normal(size=(3, 512)), rng.normal(size=512))
        elif card.kind == "converter":
            tiny.converter(path, rng.normal(size=(512, 512)) / 20)
        elif card.kind == "restorer":
            tiny.restorer(path, card.size)
        store.import_file(name, path, licence=card.licence_id, commercial_use=False, source="bench pass-through")
    return store


def _row(label: str, times: list[float], per: int, megapixels: float) -> None:
    median = statistics.median(times) / per
    print(f"{label:58s} {median:8.2f} ms/face   {median / megapixels:8.2f} ms/MP of model input")


def bench_swappers(repeats: int, device: Device = CPU, batches: tuple[int, ...] = (1, 8)) -> None:
    """Per family: ms per face at each batch size on `device` (CUDA: onnxruntime-gpu; the TensorRT provider
    with FACECAST_ONNX_TENSORRT=1)."""
    from services.swapper.engines.onnx_swap import ENGINE_CLASSES
    from services.swapper.faces import SourceFace, TargetFace

    print(f"ONNX swappers on {device.kind}, pass-through models (FaceCast's pre/post-processing + onnxruntime "
          f"overhead; the network's own time is not included):")
    photo, face = _photo(), _face()
    source = SourceFace(pixels=photo, face=face, embedding=np.zeros(128, np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        names = [card.name for card in cards("swapper")]
        store = _store(Path(tmp), sorted({n for name in names for n in (name, *CARDS[name].needs)}))
        for name in names:
            engine = ENGINE_CLASSES[name].load(store, device)
            template = engine.template_for(face)
            target = TargetFace(face=face, aligned=align_face(photo, face, template), mesh=np.zeros((478, 2)))
            megapixels = CARDS[name].size ** 2 / 1e6
            for batch in batches:
                pairs = [(target, source)] * batch
                _row(f"  {name} batch {batch} ({template} frame)", timed(lambda: engine.run_batch(pairs), repeats),
                     batch, megapixels)
        recogniser = ENGINE_CLASSES["inswapper_128"].load(store, device).recogniser
        crop = recogniser.crop(photo, face)[None]
        _row(f"  {ARCFACE} embedding path (pass-through)", timed(lambda: recogniser.embed(crop), repeats), 1,
             112 * 112 / 1e6)
    WEIGHT_CACHE.clear()


def bench_restorers(repeats: int) -> None:
    from services.enhancer.engines.onnx_restore import ENGINE_CLASSES

    print("ONNX restorers, pass-through models (alignment, tensor conversion both ways, onnxruntime overhead; "
          "the network's own time is not included):")
    photo, face = _photo(), _face()
    with tempfile.TemporaryDirectory() as tmp:
        names = [card.name for card in cards("restorer")]
        store = _store(Path(tmp), names)
        for name in names:
            engine = ENGINE_CLASSES[name].load(store, CPU)
            aligned, size = engine.align(photo, face)
            megapixels = size * size / 1e6
            for batch in (1, 8):
                items = [(aligned.crop, size)] * batch
                _row(f"  {name} batch {batch} ({size}px)", timed(lambda: engine.run_batch(items), repeats), batch,
                     megapixels)
    WEIGHT_CACHE.clear()
