"""Every lint rule of helm-ac, by name: id, default severity, summary and help.

A rule id is what users see in output, put in SARIF/JUnit, and grep for in
``docs/lint-rules.md``; the check that reports it lives in
:mod:`helm_ac.analysis.lint.checks` under a function with the same name (dashes as
underscores).  ``--strict`` turns warnings into errors.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(str, enum.Enum):
    """Severity of a finding; ordered error > warning > info."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class Rule:
    """A lint rule."""

    id: str
    severity: Severity
    summary: str
    help: str


@dataclass(frozen=True)
class Finding:
    """One problem found in one chart."""

    rule: str
    severity: Severity
    message: str
    chart: str  # the chart as the user named it (directory, .tgz or reference)
    file: str = ""  # chart-relative path: templates/x.yaml, charts/sub/templates/y.yaml, Chart.yaml
    line: int | None = None
    object: str | None = None  # kind/name
    hint: str = ""

    def sort_key(self) -> tuple:
        return (self.chart, self.file, self.line or 0, -self.severity.rank, self.rule, self.object or "", self.message)


def has_errors(findings: "list[Finding]") -> bool:
    """Any error among these findings (before --strict)?  A chart with errors has no meaningful graph."""
    return any(f.severity is Severity.ERROR for f in findings)


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("invalid-manifest", _E, "A rendered document is not a usable Kubernetes object",
         "The document is not valid YAML (or YAML the safe loader refuses, e.g. a !!omap tag), repeats a key of "
         "its head (two annotations: blocks: the first would be lost, and Kubernetes refuses it), is an alias bomb, "
         "or lacks apiVersion, kind or metadata.name."),
    Rule("unknown-annotation", _E, "Unknown appcontroller.k8s/ annotation key",
         "Only the keys of the chart-extension spec v1alpha1 are read; a misspelt key is silently ignored by "
         "the cluster, so the ordering you meant would be lost."),
    Rule("non-string-annotation", _E, "Annotation value is not a string",
         "Kubernetes annotations are strings; numbers and booleans must be quoted in the template "
         "(retry: \"3\"), or helm install fails."),
    Rule("invalid-annotation-value", _E, "Annotation value does not follow the spec",
         "timeout is a Go duration, on-error is abort|ignore|ignore-all, retry an integer ≥ 0, "
         "success-factor 1-100, ready-when a list of clauses."),
    Rule("invalid-reference", _E, "A depends-on reference is malformed",
         "References are [namespace/]kind[.group]/name or chart:<subchart>, separated by commas or newlines."),
    Rule("unresolved-reference", _E, "A depends-on reference names no object of the rendered chart",
         "The reference must name an object rendered by this chart with the same values; names are usually "
         "templated, so template the reference the same way."),
    Rule("ambiguous-reference", _E, "A depends-on reference matches objects of several API groups",
         "Qualify the kind with its group: kind.group/name."),
    Rule("duplicate-reference", _W, "The same reference appears twice in depends-on", "Remove the repetition."),
    Rule("self-dependency", _E, "An object depends on itself", "Remove the reference to the object itself."),
    Rule("dependency-cycle", _E, "Objects wait for each other in a cycle",
         "A cycle can never start. The path is printed as a → b (a waits for b); break one of its edges. "
         "Subchart rules count: a chart's objects wait for its subcharts unless wait-for-subcharts opts out."),
    Rule("unknown-subchart-reference", _E, "A chart: reference or chart annotation names no subchart",
         "chart:<name> names a subchart (name or alias) of the referencing object's chart; chart:/<name> "
         "starts at the top-level chart; a/b walks down."),
    Rule("disabled-subchart-reference", _W, "A chart: reference or chart annotation names a disabled subchart",
         "The subchart is disabled by its condition or tags with these values, so the dependency is dropped. "
         "An error under --strict."),
    Rule("empty-subchart-reference", _W, "A chart: reference names a subchart that renders no object",
         "Library charts and charts whose templates render nothing have nothing to wait for."),
    Rule("hook-reference", _E, "A depends-on reference names a Helm hook",
         "Hooks are run by Helm outside of helm-ac's orchestration; depend on a regular object, or drop the "
         "helm.sh/hook annotation so helm-ac orders the object."),
    Rule("hook-annotations-ignored", _W, "A Helm hook carries appcontroller.k8s/ annotations",
         "Hooks are kept aside and never orchestrated; these annotations have no effect."),
    Rule("duplicate-object", _E, "Two rendered objects have the same kind, namespace and name",
         "Kubernetes holds one object per identity; the second would overwrite the first."),
    Rule("invalid-annotation-key", _W, "An ordering annotation key that Kubernetes rejects",
         "HIP-0025's draft key helm.sh/depends-on/resource-groups has two '/': the API server rejects objects "
         "carrying it. helm-ac reads it and strips it from what it emits; plain helm install fails."),
    Rule("invalid-chart-annotation", _E, "A Chart.yaml appcontroller.k8s/ annotation is invalid",
         "wait-for-subcharts is true, false or a list of subcharts; subchart-order is chains like a -> b."),
    Rule("unattributed-object", _W, "The chart an object comes from is unknown",
         "helm prints each object's chart and template in a '# Source:' comment, which some post-renderers drop; "
         "helm-ac then renders the chart again without the post-renderer and matches the objects, else reads "
         "the helm.sh/chart label. An object neither finds (renamed or added by the post-renderer) is ordered "
         "as an object of the top-level chart, which may not be what its subchart's rules meant."),
    Rule("endpoints-deadlock", _E, "A Service waits for endpoints from pods that wait for the Service",
         "With ready-when: endpoints a Service is ready once the pods it selects are; if every object of the "
         "chart bringing those pods depends on the Service (directly or through others), none can start. "
         "Drop the dependency, or the endpoints clause (a Service is then ready with its cluster IP)."),
)}
