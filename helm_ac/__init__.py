"""helm-ac: orchestration for Helm charts.

The package is layered; each folder is a layer and imports only the layers below it (bottom to top;
``tests/test_layers.py`` checks every import, and ``docs/development.md`` describes each module)::

    errors, kinds  user-facing errors; object identity, API groups and scopes
    extension      the chart format extension: annotations, references, durations, ready-when, schemas
    rendering      the helm door (the only helm process), its flag table, Chart.yaml trees, manifest split
    analysis       objects -> annotations -> references -> graph; AppController naming; lint rules
    engine         orchestration: scheduler, events, the Cluster seam, readiness, the simulated cluster
    output         AppController manifests, CRDs, graph views, exports, printers
    actions        one module per verb (lint, template, graph, simulate), command-line references, the
                   files flags ask for; no printing, no argv; Graphviz's dot for graph --svg
    cli, __main__  click commands; the entry point, which starts helm for ``lint`` before the CLI loads

extension, analysis, engine and output are pure: no processes, sockets, terminals or clocks but the
engine's loop.
"""

__version__ = "0.1.0"
