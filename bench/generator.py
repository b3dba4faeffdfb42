"""Generator throughput: faces per second per engine and batch size.

CPU: the demo DCGAN (network alone, and with the Real-ESRGAN ×4 upscale the engine adds) and
StyleGAN2 with random weights at 256 px and, unless --quick, config-f 1024 px. On CUDA, when a device
exists: config-f 1024 in fp16 and fp32 at batch 1, 8 and 32 (the target is ≥ 200 faces/s at batch 32
on an H100). Random weights time the same arithmetic as real ones.

    python bench/generator.py [--quick] [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from services.generator.nets.stylegan2 import Generator


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
    if torch.cuda.is_available():
        bench_stylegan2_cuda([1, 8, 32], args.repeats * 5)
    else:
        print("cuda  no CUDA device: GPU figures skipped")


if __name__ == "__main__":
    main()
