"""The fast head reader agrees with the YAML loader whenever it answers."""
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helm_ac.rendering import fasthead, yamlio

SCALARS = ["web", "v1", "apps/v1", "Deployment", "3", "true", "yes", "on", "~", "null", "=", "1e3", "0x1f", "2024-01-01",
           "'quoted'", "'it''s'", '"dq"', '"a\\"b"', '"a\\nb"', "a: b", "a #b", "a#b", "x:y", "x:", ":x", "- x", "*x",
           "&x y", "!!str 3", "{a: b}", "[x]", "|", "|-", "|+", ">", ">-", "|2", "", "@x", "%x", "`x`", ".inf", "a b",
           "deployment/web, job/migrate", "chart:mariadb", "a\\b", "\"\"", "''", "0", "-1", "+1", "1_000", "12:30"]
BLOCK_LINES = ["deployment/a", "job/b", "", "  indented", "# not a comment", "x: y", "   ", "- item"]


@st.composite
def documents(draw):
    ind = draw(st.sampled_from([2, 4]))
    sub = " " * ind
    lines = []
    keys = draw(st.permutations(["apiVersion", "kind", "metadata", "spec", "data"]))
    for key in keys:
        if draw(st.integers(0, 9)) == 0:
            lines.append("# a comment")
        if key == "metadata":
            lines.append("metadata:")
            for mk in draw(st.lists(st.sampled_from(["name", "namespace", "labels", "annotations", "finalizers",
                                                      "generateName"]), max_size=5, unique=True)):
                if mk in ("labels", "annotations"):
                    if draw(st.booleans()) and mk == "annotations":
                        lines.append(f"{sub}annotations: {draw(st.sampled_from(['{}', '{a: b}', '']))}")
                        continue
                    lines.append(f"{sub}{mk}:")
                    for ak in draw(st.lists(st.sampled_from(["appcontroller.k8s/depends-on", "a", "helm.sh/hook",
                                                              "123", "true", "x.y/z", "'q'", '"helm.sh/hook"',
                                                              '"123"', "'it''s'", '"a\\"b"']), min_size=0, max_size=4,
                                            unique=True)):
                        v = draw(st.sampled_from(SCALARS))
                        lines.append(f"{sub * 2}{ak}: {v}".rstrip())
                        if v.startswith(("|", ">")):
                            extra = draw(st.sampled_from([0, 1, 2]))
                            for bl in draw(st.lists(st.sampled_from(BLOCK_LINES), max_size=4)):
                                lines.append((sub * 3 + " " * extra + bl) if bl else "")
                        if draw(st.integers(0, 8)) == 0:
                            lines.append(f"{sub * 2}# comment")
                elif mk == "finalizers":
                    lines.append(f"{sub}finalizers:")
                    lines.append(f"{sub if draw(st.booleans()) else sub * 2}- a")
                else:
                    lines.append(f"{sub}{mk}: {draw(st.sampled_from(SCALARS))}".rstrip())
        elif key in ("apiVersion", "kind"):
            lines.append(f"{key}: {draw(st.sampled_from(SCALARS))}".rstrip())
        else:
            lines.append(f"{key}:")
            for _ in range(draw(st.integers(0, 3))):
                lines.append(draw(st.sampled_from([f"{sub}x: 1", f"{sub}- a", "- b", f"{sub}y: |", f"{sub * 2}z",
                                                   f"{sub}w: {{a: 1,", f"{sub * 2}b: 2}}", "", f"{sub}# c"])))
    return "\n".join(lines) + "\n"


def _oracle(doc):
    """What YAML reads as the document's head: the document parsed whole, or (helm never prints invalid YAML,
    and these generators can write some in the body) its head cut parsed; None when neither parses."""
    for text in (doc, fasthead.head_text(doc)):
        if text is None:
            continue
        try:
            full = yamlio.load(text)
        except yaml.YAMLError:
            continue
        return full if isinstance(full, dict) else None
    return None


def _check(doc):
    """Every example is compared: the fast reader's answer when it gives one, and the head the pipeline
    (fast reader, else the head cut parsed, else the whole document) gives in any case."""
    full = _oracle(doc)
    fast = fasthead.read_head(doc)
    if full is None or not isinstance(full.get("metadata"), dict) or not full["metadata"].get("name") \
            or not isinstance(full.get("kind"), str) or not isinstance(full.get("apiVersion"), str):
        return fast  # not an object (a problem of its own); what matters is only that nothing crashed
    if fast is not None:
        _assert_same_head(fast, full, doc)
    from helm_ac.rendering import manifests

    out = manifests.split(doc)
    if out.objects:
        _assert_same_head(out.objects[0].head, full, doc)
    return fast


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents())
def test_fast_head_agrees_with_yaml(doc):
    _check(doc)


