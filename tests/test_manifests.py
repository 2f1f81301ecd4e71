import re

import pytest
from conftest import rendered
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.rendering import fasthead, manifests, yamlio


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
    head = yamlio.load(fasthead.head_text(doc))
    for k in ("apiVersion", "kind"):
        assert head[k] == full[k]
    for k in ("name", "annotations"):
        assert head["metadata"].get(k) == full["metadata"].get(k)


@pytest.mark.parametrize("doc", ["- a\n- b\n", "items:\n- a\n", "{a: 1}\n", "%YAML 1.1\n---\na: 1\n"])
def test_documents_that_cannot_be_cut_are_parsed_whole(doc):
    assert fasthead.head_text(doc) is None


def test_unsafe_tags_outside_the_head_are_reported_when_split():
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nfoo: !!python/object:os.system ls\n"
    out = manifests.split(rendered(("c/templates/x.yaml", body)))
    assert not out.objects
    [p] = out.problems
    assert p.template == "templates/x.yaml" and "configmap/x" in p.message and "invalid YAML" in p.message


def test_a_body_the_loader_refuses_is_a_user_error_naming_object_and_file():
    """The body is parsed lazily; what the head reader did not look at may still be invalid (helm itself
    parses every document, so this is rare: e.g. the pure-Python loader's recursion limit)."""
    body = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: "unterminated\n'
    [obj] = manifests.split(rendered(("c/charts/sub/templates/x.yaml", body))).objects
    with pytest.raises(manifests.ManifestError) as e:
        obj.body
    assert "charts/sub/templates/x.yaml: configmap/x cannot be read as YAML" in str(e.value)


CRD_DOC = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.19.0
    "operator.prometheus.io/version": 0.93.1
  name: prometheuses.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names:
    categories:
    - prometheus-operator
    kind: Prometheus
    plural: prometheuses
  scope: Namespaced
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: |-
          *Warning:* the rule `self.mode != 'x' && !has(self.y)` holds; see *this*.
        x-kubernetes-validations:
        - rule: '!(has(self.a) && self.b)'
        type: object
    served: true
