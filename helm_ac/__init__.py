"""helm-ac: orchestration for Helm charts.

The package is layered (outermost first)::

    cli            click commands; binds flags onto actions, picks a printer
    actions        one module per verb (lint, ...); no printing, no argv
    printers       consume results (findings) and write text/json/sarif/junit/github
    lint           the rule registry and the checks, pure
    model, graph   rendered objects -> annotations -> references -> dependency graph, pure
    spec, refs     the chart-extension spec v1alpha1: every annotation, parsed and validated, pure
    manifests      split `helm template` output into objects, pure
    chart          read Chart.yaml trees (dirs and .tgz) without executing anything
    helm           the only door to the `helm` binary (subprocess with argument lists)
    yamlio         the only YAML loader (C SafeLoader, bounded against alias bombs)

Nothing below `actions` performs I/O except `chart` (reads chart files) and `helm`.
"""

__version__ = "0.1.0"
