"""CustomResourceDefinitions of the AppController kinds that helm-ac emits, pure (no I/O).

Mirantis AppController registered ``Definition`` and ``Dependency`` of
``appcontroller.k8s/v1alpha1`` as ThirdPartyResources, which Kubernetes removed
in 1.8.  This module describes the same two kinds as ``apiextensions.k8s.io/v1``
CRDs, both namespaced, keeping AppController's top-level shape (no ``spec``), and
helm-ac's own third, ``ReleaseGraph``:

* ``Definition`` (``definitions.appcontroller.k8s``, short name ``acdef``):
  resource ``meta`` (``timeout`` seconds, ``retry``, ``on-error``,
  ``success_factor``; other keys are kept) and exactly one embedded object under
  its lower-case kind key (``deployment: {...}``, ``backup: {...}``); a Secret's
  names its ``payload: {secretName}`` instead of holding data.  The kind
  keys are open-ended, so the root schema keeps unknown fields
  (``x-kubernetes-preserve-unknown-fields`` next to ``type: object`` and the
  known properties, which is a valid structural schema);
* ``Dependency`` (``dependencies.appcontroller.k8s``, short name ``acdep``): an
  edge, ``parent`` and ``child`` as ``[namespace/]kind[.group]/name`` keys
  (``void/<name>`` for barriers), with string maps ``meta`` and ``args``.

* ``ReleaseGraph`` (``releasegraphs.appcontroller.k8s``, short name ``acrg``): one per
  release, named as the release: ``spec.digest`` (the SHA-256 of the release's Definitions and
  Dependencies, each of which carries it in its ``appcontroller.k8s/graph`` annotation) and their
  counts, so a controller knows when it sees the whole graph; its status is the rollout as a whole
  (``docs/controller.md``).

All three have a ``status`` subresource (``observedGeneration``, metav1-style
``conditions``; a Definition also has ``phase``, ``reason``, ``message``, ``attempts``, ``blockedBy``,
``startedAt`` and ``finishedAt``: see ``docs/controller.md``; a Definition's ``status`` has a
``default`` (:data:`STATUS_DEFAULT`), so it reads ``Pending`` before any controller wrote it)
and printer columns for ``kubectl get``.

Callers: whatever writes CRD manifests (the CLI, the chart's ``crds/``) and the
tests, which also validate emitted objects with :func:`schema_of`.  Every
function builds fresh dicts, so callers may mutate what they get.
"""
from __future__ import annotations

import copy
from typing import Any

from helm_ac import __version__

GROUP = "appcontroller.k8s"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Definition phases, in the order a Definition normally passes through them.
PHASES = ("Pending", "Blocked", "Applying", "WaitingReady", "Ready", "Failed", "Skipped", "TimedOut")
#: A Definition's ``status`` until a controller writes one: the API server applies this CRD default
#: on every read, so a Definition Helm just created reads in progress (kstatus: ``observedGeneration``
#: 0 is behind ``metadata.generation``) and ``Pending`` in ``kubectl get`` (docs/controller.md).
STATUS_DEFAULT = {"observedGeneration": 0, "phase": "Pending", "reason": "NotObserved"}
#: Values of a Definition's ``status.reason``: ``NotObserved`` (the default: no controller has
#: written it yet), then the controller's (``controller/status.py``).
REASONS = ("NotObserved", "WaitingForParents", "ParentFailed", "Applying", "WaitingForReadiness", "Ready",
           "Failed", "TimedOut", "Skipped")
#: Values of a Definition's ``meta.on-error``.
ON_ERROR = ("abort", "ignore", "ignore-all")
#: ``[namespace/]kind[.group]/name``: lower-case kind, optional namespace and API group.
#: ``void/<name>`` (AppController's always-ready pseudo-kind) matches it too.
KEY_PATTERN = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?"
               r"[a-z][a-z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
               r"/[A-Za-z0-9]([-A-Za-z0-9_.:]*[A-Za-z0-9])?$")

