"""The diffusion engine on tiny random pipelines of each family (no real weights): import through
`facecast models import`, loading through the model store, determinism, batching, prompts in the report,
near / mix, replacement of failing candidates, named missing or changed files, licence records."""
from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest

from services.cli import main
from services.generator import candidate_check
from services.generator.contract import preflight
from services.generator.engines.diffusion import DiffusionEngine, check_pipeline_folder, slerp
from services.generator.stage import STAGE, run_batch
from shared.engines import CPU
from shared.errors import EngineUnavailable, InvalidInput, WeightsMismatch
from shared.settings import Settings, get_settings
from shared.stage import StageContext, StageInputs
from shared.weights import ModelStore
from tests.generator.tiny_pipelines import TINY_SIDE, save_tiny

LICENCES = {"sd15": ("CreativeML-OpenRAIL-M", "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5"),
            "sdxl": ("CreativeML-OpenRAIL++-M", "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0"),
            "flux-schnell": ("Apache-2.0", "https://huggingface.co/black-forest-labs/FLUX.1-schnell")}
STEPS = 2


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    """family → a saved tiny pipeline folder (built once per module)."""
    root = tmp_path_factory.mktemp("tiny-pipelines")
    return {family: save_tiny(family, root / family) for family in LICENCES}


def cli_import(store_root, name, path, family) -> int:
    licence, source = LICENCES[family]
    return main(["models", "import", name, str(path), "--licence", licence, "--commercial-use", "yes",
                 "--source", source])


