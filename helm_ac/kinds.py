"""Facts about Kubernetes kinds that the pure core needs: object identity, API groups and scope."""
from __future__ import annotations

from typing import Iterable, Mapping, NamedTuple


class ObjectKey(NamedTuple):
    """Identity of an object in a release: API group, Kind, namespace (None if cluster-scoped), name.

    A named tuple, not a dataclass: keys are hashed and compared a great many times (graph nodes,
    indexes), and tuples do that in C.
    """

    group: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    def qualified(self, *, group: bool = False, namespace: bool = False) -> str:
        """``[ns/]kind[.group]/name``, the reference that names exactly this object."""
        kind = self.kind.lower() + (f".{self.group}" if group and self.group else "")
        ns = f"{self.namespace}/" if namespace and self.namespace else ""
        return f"{ns}{kind}/{self.name}"

#: Built-in cluster-scoped kinds, by (group, Kind).  Custom resources declare
#: their scope in their CRD (``spec.scope``), which :func:`scopes_from_crds` reads.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"), ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"), ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"), ("certificates.k8s.io", "CertificateSigningRequest"),
    ("policy", "PodSecurityPolicy"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"),
    # widely used custom resources that are cluster-scoped (their CRD is usually not in the chart)
    ("cert-manager.io", "ClusterIssuer"), ("gateway.networking.k8s.io", "GatewayClass"),
    ("kyverno.io", "ClusterPolicy"), ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"), ("karpenter.sh", "NodePool"), ("karpenter.sh", "NodeClaim"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"), ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"),
    ("crd.projectcalico.org", "GlobalNetworkPolicy"), ("policy.networking.k8s.io", "AdminNetworkPolicy"),
})

#: kubectl short names and plurals, used only for "did you mean" hints.
ALIASES: dict[str, str] = {
    "svc": "service", "services": "service", "deploy": "deployment", "deployments": "deployment",
    "sts": "statefulset", "statefulsets": "statefulset", "ds": "daemonset", "daemonsets": "daemonset",
    "rs": "replicaset", "replicasets": "replicaset", "po": "pod", "pods": "pod", "cm": "configmap",
    "configmaps": "configmap", "secrets": "secret", "sa": "serviceaccount", "serviceaccounts": "serviceaccount",
    "pvc": "persistentvolumeclaim", "pv": "persistentvolume", "ns": "namespace", "namespaces": "namespace",
    "crd": "customresourcedefinition", "crds": "customresourcedefinition", "ing": "ingress",
    "ingresses": "ingress", "jobs": "job", "cj": "cronjob", "cronjobs": "cronjob", "hpa": "horizontalpodautoscaler",
    "pdb": "poddisruptionbudget", "netpol": "networkpolicy", "sc": "storageclass", "ep": "endpoints",
}


#: Kinds whose objects are deleted and created anew when an update is refused because it changes
#: an immutable field (422 ``field is immutable``): a Job's Pod template cannot change, and a
#: changed Job (a new migration) must run again. Not Deployments or StatefulSets (a changed
#: selector): replacing them would take the application down; their refusal is reported.
REPLACED_WHEN_IMMUTABLE: frozenset[tuple[str, str]] = frozenset({("batch", "Job")})


def group_of(api_version: str) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` -> ``""`` (the core group)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def scopes_from_crds(objects: Iterable[Mapping]) -> dict[tuple[str, str], bool]:
    """Map (group, Kind) -> cluster-scoped? for every CRD among ``objects``."""
    out: dict[tuple[str, str], bool] = {}
    for body in objects:
        if body.get("kind") != "CustomResourceDefinition" or group_of(str(body.get("apiVersion", ""))) != "apiextensions.k8s.io":
            continue
        spec = body.get("spec") or {}
        names = spec.get("names") or {}
        if isinstance(spec, Mapping) and isinstance(names, Mapping) and names.get("kind") and spec.get("group"):
            out[(str(spec["group"]), str(names["kind"]))] = spec.get("scope") == "Cluster"
    return out