_LABELS = {"app.kubernetes.io/name": "helm-ac", "app.kubernetes.io/part-of": "helm-ac"}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _common_fields() -> dict[str, Any]:
    """``apiVersion``, ``kind`` and ``metadata``, as every CRD schema declares them."""
    return {
        "apiVersion": {"type": "string", "description": "APIVersion of this object: appcontroller.k8s/v1alpha1."},
        "kind": {"type": "string", "description": "Kind of this object."},
        # a CRD may only restrict metadata.name/generateName; the API server validates the rest
        "metadata": {"type": "object"},
    }


def _conditions() -> dict[str, Any]:
    """A list of metav1.Condition, as controller-gen renders it (a map list keyed by ``type``)."""
    return {
        "type": "array",
        "description": "Latest observations of the object's state.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "description": "One aspect of the current state (metav1.Condition).",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": {
                    "type": "string", "maxLength": 316,
                    "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                               r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
                    "description": "Type of condition in CamelCase, e.g. Ready.",
                },
                "status": {"type": "string", "enum": ["True", "False", "Unknown"],
                           "description": "Status of the condition: True, False or Unknown."},
                "reason": {
                    "type": "string", "minLength": 1, "maxLength": 1024,
                    "pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                    "description": "Programmatic identifier of the reason for the last transition, CamelCase.",
                },
                "message": {"type": "string", "maxLength": 32768,
                            "description": "Human-readable details about the transition."},
                "lastTransitionTime": {"type": "string", "format": "date-time",
                                       "description": "When the condition last changed status."},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0,
                                       "description": "metadata.generation the condition was set for."},
            },
        },
    }


def _observed_generation() -> dict[str, Any]:
    return {"type": "integer", "format": "int64", "minimum": 0,
            "description": "The metadata.generation the controller last acted on."}


def _definition_schema() -> dict[str, Any]:
    props = _common_fields()
    props["payload"] = {  # a Secret's data lives in this Secret, never in the Definition
        "type": "object",
        "description": "For a wrapped Secret: the Secret in the same namespace holding its data (type "
                       "appcontroller.k8s/payload), which the controller reads to apply it.",
        "required": ["secretName"],
        "properties": {"secretName": {"type": "string", "minLength": 1, "maxLength": 253,
                                      "description": "The payload Secret's name."}},
    }
    props["meta"] = {
        "type": "object",
        "description": "Resource settings (AppController's resource meta). Unknown keys are kept.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "timeout": {"type": "integer", "minimum": 0,
                        "description": "Seconds to wait for the object to become ready (AppController default 600)."},
            "retry": {"type": "integer", "minimum": 0,
                      "description": "Attempts to create the object before it counts as failed."},
            "on-error": {"type": "string", "enum": list(ON_ERROR),
                         "description": "On failure: abort the run, ignore this object (dependents proceed) "
                                        "or ignore it and all its dependents (they are skipped)."},
            "success_factor": {"type": "integer", "minimum": 1, "maximum": 100,
                               "description": "Percentage of replicas that must be ready for dependents to start."},
        },
    }
    props["status"] = {
        "type": "object",
        "description": "Observed state of the wrapped object, written by the controller. Until it writes one "
                       "the API server defaults it to observedGeneration 0, phase Pending, reason NotObserved.",
        "default": dict(STATUS_DEFAULT),
        "properties": {
            "phase": {"type": "string", "enum": list(PHASES), "description": "Where the object is in the run."},
            "message": {"type": "string", "description": "Human-readable detail on the phase."},
            "observedGeneration": _observed_generation(),
            "attempts": {"type": "integer", "minimum": 0, "description": "Creation attempts made so far."},
            "reason": {"type": "string",
                       "description": "Why it is in this phase, CamelCase (as the Ready condition's): "
                                      + ", ".join(REASONS) + "."},
            "blockedBy": {"type": "array", "items": {"type": "string"},
                          "description": "Keys of the failed parents that keep it from being created."},
            "startedAt": {"type": "string", "format": "date-time", "description": "When its first attempt began."},
            "attemptStartedAt": {"type": "string", "format": "date-time",
                                 "description": "When its current attempt began (a restarted controller "
                                                "times the attempt from it)."},
            "finishedAt": {"type": "string", "format": "date-time",
                           "description": "When it reached a final phase (Ready, Failed, TimedOut, Blocked, Skipped)."},
            "conditions": _conditions(),
        },
    }
    return {
        "type": "object",
        "description": "One Kubernetes object wrapped under its lower-case kind key (e.g. deployment: {...}), "
                       "with the settings that govern its rollout.",
        # the embedded object's key is its kind: open-ended, so unknown root fields are kept
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": props,
    }


