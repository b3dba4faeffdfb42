"""Import boundaries (issue 15 §2): `shared` never imports `services`, the gateway reaches a stage only
through its contract (`lint-imports`, contracts in pyproject.toml), and the gateway starts without the
model stack (a fresh interpreter importing it, building its app and reading every stage's contract has
no torch, OpenCV or MediaPipe in `sys.modules`)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MODEL_STACK = ("torch", "cv2", "mediapipe")


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_the_import_contracts_are_kept():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_the_check_sees_an_import_it_forbids(tmp_path):
    """The same tool on a contract the code breaks (the gateway does import the swapper's contract): it
    must say so, or a kept contract above would prove nothing."""
    config = tmp_path / "boundaries.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["services", "shared"]

        [[tool.importlinter.contracts]]
        name = "the gateway never imports the swapper's contract"
        type = "forbidden"
        source_modules = ["services.gateway"]
        forbidden_modules = ["services.swapper.contract"]
        """))
    result = lint_imports(str(config))
    assert result.returncode != 0
    assert "services.gateway is not allowed to import services.swapper.contract" in result.stdout


def test_the_gateway_starts_without_the_model_stack(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        import services.gateway.app
        from services.gateway.app import create_app
        from shared.settings import Settings

        app = create_app(Settings(data_dir={str(tmp_path)!r}, model_dir={str(tmp_path / "models")!r}))
        catalog = app.state.gateway.catalog
        contracts = [catalog.get(name) for name in ("generator", "swapper", "enhancer", "makeup")]
        catalog.validate_params(catalog.get("swapper"), {{"engine": "classical"}}, frozenset({{"source"}}))
        print(json.dumps({{"loaded": sorted(m for m in {MODEL_STACK!r} if m in sys.modules),
                          "stages": [c.name for c in contracts],
                          "actions": {{c.name: sorted(c.actions) for c in contracts}}}}))
        """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["stages"] == ["generator", "swapper", "enhancer", "makeup"]
    assert found["actions"] == {"generator": ["fit"], "swapper": ["prepare"], "enhancer": [], "makeup": []}
