"""The face toolkit's layering (shared/faces/__init__.py): each module imports only from the layers below
it, so the toolkit has no import cycle; code outside it uses the names the package exports."""
from __future__ import annotations

import ast
from pathlib import Path

import shared.faces

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "shared" / "faces"

# bottom to top; modules in one layer may not import each other
LAYERS = (
    {"types", "packaged_models"},
    {"align"},
    {"detect", "identity", "mesh", "onnx_models"},
    {"select"},
    {"masks", "paste", "color"},
    {"metrics"},
    {"realism"},
    {"cli"},
)
LAYER_OF = {module: level for level, modules in enumerate(LAYERS) for module in modules}


def toolkit_imports(path: Path) -> set[str]:
    """The shared.faces submodules a file imports (at any depth: function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "shared.faces":
                found.update(alias.name for alias in node.names if alias.name in LAYER_OF)
            elif node.module.startswith("shared.faces."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[2] for alias in node.names if alias.name.startswith("shared.faces."))
    return found


def test_every_toolkit_module_has_a_layer():
    modules = {path.stem for path in FACES.glob("*.py")} - {"__init__"}
    assert modules == set(LAYER_OF), "add the new module to LAYERS here and to the list in shared/faces/__init__.py"


def test_each_module_imports_only_from_the_layers_below_it():
    upward = []
    for module, level in LAYER_OF.items():
        for imported in toolkit_imports(FACES / f"{module}.py"):
            if LAYER_OF[imported] >= level:
                upward.append(f"{module} (layer {level + 1}) imports {imported} (layer {LAYER_OF[imported] + 1})")
    assert not upward, upward


def test_the_checker_sees_an_upward_import(tmp_path):
    module = tmp_path / "identity.py"
    module.write_text("def similarity():\n    from shared.faces.select import largest_face\n")
    assert toolkit_imports(module) == {"select"}
    assert LAYER_OF["select"] > LAYER_OF["identity"]


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