def _assert_same_head(fast, full, doc):
    assert fast["apiVersion"] == full["apiVersion"] and fast["kind"] == full["kind"], doc
    for k in ("name", "namespace", "generateName", "annotations"):
        assert fast["metadata"].get(k) == (full["metadata"] or {}).get(k), (k, doc)
    if full["kind"] == fasthead.CRD and isinstance(full.get("spec"), dict):
        spec, got = full["spec"], fast.get("spec") or {}
        for k in ("group", "scope"):
            assert got.get(k) == spec.get(k), (k, doc)
        names = spec.get("names")
        assert (got.get("names") or {}).get("kind") == (names.get("kind") if isinstance(names, dict) else None), doc


# ---- documents as YAML writers print them: every scalar style, multi-line values, escapes, CRs and CRDs

class _Styled(str):
    """A string dumped in a given style (plain, quoted, literal, folded; YAML picks another if it must)."""

    style: str | None = None


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Styled, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style=v.style))

_TEXT = st.one_of(
    st.sampled_from(["web", "deployment/web", "job/migrate, secret/x", "a: b", "#x", "3", "true", "", " lead",
                     "trail ", "x\ny", "deployment/a\njob/b\n", "deployment/a\n\njob/b\n\n", "deployment/a\n\njob/b\n",
                     "a\n\n\nb", "  indented\nfirst\n",
                     "\nleading newline", "tab\there", 'q"uote', "it's", "back\\slash", "ünï", "emoji \U0001f600",
                     "self.a && !has(self.b)", "*emphasis* and &amp", "!important", "- item", "{a: 1}", "[x]",
                     "long " * 12, "x" * 90]),
    st.text(alphabet=st.sampled_from(list("ab /:-.\n\t\"'\\#&*!{}[],|>") + ["é"]), max_size=30))


@st.composite
def _styled(draw, text=_TEXT):
    v = _Styled(draw(text))
    v.style = draw(st.sampled_from([None, None, "'", '"', "|", ">"]))
    return v


def _crd_spec(draw):
    return {"group": draw(_styled(st.sampled_from(["monitoring.coreos.com", "x.io", "true", "3"]))),
            "names": {"kind": draw(_styled(st.sampled_from(["Prometheus", "Web", "null"]))),
                      "plural": "prometheuses", "categories": ["a", "b"]},
            "scope": draw(_styled(st.sampled_from(["Namespaced", "Cluster"]))),
            "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": {
                "description": draw(_styled()), "type": "object",
                "x-kubernetes-validations": [{"rule": draw(_styled())}]}}}]}


@st.composite
def dumped_documents(draw):
    kind = draw(st.sampled_from(["ConfigMap", "Deployment", "Prometheus", fasthead.CRD]))
    api = {"ConfigMap": "v1", "Deployment": "apps/v1", "Prometheus": "monitoring.coreos.com/v1",
           fasthead.CRD: "apiextensions.k8s.io/v1"}[kind]
    meta = {"name": draw(_styled(st.sampled_from(["web", "a.b", "x-1", "3", "yes"])))}
    if draw(st.booleans()):
        meta["namespace"] = draw(_styled(st.sampled_from(["shop", "default"])))
    if draw(st.booleans()):
        meta["labels"] = {"app": draw(_styled()), "x/y": "z"}
    if draw(st.booleans()):
        keys = ["appcontroller.k8s/depends-on", "appcontroller.k8s/timeout", "helm.sh/hook", "a", "x.y/z", "true",
                "123", "a: b", "#x"]  # the last four are written quoted
        meta["annotations"] = {k: draw(_styled()) for k in draw(st.lists(st.sampled_from(keys), unique=True))}
    order = draw(st.permutations(list(meta)))
    top = {"apiVersion": api, "kind": kind, "metadata": {k: meta[k] for k in order}}
    if kind == fasthead.CRD:
        top["spec"] = _crd_spec(draw)
    elif kind != "ConfigMap":
        top["spec"] = {"replicas": 2, "selector": {"matchLabels": {"app": draw(_styled())}},
                       "template": {"spec": {"containers": [{"name": "c", "args": [draw(_styled())]}]}}}
    else:
        top["data"] = {"k": draw(_styled()), "j": draw(_styled())}
    keys = draw(st.permutations(list(top)))
    doc = yaml.dump({k: top[k] for k in keys}, Dumper=_Dumper, sort_keys=False, allow_unicode=draw(st.booleans()),
                    default_flow_style=draw(st.sampled_from([False, False, None])),
                    indent=draw(st.sampled_from([2, 4])), width=draw(st.sampled_from([20, 40, 80, 1000])))
    return draw(st.sampled_from(["", "# Source: c/templates/x.yaml\n", "\n# c\n"])) + doc


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=dumped_documents())
def test_heads_of_documents_as_yaml_writers_print_them_agree_with_yaml(doc):
    """Multi-line plain and quoted values, literal and folded block scalars (chomping and indentation
    indicators), escapes, flow style, CRs and CRD-shaped documents: every one compared with PyYAML."""
    full = yamlio.load(doc)
    fast = fasthead.read_head(doc)
    if fast is not None:
        _assert_same_head(fast, full, doc)
    from helm_ac.rendering import manifests

    [obj] = manifests.split(doc).objects
    _assert_same_head(obj.head, full, doc)
    assert obj.body == full


