"""Ordering exported for other tools, pure: Argo CD sync waves and cli-utils/kpt depends-on.

``helm ac template --format argocd`` annotates each object with its level in the graph as a sync
wave; ``--format cli-utils`` with the objects it waits for, looking through barriers.
"""
import networkx as nx

from helm_ac.analysis.graph import levels, object_parents
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.model import Analysis
from helm_ac.extension.interop import CLI_UTILS_DEPENDS_ON
from helm_ac.kinds import ObjectKey

ARGOCD_WAVE = "argocd.argoproj.io/sync-wave"


def cli_utils_ref(key: ObjectKey) -> str:
    """An object as config.kubernetes.io/depends-on names it: ``group/[namespaces/ns/]Kind/name``."""
    ns = f"namespaces/{key.namespace}/" if key.namespace else ""
    return f"{key.group}/{ns}{key.kind}/{key.name}"


def annotations(a: Analysis, g: nx.DiGraph, keys: Keys, fmt: str) -> dict[int, dict[str, str]]:
    """Annotations per rendered object index: sync waves (levels) or cli-utils depends-on lists."""
    out: dict[int, dict[str, str]] = {}
    if fmt == "argocd":
        level = levels(g)
        for key, info in a.objects.items():
            out[info.obj.index] = {ARGOCD_WAVE: str(level[key] - 1)}
        return out
    for key, info in a.objects.items():
        deps = object_parents(g, key)  # looking through barriers to the objects behind them
        if deps:
            out[info.obj.index] = {CLI_UTILS_DEPENDS_ON: ",".join(sorted(cli_utils_ref(d) for d in deps))}
    return out
