"""The community ONNX face models FaceCast knows by file name, with their conventions and licences.

These are the files FaceFusion 3.x, roop, ReActor and Deep-Live-Cam run (names as FaceFusion's asset
releases spell them). Each card says what the file is (`kind`), the crop it takes (`size`, alignment
`template` in shared.faces.align), how pixels are normalised (`mean`/`std` on RGB in [0, 1]), how the
source identity reaches a swapper (`identity`) and the licence its weights are published under.
`facecast models import FILE` reads this table, so importing `hyperswap_1a_256.onnx` needs no
configuration; the operator may still state another licence on import, and the imported record is
what every result reports. Torch-free and import-light: the CLI, the gateway and the engine registries
read it without loading a model.

Facts from FaceFusion's face_swapper / face_enhancer / face_masker / face_recognizer model sets and the
models' own repositories; each engine checks them against the file's own signature at load.
"""
from __future__ import annotations

from dataclasses import dataclass

HALF = (0.5, 0.5, 0.5)
ZERO, ONE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

ARCFACE = "arcface_w600k_r50"
CROSSFACE_GHOST = "crossface_ghost"
CROSSFACE_SIMSWAP = "crossface_simswap"

# licence ids (SPDX, or LicenseRef-… for terms SPDX does not name) and the sentence a person reads
INSIGHTFACE_NC = ("LicenseRef-insightface-NC",
                  "InsightFace models: non-commercial research use only (deepinsight/insightface)")
SIMSWAP_NC = ("LicenseRef-academic-NC", "SimSwap (neuralchen/SimSwap): academic, non-commercial use only")
BLENDSWAP_NC = ("LicenseRef-academic-NC", "BlendFace/BlendSwap (mapooon/BlendFace): research, non-commercial use")
HYPERSWAP_RESEARCH = ("LicenseRef-hyperswap-research", "HyperSwap (FaceFusion): research licence, no commercial use")
UNIFACE_UNKNOWN = ("LicenseRef-unknown", "UniFace (xc-csc101/UniFace): no licence stated; nothing granted")
CROSSFACE_UNKNOWN = ("LicenseRef-unknown", "FaceFusion crossface embedding converter: licence not stated")
CODEFORMER_NC = ("LicenseRef-S-Lab-1.0", "CodeFormer (sczhou/CodeFormer): S-Lab License 1.0, non-commercial")
GPEN_NC = ("LicenseRef-academic-NC", "GPEN (yangxy/GPEN): 'for academic and non-commercial use only'")
APACHE = ("Apache-2.0", "Apache-2.0")
MIT = ("MIT", "MIT")
GPL3 = ("GPL-3.0-only", "GPL-3.0 (DeepFaceLab XSeg)")

FACEFUSION_ASSETS = "https://github.com/facefusion/facefusion-assets/releases"


@dataclass(frozen=True)
class ModelCard:
    """One known ONNX file. `kind`: swapper | recogniser | converter | restorer | parser | occluder.
    `identity` (swappers): "emap" (w600k embedding × the file's last initializer, over the embedding's
    norm), "normed" (the L2-normalised w600k embedding), "ghost" (w600k → crossface_ghost, raw),
    "simswap" (w600k → crossface_simswap, L2-normalised), "image112" (the source's own 112-px
    arcface_112_v2 crop, RGB/255), "image256" (its 256-px ffhq_512 crop, RGB/255; FaceFusion feeds
    both source images without the target's mean/std).
    `output_normalised`: the output is in the input's normalisation (else RGB in [0, 1])."""
    name: str
    kind: str
    family: str
    size: int
    template: str
    mean: tuple[float, float, float] = ZERO
    std: tuple[float, float, float] = ONE
    licence: tuple[str, str] = ("LicenseRef-unknown", "unknown")
    identity: str = ""
    needs: tuple[str, ...] = ()
    output_normalised: bool = False
    fp16: bool = False
    source: str = FACEFUSION_ASSETS
    layout: str = "NCHW"

    @property
    def file_name(self) -> str:
        return f"{self.name}.onnx"

    @property
    def licence_id(self) -> str:
        return self.licence[0]

    def notes(self) -> str:
        """What `facecast models import` records about the file's conventions."""
        parts = [f"{self.kind} {self.family}", f"{self.size}px {self.template}", f"mean {list(self.mean)} std {list(self.std)}"]
        if self.identity:
            parts.append(f"identity {self.identity}")
        if self.needs:
            parts.append("needs " + ", ".join(self.needs))
        return "; ".join(parts)


def _swapper(name, family, size, template, mean, std, licence, identity, needs=(ARCFACE,), normalised=False,
             fp16=False) -> ModelCard:
    return ModelCard(name=name, kind="swapper", family=family, size=size, template=template, mean=mean, std=std,
                     licence=licence, identity=identity, needs=needs, output_normalised=normalised, fp16=fp16)


def _restorer(name, family, size, template, licence) -> ModelCard:
    return ModelCard(name=name, kind="restorer", family=family, size=size, template=template, mean=HALF, std=HALF,
                     licence=licence, output_normalised=True)


