import re

import pytest
from conftest import rendered
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.rendering import manifests, yamlio


def test_split_sources_charts_and_templates():
    text = rendered(
        ("wp/charts/mariadb/templates/sts.yaml", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n"),
        ("wp/templates/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"),
        ("wp/crds/crd.yaml", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                             "metadata:\n  name: backups.example.com\n"),
    )
    r = manifests.split(text)
    assert [(o.chart, o.template, str(o.key)) for o in r.objects] == [
        (("wp", "mariadb"), "templates/sts.yaml", "statefulset/db"),
        (("wp",), "templates/deploy.yaml", "deployment/web"),
        (("wp",), "crds/crd.yaml", "customresourcedefinition/backups.example.com"),
    ]
    assert r.objects[0].chart_file == "charts/mariadb/templates/sts.yaml"
    assert r.objects[0].key.group == "apps" and r.objects[2].key.group == "apiextensions.k8s.io"
    assert not r.problems


def test_empty_documents_comments_and_null_are_dropped():
    text = rendered(("c/templates/a.yaml", "\n# only a comment\n"), ("c/templates/b.yaml", "null\n"),
                    ("c/templates/c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"))
    r = manifests.split("\n" + text + "---\n")
    assert [o.key.name for o in r.objects] == ["c"] and not r.problems


def test_several_documents_from_one_template_and_list_kinds():
    body = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n"
            "- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n")
    typed = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: d}\n"
    r = manifests.split(rendered(("c/templates/l.yaml", body), ("c/templates/t.yaml", typed)))
    assert [str(o.key) for o in r.objects] == ["configmap/a", "secret/b", "configmap/d"]
    assert {o.template for o in r.objects} == {"templates/l.yaml", "templates/t.yaml"}


def test_hooks_are_kept_aside():
    hook = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: init\n  annotations:\n"
            "    helm.sh/hook: pre-install,pre-upgrade\n")
    r = manifests.split(rendered(("c/templates/j.yaml", hook),
                                 ("c/templates/c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")))
    assert [o.key.name for o in r.hook_objects] == ["init"]
    assert r.hook_objects[0].hooks == ("pre-install", "pre-upgrade")
    assert [o.key.name for o in r.regular] == ["c"]


