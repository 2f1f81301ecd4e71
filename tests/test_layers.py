"""The layering of helm_ac/__init__.py, checked: the pure core imports no I/O door and no outer layer."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "helm_ac"
PURE = ["spec", "refs", "readywhen", "interop", "estimates", "manifests", "fasthead", "model", "graph", "readiness",
        "views", "appcontroller", "simulation", "durations", "kinds", "yamlio", "schema", "lint/rules", "lint/checks",
        "engine/loop", "engine/cluster", "engine/events", "engine/scheduler", "engine/simulated"]
FORBIDDEN = {"subprocess", "socket", "click", "rich", "kubernetes", "helm_ac.helm", "helm_ac.cli", "helm_ac.actions",
             "helm_ac.printers", "urllib", "http"}


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("module", PURE)
def test_pure_core_does_no_io(module):
    found = imports(PKG / f"{module}.py")
    bad = {i for i in found for f in FORBIDDEN if i == f or i.startswith(f + ".")}
    assert not bad, f"helm_ac/{module}.py imports {sorted(bad)}"


def test_only_the_helm_module_and_actions_run_subprocesses():
    users = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if "subprocess" in imports(p)}
    assert users <= {"helm.py", "actions/graph.py"}, users  # helm; Graphviz's dot for --svg
