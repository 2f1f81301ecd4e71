"""Who is asking, and may they: authentication and RBAC authorization as kube-apiserver does them.

* :class:`Authenticator` -- bearer tokens: static ones (the admin token the server generates:
  ``kubernetes-admin`` in ``system:masters``) and ServiceAccount tokens the server issues through the
  TokenRequest subresource (``POST serviceaccounts/<name>/token``): JWTs signed by the server, for
  ``system:serviceaccount:<ns>:<name>``, valid while they have not expired and the ServiceAccount (and
  the object the token is bound to, if any) still exists with the same uid. No token is
  ``system:anonymous``; a bad token is 401 Unauthorized.
* :class:`Authorizer` -- the RBAC authorizer: Roles, ClusterRoles (aggregated ones included),
  RoleBindings and ClusterRoleBindings read from the store and indexed again when they change;
  ``system:masters`` is always allowed (kube-apiserver's privileged-group authorizer). Decisions carry
  kube-apiserver's reasons, and :func:`forbidden` its 403 text.
* :func:`escalation_admission` -- the store admission hook refusing a Role, ClusterRole or binding that
  grants more than its creator holds, unless they may ``escalate``/``bind`` (kube-apiserver's
  ``policybased`` storage); the HTTP face says who is writing with :func:`acting_as`.
* :func:`bootstrap` -- the default ClusterRoles and ClusterRoleBindings a real cluster has.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import secrets
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from helm_ac.clock import Loop
from helm_ac.kubesim.audit import RequestInfo
from helm_ac.kubesim.errors import StatusError, bad_request, invalid, not_found
from helm_ac.kubesim.fields import go_quote
from helm_ac.kubesim.resources import Registry, Resource
from helm_ac.kubesim.times import parse_rfc3339, rfc3339

RBAC_GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"
#: The service-account issuer and the API server's audience (kube-apiserver's default on kubeadm clusters).
ISSUER = "https://kubernetes.default.svc.cluster.local"
#: go-jose's jwt.DefaultLeeway: a token's bound object counts as deleted this long after its deletionTimestamp
TOKEN_LEEWAY = 60.0
ADMIN_USER = "kubernetes-admin"


# --- users ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    """kube-apiserver's ``user.Info``."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    @property
    def serviceaccount(self) -> tuple[str, str] | None:
        """``(namespace, name)`` for a ServiceAccount user."""
        if not self.name.startswith(SA_PREFIX):
            return None
        ns, sep, name = self.name[len(SA_PREFIX):].partition(":")
        return (ns, name) if sep and ns and name else None


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))
ADMIN = UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))


