"""The package's layers: no module imports a package above its own layer.

The order follows the data: errors and config at the bottom, then run files, data, the
search space, evaluation, the frameworks, the engine (loops), baselines, plots, whole runs
(pipeline), experiment grids, the Python API, and the command line on top. A module may import its own layer
and those below; every import is checked, also inside functions and ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "zeronas"

#: Bottom to top. A name is a module or sub-package directly under zeronas/.
LAYERS: list[set[str]] = [
    {"_version", "errors"},
    {"config"},
    {"runs"},
    {"data"},
    {"nas"},
    {"synthetic"},
    {"evaluation"},
    {"frameworks"},
    {"engine"},
    {"baselines"},
    {"plots"},
    {"pipeline"},
    {"experiments"},
    {"api"},
    {"cli", "cli_data", "config_text", "__init__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _component(module: str) -> str:
    """'zeronas.nas.supernet' -> 'nas'; 'zeronas' -> '__init__' (the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "zeronas"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zeronas":
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            if node.module == "zeronas":  # from zeronas import x: x may be a sub-package
                found += [(node.lineno, f"zeronas.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def test_every_module_has_a_layer():
    names = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").is_file()
    }
    assert names <= set(LAYER), f"modules without a layer: {sorted(names - set(LAYER))}"


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem != "__init__" else "__init__"
        for line, module in _imports(path):
            target = _component(module)
            if LAYER[target] > LAYER[own]:
                wrong.append(f"{rel}:{line} ({own}) imports {module} ({target})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_search_space_imports_no_loop_and_no_plot():
    for path in (PACKAGE / "nas").rglob("*.py"):
        for _, module in _imports(path):
            assert _component(module) not in {"engine", "plots", "frameworks", "evaluation"}, (path, module)
