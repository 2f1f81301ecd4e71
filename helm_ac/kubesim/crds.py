"""CustomResourceDefinitions: what one adds to the API, and what the apiextensions server says of it.

* :func:`check` -- the server's validation of the CRD object itself (422 ``Invalid``): its name is
  ``<plural>.<group>``, names are DNS-1035 labels, one storage version, a structural schema per
  version, approval for protected groups;
* :func:`defaulted` -- the fields the server defaults (``singular``, ``listKind``);
* :func:`resources` and :func:`schemas` -- one :class:`Resource` and one ``openAPIV3Schema`` per
  served version (plural, kind, scope, short names, categories, ``status``/``scale``);
* :func:`names_status` and :func:`established` -- the conditions the naming and establishing
  controllers write (``NamesAccepted`` with ``NoConflicts`` or a ``...Conflict`` reason;
  ``Established`` ``Installing`` then ``InitialNamesAccepted``, or ``NotAccepted``).
"""
from __future__ import annotations

from typing import Any, Iterable

from . import errors
from .resources import Registry, Resource
from .fields import cause, invalid_value, is_dns1035_label, not_supported, required

GROUP = "apiextensions.k8s.io"
KIND = "CustomResourceDefinition"
VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
APPROVAL = "api-approved.kubernetes.io"


def _spec(crd: dict[str, Any]) -> dict[str, Any]:
    spec = crd.get("spec")
    return spec if isinstance(spec, dict) else {}


def _names(crd: dict[str, Any]) -> dict[str, Any]:
    names = _spec(crd).get("names")
    return names if isinstance(names, dict) else {}


def defaulted(crd: dict[str, Any]) -> dict[str, Any]:
    """A new CRD dict with what the server defaults: ``names.singular`` (the kind, lower case)
    and ``names.listKind`` (``<Kind>List``). The argument is not modified."""
    names = _names(crd)
    kind = names.get("kind")
    if not isinstance(kind, str) or not kind or (names.get("singular") and names.get("listKind")):
        return crd
    new_names = {**names, "singular": names.get("singular") or kind.lower(),
                 "listKind": names.get("listKind") or f"{kind}List"}
    return {**crd, "spec": {**_spec(crd), "names": new_names}}


def _structural(s: Any, path: str, out: list[dict[str, str]], *, root: bool = False) -> None:
    """The structural-schema rule Helm charts trip on: every specified field has a type (unless it
    preserves unknown fields or is int-or-string), the root is an object."""
    if not isinstance(s, dict):
        return
    loose = s.get("x-kubernetes-int-or-string") or s.get("x-kubernetes-preserve-unknown-fields")
    if not s.get("type") and not loose:
        out.append(required(f"{path}.type", "must not be empty at the root" if root
                            else "must not be empty for specified object fields"))
    elif root and s.get("type") not in (None, "object"):
        out.append(invalid_value(f"{path}.type", s.get("type"), "must be object at the root"))
    for name, p in (s.get("properties") or {}).items():
        _structural(p, f"{path}.properties[{name}]", out)
    if isinstance(s.get("items"), dict):
        _structural(s["items"], f"{path}.items", out)
    if isinstance(s.get("additionalProperties"), dict):
        _structural(s["additionalProperties"], f"{path}.additionalProperties", out)


def check(crd: dict[str, Any]) -> None:
    """Raise 422 ``Invalid`` with the causes a real apiextensions server gives for this CRD
    (after :func:`defaulted`); :func:`.validation.validate` includes them for CRD objects."""
    found = causes(crd)
    if found:
        meta = crd.get("metadata")
        raise errors.invalid(KIND, str(meta.get("name") or "") if isinstance(meta, dict) else "", found, group=GROUP)


