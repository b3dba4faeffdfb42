"""Issue 14 item 9, tried as a new user would: one default generator engine everywhere, the CLI's `--seed`
with `--n` as the API's `seed` with `n`, and `GET /v1/engines` saying `available` only when the engine can run."""
from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from services.gateway.schemas import CastingCreate
from services.generator import cli as generator_cli
from services.generator.contract import consecutive_seeds
from services.generator.stage import STAGE
from shared.weights import ModelStore


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    generator_cli.register(parser.add_subparsers())
    return parser.parse_args(["generate", *argv, "-o", "out"])


def test_one_default_engine_on_the_api_the_stage_and_the_cli():
    api_default = CastingCreate().engine
    assert api_default == "demo"
    assert STAGE.parse_params({"n": 1}).engine == api_default
    assert generator_cli._engine(parse("--n", "4")) == api_default
    assert generator_cli._engine(parse("--weights", "stylegan2-ffhq-config-f")) == "stylegan2"


def test_seed_on_the_cli_means_what_seed_means_in_the_api(monkeypatch, tmp_path):
    args = parse("--n", "3", "--seed", "7")
    assert args.seed == 7 and args.n == 3 and args.seeds is None
    ran = {}

    def fake_run(params, inputs, ctx):
        ran["params"] = params
        raise SystemExit(0)

    from services.generator import stage as generator_stage

    monkeypatch.setattr(generator_stage, "STAGE", SimpleNamespace(parse_params=STAGE.parse_params, run=fake_run))
    monkeypatch.setattr(generator_cli, "_context", lambda: None)
    with pytest.raises(SystemExit):
        generator_cli._generate(args)
    assert ran["params"].seeds == [7, 8, 9] == consecutive_seeds(7, 3)
    assert consecutive_seeds(2**32 - 1, 2) == [2**32 - 1, 0]  # as the API wraps


async def test_engines_are_available_only_when_their_weights_are_there(api, harness, tmp_path):
    engines = {(e["stage"], e["engine"]): e for e in (await api.get("/v1/engines")).json()["data"]}
    stylegan2 = engines[("generator", "stylegan2")]
    assert stylegan2["available"] is False and "stylegan2-ffhq-config-f" in stylegan2["unavailable_reason"]
    assert engines[("generator", "demo")]["available"] is True  # its weights ship in a package
    assert engines[("swapper", "classical")]["available"] is True
    gpen = engines.get(("enhancer", "gpen"))
    if gpen is not None:
        assert gpen["available"] is False and "gpen" in gpen["unavailable_reason"]
    # importing the weights makes it available (the hash is checked when a job first uses them)
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"not really weights")
    ModelStore(root=harness.settings.model_dir).import_file(
        "stylegan2-ffhq-config-f", fake, licence="test", commercial_use=False, source="test")
    engines = {(e["stage"], e["engine"]): e for e in (await api.get("/v1/engines")).json()["data"]}
    assert engines[("generator", "stylegan2")]["available"] is True
    assert engines[("generator", "stylegan2")]["unavailable_reason"] is None
