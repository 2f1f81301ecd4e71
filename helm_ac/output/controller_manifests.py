"""The controller's own objects for one release, pure (no I/O): what ``helm ac post-render`` adds
to a release so that Helm creates (and tracks, and deletes) the controller with it.

* :func:`service_account`: ``<release>-helm-ac``, its token not mounted by default (only the
  controller's pods ask for it);
* :func:`role` + :func:`role_binding`: least privilege in the release namespace, exactly the calls
  the controller makes (:func:`needs` reads them off the release's analysis):

  - ``definitions``, ``dependencies``, ``releasegraphs``: get/list/watch (the graph, read by label
    selector and watched); ``definitions/status`` and ``releasegraphs/status``: patch (the status
    writers' merge patches); ``releasegraphs`` named as the release: patch (the teardown mark);
  - ``leases`` named ``helm-ac-<release>``: get/update; ``create`` cannot be restricted by name
    (the name of a POST is in its body, which RBAC does not see), so it is granted on leases in the
    namespace;
  - every kind the release's Definitions wrap (in the release namespace): get/list/watch (the
    engine's Get, and its LIST + WATCH per kind), create/patch (server-side apply is a PATCH; one
    that creates the object is also authorized as ``create`` of that name by kube-apiserver:
    ``handlers/patch.go``), delete (retries, pruning, teardown: Foreground with a uid
    precondition, which needs nothing more). No ``update``: the controller never PUTs an object;
  - RBAC objects of the release: ``escalate`` on the Roles and ClusterRoles it writes and ``bind``
    on the roles its bindings name, by name (kube-apiserver's escalation check), never the
    permissions the release hands out;
  - ``pods``: list/watch only where a Service waits for its endpoints (``ready-when:
    endpoints``: the engine watches the Pods of those namespaces; nothing else reads Pods or
    ReplicaSets: readiness reads each object's own status);
  - payload Secrets (issue 10 point 4): get by name, when the release has any;
* :func:`cluster_role` + :func:`cluster_role_binding` (``helm-ac-<namespace>-<release>``), only
  when the release has cluster-scoped objects or objects in other namespaces: the same verbs on
  those kinds (a Role in another namespace could not exist before the release creates that
  namespace);
* :func:`deployment`: the controller, one replica, ``Recreate`` (two never overlap; the Lease
  keeps them apart anyway), hardened (non-root 65532, read-only root filesystem with an
  in-memory ``/tmp`` for the client's discovery cache, no privilege escalation, no capabilities,
  seccomp RuntimeDefault), probes on ``/healthz`` and ``/readyz``;
* :func:`teardown_job`: the ``pre-delete`` hook running ``--teardown`` with the same hardening
  (Helm 4 only), weighted after the chart's own ``pre-delete`` hooks (:func:`teardown_weight`);
* :func:`gate_job`: a plain Job (not a hook) running ``--wait-rollout <digest>``, so that Helm's
  ``--wait --wait-for-jobs`` holds the post-install/upgrade hooks until the ordered rollout is done
  (``docs/hooks.md``); named per graph, image and timeout (:func:`gate_name`: a Job's template is
  immutable).

Names are DNS-1123 labels of at most 63 characters (:func:`name`: a hash keeps long ones unique).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from helm_ac import __version__
from helm_ac.analysis.model import Analysis
from helm_ac.engine import readiness
from helm_ac.extension import spec

DEFAULT_IMAGE = f"ghcr.io/helm-ac/controller:{__version__}"
#: on the controller's pod templates: the embedded API server runs such pods as local processes
CONTROLLER_ANNOTATION = spec.PREFIX + "controller"
HEALTH_PORT = 8080
GROUP = "appcontroller.k8s"
RBAC = "rbac.authorization.k8s.io"
PAYLOAD_TYPE = "appcontroller.k8s/payload"
#: The container's resources. The controller is one Python process with the official client and a
#: thread per watch: its peak resident memory for the wordpress example's one-shot rollout was
#: 115 MiB (measured on the embedded server, ru_maxrss), and the goal of issue 10 point 6 is
#: < 150 MiB for 10,000 objects: 128 Mi requested (what it uses), a 512 Mi limit (room for a larger
#: release before the kernel kills it). CPU: idle while it waits on watches, busy at the start of
#: a run (reading the graph): 50 m requested, 1 CPU at most (a CPU limit throttles, never kills).
RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
OBJECT_VERBS = ("create", "delete", "get", "list", "patch", "watch")

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def name(release: str, suffix: str = "", *, prefix: str = "", limit: int = 63) -> str:
    """``<prefix><release>-helm-ac<suffix>`` as a DNS-1123 label of at most ``limit`` characters: a
    longer (or unusual) one keeps its start and gets a hash of the whole name."""
    full = f"{prefix}{release}-helm-ac{suffix}"
    if len(full) <= limit and _LABEL.fullmatch(full) and "--" not in full:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    tail = f"-{digest}-helm-ac{suffix}"
    head = re.sub(r"[^a-z0-9-]+", "-", f"{prefix}{release}".lower())
    head = re.sub(r"-{2,}", "-", head).strip("-")[:max(limit - len(tail), 1)].rstrip("-") or "r"
    return f"{head}{tail}"


def lease_name(release: str) -> str:
    """The release's Lease (as ``controller.lease`` names it)."""
    return f"helm-ac-{release}"


