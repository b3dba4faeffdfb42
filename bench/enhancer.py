"""Milliseconds per face and per upscaled megapixel of the enhancer, per engine, on CPU (GPU when present).

- `realesrgan` face restoration: the whole stage call (detection, mesh, alignment, network, paste)
  on three portraits with 90, 176 and 228-px faces, and the network step alone.
- `realesrgan` upscaling: ms per output megapixel for ×2 and ×4 of a 192×192 image (4 tiles), and
  the process's peak memory afterwards (the tiling keeps it under 2 GB).
- `gpen`: the full GPEN-BFR-512 configuration (random weights: timing does not depend on the values)
  imported into a temporary model store and run through the stage, and the network alone at batch
  1 and 4 on CPU; with CUDA, fp16 autocast at batch 1 and 16 (faces/s).
- ncnn Vulkan upscaling when ncnn finds a GPU.
- `onnx`: the community ONNX restorers (issue 16), FaceCast's own per-face cost around the network with
  pass-through models of the files' exact signatures (bench/_onnx.py says why and what is left out).
- `--tune-blur`: the sweep behind DEFAULT_PRE_BLUR_SIGMA (PSNR inside the face oval and SFace
  identity against the clean face, sharpness, for clean, noisy and JPEG-degraded inputs).
- `--proportional`: restoration in proportion to the measured degradation: per portrait and
  degradation, the measures, the weight applied, and the face's sharpness after/before with
  `restore: auto` and `restore: full` (the timings use `full`, the worst case: a clean face in `auto`
  is not sent through the network at all).

The issue's targets: realesrgan face restore < 2.5 s per face on one CPU core; gpen fp16 on an
H100 ≥ 150 faces/s at batch 16.

    python bench/enhancer.py [--threads 1] [--repeats 3] [--engines realesrgan gpen onnx] [--tune-blur]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench._onnx import bench_restorers  # noqa: E402
from services.enhancer.engines import gpen  # noqa: E402
from services.enhancer.engines import realesrgan as realesrgan_engine  # noqa: E402
from services.enhancer.nets.gpen import FullGenerator  # noqa: E402
from services.enhancer.stage import STAGE  # noqa: E402
from shared import realesrgan  # noqa: E402
from shared.faces import (align_face, cosine_similarity, face_oval_mask, find_faces,  # noqa: E402
                          identity_embedding, image_face_mesh, sharpness)
from shared.images import DecodedImage  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.stage import StageContext, StageInputs  # noqa: E402
from shared.weights import ModelStore  # noqa: E402
from tests.data import load_image  # noqa: E402

PORTRAITS = ("portrait_astronaut", "portrait_hopper", "portrait_closeup")
BFR512 = {"size": 512, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2, "narrow": 1.0}


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `repeats` calls after one warm-up call (model loading,
    caches). CPU time is the steadier figure on a shared machine; with one thread it is the wall
    time the call would take on an idle core."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def row(name: str, wall_ms: float, cpu_ms: float, per: float = 1.0, unit: str = "ms/face", extra: str = "") -> None:
    print(f"{name:<60} {wall_ms / per:10.1f} {cpu_ms / per:10.1f}  {unit:<10} {extra}")


def inputs(image: np.ndarray) -> StageInputs:
    return StageInputs(image=DecodedImage(pixels=image, format="png", had_alpha=False))


def bench_realesrgan(ctx: StageContext, repeats: int) -> None:
    params = STAGE.parse_params({"restore": "full"})
    for name in PORTRAITS:
        image = load_image(name)
        face = find_faces(image)[0]
        aligned, paste_size = realesrgan_engine.align(image, face)
        label = f"{name.removeprefix('portrait_')}, face {face.width:.0f} px, net {aligned.size}²"
        row(f"realesrgan stage call ({label})", *timed(lambda: STAGE.run(params, inputs(image), ctx), repeats))
        row(f"realesrgan network only ({label})",
            *timed(lambda: realesrgan_engine.restore(aligned.crop, paste_size), repeats))
    small = cv2.resize(load_image("portrait_astronaut"), (192, 192), interpolation=cv2.INTER_AREA)
    for scale in (4, 2):
        wall, cpu = timed(lambda: realesrgan.upscale(small, scale), repeats)
        row(f"realesrgan upscale ×{scale}, 192² → {192 * scale}²", wall, cpu, (192 * scale) ** 2 / 1e6, "ms/MP out")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak memory so far (tiles ≤ 128² incl. overlap): {peak_mb:.0f} MB")


def bench_gpen(ctx: StageContext, repeats: int) -> None:
    torch.manual_seed(0)
    state_dict = FullGenerator(**BFR512).state_dict()
    image = load_image("portrait_astronaut")
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "gpen-bfr-512-random.pth"
        torch.save(state_dict, checkpoint)
        store = ModelStore(root=Path(folder) / "models")
        store.import_file(gpen.WEIGHTS_NAME, checkpoint, licence="random weights (benchmark)", commercial_use=False,
                          source="bench/enhancer.py", input_size=512)
        gpen_ctx = StageContext(settings=ctx.settings, models=store)
        params = STAGE.parse_params({"engine": "gpen", "restore": "full"})
        row(f"gpen stage call ({gpen.load(store).device.type})",
            *timed(lambda: STAGE.run(params, inputs(image), gpen_ctx), repeats))
    restorer = gpen.GpenRestorer(state_dict)
    crop = gpen.align(image, find_faces(image)[0], 512).crop
    device = restorer.device.type
    for batch in ((1, 16) if device == "cuda" else (1, 4)):
        crops = [crop] * batch
        wall, cpu = timed(lambda: restorer.restore(crops), repeats)
        precision = "fp16 autocast" if device == "cuda" else "fp32"
        row(f"gpen network only, {device} {precision}, batch {batch}", wall, cpu, batch, "ms/face",
            f"{1000 * batch / wall:.1f} faces/s")


def bench_vulkan(repeats: int) -> None:
    import ncnn

    if ncnn.get_gpu_count() < 1:
        print("ncnn Vulkan: ncnn finds no GPU; not measured")
        return
    model = realesrgan.RealESRGANx4(vulkan=True)
    image = cv2.resize(load_image("portrait_astronaut"), (256, 256), interpolation=cv2.INTER_AREA)
    wall, cpu = timed(lambda: realesrgan.upscale_x4(image, model=model), repeats)
    row("realesrgan upscale ×4 on ncnn Vulkan, 256² → 1024²", wall, cpu, 1024 ** 2 / 1e6, "ms/MP out")


def tune_pre_blur(ctx: StageContext) -> None:
    """Why DEFAULT_PRE_BLUR_SIGMA: restore degraded copies of clean portraits at several sigmas and
    compare with the clean face inside its oval."""
    rng = np.random.default_rng(0)

    def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
        return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)

    print(f"{'portrait':<20} {'input':<11} " + " ".join(f"{'σ=' + str(s):>18}" for s in (0, 1, 2, 3, 4, 6)))
    print(f"{'':<20} {'':<11} " + " ".join(f"{'PSNR/id/sharp':>18}" for _ in range(6)))
    for name in PORTRAITS[:2]:
        clean = load_image(name)
        height, width = clean.shape[:2]
        face = find_faces(clean)[0]
        aligned = align_face(clean, face, "ffhq256")
        oval = face_oval_mask(aligned.to_crop(image_face_mesh(clean, face)), 256) > 0.5
        reference = identity_embedding(clean, face)
        degraded = {
            "clean": clean,
            "noise σ8": np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8),
            "jpeg q30": jpeg(clean, 30),
            "½ + jpeg50": cv2.resize(jpeg(cv2.resize(clean, (width // 2, height // 2), interpolation=cv2.INTER_AREA),
                                          50), (width, height), interpolation=cv2.INTER_CUBIC),
        }
        for label, image in degraded.items():
            cells = []
            for sigma in (0, 1, 2, 3, 4, 6):
                params = STAGE.parse_params({"pre_blur_sigma": sigma, "restore": "full"})
                out = STAGE.run(params, inputs(image), ctx).image
                crop = align_face(out, face, "ffhq256").crop
                error = (crop.astype(float) - aligned.crop.astype(float))[oval]
                psnr = 10 * np.log10(255 ** 2 / max(1e-9, float((error ** 2).mean())))
                identity = cosine_similarity(identity_embedding(out, face), reference)
                cells.append(f"{psnr:5.1f}/{identity:.3f}/{sharpness(crop, oval.astype(np.float32)):4.0f}")
            print(f"{name:<20} {label:<11} " + " ".join(f"{c:>18}" for c in cells), flush=True)


def proportional(ctx: StageContext) -> None:
    """Sharpness of the face (variance of the Laplacian in the inner face box, image pixels) after/before."""
    def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
        return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)

    def face_sharpness(image: np.ndarray, face) -> float:
        x, y, w, h = face.box
        mask = np.zeros(image.shape[:2], np.float32)
        mask[int(y + 0.2 * h):int(y + 0.8 * h), int(x + 0.2 * w):int(x + 0.8 * w)] = 1
        return sharpness(image, mask)

    rng = np.random.default_rng(0)
    print(f"{'portrait':<12} {'input':<10} {'soft':>5} {'block':>5} {'noise':>5} {'score':>5} {'weight':>6} "
          f"{'auto ×':>7} {'full ×':>7}")
    for name in ("portrait_astronaut", "portrait_hopper", "body_large_w180"):
        clean = load_image(name)
        variants = {
            "clean": clean, "blur σ1": cv2.GaussianBlur(clean, (0, 0), 1.0),
            "blur σ2": cv2.GaussianBlur(clean, (0, 0), 2.0),
            "jpeg q40": jpeg(clean, 40), "jpeg q15": jpeg(clean, 15),
            "noise σ10": np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255).astype(np.uint8),
        }
        for label, image in variants.items():
            face = find_faces(image)[0]
            before = face_sharpness(image, face)
            auto = STAGE.run(STAGE.parse_params({}), inputs(image), ctx)
            full = STAGE.run(STAGE.parse_params({"restore": "full"}), inputs(image), ctx).image
            entry = auto.report["restoration"][0]
            measured = entry["degradation"]
            print(f"{name.split('_')[-1]:<12} {label:<10} {measured['softness']:5.2f} {measured['blockiness']:5.2f} "
                  f"{measured['noise']:5.1f} {measured['score']:5.2f} {entry['strength']:6.2f} "
                  f"{face_sharpness(auto.image, face) / before:7.2f} {face_sharpness(full, face) / before:7.2f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for ncnn, torch and OpenCV")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=["realesrgan", "gpen", "onnx"],
                        choices=("realesrgan", "gpen", "onnx"), help="onnx: the community ONNX restorers (bench/_onnx.py)")
    parser.add_argument("--tune-blur", action="store_true", help="run the pre-blur sweep instead of the timings")
    parser.add_argument("--proportional", action="store_true",
                        help="restoration in proportion to the degradation (auto vs full) instead of the timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    realesrgan.set_default_threads(args.threads)
    folder = tempfile.mkdtemp(prefix="facecast-bench-")
    ctx = StageContext(settings=Settings(data_dir=Path(folder)), models=ModelStore(root=Path(folder) / "models"))
    print(f"threads={args.threads} repeats={args.repeats} torch={torch.__version__} cuda={torch.cuda.is_available()}")
    if args.proportional:
        proportional(ctx)
        return
    if not args.tune_blur:
        print(f"{'':<60} {'wall':>10} {'cpu':>10}  (median after one warm-up call)")
    if args.tune_blur:
        tune_pre_blur(ctx)
        return
    if "realesrgan" in args.engines:
        bench_realesrgan(ctx, args.repeats)
        bench_vulkan(args.repeats)
    if "gpen" in args.engines:
        bench_gpen(ctx, args.repeats)
    if "onnx" in args.engines:
        bench_restorers(args.repeats)


if __name__ == "__main__":
    main()