@pytest.fixture
def use_store(tmp_path, monkeypatch):
    """A fresh model store the `facecast` command and the stage both use."""
    monkeypatch.setenv("FACECAST_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield ModelStore(root=tmp_path / "models")
    get_settings.cache_clear()


@pytest.fixture
def imported(use_store, tiny_folders):
    def run(family: str, name: str = "diffusion-pipeline") -> ModelStore:
        assert cli_import(use_store.root, name, tiny_folders[family], family) == 0
        return use_store
    return run


@pytest.fixture
def checks_pass(monkeypatch):
    """A random pipeline draws no face: the face check answers 'passed' (the real check is tested on real
    portraits below and in test_candidate_check.py)."""
    seen = []

    def passed(image):
        seen.append(image)
        return candidate_check.CandidateCheck(measures={"stub": True})
    monkeypatch.setattr(candidate_check, "check_candidate", passed)
    return seen


def cast(store: ModelStore, extras=None, **raw):
    params = STAGE.parse_params({"engine": "diffusion", "steps": STEPS, **raw})
    return STAGE.run(params, StageInputs(image=None, extras=extras or {}), StageContext(settings=Settings(),
                                                                                      models=store))


@pytest.mark.parametrize("family", list(LICENCES))
def test_import_records_every_file_and_the_family_loads(imported, tiny_folders, family, capsys):
    store = imported(family)
    record = store.records()["diffusion-pipeline"]
    on_disk = sorted(p.relative_to(tiny_folders[family]).as_posix()
                     for p in tiny_folders[family].rglob("*") if p.is_file())
    assert sorted(record.files) == on_disk and "model_index.json" in record.files
    assert record.licence == LICENCES[family][0] and record.commercial_use
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["diffusion-pipeline"]["files"] == len(on_disk)
    assert listed["diffusion-pipeline"]["licence"] == LICENCES[family][0]
    engine = DiffusionEngine.load(store, CPU)
    assert engine.family_name == family and engine.resolution == TINY_SIDE[family]
    assert engine.defaults()["steps"] == {"sd15": 30, "sdxl": 30, "flux-schnell": 4}[family]
    assert engine.defaults()["guidance"] == {"sd15": 7.0, "sdxl": 6.0, "flux-schnell": 0.0}[family]


def test_an_archive_imports_like_its_folder(use_store, tiny_folders, tmp_path):
    archive = tmp_path / "sd15.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(tiny_folders["sd15"], arcname="stable-diffusion-tiny")
    assert cli_import(use_store.root, "from-archive", archive, "sd15") == 0
    assert cli_import(use_store.root, "from-folder", tiny_folders["sd15"], "sd15") == 0
    records = use_store.records()
    assert records["from-archive"].sha256 == records["from-folder"].sha256
    assert records["from-archive"].files == records["from-folder"].files


def test_an_archive_reaching_outside_its_folder_is_refused(use_store, tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as bundle:
        data = b"{}"
        info = tarfile.TarInfo("../model_index.json")
        info.size = len(data)
        bundle.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidInput):
        use_store.import_archive("evil", archive, licence="MIT", commercial_use=True, source="test")


def test_missing_and_changed_files_are_named(imported):
    store = imported("sd15")
    unet = store.root / "diffusion-pipeline" / "unet" / "diffusion_pytorch_model.safetensors"
    vae_config = store.root / "diffusion-pipeline" / "vae" / "config.json"
    vae_config.write_text(vae_config.read_text().replace("4", "5", 1))
    with pytest.raises(WeightsMismatch, match="vae/config.json"):
        store.path("diffusion-pipeline")
    unet.unlink()
    with pytest.raises(EngineUnavailable, match="unet/diffusion_pytorch_model.safetensors"):
        DiffusionEngine.load(store, CPU)


def test_a_folder_without_weights_or_index_is_named(tiny_folders, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_folders["sd15"], partial)
    (partial / "text_encoder" / "model.safetensors").unlink()
    with pytest.raises(WeightsMismatch, match=r"text_encoder/\*\.safetensors"):
        check_pipeline_folder(partial, "test folder")
    (partial / "model_index.json").unlink()
    with pytest.raises(WeightsMismatch, match="model_index.json is missing.*facecast models import"):
        check_pipeline_folder(partial, "test folder")


def test_without_weights_the_engine_says_what_to_import(use_store, checks_pass):
    with pytest.raises(EngineUnavailable) as caught:
        cast(use_store, seeds=[1])
    assert "facecast models import diffusion-pipeline" in caught.value.message
    assert "FLUX.1-schnell" in caught.value.message and "OpenRAIL" in caught.value.message
    with pytest.raises(EngineUnavailable, match="facecast models import diffusion-pipeline"):
        preflight(STAGE.parse_params({"engine": "diffusion", "n": 1}), 0, use_store)


@pytest.mark.parametrize("family", list(LICENCES))
def test_a_seed_gives_the_same_bytes_alone_in_a_batch_and_again(imported, family, checks_pass):
    store = imported(family)
    first = cast(store, seeds=[3, 4])
    again = cast(store, seeds=[3, 4])
    alone = cast(store, seeds=[4])
    side = TINY_SIDE[family]
    assert first.artifacts["candidate-0"].shape == (side, side, 3)
    assert np.array_equal(first.artifacts["candidate-0"], again.artifacts["candidate-0"])
    assert np.array_equal(first.artifacts["candidate-1"], alone.artifacts["candidate-0"])
    assert np.array_equal(first.artifacts["latent-1"], alone.artifacts["latent-0"])
    assert not np.array_equal(first.artifacts["candidate-0"], first.artifacts["candidate-1"])
    ctx = StageContext(settings=Settings(), models=store)
    both = run_batch([(STAGE.parse_params({"engine": "diffusion", "steps": STEPS, "seeds": [4]}),
                       StageInputs(image=None, extras={})),
                      (STAGE.parse_params({"engine": "diffusion", "steps": STEPS, "seeds": [3],
                                           "first_index": 1}), StageInputs(image=None, extras={}))], ctx)
    assert np.array_equal(both[0].artifacts["candidate-0"], alone.artifacts["candidate-0"])
    assert np.array_equal(both[1].artifacts["candidate-1"], first.artifacts["candidate-0"])
    report = first.report
    assert report["family"] == family and report["steps"] == STEPS and report["seeds"] == [3, 4]
    assert report["device"] == "cpu" and report["dtype"] == "float32" and "differ" in report["determinism"]


def test_the_prompt_from_a_korean_category_and_brief_is_in_every_candidate(imported, checks_pass):
    store = imported("sd15")
    result = cast(store, seeds=[1], category="우아한", brief="청량한 여름 느낌, 단발머리, soft smile")
    report = result.report
    assert report["categories"][0]["category"] == "elegant"
    assert [c["category"] for c in report["categories"]] == ["elegant", "fresh"]
    assert "refined and poised" in report["prompt"] and "fresh and cool look" in report["prompt"]
    assert "summer" in report["prompt"] and "chin-length bob haircut" in report["prompt"]
    assert "soft smile" in report["prompt"] and "mouth closed" in report["prompt"]
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in report["prompt"])  # no Hangul reaches CLIP
    assert "heavy makeup" in report["negative_prompt"] and "glasses" in report["negative_prompt"]
    assert report["brief"]["unmapped"] == [] and report["prompt_tokens"]["limit"] == 77
    candidate = report["candidates"][0]
    assert candidate["prompt"] == report["prompt"] and candidate["negative_prompt"] == report["negative_prompt"]


