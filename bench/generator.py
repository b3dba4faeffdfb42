"""Generator throughput: faces per second per engine and batch size.

CPU: the demo DCGAN (network alone, and with the Real-ESRGAN ×4 upscale the engine adds) and
StyleGAN2 with random weights at 256 px and, unless --quick, config-f 1024 px; the diffusion engine's
CPU time per denoising step on the tiny random pipelines of each family (the ones the tests build), the
whole engine path (text encoders, denoiser, VAE) measured at two step counts so the difference is the
per-step cost. On CUDA, when a device exists: config-f 1024 in fp16 and fp32 at batch 1, 8 and 32 (the
target is ≥ 200 faces/s at batch 32 on an H100), and seconds per 1024-px candidate for the SDXL UNet
(30 steps, fp16) and the FLUX.1 transformer (4 steps, bf16) with random weights of the real size, at
batch 1 / 4 / 8, with and without `torch.compile`, and the memory peak. Random weights time the same
arithmetic as real ones.

    python bench/generator.py [--quick] [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tiny pipelines live with the tests

from services.generator.nets.stylegan2 import Generator  # noqa: E402


def faces_per_second(run, batch: int, repeats: int, sync=lambda: None) -> float:
    run()  # warm-up: kernel selection, allocations
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    sync()
    return batch * repeats / (time.perf_counter() - started)


def stylegan2_runner(generator: Generator, batch: int, device: torch.device, dtype: torch.dtype):
    w = torch.randn(batch, generator.style_dim, device=device, dtype=dtype)

    def run():
        with torch.no_grad():
            generator([w], input_is_latent=True, randomize_noise=False)
    return run


def bench_demo(batches: list[int], repeats: int) -> None:
    from services.generator.engines.demo import DemoEngine
    from shared.engines import CPU

    engine = DemoEngine(CPU)
    for batch in batches:
        z = torch.randn(batch, 100, 1, 1)

        def run():
            with torch.no_grad():
                engine.network(z)
        print(f"cpu   demo DCGAN 64 px          batch {batch:3d}: {faces_per_second(run, batch, repeats):9.1f} faces/s")
    latents = engine.seed_latents([1, 2], truncation=0.7)
    rate = faces_per_second(lambda: engine.render(latents), len(latents), 1)
    print(f"cpu   demo engine 256 px (+ESRGAN)  per face: {rate:9.2f} faces/s")


def bench_stylegan2_cpu(size: int, batches: list[int], repeats: int) -> None:
    torch.manual_seed(0)
    generator = Generator(size, 512, 8, channel_multiplier=2).eval()
    for batch in batches:
        rate = faces_per_second(stylegan2_runner(generator, batch, torch.device("cpu"), torch.float32), batch, repeats)
        print(f"cpu   stylegan2 {size:4d} px fp32      batch {batch:3d}: {rate:9.2f} faces/s")


def bench_stylegan2_cuda(batches: list[int], repeats: int) -> None:
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    print(f"cuda  device: {torch.cuda.get_device_name(device)}")
    for dtype in (torch.float16, torch.float32):
        torch.manual_seed(0)
        generator = Generator(1024, 512, 8, channel_multiplier=2).eval().to(device=device, dtype=dtype)
        for batch in batches:
            rate = faces_per_second(stylegan2_runner(generator, batch, device, dtype), batch, repeats,
                                    sync=torch.cuda.synchronize)
            name = str(dtype).removeprefix("torch.")
            print(f"cuda  stylegan2 1024 px {name:7s}  batch {batch:3d}: {rate:9.1f} faces/s")
        del generator
        torch.cuda.empty_cache()


def bench_diffusion_tiny_cpu(repeats: int) -> None:
    """CPU seconds per denoising step of the engine path on each family's tiny random pipeline."""
    import tempfile
    from pathlib import Path

    from services.generator.engines.diffusion import DiffusionEngine, Render
    from shared.engines import CPU
    from shared.weights import ModelStore
    from tests.generator.tiny_pipelines import BUILDERS, save_tiny

    for family in BUILDERS:
        with tempfile.TemporaryDirectory() as folder:
            store = ModelStore(root=Path(folder) / "models")
            store.import_folder("diffusion-pipeline", save_tiny(family, Path(folder) / family), licence="MIT",
                                commercial_use=True, source="bench: tiny random pipeline")
            engine = DiffusionEngine.load(store, CPU)

            def cpu_seconds(steps: int) -> float:
                """The least CPU time of `repeats` runs (the steadiest figure on a shared machine)."""
                render = Render(seed=1, prompt="studio portrait photo of a person", negative_prompt="blurry",
                                steps=steps, guidance=engine.family.guidance or 5.0)
                engine.run_batch([[render]])  # warm-up
                times = []
                for _ in range(repeats):
                    started = time.process_time()
                    engine.run_batch([[render]])
                    times.append(time.process_time() - started)
                return min(times)

            few, many = cpu_seconds(2), cpu_seconds(10)
            print(f"cpu   diffusion tiny {family:13s} {engine.resolution:3d} px: {(many - few) / 8 * 1000:7.1f} ms CPU "
                  f"per step, {few * 1000:7.1f} ms CPU per 2-step candidate")


SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280), transformer_layers_per_block=(1, 2, 10),
                 attention_head_dim=(5, 10, 20), cross_attention_dim=2048, use_linear_projection=True,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816)  # stabilityai/stable-diffusion-xl-base-1.0 unet/config.json


def bench_diffusion_cuda(batches: list[int], repeats: int) -> None:
    """Seconds per 1024-px candidate for the denoiser at real size (random weights): SDXL UNet 30 steps fp16,
    FLUX.1 transformer (diffusers' defaults are FLUX.1's sizes) 4 steps bf16; eager and torch.compile."""
    from diffusers import FluxTransformer2DModel, UNet2DConditionModel

    device = torch.device("cuda")
    for name, steps, dtype in (("sdxl", 30, torch.float16), ("flux-schnell", 4, torch.bfloat16)):
        torch.manual_seed(0)
        model = (UNet2DConditionModel(**SDXL_UNET) if name == "sdxl" else FluxTransformer2DModel())
        model = model.eval().to(device=device, dtype=dtype)
        for compiled in (False, True):
            step = torch.compile(model, mode="max-autotune-no-cudagraphs") if compiled else model
            for batch in batches:
                inputs = _denoiser_inputs(name, batch, device, dtype)
                torch.cuda.reset_peak_memory_stats(device)

                def run():
                    with torch.no_grad():
                        for _ in range(steps):
                            step(**inputs)
                rate = faces_per_second(run, batch, repeats, sync=torch.cuda.synchronize)
                peak = torch.cuda.max_memory_allocated(device) / 2 ** 30
                print(f"cuda  {name:12s} 1024 px {steps:2d} steps {str(dtype)[6:]:8s} compile {compiled!s:5s} "
                      f"batch {batch}: {1 / rate:6.2f} s per candidate, peak {peak:5.1f} GiB")
        del model
        torch.cuda.empty_cache()


def _denoiser_inputs(name: str, batch: int, device, dtype) -> dict:
    if name == "sdxl":  # classifier-free guidance doubles the batch
        rows = 2 * batch
        return {"sample": torch.randn(rows, 4, 128, 128, device=device, dtype=dtype),
                "timestep": torch.tensor(500, device=device),
                "encoder_hidden_states": torch.randn(rows, 77, 2048, device=device, dtype=dtype),
                "added_cond_kwargs": {"text_embeds": torch.randn(rows, 1280, device=device, dtype=dtype),
                                      "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * rows,
                                                               device=device, dtype=dtype)}}
    tokens = 64 * 64  # 1024 px → 128×128 latents packed 2×2
    image_ids = torch.zeros(tokens, 3, device=device, dtype=dtype)
    return {"hidden_states": torch.randn(batch, tokens, 64, device=device, dtype=dtype),
            "encoder_hidden_states": torch.randn(batch, 256, 4096, device=device, dtype=dtype),
            "pooled_projections": torch.randn(batch, 768, device=device, dtype=dtype),
            "timestep": torch.full((batch,), 1.0, device=device, dtype=dtype),
            "img_ids": image_ids, "txt_ids": torch.zeros(256, 3, device=device, dtype=dtype)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1024 px CPU run (several seconds a face)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    print(f"torch {torch.__version__}, {args.threads} CPU threads")
    bench_demo([1, 8, 32], args.repeats)
    bench_stylegan2_cpu(256, [1, 4], args.repeats)
    if not args.quick:
        bench_stylegan2_cpu(1024, [1], 1)
    bench_diffusion_tiny_cpu(args.repeats)
    if torch.cuda.is_available():
        bench_stylegan2_cuda([1, 8, 32], args.repeats * 5)
        bench_diffusion_cuda([1, 4, 8], args.repeats)
    else:
        print("cuda  no CUDA device: GPU figures skipped")


if __name__ == "__main__":
    main()