def serviceaccount_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    return UserInfo(f"{SA_PREFIX}{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED), uid)


class StoreLike(Protocol):
    """What this module needs of :class:`helm_ac.kubesim.store.Store`."""

    registry: Registry
    clock: Loop

    def get(self, res: Resource, namespace: str | None, name: str) -> dict: ...

    def list(self, res: Resource, namespace: str | None) -> dict: ...

    def create(self, res: Resource, namespace: str | None, obj: dict) -> dict: ...

    def subscribe(self, fn: Callable[[Any], None]) -> Callable[[], None]: ...


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def _resource(store: StoreLike, group: str, plural: str) -> Resource:
    res = store.registry.lookup(group, "v1", plural)
    if res is None:
        raise LookupError(f"the store serves no {plural}.{group or 'core'}/v1")
    return res


class Authenticator:
    """Bearer tokens to users. ``admin_token`` (generated when not given) is ``kubernetes-admin``;
    :meth:`add_token` adds other static tokens; :meth:`token_request` issues ServiceAccount tokens."""

    #: TokenRequest bounds, as kube-apiserver validates them.
    MIN_EXPIRATION = 600
    MAX_EXPIRATION = 1 << 32
    DEFAULT_EXPIRATION = 3600

    def __init__(self, store: StoreLike, *, admin_token: str | None = None, key: bytes | None = None,
                 issuer: str = ISSUER, anonymous: bool = True) -> None:
        self.store = store
        self.issuer = issuer
        self.anonymous = anonymous
        self.admin_token = admin_token or secrets.token_urlsafe(32)
        self._static: dict[str, UserInfo] = {self.admin_token: ADMIN}
        self._key = OctKey.import_key(key or secrets.token_bytes(32))

    def add_token(self, token: str, user: UserInfo) -> None:
        self._static[token] = user

    def authenticate(self, authorization: str | None) -> UserInfo:
        """The user of a request from its ``Authorization`` header (None or "" when absent)."""
        if not authorization:
            if not self.anonymous:
                raise unauthorized()
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        user = self.authenticate_token(token)
        if user is None:
            raise unauthorized()
        return user

    def authenticate_token(self, token: str) -> UserInfo | None:
        static = self._static.get(token)
        if static is not None:
            return static
        if token.count(".") != 2:
            return None
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]).claims
        except (JoseError, ValueError):
            return None
        now = self.store.clock.now()
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if claims.get("iss") != self.issuer or self.issuer not in auds:
            return None
        if not isinstance(claims.get("exp"), (int, float)) or now >= claims["exp"]:
            return None
        if isinstance(claims.get("nbf"), (int, float)) and now < claims["nbf"]:
            return None
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict):
            return None
        ns, sa = k8s.get("namespace"), k8s.get("serviceaccount") or {}
        if not isinstance(ns, str) or not isinstance(sa, dict):
            return None
        if not self._alive(_resource(self.store, "", "serviceaccounts"), ns, sa.get("name"), sa.get("uid")):
            return None
        for kind, plural in (("pod", "pods"), ("secret", "secrets"), ("node", "nodes")):
            bound = k8s.get(kind)
            if bound is not None and not (isinstance(bound, dict) and self._alive(
                    _resource(self.store, "", plural), None if kind == "node" else ns, bound.get("name"),
                    bound.get("uid"))):
                return None
        return serviceaccount_user(ns, str(sa.get("name")), str(sa.get("uid")))

    def _alive(self, res: Resource, namespace: str | None, name: object, uid: object) -> bool:
        if not isinstance(name, str) or not isinstance(uid, str):
            return False
        try:
            live = self.store.get(res, namespace, name)
        except StatusError:
            return False
        meta = live.get("metadata") or {}
        if meta.get("uid") != uid:
            return False
        # as kube-apiserver's validator: deleted only once the deletionTimestamp is more than the JWT
        # leeway in the past, so a Pod's containers keep their token through its grace period
        deleted = parse_rfc3339(meta.get("deletionTimestamp"))
        return deleted is None or deleted.timestamp() >= self.store.clock.now() - TOKEN_LEEWAY

    def token_request(self, namespace: str, name: str, body: Mapping[str, Any] | None = None) -> dict:
        """Answer ``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`` (201): a TokenRequest
        with ``status.token`` and ``status.expirationTimestamp``. 404 for a missing ServiceAccount
        or bound object, 422 for a bad spec, 400 for a body that is not a TokenRequest."""
        body = body or {}
        if not isinstance(body, Mapping) or body.get("kind", "TokenRequest") != "TokenRequest":
            raise bad_request(f"the body of serviceaccounts/token must be an authentication.k8s.io/v1 "
                              f"TokenRequest, not {body.get('kind') if isinstance(body, Mapping) else type(body).__name__}")
        spec = body.get("spec") or {}
        sa = self.store.get(_resource(self.store, "", "serviceaccounts"), namespace, name)
        expiration = spec.get("expirationSeconds")
        expiration = self.DEFAULT_EXPIRATION if expiration is None else expiration
        causes = []
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            causes.append({"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                           "message": f"Invalid value: {json.dumps(expiration)}: must be an integer"})
        elif expiration < self.MIN_EXPIRATION:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                           "message": f"Invalid value: {expiration}: may not specify a duration less than 10 minutes"})
        elif expiration > self.MAX_EXPIRATION:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                           "message": f"Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"})
        audiences = spec.get("audiences") or [self.issuer]
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            causes.append({"reason": "FieldValueInvalid", "field": "spec.audiences",
                           "message": "Invalid value: must be a list of strings"})
        if causes:
            # kube-apiserver validates the TokenRequest itself, which has no name: ``"" is invalid``
            raise invalid("TokenRequest", "", causes, group="authentication.k8s.io")
        claims_k8s: dict[str, Any] = {"namespace": namespace,
                                      "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]}}
        bound_ref = spec.get("boundObjectRef")
        if bound_ref:
            claims_k8s.update(self._bind(namespace, name, bound_ref))
        now = int(self.store.clock.now())
        exp = now + int(expiration)
        claims = {"iss": self.issuer, "sub": f"{SA_PREFIX}{namespace}:{name}", "aud": list(audiences),
                  "iat": now, "nbf": now, "exp": exp, "jti": secrets.token_hex(16), "kubernetes.io": claims_k8s}
        token = jwt.encode({"alg": "HS256", "kid": "helm-ac"}, claims, self._key)
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": namespace, "uid": sa["metadata"]["uid"],
                             "creationTimestamp": rfc3339(now)},
                "spec": {"audiences": list(audiences), "expirationSeconds": int(expiration),
                         "boundObjectRef": dict(bound_ref) if bound_ref else None},
                "status": {"token": token, "expirationTimestamp": rfc3339(exp)}}


    def _bind(self, namespace: str, sa_name: str, ref: Mapping[str, Any]) -> dict[str, Any]:
        """The claims binding a token to a Pod, Secret or Node (kube's token REST ``boundObjects``)."""
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        group, _, version = api_version.rpartition("/")
        ref_name = str(ref.get("name") or "")
        if group or kind not in ("Pod", "Secret", "Node"):
            raise bad_request(f"cannot bind token for serviceaccount {go_quote(sa_name)} to object of type "
                              f"{group}/{version}, Kind={kind}")
        plural = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}[kind]
        obj = self.store.get(_resource(self.store, "", plural), None if kind == "Node" else namespace, ref_name)
        if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName", "default") != sa_name:
            raise bad_request(f"cannot bind token for serviceaccount {go_quote(sa_name)} to pod running with "
                              f"different serviceaccount name.")
        uid = obj["metadata"]["uid"]
        if ref.get("uid") and ref["uid"] != uid:
            raise StatusError(409, "Conflict", f'Operation cannot be fulfilled on {kind} {go_quote(ref_name)}: the UID '
                              f'in the bound object reference ({ref["uid"]}) does not match the UID in record. The '
                              f'object might have been deleted and then recreated',
                              details={"name": ref_name, "kind": kind})
        return {kind.lower(): {"name": ref_name, "uid": uid}}


# --- rules ------------------------------------------------------------------------------------------