def test_licence_and_use_restrictions_in_the_report_and_on_every_candidate(imported, checks_pass):
    store = imported("sdxl")
    report = cast(store, seeds=[1, 2]).report
    assert report["weights_record"]["licence"] == "CreativeML-OpenRAIL++-M" and report["commercial_use"]
    assert report["demo"] is False and report["engine"] == "diffusion"
    restriction = report["use_restrictions"]["diffusion-pipeline"]
    assert restriction["link"].startswith("https://huggingface.co/stabilityai/")
    assert "may not" in restriction["summary"]
    for candidate in report["candidates"]:
        assert candidate["licence"] == "CreativeML-OpenRAIL++-M" and candidate["use_restrictions"] == restriction
        assert candidate["commercial_use"] is True


@pytest.mark.parametrize("family", ["sd15", "flux-schnell"])
def test_near_starts_from_the_chosen_face_and_mix_from_the_blended_noise(imported, family, checks_pass):
    store = imported(family)
    chosen = cast(store, seeds=[10, 11])
    latent_a, latent_b = chosen.artifacts["latent-0"], chosen.artifacts["latent-1"]
    face_a, face_b = chosen.artifacts["candidate-0"], chosen.artifacts["candidate-1"]

    def gap(x, y):
        return float(np.abs(x.astype(np.int16) - y.astype(np.int16)).mean())

    near = cast(store, seeds=[20, 21], spread=0.5, extras={"near-0": latent_a})
    assert near.report["near"] == ["near-0"] and near.report["strength"] == 0.5
    assert near.report["candidates"][0]["anchor"] == "near-0"
    unrelated = cast(store, seeds=[20])
    for k in (0, 1):
        assert gap(near.artifacts[f"candidate-{k}"], face_a) < gap(unrelated.artifacts["candidate-0"], face_a)
    assert not np.array_equal(near.artifacts["candidate-0"], near.artifacts["candidate-1"])

    engine = DiffusionEngine.load(store, CPU)
    noise_a, _ = engine.unpack(latent_a, "a")
    assert np.array_equal(noise_a, engine.noise(10))
    mixed = cast(store, seeds=[30, 31], mix=0.5, spread=0.0, extras={"near-0": latent_a, "near-1": latent_b})
    assert mixed.report["near"] == ["near-0", "near-1"] and mixed.report["mix"] == 0.5
    assert np.array_equal(mixed.artifacts["candidate-0"], mixed.artifacts["candidate-1"])  # spread 0: the blend
    expected_noise = slerp(noise_a, engine.noise(11), 0.5)
    assert np.allclose(engine.unpack(mixed.artifacts["latent-0"], "m")[0], expected_noise, atol=1e-6)
    assert gap(mixed.artifacts["candidate-0"], face_a) > 0 and gap(mixed.artifacts["candidate-0"], face_b) > 0
    with pytest.raises(InvalidInput, match="has .* values"):
        cast(store, seeds=[1], extras={"near-0": latent_a[:-1]})


def test_failing_candidates_are_replaced_by_their_next_seeds(imported, monkeypatch):
    store = imported("sd15")
    calls = []

    def first_two_fail(image):
        calls.append(image)
        if len(calls) <= 2:
            return candidate_check.CandidateCheck(reasons=["2 faces found; exactly one is wanted"])
        return candidate_check.CandidateCheck()
    monkeypatch.setattr(candidate_check, "check_candidate", first_two_fail)
    report = cast(store, seeds=[5, 6]).report
    assert report["replacements"] == 2 and report["failed_checks"] == 0
    for candidate, seed in zip(report["candidates"], (5, 6)):
        assert candidate["requested_seed"] == seed and candidate["replaced"] == 1
        assert candidate["seed"] == candidate_check.replacement_seed(seed, 1) == seed + 1_000_003
        assert candidate["rejected"] == [{"seed": seed, "reasons": ["2 faces found; exactly one is wanted"]}]
        assert candidate["check"]["passed"]
    # a replacement's seed makes that very candidate again
    monkeypatch.setattr(candidate_check, "check_candidate", lambda image: candidate_check.CandidateCheck())
    again = cast(store, seeds=[report["candidates"][0]["seed"]])
    first = cast(store, seeds=[5])
    assert not np.array_equal(again.artifacts["candidate-0"], first.artifacts["candidate-0"])