def causes(crd: dict[str, Any]) -> list[dict[str, str]]:
    """The causes of :func:`check` (empty: the CRD is valid)."""
    crd = defaulted(crd)
    spec, names = _spec(crd), _names(crd)
    meta: dict[str, Any] = crd["metadata"] if isinstance(crd.get("metadata"), dict) else {}
    name = str(meta.get("name") or "")
    out: list[dict[str, str]] = []
    group, plural = spec.get("group"), names.get("plural")
    if name and plural and group and name != f"{plural}.{group}":
        out.append(invalid_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        out.append(required("spec.group"))
    elif "." not in str(group):
        out.append(invalid_value("spec.group", group, "should be a domain with at least one dot"))
    elif _protected(str(group)) and not (meta.get("annotations") or {}).get(APPROVAL):
        out.append(required(f"metadata.annotations[{APPROVAL}]",
                               f'protected groups must have approval annotation "{APPROVAL}", '
                               "see https://github.com/kubernetes/enhancements/pull/1111"))
    for field in ("plural", "singular", "kind", "listKind"):
        value = names.get(field)
        if not value:
            out.append(required(f"spec.names.{field}"))
        elif field in ("plural", "singular"):
            out += [invalid_value(f"spec.names.{field}", value, m) for m in is_dns1035_label(str(value))]
        else:
            out += [invalid_value(f"spec.names.{field}", value, m) for m in is_dns1035_label(str(value).lower())]
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        out.append(invalid_value("spec.names.listKind", names["listKind"], "kind and listKind may not be the same"))
    for i, sn in enumerate(names.get("shortNames") or ()):
        out += [invalid_value(f"spec.names.shortNames[{i}]", sn, m) for m in is_dns1035_label(str(sn))]
    if spec.get("scope") not in ("Cluster", "Namespaced"):
        out.append(required("spec.scope") if not spec.get("scope")
                      else not_supported("spec.scope", spec["scope"], ("Cluster", "Namespaced")))
    versions = spec.get("versions") or []
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        out.append(invalid_value("spec.versions", versions if versions else None,
                                    "must have exactly one version marked as storage version"))
    seen: set[str] = set()
    for i, v in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(v, dict):
            out.append(invalid_value(path, v, "must be an object"))
            continue
        vname = v.get("name")
        if not vname:
            out.append(required(f"{path}.name"))
        else:
            out += [invalid_value(f"{path}.name", vname, m) for m in is_dns1035_label(str(vname))]
            if vname in seen:
                out.append(cause("FieldValueDuplicate", f"{path}.name", f'Duplicate value: "{vname}"'))
            seen.add(str(vname))
        schema = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v.get("schema"), dict) else None
        if schema is None:
            out.append(required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
        else:
            _structural(schema, f"{path}.schema.openAPIV3Schema", out, root=True)
    return out


def _protected(group: str) -> bool:
    return any(group == d or group.endswith("." + d) for d in ("k8s.io", "kubernetes.io"))


def resources(crd: dict[str, Any]) -> list[Resource]:
    """One :class:`Resource` per served version (served to discovery once Established)."""
    crd = defaulted(crd)
    spec, names = _spec(crd), _names(crd)
    out = []
    for v in spec.get("versions") or ():
        if not v.get("served"):
            continue
        subs = v.get("subresources") or {}
        out.append(Resource(
            group=str(spec["group"]), version=str(v["name"]), kind=str(names["kind"]), plural=str(names["plural"]),
            namespaced=spec.get("scope") == "Namespaced", verbs=VERBS,
            subresources=tuple(s for s in ("scale", "status") if s in subs),
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            crd=str(crd["metadata"]["name"])))
    return out


def _version_schema(v: Any) -> dict[str, Any] | None:
    schema = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v, dict) else None
    return schema if isinstance(schema, dict) and schema else None


def schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``version`` -> its ``openAPIV3Schema`` (served versions with a schema)."""
    out = {}
    for v in _spec(crd).get("versions") or ():
        schema = _version_schema(v)
        if v.get("served") and schema is not None:
            out[str(v["name"])] = schema
    return out


def version_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The ``openAPIV3Schema`` of one version of a CRD (None when it has none): the one reading of it
    (validation, the store's patch schemas, the OpenAPI documents through :func:`schemas`)."""
    for v in _spec(crd).get("versions") or ():
        if isinstance(v, dict) and v.get("name") == version:
            return _version_schema(v)
    return None


def storage_version(crd: dict[str, Any]) -> str | None:
    return next((str(v["name"]) for v in _spec(crd).get("versions") or () if v.get("storage")), None)


def condition(crd: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (crd.get("status") or {}).get("conditions") or () if c.get("type") == type_), None)


def is_established(crd: dict[str, Any]) -> bool:
    c = condition(crd, "Established")
    return bool(c and c.get("status") == "True")


def _taken(crd: dict[str, Any], others: Iterable[dict[str, Any]],
           registry: Registry | None) -> tuple[set[str], set[str]]:
    """Resource names and kinds already in use in the CRD's group: other CRDs' accepted names
    (what the naming controller compares) and the registry's resources of that group."""
    group = _spec(crd).get("group")
    name = (crd.get("metadata") or {}).get("name")
    res: set[str] = set()
    kinds: set[str] = set()
    for o in others:
        if (o.get("metadata") or {}).get("name") == name or _spec(o).get("group") != group:
            continue
        acc = (o.get("status") or {}).get("acceptedNames") or {}
        res.update(x for x in (acc.get("plural"), acc.get("singular"), *(acc.get("shortNames") or ())) if x)
        kinds.update(x for x in (acc.get("kind"), acc.get("listKind")) if x)
    if registry is not None:
        for r in registry.by_plural.values():
            if r.group == group and r.crd != name:
                res.update((r.plural, r.singular, *r.short_names))
                kinds.update((r.kind, r.list_kind))
    return res, kinds


