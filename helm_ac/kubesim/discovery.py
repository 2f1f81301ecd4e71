"""Discovery documents: ``/version``, ``/api``, ``/apis``, one ``APIResourceList`` per group-version,
and aggregated discovery (``apidiscovery.k8s.io/v2``), all pure functions of a :class:`Registry`.

What the resource table (lightkube-models, generated from Kubernetes' OpenAPI) lacks --
``shortNames``, ``categories`` and the kinds and verbs of subresources -- is not in any maintained
package this project can depend on (the kubernetes client and kubernetes-validate carry no
discovery data; ``kmock`` ships a real cluster's discovery dump but installs a pytest plugin that
needs pytest-asyncio into every test run), so it is the small table below: what kubectl users type,
as a real v1.37 kube-apiserver reports it. A custom resource brings its own names from its
CustomResourceDefinition (:mod:`.crds` fills the :class:`Resource`).

Helm 3.17, Helm 4.1 and kubectl first ask ``/api`` and ``/apis`` for aggregated discovery
(``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList, application/json``) and
take the plain lists when the answer's Content-Type is plain JSON. :func:`wants_aggregated` reads
the Accept header; :data:`AGGREGATED_CONTENT_TYPE` is the Content-Type to answer with.
"""
from __future__ import annotations

from typing import Any

from . import errors
from .resources import KUBERNETES_VERSION, Registry, Resource

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

#: Subresources whose kind lives in another group-version (a real server names it in discovery).
_SUB_KIND_GV = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1"),
                "TokenRequest": ("authentication.k8s.io", "v1")}


_ALL = ("all",)
_EXT = ("api-extensions",)

#: ``(group, plural)`` -> (short names, categories), as a real kube-apiserver's discovery says.
#: tests/kubesim/test_discovery.py checks that every entry names a built-in resource.
NAMES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("", "componentstatuses"): (("cs",), ()), ("", "configmaps"): (("cm",), ()),
    ("", "endpoints"): (("ep",), ()), ("", "events"): (("ev",), ()), ("", "limitranges"): (("limits",), ()),
    ("", "namespaces"): (("ns",), ()), ("", "nodes"): (("no",), ()),
    ("", "persistentvolumeclaims"): (("pvc",), ()), ("", "persistentvolumes"): (("pv",), ()),
    ("", "pods"): (("po",), _ALL), ("", "replicationcontrollers"): (("rc",), _ALL),
    ("", "resourcequotas"): (("quota",), ()), ("", "serviceaccounts"): (("sa",), ()),
    ("", "services"): (("svc",), _ALL),
    ("apps", "daemonsets"): (("ds",), _ALL), ("apps", "deployments"): (("deploy",), _ALL),
    ("apps", "replicasets"): (("rs",), _ALL), ("apps", "statefulsets"): (("sts",), _ALL),
    ("autoscaling", "horizontalpodautoscalers"): (("hpa",), _ALL),
    ("batch", "cronjobs"): (("cj",), _ALL), ("batch", "jobs"): ((), _ALL),
    ("events.k8s.io", "events"): (("ev",), ()),
    ("certificates.k8s.io", "certificatesigningrequests"): (("csr",), ()),
    ("networking.k8s.io", "ingresses"): (("ing",), ()), ("networking.k8s.io", "networkpolicies"): (("netpol",), ()),
    ("networking.k8s.io", "ipaddresses"): (("ip",), ()),
    ("policy", "poddisruptionbudgets"): (("pdb",), ()),
    ("scheduling.k8s.io", "priorityclasses"): (("pc",), ()),
    ("storage.k8s.io", "storageclasses"): (("sc",), ()),
    ("storage.k8s.io", "volumeattributesclasses"): (("vac",), ()),
    ("apiextensions.k8s.io", "customresourcedefinitions"): (("crd", "crds"), _EXT),
    ("apiregistration.k8s.io", "apiservices"): ((), _EXT),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): ((), _EXT),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): ((), _EXT),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): ((), _EXT),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): ((), _EXT),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"): ((), _EXT),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"): ((), _EXT),
}

_RW = ("get", "patch", "update")
#: Subresources other than ``status`` (the object's kind) and ``scale`` (autoscaling/v1 Scale),
#: both get, patch, update: ``(group, plural, subresource)`` -> (kind, verbs).
SUBRESOURCES: dict[tuple[str, str, str], tuple[str, tuple[str, ...]]] = {
    ("", "pods", "log"): ("Pod", ("get",)),
    ("", "pods", "binding"): ("Binding", ("create",)), ("", "pods", "eviction"): ("Eviction", ("create",)),
    ("", "pods", "ephemeralcontainers"): ("Pod", _RW), ("", "pods", "resize"): ("Pod", _RW),
    ("", "serviceaccounts", "token"): ("TokenRequest", ("create",)),
    ("", "namespaces", "finalize"): ("Namespace", ("update",)),
    ("certificates.k8s.io", "certificatesigningrequests", "approval"): ("CertificateSigningRequest", _RW),
}