@pytest.mark.parametrize("body,fragment", [
    ("a: [1, 2\n", "invalid YAML"),
    ("- just\n- a list\n", "not a Kubernetes object"),
    ("kind: ConfigMap\nmetadata: {name: x}\n", "without apiVersion"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: !!python/object:os.system ls\n", "invalid YAML"),
])
def test_problems_name_the_file(body, fragment):
    r = manifests.split(rendered(("c/charts/s/templates/bad.yaml", body)))
    assert not r.objects
    [p] = r.problems
    assert fragment in p.message and p.chart == ("c", "s") and p.template == "templates/bad.yaml" and p.hint


def test_yaml_11_value_tag_is_a_string():
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  ops: [=, '!=']\n"
    [obj] = manifests.split(rendered(("c/templates/x.yaml", body))).objects
    assert obj.body["data"]["ops"] == ["=", "!="]


def test_alias_bomb_is_rejected():
    """Bounded by counting distinct nodes (no timing here: without the bound the bomb is not reported, and
    expanding its 10^12 nodes would never end)."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: x}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    r = manifests.split(rendered(("c/templates/bomb.yaml", "\n".join(lines) + "\n")))
    assert not r.objects
    [p] = r.problems
    assert p.message.startswith("YAML alias bomb: ") and p.template == "templates/bomb.yaml"


def test_benign_aliases_are_unshared():
    doc = yamlio.load("a: &x {k: [1]}\nb: *x\n")
    assert doc["a"] == doc["b"] and doc["a"] is not doc["b"]


def test_parse_source():
    assert manifests.parse_source("c/charts/a/charts/b/templates/x/y.yaml") == (("c", "a", "b"), "templates/x/y.yaml")
    assert manifests.parse_source("c/templates/charts/x.yaml") == (("c",), "templates/charts/x.yaml")


def test_only_the_head_is_parsed_up_front_and_the_body_on_demand():
    body = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\n"
            "  annotations:\n    appcontroller.k8s/depends-on: |\n      configmap/a\n      configmap/b\n"
            "  namespace: prod\nspec:\n  replicas: 3\n  template: {metadata: {labels: {app: web}}}\n")
    [obj] = manifests.split(rendered(("c/templates/d.yaml", body))).objects
    assert obj.head == {"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web", "namespace": "prod",
                                     "annotations": {"appcontroller.k8s/depends-on": "configmap/a\nconfigmap/b\n"}}}
    assert obj.body["spec"]["replicas"] == 3 and obj.body["metadata"]["labels"] == {"app": "web"}


@pytest.mark.parametrize("doc", [
    "metadata: {name: x, labels: {a: b}}\nkind: X\napiVersion: v1\n",  # flow style metadata
    "metadata:\n    name: x\n    labels:\n      a: b\nkind: X\napiVersion: v1\n",  # 4-space indent
    "apiVersion: v1\nkind: X\nmetadata:\n  name: x\n  annotations: {a: b}\n  # comment\n  labels:\n  - odd\n",
])
def test_head_cut_agrees_with_a_full_parse(doc):
    full = yamlio.load(doc)
    head = yamlio.load(manifests.head_text(doc))
    for k in ("apiVersion", "kind"):
        assert head[k] == full[k]
    for k in ("name", "annotations"):
        assert head["metadata"].get(k) == full["metadata"].get(k)


@pytest.mark.parametrize("doc", ["- a\n- b\n", "items:\n- a\n", "{a: 1}\n", "%YAML 1.1\n---\na: 1\n"])
def test_documents_that_cannot_be_cut_are_parsed_whole(doc):
    assert manifests.head_text(doc) is None


def test_unsafe_tags_outside_the_head_fail_when_the_body_is_read():
    import yaml

    body = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nfoo: !!python/object:os.system ls\n"
    [obj] = manifests.split(rendered(("c/templates/x.yaml", body))).objects
    with pytest.raises(yaml.YAMLError):
        obj.body


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["---", "\n", "a", " ", "#", "\t", "-", "--- # x", "b: c", "----", "\r"]), max_size=20))
def test_document_chunks_are_the_text_between_separator_lines(parts):
    """The fast separator search cuts exactly where a "^---...$" line regex does."""
    text = "".join(parts)
    assert list(manifests._chunks(text)) == re.split(r"^---[ \t]*(?:#.*)?$", text, flags=re.MULTILINE)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["\n", "# Source: ", "a/b.yaml", " ", "\t", "x", "\r", "#", "\u2003", "---\n"]),
                max_size=10), st.booleans())
def test_sources_are_read_as_the_source_line_regex_reads_them(parts, helm_shaped):
    """The quick read of helm's "# Source:" line agrees with the general regex, odd lines included."""
    text = "---\n" + ("# Source: " if helm_shaped else "") + "".join(parts)
    expected, source = [], ""
    for chunk in re.split(r"^---[ \t]*(?:#.*)?$", text, flags=re.MULTILINE):
        m = re.search(r"^# Source: (.+?)\s*$", chunk, flags=re.MULTILINE)
        if m:
            source = m.group(1)
        elif not manifests.parse_source(source)[1].startswith("crds/"):
            source = ""  # only the documents of a crds/ file follow one source line
        expected.append((source, chunk))
    assert list(manifests._documents(text)) == expected


def test_scalars_read_as_kubernetes_reads_them():
    """Go YAML (what the API server uses) has no base-60 numbers and no timestamp type."""
    doc = yamlio.load("a: 12:30\nb: 1:2:3.5\nc: 10\nd: 1.5\ne: 2023-02-29\nf: 0x1F\n")
    assert doc == {"a": "12:30", "b": "1:2:3.5", "c": 10, "d": 1.5, "e": "2023-02-29", "f": 31}
