"""The dependency rule of DESIGN.md: every import points down the layers, never up.

basics <- history <- {definitions and primitives, store} <- engine <- host <- client <-
{notebook, compat, cli}. Function-level and TYPE_CHECKING imports count too: a lazy upward
import is still an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pyworkflow_nb"

# module (or package) -> layer; a module not listed takes its package's layer
LAYERS: dict[str, int] = {
    "errors": 0, "durations": 0, "serde": 0, "locations": 0,
    "history": 1,
    "context": 2, "definitions": 2, "primitives": 2, "versioning": 2, "messages": 2, "store": 2,
    "engine": 3,
    "runtime": 4,
    "client": 5, "sync": 5, "schedules": 5, "timeskip": 5, "replayer": 5, "displays": 5,
    "telemetry": 5, "prometheus": 5, "exporting": 5, "copying": 5,
    "notebook": 6, "compat": 6, "cli": 6, "demo": 6, "__main__": 6, "celery": 6,
}
TOP = 7  # the package root wires the layers together and may import any of them


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return TOP
    if parts[1] not in LAYERS:
        raise AssertionError(f"{module} has no layer: add it to LAYERS in tests/test_layers.py")
    return LAYERS[parts[1]]


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None:  # `from . import a, b`: the submodules themselves
                found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
    return [(t, line) for t, line in found if t.split(".")[0] == "pyworkflow_nb"]


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_of(path)
        own = _layer(module)
        for target, line in _imports(path, module):
            if _layer(target) > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module} "
                              f"(layer {own}) imports {target} (layer {_layer(target)})")
    assert upward == []


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        _layer(_module_of(path))