def cluster_name(release: str, namespace: str) -> str:
    """The ClusterRole and ClusterRoleBinding: named for the release and its namespace (two
    releases of one name in two namespaces must not share them)."""
    return name(release, prefix=f"{namespace}-", limit=253)


def labels(release: str) -> dict[str, str]:
    """The controller's objects' labels (not the Definitions' selector: they are not the graph)."""
    return {"app.kubernetes.io/name": "helm-ac-controller", "app.kubernetes.io/instance": release,
            "app.kubernetes.io/component": "controller", "app.kubernetes.io/part-of": "helm-ac"}


def _selector(release: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "helm-ac-controller", "app.kubernetes.io/instance": release}


def _meta(obj_name: str, release: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": obj_name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels(release)
    return meta


# ------------------------------------------------------------------------------ what it touches


@dataclass
class Needs:
    """What the controller of one release calls, by API group and resource (plural)."""

    release: str
    namespace: str
    #: resources of the objects it applies in the release namespace: group -> plurals
    local: dict[str, set[str]] = field(default_factory=dict)
    #: resources of cluster-scoped objects and of objects in other namespaces: group -> plurals
    elsewhere: dict[str, set[str]] = field(default_factory=dict)
    #: namespaces whose Pods it watches (Services waiting for their endpoints)
    pod_namespaces: set[str] = field(default_factory=set)
    payload_secrets: tuple[str, ...] = ()
    #: RBAC objects of the release: (verb, plural) -> names, for ``escalate`` on the roles it writes
    #: and ``bind`` on the roles its bindings name, in the release namespace / elsewhere
    local_rbac: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    elsewhere_rbac: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def cluster_wide(self) -> bool:
        return bool(self.elsewhere) or any(ns != self.namespace for ns in self.pod_namespaces)


def plural_guess(kind: str) -> str:
    """kubectl's guess of a kind's resource (``UnsafeGuessKindToResource``), for kinds neither built
    in nor defined by a CRD of the release."""
    low = kind.lower()
    if low.endswith("s"):
        return low + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


def _plurals(a: Analysis) -> dict[tuple[str, str], str]:
    """(group, Kind) -> plural: the built-ins (lightkube-models' table) and the release's CRDs."""
    from helm_ac.kubesim.resources import builtin_resources

    out = {(r.group, r.kind): r.plural for r in builtin_resources()}
    for obj in a.rendered.objects:
        if obj.key.kind != "CustomResourceDefinition":
            continue
        spec_ = obj.body.get("spec") or {}  # the head keeps only names.kind
        names = spec_.get("names") or {} if isinstance(spec_, Mapping) else {}
        if isinstance(names, Mapping) and names.get("kind") and names.get("plural") and spec_.get("group"):
            out[(str(spec_["group"]), str(names["kind"]))] = str(names["plural"])
    return out


def needs(a: Analysis, release: str, payload_secrets: Iterable[str] = ()) -> Needs:
    """What the controller calls for the release analysed in ``a`` (its Definitions' objects)."""
    plurals = _plurals(a)
    out = Needs(release, a.namespace, payload_secrets=tuple(sorted(set(payload_secrets))))
    for key, info in a.objects.items():
        plural = plurals.get((key.group, key.kind)) or plural_guess(key.kind)
        where = out.local if key.namespace == a.namespace else out.elsewhere
        where.setdefault(key.group, set()).add(plural)
        if key.kind == "Service" and key.group == "" and readiness.waits_for_endpoints(info.setting("ready-when")):
            out.pod_namespaces.add(key.namespace or a.namespace)
        if key.group == RBAC:
            _rbac_needs(out, key.kind, key.name, info.obj.body, key.namespace == a.namespace)
    return out


def _rbac_needs(out: Needs, kind: str, obj_name: str, body: Mapping[str, Any], local: bool) -> None:
    """kube-apiserver lets a user write a role only with every permission it grants, or ``escalate``
    on it, and a binding only with the role's permissions, or ``bind`` on the role it names: both
    checked by name (an apply names the object in its URL), so the controller gets exactly those
    names and not the permissions its release hands out."""
    table = out.local_rbac if local else out.elsewhere_rbac
    if kind in ("Role", "ClusterRole"):
        table.setdefault(("escalate", kind.lower() + "s"), set()).add(obj_name)
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        ref = body.get("roleRef") or {}
        if isinstance(ref, Mapping) and ref.get("kind") in ("Role", "ClusterRole") and ref.get("name"):
            table.setdefault(("bind", str(ref["kind"]).lower() + "s"), set()).add(str(ref["name"]))


def _rule(groups: list[str], resources: Iterable[str], verbs: Iterable[str],
          names: Iterable[str] = ()) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": sorted(resources), "verbs": sorted(verbs)}
    if names:
        rule["resourceNames"] = sorted(names)
    return rule


def _object_rules(by_group: Mapping[str, set[str]], rbac: Mapping[tuple[str, str], set[str]]) -> list[dict[str, Any]]:
    return [_rule([g], plurals, OBJECT_VERBS) for g, plurals in sorted(by_group.items())] + \
        [_rule([RBAC], [plural], [verb], names) for (verb, plural), names in sorted(rbac.items())]


# ------------------------------------------------------------------------------ the objects


def service_account(release: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name(release), release, namespace),
            "automountServiceAccountToken": False}


