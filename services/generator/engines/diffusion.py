"""The `diffusion` engine: text-to-image pipelines of the `diffusers` library, loaded from the model store.

A pipeline is a folder saved with diffusers' `save_pretrained` (as published on model hubs), imported with
`facecast models import NAME FOLDER-or-ARCHIVE` (every file hashed and recorded with its licence) and
loaded with `DiffusionPipeline.from_pretrained(folder, local_files_only=True, use_safetensors=True)`: weights
are read from safetensors only (data, never pickled code). The family is recognised from the folder's
`model_index.json` `_class_name`:

| family | `_class_name` | defaults (steps, guidance, side) | text encoders |
|---|---|---|---|
| `sd15` | StableDiffusionPipeline | 30, 7.0, UNet sample size × VAE factor (512) | CLIP ViT-L/14 |
| `sdxl` | StableDiffusionXLPipeline | 30, 6.0, 1024 (128 × 8) | CLIP ViT-L + OpenCLIP bigG |
| `flux-schnell` | FluxPipeline (no guidance embedding) | 4, 0.0, VAE sample size (1024) | CLIP L + T5-XXL |
| `flux-dev` | FluxPipeline (guidance embedding) | 28, 3.5, VAE sample size (1024) | CLIP L + T5-XXL |

An SDXL refiner (`StableDiffusionXLImg2ImgPipeline`) is recognised too and used only as the optional
second expert of an SDXL base (`refiner`): the base denoises to `REFINER_SWITCH` of the schedule and the
refiner finishes (Podell et al. 2023, "SDXL", §2.5; diffusers' "ensemble of expert denoisers").
None of these encoders reads Korean (`reads_korean` False): the prompt module maps Korean briefs first.

Precision and memory: fp32 on CPU; on CUDA fp16 (SD 1.5, SDXL; the SDXL VAE upcasts itself where its
config says `force_upcast`) or bf16 (FLUX), VAE slicing and tiling, and attention slicing on cards under
`ATTENTION_SLICING_BELOW_GIB` (an SDXL base then fits a 24 GB card).

Determinism: a candidate's initial noise is `torch.randn` of the latent shape from its own CPU
`torch.Generator` seeded with the candidate's seed, so the noise is the same bytes on every device; the
image-to-image noise of `near` comes from the same per-candidate CPU generator. On CPU every candidate is
its own pipeline call, so a candidate is the same bytes whatever else is in the batch; on CUDA candidates
run `cuda_batch` at a time. What may differ across devices (reported as `determinism`): fp16/bf16 on
CUDA against fp32 on CPU, and the kernels each device and batch size pick, so the same seed gives the
same face but not the same bytes on another device, precision or GPU model.

A candidate's latent artifact is its initial noise followed by its final (denoised, not yet decoded)
latent, both of `latent_shape` [C, h, w], flattened: `mix` slerps the first halves, `near` starts
image-to-image from the second half (the chosen face as the pipeline's VAE latent, with no decode and
re-encode in between).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from services.generator.contract import diffusion_import_hint as import_hint
from services.generator.engines import DIFFUSION_WEIGHTS, REGISTRY
from shared.engines import Device, EngineInfo
from shared.errors import EngineUnavailable, InvalidInput, WeightsMismatch
from shared.licence_terms import use_restrictions
from shared.weights import ModelRecord, ModelStore

ATTENTION_SLICING_BELOW_GIB = 30
REFINER_SWITCH = 0.8  # share of the schedule the SDXL base runs before the refiner takes over
CUDA_BATCH = 4


@dataclass(frozen=True)
class Family:
    """Per-family defaults and facts."""
    name: str
    steps: int
    guidance: float
    uses_negative_prompt: bool
    reads_korean: bool = False


FAMILIES = {
    "sd15": Family("sd15", steps=30, guidance=7.0, uses_negative_prompt=True),
    "sdxl": Family("sdxl", steps=30, guidance=6.0, uses_negative_prompt=True),
    "flux-schnell": Family("flux-schnell", steps=4, guidance=0.0, uses_negative_prompt=False),
    "flux-dev": Family("flux-dev", steps=28, guidance=3.5, uses_negative_prompt=False),
}
TEXT_TO_IMAGE = {"StableDiffusionPipeline": "sd15", "StableDiffusionXLPipeline": "sdxl", "FluxPipeline": "flux"}
SDXL_REFINER = "StableDiffusionXLImg2ImgPipeline"
# component folders: what each kind of component must hold
_MODEL_FILES = ("config.json",)
_TOKENIZER_FILES = ("tokenizer_config.json",)


def read_model_index(folder: Path, what: str) -> dict:
    path = folder / "model_index.json"
    if not path.is_file():
        raise WeightsMismatch(f"{what}: not a diffusers pipeline folder (model_index.json is missing); {import_hint()}")
    try:
        index = json.loads(path.read_text())
    except ValueError as exc:
        raise WeightsMismatch(f"{what}: model_index.json is not JSON ({exc})") from None
    return index


def check_pipeline_folder(folder: Path, what: str) -> dict:
    """model_index.json, and for every component it lists the files `from_pretrained` will read; a
    WeightsMismatch names every missing file. Returns the index."""
    index = read_model_index(folder, what)
    missing = []
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        library, class_name = spec
        sub = folder / component
        if "Tokenizer" in class_name:
            missing += [f"{component}/{f}" for f in _TOKENIZER_FILES if not (sub / f).is_file()]
        elif "Scheduler" in class_name:
            missing += [f"{component}/scheduler_config.json"] if not (sub / "scheduler_config.json").is_file() else []
        elif library in ("diffusers", "transformers") and not ("Processor" in class_name or
                                                                "FeatureExtractor" in class_name):
            missing += [f"{component}/{f}" for f in _MODEL_FILES if not (sub / f).is_file()]
            if not list(sub.glob("*.safetensors")):
                missing.append(f"{component}/*.safetensors (weights; .bin pickles are not loaded)")
    if missing:
        raise WeightsMismatch(f"{what}: the pipeline folder lacks {', '.join(missing)}")
    return index


def family_of(index: dict, folder: Path, what: str) -> str:
    class_name = index.get("_class_name", "")
    if class_name == SDXL_REFINER:
        return "sdxl-refiner"
    kind = TEXT_TO_IMAGE.get(class_name)
    if kind is None:
        raise WeightsMismatch(f"{what}: pipeline class {class_name!r} is not one the diffusion engine runs "
                              f"(it runs {', '.join(TEXT_TO_IMAGE)}, and {SDXL_REFINER} as an SDXL refiner)")
    if kind == "flux":
        config = json.loads((folder / "transformer" / "config.json").read_text())
        return "flux-dev" if config.get("guidance_embeds") else "flux-schnell"
    return kind


@dataclass(frozen=True)
class Render:
    """One candidate to make. Text-to-image from `noise` (default: the seed's own) or, with `init_latent`,
    image-to-image from that final latent at `strength`."""
    seed: int
    prompt: str
    negative_prompt: str
    steps: int
    guidance: float
    noise: np.ndarray | None = field(default=None, repr=False)
    init_latent: np.ndarray | None = field(default=None, repr=False)
    strength: float | None = None


@dataclass
class Rendered:
    image: np.ndarray  # H×W×3 uint8 BGR
    noise: np.ndarray  # [C, h, w] float32
    final: np.ndarray  # [C, h, w] float32


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between two Gaussian noises (Shoemake 1985; the usual way to blend diffusion
    noises, which keeps the norm typical where a straight blend would shrink it). t=0 gives a, t=1 b."""
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    cos = float(np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64)))
    omega = math.acos(max(-1.0, min(1.0, cos)))
    if omega < 1e-6:
        mixed = (1 - t) * a64 + t * b64
    else:
        mixed = (math.sin((1 - t) * omega) * a64 + math.sin(t * omega) * b64) / math.sin(omega)
    return mixed.reshape(a.shape).astype(np.float32)


