"""The package's layering, checked: folders are layers, no layer imports one above it, no import
circles, the pure layers do no I/O, and only the helm door (and Graphviz for --svg) runs processes.

Every import counts, also those inside functions (deferred for start-up time): a deferred import
of a higher layer is still a dependency on it.
"""
import ast
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parent.parent / "helm_ac"

#: Bottom to top. A module may import its own layer and those listed before it. ``kubesim`` is the
#: one in-memory Kubernetes (store, patches, simulated controllers) under both simulated faces: the
#: engine's virtual-time cluster and ``apiserver`` (the same model over HTTP, in real time). The
#: cluster half has its slots: ``kube`` (the official client behind the engine's Cluster seam),
#: ``apiserver`` and ``controller``.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("__init__", "errors", "kinds", "clock")),
    ("extension", ("extension",)),
    ("rendering", ("rendering",)),
    ("analysis", ("analysis",)),
    ("kubesim", ("kubesim",)),
    ("engine", ("engine",)),
    ("output", ("output",)),
    ("kube", ("kube",)),
    ("apiserver", ("apiserver",)),
    ("controller", ("controller",)),
    ("actions", ("actions",)),
    ("cli", ("cli", "__main__")),
]
#: Layers without I/O: no processes, sockets, terminals or command-line parsing (printers write to
#: the stream they are given, so rich is theirs only).
PURE = ("base", "extension", "analysis", "kubesim", "engine", "output")
IO_DOORS = {"subprocess", "socket", "click", "kubernetes", "urllib", "http", "asyncio", "aiohttp",
            "helm_ac.rendering.helm", "helm_ac.rendering.early"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(("helm_ac", *parts))


def imports(path: Path, own: str | None = None) -> set[str]:
    """Absolute names of everything a module imports (``from helm_ac.x import y`` gives both
    ``helm_ac.x`` and ``helm_ac.x.y``; :func:`own_imports` keeps the existing modules)."""
    own = own or module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def layer_of(module: str) -> int:
    parts = module.split(".")[1:] or ["__init__"]
    for i, (_, tops) in enumerate(LAYERS):
        if parts[0] in tops:
            return i
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS")


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def own_imports(path: Path, own: str | None = None) -> set[str]:
    return {i for i in imports(path, own) if i in MODULES}


def upward(module: str, path: Path) -> list[str]:
    return sorted(i for i in own_imports(path, module) if layer_of(i) > layer_of(module))


def io_imports(module: str, path: Path) -> set[str]:
    found = imports(path, module)
    bad = {i for i in found for door in IO_DOORS if i == door or i.startswith(door + ".")}
    if not module.startswith("helm_ac.output.printers"):
        bad |= {i for i in found if i == "rich" or i.startswith("rich.")}
    return bad


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_layer_imports_one_above_it(module):
    above = upward(module, MODULES[module])
    assert not above, f"{module} ({LAYERS[layer_of(module)][0]}) imports higher layers: {above}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if LAYERS[layer_of(m)][0] in PURE))
def test_pure_layers_do_no_io(module):
    bad = io_imports(module, MODULES[module])
    assert not bad, f"{module} imports {sorted(bad)}"


def test_no_import_circles():
    g = nx.DiGraph()
    for module, path in MODULES.items():
        for dep in own_imports(path):
            # a package's __init__ importing its own modules is how packages re-export, not a circle
            if dep != module and not (path.name == "__init__.py" and dep.startswith(module + ".")):
                g.add_edge(module, dep)
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import circles: {cycles[:5]}"


#: os functions that start programs (the helm door uses posix_spawnp: importing subprocess costs start-up).
OS_SPAWN = {"posix_spawn", "posix_spawnp", "system", "popen", "fork", "forkpty", "execv", "execve", "execvp",
            "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe"}


def runs_processes(path: Path, module: str | None = None) -> bool:
    tree = ast.parse(path.read_text())
    via_os = any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "os"
                 and n.attr in OS_SPAWN for n in ast.walk(tree))
    return via_os or "subprocess" in imports(path, module)


def test_only_the_helm_door_and_graphviz_run_processes():
    users = {m for m, p in MODULES.items() if runs_processes(p)}
    # helm; Graphviz's dot for --svg; the embedded API server's kubelet for the controller image's Pods
    assert users <= {"helm_ac.rendering.helm", "helm_ac.actions.graph", "helm_ac.apiserver.pods"}, users


def test_a_process_started_through_os_is_seen(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n\ndef f():\n    return os.posix_spawnp('x', ['x'], {})\n")
    assert runs_processes(probe, "helm_ac.extension.probe")
    probe.write_text("import os\n\ndef f():\n    return os.path.join('a', 'b')\n")
    assert not runs_processes(probe, "helm_ac.extension.probe")


def test_the_checks_can_fail(tmp_path):
    """A module of the extension layer that imports the analysis layer and runs a process, even
    deferred inside a function, is caught by both checks."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import subprocess\n    from helm_ac.analysis import model\n")
    assert upward("helm_ac.extension.probe", probe) == ["helm_ac.analysis", "helm_ac.analysis.model"]
    assert io_imports("helm_ac.extension.probe", probe) == {"subprocess"}
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("helm_ac.nowhere.probe")