def role(n: Needs) -> dict[str, Any]:
    """The controller's Role in the release namespace (module doc)."""
    rules = [
        _rule([GROUP], ["definitions", "dependencies", "releasegraphs"], ["get", "list", "watch"]),
        _rule([GROUP], ["definitions/status", "releasegraphs/status"], ["patch"]),
        _rule([GROUP], ["releasegraphs"], ["patch"], [n.release]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [lease_name(n.release)]),
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        *_object_rules(n.local, n.local_rbac),
    ]
    if n.namespace in n.pod_namespaces:
        rules.append(_rule([""], ["pods"], ["list", "watch"]))
    if n.payload_secrets:
        rules.append(_rule([""], ["secrets"], ["get"], n.payload_secrets))
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": _meta(name(n.release), n.release, n.namespace),
            "rules": rules}


def _subjects(release: str, namespace: str) -> list[dict[str, Any]]:
    return [{"kind": "ServiceAccount", "name": name(release), "namespace": namespace}]


def role_binding(release: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": _meta(name(release), release, namespace),
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name(release)},
            "subjects": _subjects(release, namespace)}


def cluster_role(n: Needs) -> dict[str, Any] | None:
    """The ClusterRole for cluster-scoped objects and objects in other namespaces (None without any)."""
    if not n.cluster_wide:
        return None
    rules = _object_rules(n.elsewhere, n.elsewhere_rbac)
    if any(ns != n.namespace for ns in n.pod_namespaces):
        rules.append(_rule([""], ["pods"], ["list", "watch"]))
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
            "metadata": _meta(cluster_name(n.release, n.namespace), n.release, None), "rules": rules}


def cluster_role_binding(release: str, namespace: str) -> dict[str, Any]:
    crn = cluster_name(release, namespace)
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(crn, release, None),
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": crn},
            "subjects": _subjects(release, namespace)}


#: what removing an object of a kind takes (``controller/removal.py``): list it, delete it, watch it go
PRUNE_VERBS = ("delete", "get", "list", "watch")


