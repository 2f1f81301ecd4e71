"""helm-ac: orchestration for Helm charts.

The package is layered (outermost first)::

    __main__, early  entry point: starts helm for ``lint`` before the CLI loads
    cli            click commands; binds flags onto actions, picks a printer
    actions        one module per verb (lint, template, graph, simulate); no printing, no argv
    printers       consume results and events: text/json/sarif/junit/github, timelines, progress
    simulation     runs the engine on the simulated cluster in virtual time
    engine         the scheduler, its events, the Cluster seam, the simulated cluster, the loop
    views          graph views: levels, critical path, text/DOT/Mermaid/JSON
    appcontroller  Definitions and Dependencies from the graph
    lint           the rule registry and the checks
    graph          the dependency graph with barrier vertices: an edge mapping (lint), networkx (the rest)
    model          rendered objects -> annotations -> resolved references
    readiness      one readiness rule per kind
    spec, refs, readywhen, interop, estimates   the chart extension and other tools' annotations
    manifests, fasthead                          split and read `helm template` output
    chart          read Chart.yaml trees (dirs and .tgz) without executing anything
    helm           the only door to the `helm` binary (subprocess with argument lists)
    yamlio         the only YAML loader (C SafeLoader, bounded against alias bombs)

Everything from ``simulation`` down is pure (no subprocess, no network, no clock but the
engine's loop); ``chart`` reads files; ``helm`` runs helm.  ``tests/test_layers.py`` checks it.
"""

__version__ = "0.1.0"