def _dependency_schema() -> dict[str, Any]:
    def key(role: str) -> dict[str, Any]:
        return {"type": "string", "pattern": KEY_PATTERN,
                "description": f"The {role}: [namespace/]kind[.group]/name with a lower-case kind, "
                               "or void/<name> for an always-ready barrier."}

    def string_map(what: str) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": {"type": "string"}, "description": what}

    props = _common_fields()
    props["parent"] = key("object that must be ready first")
    props["child"] = key("object that waits for the parent")
    props["meta"] = string_map("Edge settings (AppController's dependency meta), e.g. success_factor: \"80\".")
    props["args"] = string_map("Arguments passed to the child (AppController flow parameters).")
    props["status"] = {
        "type": "object",
        "description": "Observed state of the edge, written by the controller.",
        "properties": {"observedGeneration": _observed_generation(), "conditions": _conditions()},
    }
    return {
        "type": "object",
        "description": "An edge of the rollout graph: child waits until parent is ready.",
        "required": ["parent", "child"],
        "properties": props,
    }


#: ReleaseGraph phases (the release as a whole).
RELEASE_PHASES = ("Progressing", "Ready", "Failed", "Stalled", "TearingDown")


def _release_graph_schema() -> dict[str, Any]:
    props = _common_fields()
    props["spec"] = {
        "type": "object",
        "description": "What the release's graph is: the digest of its Definitions and Dependencies, and their counts.",
        "required": ["digest", "definitions", "dependencies"],
        "properties": {
            "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                       "description": "SHA-256 (hex) of the Definitions and Dependencies helm-ac emitted; each of them "
                                      "carries it in its appcontroller.k8s/graph annotation."},
            "definitions": {"type": "integer", "minimum": 0, "description": "How many Definitions the graph has."},
            "dependencies": {"type": "integer", "minimum": 0, "description": "How many Dependencies the graph has."},
        },
    }
    props["status"] = {
        "type": "object",
        "description": "The release's rollout as a whole, written by the controller.",
        # read as in progress until a controller has written it (kstatus: observedGeneration 0 < generation)
        "default": {"observedGeneration": 0, "phase": "Progressing", "reason": "NotObserved"},
        "properties": {
            "observedGeneration": _observed_generation(),
            "phase": {"type": "string", "enum": list(RELEASE_PHASES), "description": "Where the release's rollout is."},
            "reason": {"type": "string", "description": "Why it is in this phase, CamelCase."},
            "message": {"type": "string", "description": "Human-readable detail on the phase."},
            "digest": {"type": "string", "description": "The spec.digest of the graph the controller last acted on."},
            "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                       "description": "How many Definitions are in each phase."},
            "failed": {"type": "array", "items": {"type": "string"},
                       "description": "Keys of the objects that failed or timed out."},
            "startedAt": {"type": "string", "format": "date-time", "description": "When the current rollout began."},
            "finishedAt": {"type": "string", "format": "date-time", "description": "When the current rollout ended."},
            "pruneFailed": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "Objects the release no longer has that could not be removed after "
                                           "the rollout, by key, with why (phase Failed, reason PruneFailed)."},
            "appliedKinds": {
                "type": "array",
                "description": "Everything the controller ever applied for the release, by kind and namespace "
                               "(what an ordered teardown or a prune must look at).",
                "items": {"type": "object", "required": ["apiVersion", "kind"], "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "namespace": {"type": "string", "description": "Empty for cluster-scoped kinds."}}},
            },
            "conditions": _conditions(),
        },
    }
    return {
        "type": "object",
        "description": "One release's graph as a whole: what it is (spec) and how its rollout goes (status).",
        "properties": props,
    }