def _owned_by(meta: dict[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    meta["ownerReferences"] = [{"apiVersion": str(owner["apiVersion"]), "kind": str(owner["kind"]),
                                "name": str(owner["metadata"]["name"]), "uid": str(owner["metadata"]["uid"])}]
    return meta


def prune_role(release: str, namespace: str, by_group: Mapping[str, Iterable[str]],
               owner: Mapping[str, Any]) -> dict[str, Any]:
    """The right to remove what the release applied in its namespace (``by_group``: group ->
    plurals, from its ReleaseGraph's ``status.appliedKinds``), kept by ``helm ac upgrade|rollback``
    beside the Role of the revision, which grants only the kinds that revision has: without it, an
    upgrade or rollback that drops the last object of a kind could not remove it. Not Helm's: owned
    by the ``owner`` ReleaseGraph, so it goes with the release (``docs/controller.md``)."""
    meta = _owned_by(_meta(name(release, "-prune"), release, namespace), owner)
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": meta,
            "rules": [_rule([g], plurals, PRUNE_VERBS) for g, plurals in sorted(by_group.items())]}


def prune_role_binding(release: str, namespace: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = _owned_by(_meta(name(release, "-prune"), release, namespace), owner)
    return {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name(release, "-prune")},
            "subjects": _subjects(release, namespace)}


_SECCOMP = {"type": "RuntimeDefault"}


#: the container's variable holding its Pod's name (the downward API), for ``--identity``
POD_NAME_ENV = "POD_NAME"


def _pod_spec(release: str, image: str, args: list[str], *, probes: bool, restart: str,
              identity: bool = False) -> dict[str, Any]:
    if identity:
        # the Lease's holder is the Pod: a restarted container (same Pod) takes its Lease back at
        # once, where the default identity (host name + process id) would wait for it to expire
        args = [*args, "--identity", f"$({POD_NAME_ENV})"]
    container: dict[str, Any] = {
        "name": "controller",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "helm_ac.controller"],
        "args": args,
        **({"env": [{"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
           if identity else {}),
        "resources": {k: dict(v) for k, v in RESOURCES.items()},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": dict(_SECCOMP)},
        # the root filesystem is read-only: the client's discovery cache goes to an in-memory /tmp
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if probes:
        container["ports"] = [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
        container["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 10,
                                      "timeoutSeconds": 2, "failureThreshold": 3}
        # every 2 s: Helm's --wait on the controller Deployment (and so the install) waits for it;
        # /readyz is a memory read, cheap for the kubelet to ask often
        container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 2,
                                       "timeoutSeconds": 2, "failureThreshold": 2}
    return {
        "serviceAccountName": name(release),
        "automountServiceAccountToken": True,
        "restartPolicy": restart,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "seccompProfile": dict(_SECCOMP)},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
    }


def deployment(release: str, namespace: str, image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    """The controller's Deployment (``--watch``: it stays, and follows upgrades)."""
    args = ["--release", release, "-n", namespace, "--watch", "--health-port", str(HEALTH_PORT)]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name(release), release, namespace),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(release)},
            "template": {"metadata": {"labels": labels(release), "annotations": {CONTROLLER_ANNOTATION: "true"}},
                         "spec": _pod_spec(release, image, args, probes=True, restart="Always", identity=True)},
        },
    }


#: The teardown Job: two retries; Helm waits for a pre-delete hook for its --timeout (5 min by
#: default), and the Job gives up a little after that so that no pod outlives the uninstall.
TEARDOWN_BACKOFF_LIMIT = 2
TEARDOWN_DEADLINE_SECONDS = 600


def teardown_job(release: str, namespace: str, image: str = DEFAULT_IMAGE, weight: int = 0) -> dict[str, Any]:
    """The ``pre-delete`` hook deleting the release's objects in reverse order (``--teardown``),
    of hook weight ``weight`` (:func:`teardown_weight`)."""
    meta = _meta(name(release, "-teardown"), release, namespace)
    meta["annotations"] = {"helm.sh/hook": "pre-delete", "helm.sh/hook-weight": str(weight),
                           "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}
    args = ["--release", release, "-n", namespace, "--teardown"]
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {
            "backoffLimit": TEARDOWN_BACKOFF_LIMIT,
            "activeDeadlineSeconds": TEARDOWN_DEADLINE_SECONDS,
            "template": {"metadata": {"labels": labels(release), "annotations": {CONTROLLER_ANNOTATION: "true"}},
                         "spec": _pod_spec(release, image, args, probes=False, restart="Never")},
        },
    }


#: Helm 3: the file ``helm ac install|upgrade`` adds to its copy of the chart (``teardown_template``)
TEARDOWN_TEMPLATE = "helm-ac-teardown.yaml"


