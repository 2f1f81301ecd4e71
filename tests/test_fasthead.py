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
                                                              "123", "true", "x.y/z"]), min_size=0, max_size=4,
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


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents())
def test_fast_head_agrees_with_yaml(doc):
    fast = fasthead.read_head(doc)
    if fast is None:
        return
    try:
        full = yamlio.load(doc)
    except yaml.YAMLError:
        # helm never prints invalid YAML (it parses every document itself); what matters is that
        # the head we read is what YAML reads, which the head-only parse shows
        from helm_ac.rendering import manifests

        head = fasthead.head_text(doc)
        if head is None:
            return
        try:
            full = yamlio.load(head)
        except yaml.YAMLError:
            return
    _assert_same_head(fast, full, doc)


def _assert_same_head(fast, full, doc):
    assert fast["apiVersion"] == full["apiVersion"] and fast["kind"] == full["kind"], doc
    for k in ("name", "namespace", "generateName", "annotations"):
        assert fast["metadata"].get(k) == (full["metadata"] or {}).get(k), (k, doc)


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
    answers = [r for r in (fasthead._canonical(block), fasthead._general(block)) if r is not None]
    if not answers or "\t" in doc or "&" in doc or "!" in doc:
        return
    try:
        full = yamlio.load(doc)
    except yaml.YAMLError:
        return
    for fast in answers:
        _assert_same_head(fast, full, doc)


def test_the_usual_shape_is_read_by_one_regex():
    doc = ("# Source: c/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
           "  namespace: shop\n  labels:\n    app: web\n    helm.sh/chart: c-1.0.0\n  annotations:\n"
           "    appcontroller.k8s/depends-on: job/migrate\n    appcontroller.k8s/timeout: \"10m\"\n"
           "    x/y: 'a \"b\"'\nspec:\n  replicas: 1\n")
    assert fasthead._canonical("\n" + doc) == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "web", "namespace": "shop", "annotations": {"appcontroller.k8s/depends-on": "job/migrate",
                                                            "appcontroller.k8s/timeout": "10m", "x/y": 'a "b"'}}}
