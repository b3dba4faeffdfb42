"""Fixtures: a small StyleGAN2 checkpoint in the published layout, imported into a temporary model store."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from services.generator.nets.stylegan2 import Generator
from shared.settings import Settings
from shared.stage import StageContext
from shared.weights import ModelStore

SMALL_CONFIG = {"size": 32, "style_dim": 32, "n_mlp": 2, "channels_override": {4: 16, 8: 16, 16: 8, 32: 8}}
SMALL_NAME = "stylegan2-small-test"
SMALL_LICENCE = "random test weights (MIT)"


def small_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(**SMALL_CONFIG).eval()


def small_checkpoint(seed: int = 0) -> dict:
    """`{"g_ema": state_dict, "latent_avg": [style_dim]}`, as rosinality's convert_weight.py writes it."""
    generator = small_generator(seed)
    with torch.no_grad():
        latent_avg = generator.mean_latent(1000, generator=torch.Generator().manual_seed(seed))[0]
    return {"g_ema": generator.state_dict(), "latent_avg": latent_avg}


def import_checkpoint(store: ModelStore, checkpoint, name: str, folder: Path) -> None:
    path = folder / f"{name}.pt"
    torch.save(checkpoint, path)
    store.import_file(name, path, licence=SMALL_LICENCE, commercial_use=True, source="built by the test",
                      input_size=SMALL_CONFIG["size"])


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(root=tmp_path / "models")


@pytest.fixture
def small_store(store, tmp_path) -> ModelStore:
    import_checkpoint(store, small_checkpoint(), SMALL_NAME, tmp_path)
    return store


@pytest.fixture
def noise_accepted(monkeypatch) -> None:
    """The small StyleGAN2's random weights draw noise, not faces, which the stage's acceptance check would
    replace seed after seed: with this fixture every portrait passes it (tests of the check itself use the
    demo engine's real faces)."""
    from services.generator import candidate_check

    monkeypatch.setattr(candidate_check, "check_acceptable", lambda image: candidate_check.CandidateCheck())


@pytest.fixture
def ctx(small_store, noise_accepted) -> StageContext:
    return StageContext(settings=Settings(), models=small_store)