def test_a_candidate_failing_every_replacement_is_shown_with_its_failed_check(imported, monkeypatch):
    store = imported("flux-schnell")
    monkeypatch.setattr(candidate_check, "MAX_REPLACEMENTS", 2)
    monkeypatch.setattr(candidate_check, "check_candidate",
                        lambda image: candidate_check.CandidateCheck(reasons=["0 faces found; exactly one is wanted"]))
    result = cast(store, seeds=[7])
    candidate = result.report["candidates"][0]
    assert candidate["replaced"] == 2 and [r["seed"] for r in candidate["rejected"]] == [7, 7 + 1_000_003]
    assert candidate["seed"] == 7 + 2 * 1_000_003 and not candidate["check"]["passed"]
    assert result.report["failed_checks"] == 1 and "candidate-0" in result.artifacts


def test_diffusion_params_are_refused_where_they_do_not_apply(imported, checks_pass):
    store = imported("sd15")
    with pytest.raises(InvalidInput, match="strength"):
        cast(store, seeds=[1], category="elegant", strength=2.0)
    with pytest.raises(Exception, match="diffusion engine only"):
        STAGE.parse_params({"engine": "demo", "n": 1, "steps": 4})
    with pytest.raises(InvalidInput, match="unknown category 'sporty'.*elegant"):
        cast(store, seeds=[1], category="sporty")
    words = cast(store, seeds=[1], category="sporty",
                 category_words={"phrase": "sporty athletic look", "negative": "frail"}).report
    assert "sporty athletic look" in words["prompt"] and words["negative_prompt"].startswith("frail")
    assert words["categories"][0]["source"] == "tenant's own words"


def test_an_sdxl_refiner_finishes_what_the_base_starts(imported, tiny_folders, tmp_path, checks_pass):
    store = imported("sdxl")
    refiner_folder = save_tiny("sdxl-refiner", tmp_path / "refiner")
    assert cli_import(store.root, "sdxl-refiner", refiner_folder, "sdxl") == 0
    refined = cast(store, seeds=[2], steps=5, refiner="sdxl-refiner")
    again = cast(store, seeds=[2], steps=5, refiner="sdxl-refiner")
    base = cast(store, seeds=[2], steps=5)
    assert np.array_equal(refined.artifacts["candidate-0"], again.artifacts["candidate-0"])
    assert not np.array_equal(refined.artifacts["candidate-0"], base.artifacts["candidate-0"])
    report = refined.report
    assert report["refiner_record"]["name"] == "sdxl-refiner" and base.report["refiner_record"] is None
    assert set(report["use_restrictions"]) == {"diffusion-pipeline", "sdxl-refiner"}
    with pytest.raises(InvalidInput, match="not a pipeline folder|SDXL refiner"):
        cast(store, seeds=[2], refiner="diffusion-pipeline")


def test_facecast_generate_with_the_diffusion_engine(imported, checks_pass, tmp_path):
    imported("flux-schnell")
    out = tmp_path / "cast"
    assert main(["generate", "--engine", "diffusion", "--seeds", "3", "4", "--steps", "2", "--category", "청량한",
                 "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["engine"] == "diffusion" and report["steps"] == 2 and report["seeds"] == [3, 4]
    assert "fresh and cool look" in report["prompt"] and report["family"] == "flux-schnell"
    assert report["prompt"].endswith("no glasses, no hands, no bangs") and report["negative_prompt_used"] is False
    assert (out / "diffusion-00-seed3.png").is_file() and (out / "contact-sheet.png").is_file()
    assert np.load(out / "diffusion-01-seed4.npy").size == 2 * 1 * 32 * 32
