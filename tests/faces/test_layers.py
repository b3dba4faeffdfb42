"""The face toolkit's layering: `lint-imports` keeps the layers contract in pyproject.toml (run by
tests/test_import_boundaries.py); these tests check that every toolkit module has a layer there, that the
tool sees an upward import, and that code outside the toolkit uses the names the package exports."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import shared.faces

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "shared" / "faces"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def faces_contract() -> dict:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("containers") == ["shared.faces"])


def test_every_toolkit_module_has_a_layer():
    layered = {module.strip() for layer in faces_contract()["layers"] for module in layer.split("|")}
    modules = {path.stem for path in FACES.glob("*.py")} - {"__init__"}
    assert modules == layered, "give the new module a layer in pyproject.toml and in shared/faces/__init__.py"


def test_the_check_sees_an_upward_import(tmp_path):
    """The reference selector embeds faces, so `select` imports `identity`: with `identity` put above
    `select`, the same tool must report that import (a kept contract would prove nothing otherwise)."""
    layers = [[module.strip() for module in layer.split("|")] for layer in faces_contract()["layers"]]
    swapped = [" | ".join(module for module in layer if module != "identity") for layer in layers]
    swapped.insert(swapped.index("select"), "identity")
    config = tmp_path / "faces.toml"
    config.write_text(textwrap.dedent(f"""
        [tool.importlinter]
        root_packages = ["shared"]

        [[tool.importlinter.contracts]]
        name = "identity above select"
        type = "layers"
        containers = ["shared.faces"]
        layers = {swapped!r}
        """))
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode != 0
    assert "shared.faces.select -> shared.faces.identity" in result.stdout


def test_code_outside_the_toolkit_uses_the_package_names():
    exported = set(shared.faces.__all__)
    into_submodules = []
    for top in ("services", "shared", "bench", "tests"):
        for path in (ROOT / top).rglob("*.py"):
            if FACES in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shared.faces.")
                        and all(alias.name in exported for alias in node.names)):
                    into_submodules.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module}")
    assert not into_submodules, into_submodules