class DiffusionEngine:
    """A loaded pipeline (and optional SDXL refiner) on one device; `run_batch` renders lists of `Render`."""
    info: ClassVar[EngineInfo] = REGISTRY.info("diffusion")

    def __init__(self, folder: Path, record: ModelRecord, device: Device,
                 refiner: tuple[Path, ModelRecord] | None = None):
        from diffusers import AutoPipelineForImage2Image, DiffusionPipeline

        what = f"diffusion weights {record.name!r}"
        index = check_pipeline_folder(folder, what)
        self.family_name = family_of(index, folder, what)
        if self.family_name == "sdxl-refiner":
            raise InvalidInput(f"{what} is an SDXL refiner; import an SDXL base as the pipeline and name the "
                               "refiner in `refiner`")
        self.family = FAMILIES[self.family_name]
        self.record = record
        self.device = device
        self.torch_device = device.torch()
        self.dtype = torch.float32
        if device.kind == "cuda" and device.fp16:
            self.dtype = torch.bfloat16 if self.family_name.startswith("flux") else torch.float16
        try:
            pipe = DiffusionPipeline.from_pretrained(folder, dtype=self.dtype, local_files_only=True,
                                                     use_safetensors=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise WeightsMismatch(f"{what}: the pipeline does not load: {exc}") from None
        self.pipe = pipe.to(self.torch_device)
        self.pipe.set_progress_bar_config(disable=True)
        self.memory = self._fit_memory(self.pipe)
        self.img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
        self.img2img.set_progress_bar_config(disable=True)
        self.refiner = None
        self.refiner_record = None
        if refiner is not None:
            self._load_refiner(*refiner)
        self.vae_scale = int(self.pipe.vae_scale_factor)
        if self.family_name.startswith("flux"):
            channels = int(self.pipe.transformer.config.in_channels) // 4
            self.side = int(self.pipe.vae.config.sample_size)  # 1024 for FLUX.1's VAE
        else:
            channels = int(self.pipe.unet.config.in_channels)
            self.side = int(self.pipe.unet.config.sample_size) * self.vae_scale
        self.latent_shape = (channels, self.side // self.vae_scale, self.side // self.vae_scale)
        self.latent_dim = 2 * int(np.prod(self.latent_shape))
        self.resolution = self.side
        self.cuda_batch = CUDA_BATCH

    @classmethod
    def load(cls, models: ModelStore, device: Device, weights: str | None = None,
             refiner: str | None = None) -> "DiffusionEngine":
        name = weights or DIFFUSION_WEIGHTS
        record = models.records().get(name)
        if record is None:
            raise EngineUnavailable(f"the diffusion engine has no pipeline: {name!r} is not in the model store; "
                                    f"{import_hint(name)}", missing=[name])
        if record.files is None:
            raise WeightsMismatch(f"diffusion weights {name!r} are a single file; {import_hint(name)}")
        folder = models.path(name)  # every file verified against its sha256
        refiner_folder = None
        if refiner is not None:
            refiner_record = models.records().get(refiner)
            if refiner_record is None or refiner_record.files is None:
                raise EngineUnavailable(f"SDXL refiner {refiner!r} is not a pipeline folder in the model store; "
                                        f"{import_hint(refiner)}", missing=[refiner])
            refiner_folder = (models.path(refiner), refiner_record)
        return cls(folder, record, device, refiner_folder)

    def _load_refiner(self, folder: Path, record: ModelRecord) -> None:
        from diffusers import StableDiffusionXLImg2ImgPipeline

        what = f"SDXL refiner {record.name!r}"
        index = check_pipeline_folder(folder, what)
        if self.family_name != "sdxl" or index.get("_class_name") != SDXL_REFINER:
            raise InvalidInput(f"{what}: a refiner ({SDXL_REFINER}) works with an SDXL base only; the pipeline is "
                               f"{self.family_name} and the refiner folder holds {index.get('_class_name')!r}")
        refiner = StableDiffusionXLImg2ImgPipeline.from_pretrained(
            folder, dtype=self.dtype, local_files_only=True, use_safetensors=True)
        self.refiner = refiner.to(self.torch_device)
        self.refiner.set_progress_bar_config(disable=True)
        self._fit_memory(self.refiner)
        self.refiner_record = record

    def _fit_memory(self, pipe) -> dict:
        if self.device.kind != "cuda":
            return {"vae_slicing": False, "vae_tiling": False, "attention_slicing": False}
        pipe.vae.enable_slicing()
        pipe.vae.enable_tiling()
        total_gib = torch.cuda.get_device_properties(self.torch_device).total_memory / 2 ** 30
        slicing = total_gib < ATTENTION_SLICING_BELOW_GIB
        if slicing:
            pipe.enable_attention_slicing()
        return {"vae_slicing": True, "vae_tiling": True, "attention_slicing": slicing}

    # ---- facts ------------------------------------------------------------------------------------------
    @property
    def reads_korean(self) -> bool:
        return self.family.reads_korean

    def records(self) -> list[ModelRecord]:
        return [self.record] + ([self.refiner_record] if self.refiner_record is not None else [])

    def describe(self) -> dict:
        """Engine, weights, licences and use restrictions, precision and what may differ across devices."""
        used = {self.info.weight_files[0].name: self.record}
        if self.refiner_record is not None:
            used[self.refiner_record.name] = self.refiner_record
        restrictions = {r.name: use_restrictions(r.licence) for r in self.records()}
        return {**self.info.public(), "commercial_use": self.info.commercial_use_with(used),
                "weights_record": self.record.public(),
                "refiner_record": self.refiner_record.public() if self.refiner_record else None,
                "use_restrictions": restrictions, "family": self.family_name, "resolution": self.resolution,
                "latent_space": "diffusion noise + final latent", "latent_dim": self.latent_dim,
                "latent_shape": list(self.latent_shape), "device": self.device.kind,
                "dtype": str(self.dtype).replace("torch.", ""), "memory": self.memory,
                "determinism": ("same weights, device, precision and settings give the same bytes for a seed "
                                "(initial noise is drawn on the CPU, so it is the same everywhere; on CPU every "
                                "candidate is its own pass). Across devices the face is the same but bytes may "
                                "differ: fp16/bf16 on CUDA vs fp32 on CPU, and the kernels each GPU model and "
                                "batch size pick")}

    def defaults(self) -> dict:
        return {"steps": self.family.steps, "guidance": self.family.guidance, "resolution": self.resolution}

    def prompt_tokens(self, prompt: str) -> dict:
        """How many CLIP tokens the prompt takes and how many the encoder keeps (the rest is cut)."""
        tokenizer = self.pipe.tokenizer
        count = len(tokenizer(prompt, truncation=False).input_ids)
        limit = int(tokenizer.model_max_length)
        return {"tokens": count, "limit": limit, "truncated": count > limit}

    def noise(self, seed: int) -> np.ndarray:
        """The seed's initial noise, [C, h, w] float32, drawn on the CPU (the same on every device)."""
        generator = torch.Generator("cpu").manual_seed(int(seed))
        return torch.randn(self.latent_shape, generator=generator, dtype=torch.float32).numpy()

    def pack(self, rendered: Rendered) -> np.ndarray:
        return np.concatenate([rendered.noise.ravel(), rendered.final.ravel()]).astype(np.float32)

    def unpack(self, vector: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.size != self.latent_dim:
            raise InvalidInput(f"{what} has {vector.size} values; this pipeline's latents ({self.record.name}, "
                               f"{self.side} px) have {self.latent_dim}")
        half = self.latent_dim // 2
        return vector[:half].reshape(self.latent_shape), vector[half:].reshape(self.latent_shape)

    # ---- rendering --------------------------------------------------------------------------------------
    def run_batch(self, items: list[list[Render]], ctx=None) -> list[list[Rendered]]:
        """Every item's renders; on CPU one pipeline call per render, on CUDA up to `cuda_batch` renders that
        share prompt and settings per call."""
        flat = [render for renders in items for render in renders]
        done: list[Rendered | None] = [None] * len(flat)
        size = self.cuda_batch if self.device.kind == "cuda" else 1
        groups: dict[tuple, list[int]] = {}
        for position, render in enumerate(flat):
            key = (render.prompt, render.negative_prompt, render.steps, render.guidance,
                   render.init_latent is not None, render.strength)
            groups.setdefault(key, []).append(position)
        for positions in groups.values():
            for start in range(0, len(positions), size):
                chunk = positions[start:start + size]
                for position, result in zip(chunk, self._render([flat[p] for p in chunk])):
                    done[position] = result
        results, cursor = [], 0
        for renders in items:
            results.append(done[cursor:cursor + len(renders)])
            cursor += len(renders)
        return results

    def _render(self, renders: list[Render]) -> list[Rendered]:
        first = renders[0]
        noises = [r.noise if r.noise is not None else self.noise(r.seed) for r in renders]
        generators = [torch.Generator("cpu").manual_seed(int(r.seed)) for r in renders]
        finals: dict[str, torch.Tensor] = {}

        def keep_final(pipe, step, timestep, tensors):
            finals["latents"] = tensors["latents"]
            return tensors

        common = dict(prompt=[first.prompt] * len(renders), num_inference_steps=first.steps,
                      guidance_scale=first.guidance, generator=generators, callback_on_step_end=keep_final,
                      callback_on_step_end_tensor_inputs=["latents"])
        if self.family.uses_negative_prompt:
            common["negative_prompt"] = [first.negative_prompt] * len(renders)
        if self.family_name.startswith("flux"):
            common["max_sequence_length"] = 256
        with torch.no_grad():
            if first.init_latent is not None:
                latents = torch.from_numpy(np.stack([r.init_latent for r in renders])).to(self.torch_device,
                                                                                           self.dtype)
                output = self.img2img(image=latents, strength=first.strength, output_type="np",
                                      **({"height": self.side, "width": self.side}
                                         if self.family_name.startswith("flux") else {}), **common)
            else:
                latents = torch.from_numpy(np.stack(noises)).to(self.torch_device, self.dtype)
                if self.family_name.startswith("flux"):
                    latents = self.pipe._pack_latents(latents, len(renders), *self.latent_shape)
                size = {"height": self.side, "width": self.side}
                if self.refiner is not None:
                    base = self.pipe(latents=latents, output_type="latent", denoising_end=REFINER_SWITCH,
                                     **size, **common)
                    output = self.refiner(image=base.images, denoising_start=REFINER_SWITCH, output_type="np",
                                          **common)
                else:
                    output = self.pipe(latents=latents, output_type="np", **size, **common)
        final = finals["latents"].float()
        if self.family_name.startswith("flux"):
            final = self.pipe._unpack_latents(final, self.side, self.side, self.vae_scale)
        images = np.asarray(output.images)  # [B, H, W, 3] float in [0, 1]
        pixels = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)[..., ::-1]
        return [Rendered(image=np.ascontiguousarray(pixels[i]), noise=noises[i].astype(np.float32),
                         final=final[i].cpu().numpy().astype(np.float32)) for i in range(len(renders))]
