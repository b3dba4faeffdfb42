"""Milliseconds per photo of the swapper stage, per engine, on CPU; faces/s batched on a GPU when one is present.

- `classical`: the whole stage call on a 2000×3000 product photo with one face (detection, mesh,
  warp, occluders, colour match, paste back, report), the source portrait already prepared (as in a
  shop where one virtual model's portrait serves many photos). Detection alone is timed too.
- `faceshifter`: the published full-size networks (AEI-Net c_id=512, HEAR-Net, ArcFace IR-SE50) with
  random weights (timing does not depend on the values), imported into a temporary model store and
  run through the stage on the same photo; on CUDA, fp16, also the networks alone at a batch size
  (issue 4's target: ≥ 300 faces/s at batch 32 on an H100) and `run_batch` over that many events.
- the community ONNX swappers (issue 16): per family, FaceCast's own per-face cost around the network
  with pass-through models of the files' exact signatures (bench/_onnx.py says why and what is left out).

Issue 4's CPU target: classical < 300 ms per photo on one core.

    python bench/swapper.py [--threads 1] [--repeats 10] [--no-faceshifter] [--no-onnx] [--batch 32]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench._onnx import bench_swappers  # noqa: E402
from bench._timing import timed  # noqa: E402
from services.swapper.engines import faceshifter  # noqa: E402
from services.swapper.nets import AEI_Net, Backbone, HearNet  # noqa: E402
from services.swapper.stage import STAGE, run_batch  # noqa: E402
from shared.engines import Device  # noqa: E402
from shared.faces import find_faces  # noqa: E402
from shared.images import DecodedImage  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.stage import StageContext, StageInputs  # noqa: E402
from shared.weights import ModelStore  # noqa: E402
from tests.data import load_image  # noqa: E402

PHOTO = "body_large_w180"  # 2000×3000, one face 193 px wide
SOURCE = "portrait_astronaut"


def show(label: str, times: list[float]) -> None:
    print(f"{label:58s} median {statistics.median(times):8.1f} ms   min {min(times):8.1f} ms   (n={len(times)})")


def decoded(pixels: np.ndarray) -> DecodedImage:
    return DecodedImage(pixels=pixels, format="jpeg", had_alpha=False)


def full_size_store(folder: Path) -> ModelStore:
    """The published layouts with random weights, imported like an operator's checkpoints."""
    store = ModelStore(root=folder / "models")
    torch.manual_seed(0)
    for name, network in ((faceshifter.AEI_WEIGHTS, AEI_Net(c_id=512)), (faceshifter.HEAR_WEIGHTS, HearNet()),
                          (faceshifter.ARCFACE_WEIGHTS, Backbone(50, 0.6, "ir_se"))):
        path = folder / f"{name}.pth"
        torch.save(network.state_dict(), path)
        store.import_file(name, path, licence="benchmark: random weights", commercial_use=False, source="random")
        path.unlink()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for OpenCV and torch")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-faceshifter", action="store_true", help="skip the full-size FaceShifter runs")
    parser.add_argument("--batch", type=int, default=32, help="GPU batch size (faces per network call)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX family timings (bench/_onnx.py)")
    parser.add_argument("--onnx-device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: onnxruntime-gpu, batches 1/8/32 (FACECAST_ONNX_TENSORRT=1 for the TensorRT provider)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    photo, source = load_image(PHOTO), load_image(SOURCE)
    print(f"photo {PHOTO}: {photo.shape[1]}×{photo.shape[0]}, source {SOURCE}; {args.threads} CPU thread(s); "
          f"torch {torch.__version__}; CUDA {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ctx = StageContext(settings=Settings(data_dir=folder), models=ModelStore(root=folder / "empty"))
        inputs = StageInputs(image=decoded(photo), extras={"source": decoded(source)})
        show("detection alone (toolkit)", timed(lambda: find_faces(photo), args.repeats))
        classical = STAGE.parse_params({})
        show("classical, whole stage call per photo (CPU)", timed(lambda: STAGE.run(classical, inputs, ctx), args.repeats))
        if not args.no_onnx:
            bench_swappers(args.repeats, Device(args.onnx_device, fp16=args.onnx_device == "cuda"),
                           (1, 8, 32) if args.onnx_device == "cuda" else (1, 8))
        if args.no_faceshifter:
            return
        ctx = StageContext(settings=ctx.settings, models=full_size_store(folder))
        params = STAGE.parse_params({"engine": "faceshifter"})
        device = "GPU fp16" if torch.cuda.is_available() else "CPU fp32"
        show(f"faceshifter, whole stage call per photo ({device})",
             timed(lambda: STAGE.run(params, inputs, ctx), max(2, args.repeats // 5)))
        if torch.cuda.is_available():
            gpu_throughput(ctx, params, inputs, args.batch, args.repeats)


def gpu_throughput(ctx: StageContext, params, inputs: StageInputs, batch: int, repeats: int) -> None:
    nets = faceshifter.nets_from_store(ctx.models)
    torch.backends.cudnn.benchmark = True
    targets = torch.rand(batch, 3, 256, 256, device=nets.device, dtype=nets.dtype) * 2 - 1
    identities = nets.identity(targets.flip(0))

    def networks():
        nets.swap(targets, identities)
        torch.cuda.synchronize()

    times = timed(networks, repeats)
    show(f"faceshifter networks, batch {batch} (GPU fp16)", times)
    print(f"{'':58s} {batch / (statistics.median(times) / 1000):8.1f} faces/s (networks only)")
    items = [(params, inputs)] * batch
    stage_times = timed(lambda: run_batch(items, ctx), max(2, repeats // 5))
    show(f"faceshifter run_batch, {batch} events (GPU + CPU compositing)", stage_times)
    print(f"{'':58s} {batch / (statistics.median(stage_times) / 1000):8.1f} faces/s (whole stage)")


if __name__ == "__main__":
    main()
