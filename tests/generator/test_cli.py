"""`facecast generate` and `facecast categories`, through the `facecast` command itself."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from services.cli import main
from services.generator import cli
from shared.settings import get_settings
from tests.generator.conftest import SMALL_NAME


@pytest.fixture
def facecast(small_store, noise_accepted, monkeypatch):
    """Runs `facecast ARGS…` with the test model store; returns (exit code, stderr)."""
    monkeypatch.setenv("FACECAST_MODEL_DIR", str(small_store.root))
    get_settings.cache_clear()

    def run(*argv: str) -> int:
        return main(list(argv))

    yield run
    get_settings.cache_clear()


def test_generate_writes_portraits_latents_report_and_contact_sheet(facecast, tmp_path):
    out = tmp_path / "cast"
    assert facecast("generate", "--seeds", "4", "5", "6", "--weights", SMALL_NAME, "-o", str(out)) == 0
    stems = [f"stylegan2-{i:02d}-seed{s}" for i, s in enumerate((4, 5, 6))]
    for stem in stems:
        assert cv2.imread(str(out / f"{stem}.png")).shape == (32, 32, 3)
        assert np.load(out / f"{stem}.npy").shape == (32,)
    report = json.loads((out / "report.json").read_text())
    assert report["seeds"] == [4, 5, 6] and report["weights_record"]["name"] == SMALL_NAME
    sheet = cv2.imread(str(out / "contact-sheet.png"))
    assert sheet.shape == (cli.BANNER_PX + cli.THUMB + cli.CAPTION_PX, 3 * cli.THUMB, 3)
    first_thumb = sheet[cli.BANNER_PX:cli.BANNER_PX + cli.THUMB, :cli.THUMB]
    expected = cv2.resize(cv2.imread(str(out / f"{stems[0]}.png")), (cli.THUMB, cli.THUMB),
                          interpolation=cv2.INTER_AREA)
    assert np.array_equal(first_thumb, expected)


def test_teach_then_generate_with_the_category(facecast, tmp_path):
    out = tmp_path / "pool"
    seeds = [str(s) for s in range(100, 124)]
    assert facecast("generate", "--seeds", *seeds, "--weights", SMALL_NAME, "-o", str(out)) == 0
    latents = sorted(out.glob("*.npy"))
    assert facecast("categories", "teach", "elegant", "--fitting", *map(str, latents[:12]),
                    "--not-fitting", *map(str, latents[12:]), "--weights", SMALL_NAME) == 0
    steered = tmp_path / "steered"
    assert facecast("generate", "--n", "2", "--category", "elegant", "--weights", SMALL_NAME,
                    "-o", str(steered)) == 0
    report = json.loads((steered / "report.json").read_text())
    assert report["categories"][0]["category"] == "elegant"
    near = tmp_path / "near"
    assert facecast("generate", "--n", "2", "--near", str(latents[0]), "--spread", "0", "--weights", SMALL_NAME,
                    "-o", str(near)) == 0
    assert all(np.array_equal(np.load(p), np.load(latents[0])) for p in near.glob("*.npy"))


@pytest.mark.parametrize("argv, message", [
    (["generate", "--n", "40"], "maximum per request is 32"),
    (["generate", "--engine", "stylegan2", "--n", "2"], "'stylegan2-ffhq-config-f' are not in the model store"),
    (["generate", "--seed", "7", "--seeds", "1", "2"], "not both"),
    (["generate", "--n", "2", "--weights", SMALL_NAME, "--category", "nope"], "unknown category 'nope'"),
    (["generate", "--n", "2", "--weights", SMALL_NAME, "--truncation", "3"], "truncation"),
])
def test_mistakes_are_one_clear_line_and_exit_code_2(facecast, tmp_path, capsys, argv, message):
    assert facecast(*argv, "-o", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.slow
def test_demo_output_is_labelled_demo(facecast, tmp_path, capsys):
    out = tmp_path / "demo"
    assert facecast("generate", "--n", "1", "--seed", "3", "-o", str(out)) == 0  # demo: the default, as in the API
    assert (out / "demo-00-seed3.png").is_file()
    assert "DEMO engine" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["demo"] is True and report["commercial_use"] is False
