"""The README's engine table, generated from the four stages' registries.

`python -m services.engine_table` rewrites the table between its markers in README.md; tests/test_readme.py
fails when the table and the registries differ (an engine registered without running this).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from shared.engines import EngineRegistry, engine_table
from shared.events import STAGES

README = Path(__file__).resolve().parents[1] / "README.md"
START = ("<!-- engine-table: generated from the registries (python -m services.engine_table); "
         "tests/test_readme.py checks it -->\n")
END = "<!-- engine-table end -->\n"


def registries() -> list[EngineRegistry]:
    """Each stage's registry (torch-free: no implementation is imported)."""
    return [importlib.import_module(f"services.{stage}.engines").REGISTRY for stage in STAGES]


def readme_table(text: str) -> str:
    """The table as the README holds it now."""
    return text[text.index(START) + len(START):text.index(END)]


def write(path: Path = README) -> None:
    text = path.read_text()
    path.write_text(text.replace(readme_table(text), engine_table(registries()), 1))


if __name__ == "__main__":
    write()