def _crd(kind: str, plural: str, short: str, schema: dict[str, Any],
         columns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": dict(_LABELS),
            "annotations": {"helm-ac/version": __version__},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["appcontroller"],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns + [dict(_AGE)],
            }],
        },
    }


def definition_crd() -> dict[str, Any]:
    """The CRD ``definitions.appcontroller.k8s`` (kind ``Definition``)."""
    return _crd("Definition", "definitions", "acdef", _definition_schema(), [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase",
         "description": "Where the object is in the run."},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1,
         "description": "Detail on the phase."},
    ])


def dependency_crd() -> dict[str, Any]:
    """The CRD ``dependencies.appcontroller.k8s`` (kind ``Dependency``)."""
    return _crd("Dependency", "dependencies", "acdep", _dependency_schema(), [
        {"name": "Parent", "type": "string", "jsonPath": ".parent", "description": "Must be ready first."},
        {"name": "Child", "type": "string", "jsonPath": ".child", "description": "Waits for the parent."},
    ])


def release_graph_crd() -> dict[str, Any]:
    """The CRD ``releasegraphs.appcontroller.k8s`` (kind ``ReleaseGraph``, one per release, named as it)."""
    return _crd("ReleaseGraph", "releasegraphs", "acrg", _release_graph_schema(), [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Where the rollout is."},
        {"name": "Definitions", "type": "integer", "jsonPath": ".spec.definitions",
         "description": "How many objects the graph has."},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1,
         "description": "Detail on the phase."},
    ])


def all_crds() -> list[dict[str, Any]]:
    """The three CRDs: Definition, Dependency, ReleaseGraph."""
    return [definition_crd(), dependency_crd(), release_graph_crd()]


def _to_json_schema(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _to_json_schema(v) for k, v in node.items() if not str(k).startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [_to_json_schema(v) for v in node]
    return copy.deepcopy(node)


def schema_of(kind: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``kind`` (``"Definition"``, ``"Dependency"`` or ``"ReleaseGraph"``) as
    plain JSON Schema.

    The conversion drops every ``x-kubernetes-*`` key, at any depth, and keeps
    everything else as it is; a ``$schema`` (Draft 2020-12) is added at the root.
    The keywords the CRDs use (``type``, ``properties``, ``required``, ``enum``,
    ``minimum``/``maximum``, ``pattern``, ``minLength``/``maxLength``, ``items``,
    ``additionalProperties``, ``format``, ``description``) mean the same in
    Kubernetes' OpenAPI v3 subset, Draft 7 and Draft 2020-12, so either
    ``jsonschema`` validator gives Kubernetes' verdict on field values, with
    these differences:

    * unknown fields: JSON Schema allows them everywhere (no
      ``additionalProperties: false`` is added), which matches dropping
      ``x-kubernetes-preserve-unknown-fields: true``; where that marker is
      absent Kubernetes would prune unknown fields (or reject them under
      ``kubectl``'s strict field validation) instead;
    * list semantics (``x-kubernetes-list-type: map`` keyed by ``type``): the
      uniqueness of condition types is not checked;
    * ``format`` (``date-time``, ``int64``) is checked only when the caller
      passes a format checker;
    * ``pattern``: Python's ``$`` also matches before a final newline, Go's
      (the API server's) does not, so a trailing ``"\\n"`` passes here only.
    """
    crds = {"Definition": definition_crd, "Dependency": dependency_crd, "ReleaseGraph": release_graph_crd}
    if kind not in crds:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(crds)}")
    schema = crds[kind]()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **_to_json_schema(schema)}
