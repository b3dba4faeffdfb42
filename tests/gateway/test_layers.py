"""The gateway's layers (issue 15): app → api (routers) → domain → db, kept by the import-linter contract
"the gateway imports only downwards" in pyproject.toml (run by tests/test_import_boundaries.py). Here: the
tool does see the gateway's imports (so a kept contract proves something), and no router imports the app."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "services" / "gateway"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_check_sees_a_router_importing_upwards(tmp_path):
    """With the routers put above the app, the app's import of them breaks the contract and is named."""
    config = tmp_path / "layers.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["services", "shared"]
        exclude_type_checking_imports = true

        [[tool.importlinter.contracts]]
        name = "routers above the app"
        type = "layers"
        containers = ["services.gateway"]
        layers = ["api", "app", "domain", "db"]
        """))
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode != 0
    assert "services.gateway.app -> services.gateway.api" in result.stdout


def test_the_routers_do_not_import_the_app():
    """The former `app` ↔ `api.deps` cycle: no router imports `services.gateway.app`, not even for typing
    (which the contract above does not count)."""
    for path in sorted((GATEWAY / "api").glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        assert "services.gateway.app" not in imported, path.name