def teardown_template(release: str, namespace: str, image: str = DEFAULT_IMAGE, weight: int = 0) -> str:
    """:func:`teardown_job` as a chart template, for Helm 3: its post-renderer cannot add a hook,
    so ``helm ac install|upgrade`` puts this file in a copy of the chart (``docs/hooks.md``). Plain
    YAML (JSON) in which nothing reads as a Go template action."""
    import json

    # JSON is YAML; one object per line, so "{{" can only stand in a string, where YAML reads \u007b as "{"
    body = json.dumps(teardown_job(release, namespace, image, weight), indent=1, sort_keys=True)
    body = body.replace("{{", "\\u007b\\u007b")
    return ("# Added by helm ac install|upgrade on Helm 3, which takes no hook from a post-renderer: the\n"
            "# ordered teardown, run by helm uninstall after the chart's own pre-delete hooks.\n" + body + "\n")


def hook_weight(annotations: Mapping[str, Any]) -> int:
    """A hook's ``helm.sh/hook-weight`` as Helm reads it (``strconv.Atoi``, no spaces allowed;
    anything else is 0)."""
    value = str(annotations.get("helm.sh/hook-weight", "0"))
    return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else 0


def teardown_weight(pre_delete_weights: Iterable[int]) -> int:
    """The teardown hook's weight: one more than the highest of the chart's own ``pre-delete``
    hooks (Helm runs a phase's hooks one at a time by weight, then name), so they run first; 0
    without any."""
    return max(pre_delete_weights, default=-1) + 1


#: the gate's default deadline (seconds): Helm's own default --timeout (5 min)
GATE_TIMEOUT = 300
#: the gate Job outlives its --timeout by this much (the process gives up first and says why)
GATE_DEADLINE_MARGIN = 30


def gate_name(release: str, digest: str, image: str = DEFAULT_IMAGE, timeout: int = GATE_TIMEOUT) -> str:
    """``<release>-helm-ac-gate-<digest[:10]>-<5 hex>`` (length-safe: :func:`name`). A Job's pod
    template is immutable, so the name changes with everything the template holds: the graph (Helm
    deletes the old graph's Job on upgrade), and the image and timeout (the 5 hex characters, a
    hash of both: an upgrade of the same graph with another ``--timeout`` or helm-ac version would
    otherwise be refused by kube-apiserver, ``spec.template: field is immutable``)."""
    rest = hashlib.sha256(f"{image}\n{timeout}".encode()).hexdigest()[:5]
    return name(release, f"-gate-{digest[:10]}-{rest}")


def gate_job(release: str, namespace: str, digest: str, image: str = DEFAULT_IMAGE,
             timeout: int = GATE_TIMEOUT) -> dict[str, Any]:
    """The gate: a plain Job of the release (never a hook, so that Helm 3 takes it too) that
    completes once the release's graph of ``digest`` has rolled out and fails (no retry) when the
    rollout failed or at ``timeout`` seconds: Helm's ``--wait --wait-for-jobs`` then holds (or
    skips) the post-install and post-upgrade hooks (``docs/hooks.md``). It only reads the graph
    (list and watch of Definitions, Dependencies and the ReleaseGraph: :mod:`helm_ac.controller.gate`),
    which the controller's Role grants."""
    args = ["--release", release, "-n", namespace, "--wait-rollout", digest, "--timeout", str(timeout)]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(gate_name(release, digest, image, timeout), release, namespace),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout + GATE_DEADLINE_MARGIN,
            "template": {"metadata": {"labels": labels(release), "annotations": {CONTROLLER_ANNOTATION: "true"}},
                         "spec": _pod_spec(release, image, args, probes=False, restart="Never")},
        },
    }


def manifests(n: Needs, image: str = DEFAULT_IMAGE, *, teardown_hook: bool = True, digest: str | None = None,
              gate_timeout: int = GATE_TIMEOUT, teardown_hook_weight: int = 0) -> list[dict[str, Any]]:
    """Every object of the controller for the release, in the order Helm would install them: the
    gate Job with the graph's ``digest`` (none without), the teardown hook with ``teardown_hook``."""
    out = [service_account(n.release, n.namespace), role(n), role_binding(n.release, n.namespace)]
    cr = cluster_role(n)
    if cr is not None:
        out += [cr, cluster_role_binding(n.release, n.namespace)]
    out.append(deployment(n.release, n.namespace, image))
    if digest is not None:
        out.append(gate_job(n.release, n.namespace, digest, image, gate_timeout))
    if teardown_hook:
        out.append(teardown_job(n.release, n.namespace, image, teardown_hook_weight))
    return out
