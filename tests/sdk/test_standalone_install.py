"""Issue 15's check: a fresh venv with only `pip install ./clients/python` imports `facecast`, submits a job to a
running `facecast serve` and verifies its webhook signature, without torch (or any server dependency) installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .live import ROOT, TEST_IMAGES

SERVER_ONLY = {"torch", "mediapipe", "opencv-contrib-python", "numpy", "aiokafka", "sqlalchemy", "fastapi", "uvicorn",
               "minio", "boto3", "pydantic", "alembic", "rich"}


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("client-venv")
    venv = root / "venv"
    # a copy, so that the build leaves nothing in the repository (pip builds a local folder in place)
    source = shutil.copytree(ROOT / "clients" / "python", root / "facecast-client",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              str(source)], capture_output=True, text=True, env=env, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    return python, env


@pytest.mark.slow
def test_a_store_plugin_installs_only_the_client_and_talks_to_a_live_server(fresh_venv, live, tmp_path):
    python, env = fresh_venv
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                            capture_output=True, text=True, env=env, check=True, timeout=120)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"facecast-client", "httpx"} <= installed
    assert installed & SERVER_ONLY == set(), installed & SERVER_ONLY
    assert "facecast" not in installed  # the server distribution is not there either
    # the folder command is there, and asks for the [cli] extra (rich) rather than failing on an import
    cli = subprocess.run([str(python.parent / "facecast-client"), "run", str(tmp_path), "--model", "vm_x",
                          "-o", str(tmp_path / "out"), "--api-key", "fck_x"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert cli.returncode == 2 and 'pip install "facecast-client[cli]"' in cli.stderr, cli.stderr

    run = subprocess.run([str(python), str(ROOT / "tests" / "sdk" / "standalone_check.py"),
                          str(TEST_IMAGES / "portrait_astronaut.jpg")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600,
                         env={**env, "FACECAST_URL": live.url, "FACECAST_API_KEY": live.api_key})
    assert run.returncode == 0, run.stdout + run.stderr + live.log_tail()
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["facecast_file"].startswith(str(python.parent.parent))  # the venv's copy, not the repository's
    assert seen["job_status"] == "succeeded"
    assert seen["event_type"] == "job.succeeded" and seen["event_job"]
    assert seen["tampered"] == "refused"
    assert seen["heavy_modules"] == []
