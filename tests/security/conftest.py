"""The issue-14 probes, repeatable: the embedded gateway of tests/gateway (in-process bus, local store and
SQLite under tmp_path, the backbone's test stages)."""
from __future__ import annotations

import json

from tests.gateway.conftest import api, harness, make_harness, png_bytes  # noqa: F401  (fixtures)

INVERT = {"options": json.dumps({"steps": [{"stage": "invert"}]})}


def photo(seed: int = 0, name: str = "p.png"):
    return [("image", (name, png_bytes(seed=seed), "image/png"))]


def object_files(root) -> list[str]:
    """Every object in a local store (sidecars and temporary files excluded)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
