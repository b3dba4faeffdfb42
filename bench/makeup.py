"""Milliseconds per face of the makeup stage, per engine, on CPU (and on a GPU when one is present).

- `landmarks`: the whole stage call on a 512×512 portrait (detection, mesh, masks, colour transfer,
  warp back) with a preset and with a reference photo (its analysis is cached after the first call,
  as in a shop applying one look to many photos), and the same call on a 2000×3000 product photo.
  Detection is also timed alone, to show what is the toolkit's and what is the engine's.
- `beautygan`: the full-size `Generator_branch(64, 6)` (random weights: timing does not depend on
  the values) imported into a temporary model store and run through the stage; the network's
  forward pass alone is timed too, on CPU and, when CUDA is available, on the GPU.
- `beautygan` batched: faces/s of the stage's `run_batch` (one event per face, all faces in one
  forward pass) and of the forward pass alone, at batch 1 and 8 on CPU; with CUDA, the forward pass
  alone at batch 1 and 8 in fp32 and in fp16 (autocast). Figures only: nothing is asserted.

The issue's target: landmarks under 80 ms per face on one core.

    python bench/makeup.py [--threads 1] [--repeats 20]
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
from skimage import data  # noqa: E402

from bench._timing import timed  # noqa: E402
from services.makeup.engines import beautygan  # noqa: E402
from services.makeup.nets import BeautyGANGenerator  # noqa: E402
from services.makeup.stage import STAGE  # noqa: E402
from shared.faces import find_faces  # noqa: E402
from shared.images import DecodedImage  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.stage import StageContext, StageInputs  # noqa: E402
from shared.weights import ModelStore  # noqa: E402


def report(name: str, times_ms: list[float], faces: int = 1) -> None:
    per_face = [t / faces for t in times_ms]
    print(f"{name:<52} {statistics.median(per_face):9.1f} {min(per_face):9.1f} {len(per_face):5d}")


def report_rate(name: str, times_ms: list[float], faces: int) -> None:
    """Faces per second from the median and the fastest call of `faces` faces."""
    print(f"{name:<52} {faces * 1000 / statistics.median(times_ms):9.2f} {faces * 1000 / min(times_ms):9.2f} "
          f"{len(times_ms):5d}")


def product_photo(portrait: np.ndarray) -> np.ndarray:
    """A 2000×3000 canvas with the portrait's face at about 200 px wide, as in a full-body shot."""
    canvas = np.full((3000, 2000, 3), (200, 205, 210), np.uint8)
    canvas[400:912, 744:1256] = cv2.resize(portrait, (512, 512))
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for OpenCV and torch")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--gan-repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="batch sizes of the batched figures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    reference = np.ascontiguousarray(portrait[:, ::-1])  # the mirrored portrait: another face geometry
    photo = product_photo(portrait)

    def stage_call(image, ctx, reference_image=None, **params):
        extras = {} if reference_image is None else {"reference": DecodedImage(reference_image, "png", False)}
        inputs = StageInputs(image=DecodedImage(image, "png", False), extras=extras)
        parsed = STAGE.parse_params(params)
        return lambda: STAGE.run(parsed, inputs, ctx)

    with tempfile.TemporaryDirectory() as tmp:
        ctx = StageContext(settings=Settings(data_dir=Path(tmp)), models=ModelStore(root=Path(tmp) / "models"))
        print(f"makeup stage, CPU, {args.threads} thread(s); ms per face")
        print(f"{'case':<52} {'median':>9} {'min':>9} {'runs':>5}")
        report("face detection alone (toolkit), 512×512", timed(lambda: find_faces(portrait), args.repeats))
        report("landmarks, preset autumn-warm, 512×512", timed(stage_call(portrait, ctx, look="autumn-warm"),
                                                               args.repeats))
        report("landmarks, reference photo (cached), 512×512", timed(stage_call(portrait, ctx, reference),
                                                                     args.repeats))
        report("face detection alone (toolkit), 2000×3000", timed(lambda: find_faces(photo), args.repeats // 4 or 1))
        report("landmarks, preset autumn-warm, 2000×3000", timed(stage_call(photo, ctx, look="autumn-warm"),
                                                                 args.repeats // 4 or 1))

        checkpoint = Path(tmp) / "beautygan-G.pth"
        torch.manual_seed(0)
        torch.save(BeautyGANGenerator(64, 6).state_dict(), checkpoint)
        ctx.models.import_file(beautygan.WEIGHTS, checkpoint, licence="benchmark only (random weights)",
                               commercial_use=False, source="bench/makeup.py")
        report("beautygan (64, 6), whole stage, 512×512", timed(stage_call(portrait, ctx, reference, engine="beautygan"),
                                                                 args.gan_repeats))
        model, _ = beautygan.load_generator(ctx.models)
        x = torch.rand(1, 3, 256, 256) * 2 - 1
        with torch.inference_mode():
            report("beautygan network forward alone, 256×256", timed(lambda: model(x, x), args.gan_repeats))

        print(f"\nbeautygan (64, 6) batched, CPU, {args.threads} thread(s); faces/s")
        print(f"{'case':<52} {'median':>9} {'best':>9} {'runs':>5}")
        parsed = STAGE.parse_params({"engine": "beautygan"})
        item = (parsed, StageInputs(image=DecodedImage(portrait, "png", False),
                                    extras={"reference": DecodedImage(reference, "png", False)}))
        for batch in args.batches:
            report_rate(f"run_batch, {batch} event(s) of one face, 512×512", timed(
                lambda: _check(STAGE.run_batch([item] * batch, ctx)), args.gan_repeats), batch)
        for batch in args.batches:
            xs = torch.rand(batch, 3, 256, 256) * 2 - 1
            with torch.inference_mode():
                report_rate(f"network forward alone, batch {batch}", timed(lambda: model(xs, xs), args.gan_repeats),
                            batch)
        if torch.cuda.is_available():
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            gpu_model = BeautyGANGenerator(64, 6).cuda().eval()
            print(f"\nbeautygan (64, 6) forward on {torch.cuda.get_device_name()}; faces/s")
            print(f"{'case':<52} {'median':>9} {'best':>9} {'runs':>5}")
            for half in (False, True):
                for batch in args.batches:
                    xs = torch.rand(batch, 3, 256, 256, device="cuda") * 2 - 1

                    def forward():
                        with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=half):
                            gpu_model(xs, xs)
                        torch.cuda.synchronize()

                    report_rate(f"forward {'fp16 autocast' if half else 'fp32'}, batch {batch}", timed(forward, 20),
                                batch)
        else:
            print("(no CUDA device: GPU figures skipped)")
    return 0


def _check(results: list) -> None:
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]


if __name__ == "__main__":
    sys.exit(main())