def _fresh(requested: str, accepted: str, used: set[str]) -> str | None:
    if requested == accepted or requested not in used:
        return None
    return f'"{requested}" is already in use'


def names_status(crd: dict[str, Any], others: Iterable[dict[str, Any]], registry: Registry | None, *,
                 now: str) -> dict[str, Any]:
    """The CRD's new ``status`` as the naming controller writes it: ``acceptedNames`` and the
    ``NamesAccepted`` condition (``NoConflicts``, or ``PluralConflict``, ``SingularConflict``,
    ``ShortNamesConflict``, ``KindConflict``, ``ListKindConflict`` with ``"x" is already in use``),
    ``Established`` ``Installing`` once the names are accepted (``NotAccepted`` otherwise; an
    Established CRD stays so), and ``storedVersions``. A new dict; ``crd`` is not modified."""
    crd = defaulted(crd)
    names = _names(crd)
    status = crd.get("status") or {}
    accepted = status.get("acceptedNames") or {}
    used, kinds = _taken(crd, others, registry)
    new = dict(accepted)
    cond = {"type": "NamesAccepted", "status": "Unknown"}

    def conflict(reason: str, message: str) -> None:
        cond.update(status="False", reason=reason, message=message)

    for field, reason, pool in (("plural", "PluralConflict", used), ("singular", "SingularConflict", used)):
        err = _fresh(str(names.get(field) or ""), str(accepted.get(field) or ""), pool)
        if err:
            conflict(reason, err)
        else:
            new[field] = names.get(field)
    short = list(names.get("shortNames") or ())
    if short != list(accepted.get("shortNames") or ()):
        mine = set(accepted.get("shortNames") or ())
        errs = [e for s in short if s not in mine for e in [_fresh(s, "", used)] if e]
        if errs:
            conflict("ShortNamesConflict", errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
        else:
            new["shortNames"] = short
    for field, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        err = _fresh(str(names.get(field) or ""), str(accepted.get(field) or ""), kinds)
        if err:
            conflict(reason, err)
        else:
            new[field] = names.get(field)
    if names.get("categories"):
        new["categories"] = list(names["categories"])
    if cond["status"] == "Unknown":
        cond.update(status="True", reason="NoConflicts", message="no conflicts found")
    est = dict(condition(crd, "Established") or {"type": "Established", "status": "False", "reason": "NotAccepted",
                                                  "message": "not all names are accepted"})
    if est.get("status") != "True" and cond["status"] == "True":
        est = {"type": "Established", "status": "False", "reason": "Installing",
               "message": "the initial names have been accepted"}
    conditions = [c for c in status.get("conditions") or () if c.get("type") not in ("NamesAccepted", "Established")]
    conditions += [_stamp(crd, cond, now), _stamp(crd, est, now)]
    stored = list(status.get("storedVersions") or ())
    sv = storage_version(crd)
    if sv and sv not in stored:
        stored.append(sv)
    return {**status, "conditions": conditions, "acceptedNames": {k: v for k, v in new.items() if v},
            "storedVersions": stored}


def established(crd: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The ``status`` once the establishing controller has run: ``Established`` True,
    ``InitialNamesAccepted`` (only for a CRD whose names are accepted; else unchanged)."""
    status = crd.get("status") or {}
    names = condition(crd, "NamesAccepted")
    if not names or names.get("status") != "True":
        return dict(status)
    est = {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
           "message": "the initial names have been accepted"}
    conditions = [c for c in status.get("conditions") or () if c.get("type") != "Established"]
    return {**status, "conditions": [*conditions, _stamp(crd, est, now)]}


def _stamp(crd: dict[str, Any], cond: dict[str, Any], now: str) -> dict[str, Any]:
    """``lastTransitionTime`` moves only when the status changes."""
    old = condition(crd, str(cond["type"]))
    when = old.get("lastTransitionTime") if old and old.get("status") == cond.get("status") else now
    return {"type": cond["type"], "status": cond["status"], "lastTransitionTime": when or now,
            "reason": cond.get("reason", ""), "message": cond.get("message", "")}
