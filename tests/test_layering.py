"""Lower layers never import higher ones (the package's folders follow the data flow)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "formulaforge"
ORDER = [
    "utils", "sources", "formula", "datasets", "models", "training", "evaluation", "pipeline", "app", "commands",
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.split(".")[1] for n in names if n.startswith("formulaforge.") and n.count(".") >= 1}


@pytest.mark.parametrize("layer", ORDER[:-1])
def test_layer_imports_only_lower_layers(layer: str) -> None:
    allowed = set(ORDER[: ORDER.index(layer) + 1])
    bad = []
    for path in (PKG / layer).rglob("*.py"):
        for imported in _imports(path) - allowed:
            if imported in ORDER or imported == "cli":
                bad.append(f"{path.relative_to(PKG)} imports formulaforge.{imported}")
    assert not bad, "\n".join(bad)