def short_names(r: Resource) -> tuple[str, ...]:
    if r.short_names or r.crd:
        return r.short_names
    return NAMES.get((r.group, r.plural), ((), ()))[0]


def categories(r: Resource) -> tuple[str, ...]:
    if r.categories or r.crd:
        return r.categories
    return NAMES.get((r.group, r.plural), ((), ()))[1]


def subresource(r: Resource, sub: str) -> tuple[str, str, str, tuple[str, ...]]:
    """``(group, version, kind, verbs)`` of a subresource: ``status`` is the object's own kind,
    ``scale`` an ``autoscaling/v1`` Scale; both answer get, patch and update."""
    kind, verbs = SUBRESOURCES.get((r.group, r.plural, sub)) or (("Scale" if sub == "scale" else r.kind), _RW)
    group, version = _SUB_KIND_GV.get(kind, (r.group, r.version))
    return group, version, kind, verbs


# -- /version, /api, /apis ---------------------------------------------------------------------------

def version_info() -> dict[str, str]:
    """``/version``: the Kubernetes version the resource table describes (kubectl warns on skew)."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "minCompatibilityMajor": major, "minCompatibilityMinor": str(max(int(minor) - 1, 0)),
            "gitVersion": KUBERNETES_VERSION, "gitCommit": "helm-ac-kubesim", "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
            "platform": "linux/amd64"}


def api_versions(server_address: str = "127.0.0.1:6443") -> dict[str, Any]:
    """``/api``: the legacy core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    """``/apis``: every named group with its versions, the preferred (newest stable) first."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in registry.group_versions().items() if g]}


def api_group(registry: Registry, group: str) -> dict[str, Any]:
    """``/apis/<group>``; a group the registry does not serve is a 404 as on a real server."""
    versions = registry.group_versions().get(group) if group else None
    if not versions:
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _api_resource(r: Resource) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": list(r.verbs)}
    if sn := short_names(r):
        out["shortNames"] = list(sn)
    if cats := categories(r):
        out["categories"] = list(cats)
    return out


def _api_subresource(r: Resource, sub: str) -> dict[str, Any]:
    group, version, kind, verbs = subresource(r, sub)
    out: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced}
    if (group, version) != (r.group, r.version):
        out.update(group=group, version=version)
    out.update(kind=kind, verbs=list(verbs))
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """``/api/v1`` or ``/apis/<group>/<version>``: its resources and their subresources (core's
    ``groupVersion`` is ``"v1"``: Helm fails on ``"/v1"``)."""
    found = registry.resources(group, version)
    if not found:
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
    items: list[dict[str, Any]] = []
    for r in found:
        items.append(_api_resource(r))
        items.extend(_api_subresource(r, s) for s in r.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": items}


# -- aggregated discovery (apidiscovery.k8s.io/v2) -----------------------------------------------------

def wants_aggregated(accept: str) -> bool:
    """Whether an Accept header asks for ``APIGroupDiscoveryList`` v2 before plain JSON (the
    order of the alternatives is the client's preference; v2beta1 alone gets the plain lists)."""
    for alt in accept.split(","):
        media, *params = (p.strip() for p in alt.split(";"))
        p = dict(x.split("=", 1) for x in params if "=" in x)
        if media in ("application/json", "*/*", "application/*"):
            if p.get("g") == "apidiscovery.k8s.io" and p.get("as") == "APIGroupDiscoveryList":
                if p.get("v") == "v2":
                    return True
                continue
            return False
    return False


def _aggregated_resource(r: Resource) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular, "verbs": list(r.verbs)}
    if sn := short_names(r):
        out["shortNames"] = list(sn)
    if cats := categories(r):
        out["categories"] = list(cats)
    subs = []
    for s in r.subresources:
        group, version, kind, verbs = subresource(r, s)
        subs.append({"subresource": s, "responseKind": {"group": group, "version": version, "kind": kind},
                     "verbs": list(verbs)})
    if subs:
        out["subresources"] = subs
    return out


def aggregated_discovery(registry: Registry, *, core: bool) -> dict[str, Any]:
    """The ``APIGroupDiscoveryList`` for ``/api`` (``core=True``: the legacy group only) or
    ``/apis`` (every named group), served with :data:`AGGREGATED_CONTENT_TYPE`."""
    items = []
    for g, versions in registry.group_versions().items():
        if bool(g) == core:
            continue
        items.append({
            "metadata": {"name": g, "creationTimestamp": None} if g else {"creationTimestamp": None},
            "versions": [{"version": v, "freshness": "Current",
                          "resources": [_aggregated_resource(r) for r in registry.resources(g, v)]}
                         for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}