def _strs(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Rule:
    """A ``PolicyRule``, with the matching of kube's ``rbac.RuleAllows``."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    _sets: tuple[frozenset[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sets", (frozenset(self.verbs), frozenset(self.api_groups),
                                           frozenset(self.resources), frozenset(self.resource_names)))

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> "Rule":
        return cls(_strs(d.get("verbs")), _strs(d.get("apiGroups")), _strs(d.get("resources")),
                   _strs(d.get("resourceNames")), _strs(d.get("nonResourceURLs")))

    def to_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in (("apiGroups", self.api_groups), ("nonResourceURLs", self.non_resource_urls),
                           ("resourceNames", self.resource_names), ("resources", self.resources),
                           ("verbs", self.verbs)):
            if value:
                out[key] = list(value)
        return out

    def allows(self, info: RequestInfo) -> bool:
        verbs, groups, resources, names = self._sets
        if "*" not in verbs and info.verb not in verbs:
            return False
        if not info.resource_request:
            path = info.path
            for url in self.non_resource_urls:
                if url == "*" or url == path or (url.endswith("*") and path.startswith(url.rstrip("*"))):
                    return True
            return False
        if "*" not in groups and info.group not in groups:
            return False
        sub = info.subresource
        if not ("*" in resources or (f"{info.resource}/{sub}" if sub else info.resource) in resources
                or (sub and f"*/{sub}" in resources)):
            return False
        return not names or info.name in names

    def compact(self) -> str:
        """kube's ``CompactString``: ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}``."""
        parts = [f"{label}:{_go_quote_list(value)}" for label, value in (
            ("APIGroups", self.api_groups), ("Resources", self.resources), ("NonResourceURLs", self.non_resource_urls),
            ("ResourceNames", self.resource_names), ("Verbs", self.verbs)) if value]
        return "{" + ", ".join(parts) + "}"


def _go_quote_list(values: Sequence[str]) -> str:
    return "[" + " ".join(go_quote(v) for v in values) + "]"


FULL_AUTHORITY = (Rule(verbs=("*",), api_groups=("*",), resources=("*",)),
                  Rule(verbs=("*",), non_resource_urls=("*",)))


def breakdown(rule: Rule) -> list[Rule]:
    """kube's ``BreakdownRule``: one rule per group x resource x verb (x name), and per URL x verb."""
    out: list[Rule] = []
    for g in rule.api_groups:
        for r in rule.resources:
            for v in rule.verbs:
                if rule.resource_names:
                    out.extend(Rule((v,), (g,), (r,), (n,)) for n in rule.resource_names)
                else:
                    out.append(Rule((v,), (g,), (r,)))
    out.extend(Rule((v,), non_resource_urls=(u,)) for u in rule.non_resource_urls for v in rule.verbs)
    return out


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if "*" in owner or set(wanted) <= set(owner):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path or f"*/{path.split('/', 1)[1]}" not in owner:
            return False
    return True


def _url_covers(owner: str, sub: str) -> bool:
    return owner == sub or (owner.endswith("*") and sub.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """kube's ``ruleCovers``: everything ``sub`` grants, ``owner`` grants."""
    return (("*" in owner.verbs or set(sub.verbs) <= set(owner.verbs))
            and ("*" in owner.api_groups or set(sub.api_groups) <= set(owner.api_groups))
            and _resources_cover(owner.resources, sub.resources)
            and all(any(_url_covers(o, s) for o in owner.non_resource_urls) for s in sub.non_resource_urls)
            and (not owner.resource_names or (bool(sub.resource_names)
                                              and set(sub.resource_names) <= set(owner.resource_names))))


def covers(owner: Sequence[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    """The broken-down rules of ``wanted`` that no rule of ``owner`` covers (kube's ``Covers``)."""
    return [s for w in wanted for s in breakdown(w) if not any(rule_covers(o, s) for o in owner)]


def compact_rules(rules: Sequence[Rule]) -> list[Rule]:
    """kube's ``CompactRules``: single group/resource(/name) rules merged across verbs."""
    out: list[Rule] = []
    simple: dict[tuple[str, str, bool, str], list[str]] = {}
    for r in rules:
        if (len(r.api_groups) == 1 and len(r.resources) == 1 and len(r.resource_names) <= 1
                and not r.non_resource_urls):
            key = (r.api_groups[0], r.resources[0], bool(r.resource_names), r.resource_names[0] if r.resource_names else "")
            verbs = simple.setdefault(key, [])
            verbs.extend(v for v in r.verbs if v not in verbs)
        else:
            out.append(r)
    out.extend(Rule(tuple(v), (g,), (res,), (n,) if has_name else ()) for (g, res, has_name, n), v in simple.items())
    return out


# --- the authorizer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """``allowed`` and kube-apiserver's reason (``RBAC: allowed by ...``, or why not)."""

    allowed: bool
    reason: str = ""


def _sanitize(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def forbidden_message(user: UserInfo, info: RequestInfo) -> str:
    """kube-apiserver's ``forbiddenMessage`` (responsewriters/errors.go)."""
    if not info.resource_request:
        return f"User {go_quote(user.name)} cannot {info.verb} path {go_quote(info.path)}"
    resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    if info.namespace:
        return (f"User {go_quote(user.name)} cannot {info.verb} resource {go_quote(resource)} in API group "
                f"{go_quote(info.group)} in the namespace {go_quote(info.namespace)}")
    return (f"User {go_quote(user.name)} cannot {info.verb} resource {go_quote(resource)} in API group "
            f"{go_quote(info.group)} at the cluster scope")


def new_forbidden(resource: str, group: str, name: str, why: str) -> StatusError:
    """apimachinery's ``NewForbidden``."""
    qualified = f"{resource}.{group}" if group else resource
    if not resource:
        message = f"forbidden: {why}"
    elif not name:
        message = f"{qualified} is forbidden: {why}"
    else:
        message = f"{qualified} {go_quote(name)} is forbidden: {why}"
    details = {k: v for k, v in (("name", name), ("group", group), ("kind", resource)) if v}
    return StatusError(403, "Forbidden", message, details=details)


def forbidden(user: UserInfo, info: RequestInfo, reason: str = "") -> StatusError:
    """The 403 kube-apiserver answers a request its authorizers did not allow."""
    msg = _sanitize(forbidden_message(user, info))
    if reason:
        msg = f"{msg}: {reason}"
    if not info.resource_request:
        return new_forbidden("", "", "", msg)
    return new_forbidden(info.resource, info.group, info.name, msg)


def _label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A ``metav1.LabelSelector`` (matchLabels and matchExpressions) against labels; an empty selector
    matches everything, as ``LabelSelectorAsSelector`` makes it."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


_Key = tuple[str, str]  # ("u", username) | ("g", group)


@dataclass
class _Index:
    cluster_roles: dict[str, dict] = field(default_factory=dict)
    roles: dict[tuple[str, str], dict] = field(default_factory=dict)
    #: subject key -> the bindings naming it, by binding name
    crbs: dict[_Key, list[dict]] = field(default_factory=dict)
    rbs: dict[str, dict[_Key, list[dict]]] = field(default_factory=dict)
    effective: dict[str, tuple[Rule, ...]] = field(default_factory=dict)


def _subject_key(subject: Mapping[str, Any], namespace: str) -> _Key | None:
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str):
        return None
    if kind == "User":
        return ("u", name)
    if kind == "Group":
        return ("g", name)
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or namespace
        return ("u", f"{SA_PREFIX}{ns}:{name}") if ns else None
    return None


def _describe_subject(subject: Mapping[str, Any], namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount {go_quote(str(subject.get("name")) + "/" + (subject.get("namespace") or namespace))}'
    return f'{subject.get("kind")} {go_quote(str(subject.get("name")))}'


_Sourced = list[tuple[str, Rule]]


class Authorizer:
    """The RBAC authorizer over a store. The index of roles and bindings is rebuilt after any RBAC
    object changes (at the next request); the rules that apply to a user in a namespace are cached
    until then, so the usual request costs a dict lookup and a scan of that user's rules."""

    CACHE_LIMIT = 10_000

    def __init__(self, store: StoreLike) -> None:
        self.store = store
        self._res = {p: _resource(store, RBAC_GROUP, p) for p in ("roles", "clusterroles", "rolebindings",
                                                                  "clusterrolebindings")}
        self._index: _Index | None = None
        self._cache: dict[tuple[str, tuple[str, ...], str], tuple[_Sourced, list[str]]] = {}
        self.unsubscribe = store.subscribe(self._changed)

    def _changed(self, change: Any) -> None:
        res = getattr(change, "resource", None)
        if res is None or getattr(res, "group", None) == RBAC_GROUP:
            self._index = None
            self._cache.clear()

    # index ------------------------------------------------------------------------------------------

    def _build(self) -> _Index:
        ix = _Index()
        for obj in self.store.list(self._res["clusterroles"], None)["items"]:
            ix.cluster_roles[obj["metadata"]["name"]] = obj
        for obj in self.store.list(self._res["roles"], None)["items"]:
            ix.roles[(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
        for obj in sorted(self.store.list(self._res["clusterrolebindings"], None)["items"],
                          key=lambda o: o["metadata"]["name"]):
            for key in {k for s in obj.get("subjects") or [] if (k := _subject_key(s, ""))}:
                ix.crbs.setdefault(key, []).append(obj)
        for obj in sorted(self.store.list(self._res["rolebindings"], None)["items"],
                          key=lambda o: o["metadata"]["name"]):
            ns = obj["metadata"].get("namespace", "")
            for key in {k for s in obj.get("subjects") or [] if (k := _subject_key(s, ns))}:
                ix.rbs.setdefault(ns, {}).setdefault(key, []).append(obj)
        return ix

    @property
    def index(self) -> _Index:
        if self._index is None:
            self._index = self._build()
        return self._index

    def cluster_role_rules(self, name: str, _seen: frozenset[str] = frozenset()) -> tuple[Rule, ...] | None:
        """A ClusterRole's rules; for an aggregated one, the union of the rules of the ClusterRoles its
        selectors match (as the aggregation controller writes them), whatever its stored rules say."""
        ix = self.index
        if name in ix.effective:
            return ix.effective[name]
        obj = ix.cluster_roles.get(name)
        if obj is None:
            return None
        selectors = (obj.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        if not selectors:
            rules = tuple(Rule.of(r) for r in obj.get("rules") or [] if isinstance(r, dict))
        else:
            seen, acc = _seen | {name}, []
            for other_name in sorted(ix.cluster_roles):
                if other_name in seen:
                    continue
                labels = ix.cluster_roles[other_name]["metadata"].get("labels") or {}
                if any(_label_selector_matches(s, labels) for s in selectors):
                    for r in self.cluster_role_rules(other_name, seen) or ():
                        if r not in acc:
                            acc.append(r)
            rules = tuple(acc)
        if not _seen:
            ix.effective[name] = rules
        return rules

    def role_ref_rules(self, ref: Mapping[str, Any], namespace: str) -> tuple[Rule, ...]:
        """kube's ``GetRoleReferenceRules``; raises LookupError with the lister's message."""
        kind, name = ref.get("kind"), str(ref.get("name"))
        if kind == "ClusterRole":
            rules = self.cluster_role_rules(name)
            if rules is None:
                raise LookupError(f'clusterrole.{RBAC_GROUP} {go_quote(name)} not found')
            return rules
        if kind == "Role":
            role = self.index.roles.get((namespace, name))
            if role is None:
                raise LookupError(f'role.{RBAC_GROUP} {go_quote(name)} not found')
            return tuple(Rule.of(r) for r in role.get("rules") or [] if isinstance(r, dict))
        raise LookupError(f"unsupported role reference kind: {go_quote(str(kind))}")

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[_Sourced, list[str]]:
        """The rules that apply to ``user`` in ``namespace`` ("" = cluster scope: ClusterRoleBindings
        only), each with the binding that grants it, and the errors met resolving them."""
        key = (user.name, user.groups, namespace)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ix = self.index
        keys: list[_Key] = [("u", user.name), *(("g", g) for g in user.groups)]
        out: _Sourced = []
        errors: list[str] = []

        def visit(table: Mapping[_Key, list[dict]], ns: str, what: str) -> None:
            unique = {id(b): b for k in keys for b in table.get(k, ())}
            bindings = sorted(unique.values(), key=lambda b: b["metadata"]["name"])
            for b in bindings:
                subject = next(s for s in b.get("subjects") or [] if _subject_key(s, ns) in keys)
                ref = b.get("roleRef") or {}
                try:
                    rules = self.role_ref_rules(ref, ns)
                except LookupError as e:
                    errors.append(str(e))
                    continue
                bname = b["metadata"]["name"] + (f"/{ns}" if ns else "")
                source = (f"{what} {go_quote(bname)} of {ref.get('kind')} {go_quote(str(ref.get('name')))} "
                          f"to {_describe_subject(subject, ns)}")
                out.extend((source, r) for r in rules)

        visit(ix.crbs, "", "ClusterRoleBinding")
        if namespace:
            visit(ix.rbs.get(namespace, {}), namespace, "RoleBinding")
        if len(self._cache) >= self.CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (out, errors)
        return out, errors

    # decisions --------------------------------------------------------------------------------------

    def authorize(self, user: UserInfo, info: RequestInfo) -> Decision:
        if MASTERS in user.groups:
            return Decision(True, "")
        rules, errors = self.rules_for(user, info.namespace if info.resource_request else "")
        for source, rule in rules:
            if rule.allows(info):
                return Decision(True, f"RBAC: allowed by {source}")
        if not errors:
            return Decision(False, "")
        uniq = list(dict.fromkeys(errors))
        return Decision(False, "RBAC: " + (uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"))

    def check(self, user: UserInfo, info: RequestInfo) -> None:
        """Raise kube-apiserver's 403 unless ``user`` may do ``info``."""
        decision = self.authorize(user, info)
        if not decision.allowed:
            raise forbidden(user, info, decision.reason)

    def allowed(self, user: UserInfo, verb: str, resource: str, *, group: str = "", namespace: str = "",
                name: str = "", subresource: str = "") -> bool:
        """A resource request decided without building a RequestInfo by hand (tests, ``can-i``)."""
        info = RequestInfo(resource_request=True, path="", verb=verb, group=group, namespace=namespace,
                           resource=resource, subresource=subresource, name=name)
        return self.authorize(user, info).allowed

    # escalation -------------------------------------------------------------------------------------

    def confirm_no_escalation(self, user: UserInfo, namespace: str, wanted: Sequence[Rule]) -> str | None:
        """kube's ``ConfirmNoEscalation``: None when ``user``'s rules in ``namespace`` cover ``wanted``,
        else the message naming what they lack."""
        owned, errors = self.rules_for(user, namespace)
        missing = covers([r for _, r in owned], wanted)
        if not missing:
            return None
        lines = sorted({r.compact() for r in compact_rules(missing)})
        msg = (f"user {go_quote(user.name)} (groups={_go_quote_list(user.groups)}) is attempting to grant RBAC "
               f"permissions not currently held:\n" + "\n".join(lines))
        if errors:
            msg += f"; resolution errors: [{', '.join(dict.fromkeys(errors))}]"
        return msg

    def check_write(self, user: UserInfo, plural: str, namespace: str, obj: Mapping[str, Any],
                    old: Mapping[str, Any] | None) -> None:
        """The escalation check of a create (``old`` None) or update of an RBAC object; raises the
        403 (or 404 for a binding to a missing role) kube-apiserver answers."""
        if MASTERS in user.groups:
            return
        name = str((obj.get("metadata") or {}).get("name", ""))
        if plural in ("roles", "clusterroles"):
            agg_new = bool(((obj.get("aggregationRule") or {}).get("clusterRoleSelectors")))
            agg_old = bool(old and ((old.get("aggregationRule") or {}).get("clusterRoleSelectors")))
            if old is not None and _only_gc_fields(obj, old):
                return
            info = RequestInfo(resource_request=True, path="", verb="escalate", group=RBAC_GROUP,
                               resource=plural, name=name if old is not None else request_name.get(),
                               namespace=namespace)
            if self.authorize(user, info).allowed:
                return
            why = self.confirm_no_escalation(user, namespace, [Rule.of(r) for r in obj.get("rules") or []
                                                               if isinstance(r, dict)])
            if why:
                raise new_forbidden(plural, RBAC_GROUP, name, why)
            if plural == "clusterroles" and (agg_new or agg_old) and \
                    self.confirm_no_escalation(user, namespace, FULL_AUTHORITY):
                raise new_forbidden(plural, RBAC_GROUP, name,
                                    "must have cluster-admin privileges to use the aggregationRule")
            return
        if plural in ("rolebindings", "clusterrolebindings"):
            ref = obj.get("roleRef") or {}
            if old is not None and _only_gc_fields(obj, old):
                return
            kind = ref.get("kind")
            bind = RequestInfo(resource_request=True, path="", verb="bind", group=str(ref.get("apiGroup", "")),
                               resource={"ClusterRole": "clusterroles", "Role": "roles"}.get(str(kind), ""),
                               name=str(ref.get("name", "")), namespace=namespace)
            if bind.resource and self.authorize(user, bind).allowed:
                return
            try:
                rules = self.role_ref_rules(ref, namespace)
            except LookupError:
                if kind in ("Role", "ClusterRole"):
                    raise not_found("roles" if kind == "Role" else "clusterroles", str(ref.get("name")), RBAC_GROUP)
                raise bad_request(f"unsupported role reference kind: {go_quote(str(kind))}")
            why = self.confirm_no_escalation(user, namespace, rules)
            if why:
                raise new_forbidden(plural, RBAC_GROUP, name, why)


#: Metadata an update may change without an escalation check: what the garbage collector writes
#: (kube's ``IsOnlyMutatingGCFields``) and what the server sets itself.
_GC_AND_SERVER_FIELDS = ("ownerReferences", "finalizers", "resourceVersion", "managedFields", "generation",
                         "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def _only_gc_fields(obj: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    def strip(o: Mapping[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (o.get("metadata") or {}).items() if k not in _GC_AND_SERVER_FIELDS}
        return {**{k: v for k, v in o.items() if k not in ("metadata", "status")}, "metadata": meta}

    return strip(obj) == strip(old)


#: Who is writing: set by the HTTP face around each store call (:func:`acting_as`); None = the server itself.
current_user: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar("helm_ac_rbac_user", default=None)
#: The object name in the request's URL ("" for a POST): kube's ``requestInfo.Name``, which the
#: escalate check of a role write names (a server-side apply that creates a role has it; a POST not).
request_name: contextvars.ContextVar[str] = contextvars.ContextVar("helm_ac_rbac_request_name", default="")


@contextlib.contextmanager
def acting_as(user: UserInfo | None, name: str = "") -> Iterator[None]:
    token, named = current_user.set(user), request_name.set(name)
    try:
        yield
    finally:
        current_user.reset(token)
        request_name.reset(named)


def escalation_admission(authorizer: Authorizer) -> Callable[[Any], None]:
    """A store admission hook (``store.add_admission(escalation_admission(authz))``) running
    :meth:`Authorizer.check_write` for writes of RBAC objects by the user of :func:`acting_as` (the
    write's ``user`` must name that user: the HTTP face passes ``user=user.name`` to the store)."""

    def admit(op: Any) -> None:
        user = current_user.get()
        res = op.resource
        if user is None or res.group != RBAC_GROUP or op.verb not in ("create", "update") or op.obj is None:
            return
        # the write must be the request's own: a controller's timer scheduled during a request runs
        # in a copy of the request's context (asyncio copies it), yet writes as the server
        if op.user != user.name:
            return
        if op.subresource:
            return
        authorizer.check_write(user, res.plural, op.namespace or "", op.obj, op.old if op.verb == "update" else None)

    return admit


# --- reviews: kubectl auth can-i / whoami, TokenReview ----------------------------------------------

#: The create-only review resources :func:`create_review` answers, by (group, plural).
REVIEWS = {("authorization.k8s.io", "selfsubjectaccessreviews"): "SelfSubjectAccessReview",
           ("authorization.k8s.io", "subjectaccessreviews"): "SubjectAccessReview",
           ("authorization.k8s.io", "localsubjectaccessreviews"): "LocalSubjectAccessReview",
           ("authorization.k8s.io", "selfsubjectrulesreviews"): "SelfSubjectRulesReview",
           ("authentication.k8s.io", "selfsubjectreviews"): "SelfSubjectReview",
           ("authentication.k8s.io", "tokenreviews"): "TokenReview"}


def _invalid_value(value: object) -> str:
    return "null" if value is None else json.dumps(value, separators=(",", ":"))


def create_review(group: str, plural: str, body: Mapping[str, Any], *, requester: UserInfo,
                  authorizer: Authorizer | None, authenticator: Authenticator | None = None,
                  namespace: str | None = None) -> dict:
    """Answer a POST of a review resource (``kubectl auth can-i`` sends a SelfSubjectAccessReview,
    ``kubectl auth whoami`` a SelfSubjectReview) with the object and its ``status``, as kube-apiserver
    does (201). Without an authorizer (no ``--rbac``) every authenticated request is allowed, and the
    review says so. 400 for a body of another kind, 422 for a spec kube-apiserver refuses."""
    kind = REVIEWS.get((group, plural))
    if kind is None:
        raise not_found(plural, "", group)
    if not isinstance(body, Mapping) or body.get("kind", kind) != kind:
        got = body.get("kind") if isinstance(body, Mapping) else type(body).__name__
        raise bad_request(f"the body of {plural}.{group} must be a {group}/v1 {kind}, not {got}")
    spec = body.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise bad_request(f"{kind}.spec must be an object")
    out: dict[str, Any] = {"kind": kind, "apiVersion": f"{group}/v1",
                           "metadata": {**({"namespace": namespace} if namespace else {}), "creationTimestamp": None},
                           "spec": dict(spec), "status": {}}
    if kind == "SelfSubjectReview":
        out.pop("spec")
        out["status"] = {"userInfo": _user_info(requester)}
        return out
    if kind == "TokenReview":
        if authenticator is None:
            raise StatusError(503, "ServiceUnavailable", "token review is not available on this server")
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise invalid(kind, "", [{"reason": "FieldValueRequired", "field": "spec.token",
                                      "message": "Required value: token must be specified"}], group=group)
        who = authenticator.authenticate_token(token)
        out["status"] = ({"authenticated": True, "user": _user_info(who), "audiences": [authenticator.issuer]}
                         if who is not None else {"user": {}, "error": "invalid bearer token"})
        return out
    if kind == "SelfSubjectRulesReview":
        ns = spec.get("namespace") or ""
        out["status"] = _rules_review(authorizer, requester, str(ns))
        return out
    res_attrs, non_res = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    causes = []
    if res_attrs is not None and non_res is not None:
        causes.append({"reason": "FieldValueInvalid", "field": "spec.nonResourceAttributes",
                       "message": f"Invalid value: {_invalid_value(non_res)}: cannot be specified in combination "
                                  f"with resourceAttributes"})
    if res_attrs is None and non_res is None:
        causes.append({"reason": "FieldValueInvalid", "field": "spec.resourceAttributes",
                       "message": "Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes "
                                  "must be specified"})
    if kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        if not spec.get("user") and not spec.get("groups"):
            causes.append({"reason": "FieldValueInvalid", "field": "spec.user",
                           "message": f"Invalid value: {_invalid_value(spec.get('user', ''))}: at least one of user "
                                      f"or group must be specified"})
        subject = UserInfo(str(spec.get("user") or ""), tuple(str(g) for g in spec.get("groups") or []),
                           str(spec.get("uid") or ""))
    else:
        subject = requester
    if kind == "LocalSubjectAccessReview":
        if non_res is not None:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.nonResourceAttributes",
                           "message": f"Invalid value: {_invalid_value(non_res)}: disallowed on this kind of request"})
        if isinstance(res_attrs, Mapping) and res_attrs.get("namespace", "") != (namespace or ""):
            causes.append({"reason": "FieldValueInvalid", "field": "spec.resourceAttributes.namespace",
                           "message": f"Invalid value: {_invalid_value(res_attrs.get('namespace', ''))}: must match "
                                      f"metadata.namespace"})
    if causes:
        raise invalid(kind, "", causes, group=group)
    if isinstance(res_attrs, Mapping):
        info = RequestInfo(resource_request=True, path="", verb=str(res_attrs.get("verb") or ""),
                           group=str(res_attrs.get("group") or ""), version=str(res_attrs.get("version") or ""),
                           namespace=str(res_attrs.get("namespace") or ""),
                           resource=str(res_attrs.get("resource") or ""),
                           subresource=str(res_attrs.get("subresource") or ""), name=str(res_attrs.get("name") or ""))
    else:
        attrs = non_res if isinstance(non_res, Mapping) else {}
        info = RequestInfo(resource_request=False, path=str(attrs.get("path") or ""), verb=str(attrs.get("verb") or ""))
    decision = Decision(True, "") if authorizer is None else authorizer.authorize(subject, info)
    out["status"] = {"allowed": decision.allowed, **({"reason": decision.reason} if decision.reason else {})}
    return out


def _user_info(user: UserInfo) -> dict[str, Any]:
    return {"username": user.name, **({"uid": user.uid} if user.uid else {}), "groups": list(user.groups)}


def _rules_review(authorizer: Authorizer | None, user: UserInfo, namespace: str) -> dict[str, Any]:
    """SelfSubjectRulesReview's status: the rules that apply to ``user`` in ``namespace``."""
    if authorizer is None or MASTERS in user.groups:
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    rules, errors = authorizer.rules_for(user, namespace)
    resource_rules, non_resource_rules = [], []
    for _, r in rules:
        if r.non_resource_urls:
            non_resource_rules.append({"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)})
        if r.resources:
            rr: dict[str, Any] = {"verbs": list(r.verbs), "apiGroups": list(r.api_groups),
                                  "resources": list(r.resources)}
            if r.resource_names:
                rr["resourceNames"] = list(r.resource_names)
            resource_rules.append(rr)
    status: dict[str, Any] = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                              "incomplete": bool(errors)}
    if errors:
        status["evaluationError"] = ", ".join(dict.fromkeys(errors))
    return status


# --- the default policy -----------------------------------------------------------------------------

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _r(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _url(urls: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"nonResourceURLs": urls, "verbs": verbs}


#: kube-apiserver's bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy): the user-facing
#: roles and what every authenticated or anonymous user gets. name -> (extra labels, rules, aggregate-to)
_CLUSTER_ROLES: dict[str, tuple[dict[str, str], list[dict[str, list[str]]] | None, str | None]] = {
    "cluster-admin": ({}, [_r(["*"], ["*"], ["*"]), _url(["*"], ["*"])], None),
    "admin": ({}, None, "admin"),
    "edit": ({"rbac.authorization.k8s.io/aggregate-to-admin": "true"}, None, "edit"),
    "view": ({"rbac.authorization.k8s.io/aggregate-to-edit": "true"}, None, "view"),
    "system:aggregate-to-admin": ({"rbac.authorization.k8s.io/aggregate-to-admin": "true"}, [
        _r(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _r([RBAC_GROUP], ["rolebindings", "roles"], _ALL)], None),
    "system:aggregate-to-edit": ({"rbac.authorization.k8s.io/aggregate-to-edit": "true"}, [
        _r([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], _READ),
        _r([""], ["serviceaccounts"], ["impersonate"]),
        _r([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], _WRITE),
        _r([""], ["pods/eviction"], ["create"]),
        _r([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                  "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"], _WRITE),
        _r([""], ["serviceaccounts/token"], ["create"]),
        _r(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                      "replicasets/scale", "statefulsets", "statefulsets/scale"], _WRITE),
        _r(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
        _r(["batch"], ["cronjobs", "jobs"], _WRITE),
        _r(["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
                            "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"],
           _WRITE),
        _r(["policy"], ["poddisruptionbudgets"], _WRITE),
        _r(["networking.k8s.io"], ["ingresses", "networkpolicies"], _WRITE),
        _r(["coordination.k8s.io"], ["leases"], _ALL)], None),
    "system:aggregate-to-view": ({"rbac.authorization.k8s.io/aggregate-to-view": "true"}, [
        _r([""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
                  "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                  "services/status"], _READ),
        _r([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                  "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"], _READ),
        _r([""], ["namespaces"], _READ),
        _r(["discovery.k8s.io"], ["endpointslices"], _READ),
        _r(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                      "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
                      "statefulsets/scale", "statefulsets/status"], _READ),
        _r(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], _READ),
        _r(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _READ),
        _r(["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                            "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets",
                            "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"], _READ),
        _r(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _READ),
        _r(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], _READ)], None),
    "system:discovery": ({}, [_url(["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                    "/openapi/*", "/readyz", "/version", "/version/"], ["get"])], None),
    "system:basic-user": ({}, [
        _r(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
        _r(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"])], None),
    "system:public-info-viewer": ({}, [_url(["/healthz", "/livez", "/readyz", "/version", "/version/"], ["get"])],
                                  None),
}
#: ClusterRoleBinding name (= its ClusterRole's) -> its Group subjects.
_CLUSTER_ROLE_BINDINGS: dict[str, list[str]] = {
    "cluster-admin": [MASTERS],
    "system:discovery": [AUTHENTICATED],
    "system:basic-user": [AUTHENTICATED],
    "system:public-info-viewer": [AUTHENTICATED, UNAUTHENTICATED],
}


def default_policy() -> tuple[list[dict], list[dict]]:
    """The default ClusterRoles and ClusterRoleBindings (fresh dicts)."""
    meta = {"annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}
    roles = []
    for name, (labels, rules, aggregate) in _CLUSTER_ROLES.items():
        obj: dict[str, Any] = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": {
            "name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **labels}, **json.loads(
                json.dumps(meta))}}
        if aggregate:
            obj["aggregationRule"] = {"clusterRoleSelectors": [
                {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{aggregate}": "true"}}]}
            obj["rules"] = []
        else:
            obj["rules"] = json.loads(json.dumps(rules))
        roles.append(obj)
    bindings = [{"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": {
        "name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}, **json.loads(json.dumps(meta))},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]}
        for name, groups in _CLUSTER_ROLE_BINDINGS.items()]
    return roles, bindings


AGGREGATOR = "system:serviceaccount:kube-system:clusterrole-aggregation-controller"
_aggregated_stores: "weakref.WeakSet[Any]" = weakref.WeakSet()


def bootstrap(store: StoreLike) -> None:
    """Create the default ClusterRoles (with aggregated roles' rules filled in) and
    ClusterRoleBindings that are not there yet, and start the ClusterRole aggregation controller
    (:func:`aggregate_cluster_roles`) once per store. The server calls it at start."""
    roles, bindings = default_policy()
    by_name = {r["metadata"]["name"]: r for r in roles}
    for r in roles:
        if r.get("aggregationRule"):
            r["rules"] = [rule.to_dict() for rule in _aggregate_offline(r["metadata"]["name"], by_name)]
    for plural, objs in (("clusterroles", roles), ("clusterrolebindings", bindings)):
        res = _resource(store, RBAC_GROUP, plural)
        for obj in objs:
            try:
                store.create(res, None, obj)
            except StatusError as e:
                if e.code != 409:
                    raise
    if store not in _aggregated_stores:
        _aggregated_stores.add(store)
        store.subscribe(aggregate_cluster_roles(store))


def aggregated_rules(role: Mapping[str, Any], cluster_roles: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The rules the aggregation controller writes into an aggregated ClusterRole: per selector, the
    rules of the other ClusterRoles it matches (by name), each rule once."""
    name = role["metadata"]["name"]
    others = sorted((c for c in cluster_roles if c["metadata"]["name"] != name), key=lambda c: c["metadata"]["name"])
    out: list[dict] = []
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        for other in others:
            if _label_selector_matches(selector, other["metadata"].get("labels") or {}):
                for rule in other.get("rules") or []:
                    if rule not in out:
                        out.append(rule)
    return out


def aggregate_cluster_roles(store: Any) -> Callable[[Any], None]:
    """kube-controller-manager's ClusterRole aggregation controller as a store subscriber: when a
    ClusterRole changes, every aggregated ClusterRole whose rules differ from what its selectors
    gather is updated (a new object; the store's dicts are never changed in place)."""
    res = _resource(store, RBAC_GROUP, "clusterroles")

    def changed(change: Any) -> None:
        if getattr(change, "resource", None) is None or change.resource.group != RBAC_GROUP \
                or change.resource.plural != "clusterroles":
            return
        everything = store.list(res, None)["items"]
        for role in everything:
            if not (role.get("aggregationRule") or {}).get("clusterRoleSelectors"):
                continue
            rules = aggregated_rules(role, everything)
            if rules != (role.get("rules") or []):
                try:
                    store.update(res, None, role["metadata"]["name"], {**role, "rules": rules}, user=AGGREGATOR)
                except StatusError as e:  # changed or gone meanwhile: its own change brings it here again
                    if e.code not in (404, 409):
                        raise

    return changed


def _aggregate_offline(name: str, roles: Mapping[str, dict], seen: frozenset[str] = frozenset()) -> list[Rule]:
    selectors = roles[name]["aggregationRule"]["clusterRoleSelectors"]
    acc: list[Rule] = []
    for other in sorted(roles):
        if other == name or other in seen:
            continue
        if any(_label_selector_matches(s, roles[other]["metadata"].get("labels") or {}) for s in selectors):
            if roles[other].get("aggregationRule"):
                more = _aggregate_offline(other, roles, seen | {name})
            else:
                more = [Rule.of(r) for r in roles[other]["rules"]]
            acc.extend(r for r in more if r not in acc)
    return acc