"""


def test_crds_are_read_without_a_full_parse():
    """A CRD's head carries the group, kind and scope lint needs; its schema is never parsed up front
    (big CRDs of an operator chart took most of lint's time). CEL's && and ! and markdown's *emphasis*
    are not YAML anchors, aliases or tags."""
    [obj] = manifests.split(rendered(("c/crds/p.yaml", CRD_DOC))).objects
    assert obj.text is not None and obj._body is None  # the body is not parsed yet
    assert obj.head["spec"] == {"group": "monitoring.coreos.com", "names": {"kind": "Prometheus"},
                                "scope": "Namespaced"}
    assert obj.head["metadata"]["annotations"]["operator.prometheus.io/version"] == "0.93.1"
    from helm_ac import kinds
    assert kinds.scopes_from_crds([obj.head]) == {("monitoring.coreos.com", "Prometheus"): False}


@pytest.mark.parametrize("doc", [CRD_DOC.replace("  group: monitoring", "  group: 'monitoring").replace(
    ".coreos.com\n  names", ".coreos.com'\n  names"), CRD_DOC.replace("  scope: Namespaced", "  scope: Cluster # c"),
    CRD_DOC.replace("    kind: Prometheus", "    kind: !!str Prometheus")])
def test_crd_heads_agree_with_yaml(doc):
    [obj] = manifests.split(rendered(("c/crds/p.yaml", doc))).objects
    full, head = yamlio.load(doc)["spec"], obj.head["spec"]
    assert (head["group"], head["names"]["kind"], head["scope"]) == (full["group"], full["names"]["kind"],
                                                                     full["scope"])


def test_two_annotations_blocks_are_reported_naming_the_object():
    body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n"
            "    appcontroller.k8s/depends-on: configmap/db\n  labels:\n    a: b\n  annotations:\n    x: y\n")
    out = manifests.split(rendered(("c/templates/web.yaml", body)))
    [obj] = out.objects
    [p] = out.problems
    assert p.template == "templates/web.yaml"
    assert "configmap/web" in p.message and "metadata.annotations is given twice" in p.message


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


@pytest.mark.helm
def test_a_body_helm_accepts_and_our_loader_refuses_is_a_finding_not_a_crash(cli, tmp_path):
    """helm renders `!!omap [x]`; PyYAML refuses it.  lint used to say "no problems" (the body was parsed
    lazily) and simulate ended in an internal error (exit 3)."""
    from conftest import write_chart

    chart = write_chart(tmp_path, "odd", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n"
                                                     "data:\n  a: !!omap [x]\n"})
    lint = cli("lint", str(chart))
    assert lint.code == 1, lint.out + lint.err
    assert "templates/cm.yaml: error [invalid-manifest] configmap/odd: invalid YAML" in lint.out
    sim = cli("simulate", str(chart))
    assert sim.code == 1 and "internal error" not in sim.err, sim.out + sim.err
    assert "configmap/odd" in sim.out + sim.err


@pytest.mark.helm
def test_two_annotations_blocks_are_a_lint_error(cli, tmp_path):
    """YAML keeps the second block and drops the first one's depends-on; Kubernetes refuses the object."""
    from conftest import write_chart

    chart = write_chart(tmp_path, "dup", {
        "db.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n",
        "web.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n"
                    "    appcontroller.k8s/depends-on: configmap/db\n  annotations:\n    team: x\n"})
    r = cli("lint", str(chart))
    assert r.code == 1, r.out + r.err
    assert ("templates/web.yaml: error [invalid-manifest] configmap/web: metadata.annotations is given twice"
            in r.out), r.out


@pytest.mark.helm
def test_a_body_that_fails_when_read_lazily_is_a_user_error(cli, helm, tmp_path):
    """What the head reader skips is parsed when a command needs the body; if that fails (helm's own
    parse makes it rare: here a wrapper breaks helm's output), the command says which object and file,
    exit 2, where it used to end in an internal error (exit 3)."""
    import stat

    from conftest import write_chart

    chart = write_chart(tmp_path, "lazy", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                                                      "data:\n  a: BREAK\n"})
    wrapper = tmp_path / "helm"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = template ]; then "{helm.binary}" "$@" | sed \'s/BREAK/"open/\'; '
                       f'exit 0; fi\nexec "{helm.binary}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    r = cli("simulate", str(chart), env={"HELM_BIN": str(wrapper)})
    assert r.code == 2, r.out + r.err
    assert "templates/cm.yaml: configmap/x cannot be read as YAML" in r.err and "internal error" not in r.err


@pytest.mark.parametrize("doc,value", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n    x: >\n      a\n\n      b\n"
     "data:\n  k: v\n", "a\nb\n"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n    x: |+\n      a\n\n\ndata: {}\n",
     "a\n\n\n"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  annotations:\n    x: |+\n", ""),
])
def test_a_block_scalar_last_in_a_cut_head_keeps_its_line_breaks(doc, value):
    """Found by the property test: the head cut for the YAML loader ended without the newline that
    follows it in the document, so a block scalar at its end lost its final line break (clip and keep
    chomping keep them)."""
    [obj] = manifests.split(rendered(("c/templates/x.yaml", doc))).objects
    assert obj.head["metadata"]["annotations"] == {"x": value} == yamlio.load(doc)["metadata"]["annotations"]


def _chunks_oracle(text):
    """Documents cut where a "---" line starts, searched in "\n" + text (as before the search without the copy)."""
    import re

    start, out = 0, []
    for m in re.finditer(r"\n---[ \t]*(?:#[^\n]*)?(?=\n|\Z)", "\n" + text):
        out.append(text[start:m.start()])
        start = m.end() - 1
    return out + [text[start:]]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["---", "--- # c", "---x", " ---", "----", "a: 1", "", "# Source: c/t.yaml", "--- \t"]),
                max_size=8), st.booleans())
def test_documents_are_cut_as_before(lines, trailing_newline):
    from helm_ac.rendering import manifests

    text = "\n".join(lines) + ("\n" if trailing_newline else "")
    assert list(manifests._chunks(text)) == _chunks_oracle(text)