CARDS: dict[str, ModelCard] = {card.name: card for card in (
    ModelCard(name=ARCFACE, kind="recogniser", family="arcface", size=112, template="arcface_112_v2",
              mean=HALF, std=HALF, licence=INSIGHTFACE_NC),  # x/127.5 − 1,
    ModelCard(name=CROSSFACE_GHOST, kind="converter", family="crossface", size=512, template="", licence=CROSSFACE_UNKNOWN),
    ModelCard(name=CROSSFACE_SIMSWAP, kind="converter", family="crossface", size=512, template="",
              licence=CROSSFACE_UNKNOWN),
    _swapper("inswapper_128", "inswapper", 128, "arcface_128", ZERO, ONE, INSIGHTFACE_NC, "emap"),
    _swapper("inswapper_128_fp16", "inswapper", 128, "arcface_128", ZERO, ONE, INSIGHTFACE_NC, "emap", fp16=True),
    *(_swapper(f"hyperswap_1{v}_256", "hyperswap", 256, "arcface_128", HALF, HALF, HYPERSWAP_RESEARCH, "normed",
               normalised=True) for v in "abc"),
    *(_swapper(f"ghost_{v}_256", "ghost", 256, "arcface_112_v1", HALF, HALF, APACHE, "ghost",
               needs=(ARCFACE, CROSSFACE_GHOST), normalised=True) for v in "123"),
    _swapper("simswap_256", "simswap", 256, "arcface_112_v1", IMAGENET_MEAN, IMAGENET_STD, SIMSWAP_NC, "simswap",
             needs=(ARCFACE, CROSSFACE_SIMSWAP)),
    _swapper("simswap_unofficial_512", "simswap", 512, "arcface_112_v1", ZERO, ONE, SIMSWAP_NC, "simswap",
             needs=(ARCFACE, CROSSFACE_SIMSWAP)),
    _swapper("blendswap_256", "blendswap", 256, "ffhq_512", ZERO, ONE, BLENDSWAP_NC, "image112", needs=()),
    _swapper("uniface_256", "uniface", 256, "ffhq_512", HALF, HALF, UNIFACE_UNKNOWN, "image256", needs=(),
             normalised=True),
    *(_restorer(f"gfpgan_{v}", "gfpgan", 512, "ffhq_512", APACHE) for v in ("1.2", "1.3", "1.4")),
    _restorer("codeformer", "codeformer", 512, "ffhq_512", CODEFORMER_NC),
    _restorer("restoreformer_plus_plus", "restoreformer", 512, "ffhq_512", APACHE),
    _restorer("gpen_bfr_256", "gpen_bfr", 256, "arcface_128", GPEN_NC),
    *(_restorer(f"gpen_bfr_{s}", "gpen_bfr", s, "ffhq_512", GPEN_NC) for s in (512, 1024, 2048)),
    *(ModelCard(name=f"bisenet_resnet_{d}", kind="parser", family="bisenet", size=512, template="",
                mean=IMAGENET_MEAN, std=IMAGENET_STD, licence=MIT) for d in (18, 34)),
    *(ModelCard(name=f"xseg_{v}", kind="occluder", family="xseg", size=256, template="", licence=GPL3, layout="NHWC")
      for v in (1, 2, 3)),
)}


def card_for_file(file_name: str) -> ModelCard | None:
    """The card of a known file name (`hyperswap_1a_256.onnx`, `gfpgan_1.4.onnx`), else None."""
    name = file_name.rsplit("/", 1)[-1]
    if name.lower().endswith(".onnx"):
        name = name[: -len(".onnx")]
    return CARDS.get(name)


def cards(kind: str) -> list[ModelCard]:
    return [card for card in CARDS.values() if card.kind == kind]


TITLES = {"swapper": "community ONNX face swapper", "restorer": "community ONNX face restorer"}


def engine_info(card: ModelCard, stage: str):
    """The `EngineInfo` of the engine that runs `card` (its file plus what it needs), for the stage's registry.

    The code is FaceCast's own (MIT, like the classical engine); each file carries its published licence
    until it is imported with its own record."""
    from shared.engines import EngineInfo, WeightFile

    files = (card, *(CARDS[name] for name in card.needs))
    licence = "; ".join(f"{c.file_name}: {c.licence[1]}" for c in files)
    return EngineInfo(
        name=card.name, stage=stage, title=f"{card.family} ({TITLES[card.kind]}, imported `{card.file_name}`)",
        code_licence="MIT", licence=f"FaceCast's own code (MIT); {licence}",
        weight_files=tuple(WeightFile(c.name, c.licence_id, f"{c.source} ({c.file_name})") for c in files),
        devices=("cpu", "cuda"), fp16=card.fp16, runtime="onnxruntime",
        description=f"{card.family} on {card.size}-px {card.template} crops via onnxruntime; {card.notes()}")


def class_name(name: str) -> str:
    """The engine class a card's engine module defines: `hyperswap_1a_256` → `Hyperswap1a256Engine`."""
    return "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Engine"