def test_fast_path_covers_the_usual_shapes():
    doc = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\n"
           "  annotations:\n    appcontroller.k8s/depends-on: |\n      job/migrate\n      secret/web\n"
           "    appcontroller.k8s/timeout: \"10m\"\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n"
           "      - name: web\n        image: nginx\n")
    assert fasthead.read_head(doc) == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "web", "annotations": {"appcontroller.k8s/depends-on": "job/migrate\nsecret/web\n",
                                       "appcontroller.k8s/timeout": "10m"}}}


@pytest.mark.parametrize("doc", [
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    appcontroller.k8s/retry: 3\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    "apiVersion: v1\nkind: List\nmetadata: {}\nitems: []\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: &a x\n",
])
def test_falls_back_to_yaml(doc):
    assert fasthead.read_head(doc) is None


PLAIN_STRINGS = ["web", "v1", "apps/v1", "Deployment", "deployment/web", "chart:mariadb", "x:y", "job/a.b", "web-1"]
QUOTED = ["'quoted'", '"dq"', "'it''s'", '"a b"', "'#x'", "'a \"b\"'", '""']


@st.composite
def canonical_documents(draw):
    """Documents in (or near) the shape the one-regex reader takes: apiVersion, kind, metadata first."""
    sub = "  "
    value = st.sampled_from(PLAIN_STRINGS * 20 + QUOTED * 3 + SCALARS)  # mostly what the reader takes
    lines = [draw(st.sampled_from(["", "# Source: c/templates/x.yaml", "# a comment"]))]
    lines.append(f"apiVersion: {draw(value)}".rstrip())
    lines.append(f"kind: {draw(value)}".rstrip())
    lines.append("metadata:" + draw(st.sampled_from(["", "", "", " ", " {}"])))
    lines.append(f"{sub}name: {draw(value)}".rstrip())
    if draw(st.booleans()):
        lines.append(f"{sub}namespace: {draw(value)}".rstrip())
    if draw(st.booleans()):
        lines.append(f"{sub}labels:")
        lines += [f"{sub * 2}{k}: {v}".rstrip() for k, v in draw(st.lists(st.tuples(
            st.sampled_from(["app", "x/y", "123"]), value), max_size=3))]
    if draw(st.booleans()):
        lines.append(f"{sub}annotations:" + draw(st.sampled_from(["", " {}"])))
        for k in draw(st.lists(st.sampled_from(["appcontroller.k8s/depends-on", "a", "x.y/z"] * 4 + ["true", "k "]),
                               max_size=4)):
            lines.append(f"{sub * 2}{k}: {draw(value)}".rstrip())
            if draw(st.integers(0, 12)) == 0:
                lines.append(draw(st.sampled_from([f"{sub * 3}more", "", f"{sub}# c", f"{sub * 2}- x"])))
    for key in draw(st.lists(st.sampled_from(["spec", "data", "x"] * 5 + ["kind", "items", "metadata"]),
                             max_size=3, unique=True)):
        lines.append(f"{key}: {draw(st.sampled_from(['', '', '', '{}', '|', 'v', '[a]']))}".rstrip())
        lines.append(draw(st.sampled_from([f"{sub}a: 1", f"{sub}- b", ""])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=canonical_documents())
def test_both_readers_agree_with_yaml(doc):
    """The one-regex reader of the usual shape and the general reader each agree with YAML when they answer."""
    block = "\n" + doc
    _check(doc)  # the pipeline's head, always
    full = _oracle(doc)
    if full is None or not isinstance(full.get("metadata"), dict):
        return
    for fast in (fasthead._canonical(block), fasthead._general(block)):
        if fast is not None:
            _assert_same_head(fast, full, doc)


def test_the_usual_shape_is_read_by_one_regex():
    doc = ("# Source: c/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
           "  namespace: shop\n  labels:\n    app: web\n    helm.sh/chart: c-1.0.0\n  annotations:\n"
           "    appcontroller.k8s/depends-on: job/migrate\n    appcontroller.k8s/timeout: \"10m\"\n"
           "    x/y: 'a \"b\"'\nspec:\n  replicas: 1\n")
    assert fasthead._canonical("\n" + doc) == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "web", "namespace": "shop", "annotations": {"appcontroller.k8s/depends-on": "job/migrate",
                                                            "appcontroller.k8s/timeout": "10m", "x/y": 'a "b"'}}}
