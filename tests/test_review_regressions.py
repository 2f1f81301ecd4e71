"""Regression tests for problems found in review (each names what it guards)."""
import os
import subprocess
import sys

import pytest
from conftest import ROOT, cm, rendered, write_chart

from helm_ac.analysis import graph, model
from helm_ac.analysis.graph import Barrier
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.lint import checks
from helm_ac.rendering import manifests, yamlio
from helm_ac.rendering.chart import load_chart
from helm_ac.rendering.helm import split_attached_short_flags

DEP = "appcontroller.k8s/depends-on"


def test_attached_short_flag_values_are_split_before_click():
    assert split_attached_short_flags(["lint", "c", "-nshop", "-fv.yaml", "-o", "json", "-ojson", "--", "-nx"]) == [
        "lint", "c", "-n", "shop", "-f", "v.yaml", "-o", "json", "-ojson", "--", "-nx"]


@pytest.mark.helm
def test_attached_namespace_value_reaches_helm(cli, tmp_path):
    c = write_chart(tmp_path, "ns", {"a.yaml": cm("a", {DEP: "configmap/b"}), "b.yaml": cm("b", namespace="shop")})
    assert cli("lint", str(c), "-nshop").code == 0
    assert cli("lint", str(c), "-nother").code == 1


@pytest.mark.helm
def test_null_annotations_and_go_yaml_scalars_survive_template(cli, tmp_path):
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: ws.example.com\n"
           "  annotations:\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: W, plural: ws}\n"
           "  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n")
    data = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  opens: 12:30\n  since: 2023-02-29\n"
    hook = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: h\n  annotations:\n    helm.sh/hook: pre-install\n"
            "data:\n  # kept as helm printed it\n  t: 12:30\n")
    c = write_chart(tmp_path, "odd", {"crd.yaml": crd, "d.yaml": data, "h.yaml": hook})
    for fmt in ("appcontroller", "argocd", "cli-utils"):
        r = cli("template", "r", str(c), "--format", fmt)
        assert r.code == 0, (fmt, r.err)
        docs = [d for d in yamlio.load_all(r.out) if d]  # reads like Kubernetes: timestamps stay strings
        body = next(d for d in docs if d.get("kind") in ("ConfigMap", "Definition") and "d" in
                    (d.get("metadata", {}).get("name"), d.get("configmap", {}).get("metadata", {}).get("name")))
        values = body.get("data") or body["configmap"]["data"]
        assert str(values["opens"]) == "12:30" and str(values["since"]) == "2023-02-29"
    assert "# kept as helm printed it" in cli("template", "r", str(c)).out


def test_cycles_do_not_depend_on_the_hash_seed(tmp_path):
    names = list("abcde")
    docs = "".join(f"---\n# Source: c/templates/{n}.yaml\n" + cm(n, {DEP: ", ".join(f"configmap/{m}" for m in names
                                                                                   if m != n)}) for n in names)
    (tmp_path / "out.yaml").write_text(docs)
    code = ("import sys; from helm_ac.analysis import model, graph; from helm_ac.rendering import manifests; from helm_ac.analysis.lint import checks;"
            "a = model.analyze(manifests.split(open(sys.argv[1]).read()), None, 'default');"
            "print([f.message for f in checks.run_all(a, graph.collect(a), 'c')])")
    outs = {subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.yaml")], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}, cwd=ROOT).stdout for seed in (1, 2, 3, 4)}
    assert len(outs) == 1 and "dependency cycle" in outs.pop()


def test_barrier_keys_stay_unique_with_dotted_chart_names():
    a = model.analyze(manifests.split(rendered(("app/charts/x.yy/templates/a.yaml", cm("a")),
                                               ("app/charts/x/charts/yy/templates/b.yaml", cm("b")))), None, "default")
    keys = Keys(a, "r")
    k1, k2 = keys.key(Barrier("done", ("app", "x.yy"))), keys.key(Barrier("done", ("app", "x", "yy")))
    assert k1 != k2


def test_subchart_order_does_not_gate_crds_of_the_later_chart(tmp_path):
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: ws.example.com\n"
           "spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: ws}\n")
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
    d = write_chart(tmp_path, "top", {}, chart_yaml="annotations:\n  appcontroller.k8s/subchart-order: a -> b\n",
                    subcharts={"a": {"templates": {}}, "b": {"templates": {}}})
    a = model.analyze(manifests.split(rendered(("top/charts/b/crds/crd.yaml", crd),
                                               ("top/charts/a/templates/w.yaml", widget),
                                               ("top/charts/b/templates/x.yaml", cm("x")))), load_chart(d), "default")
    assert not graph.cycles(graph.collect(a))


def test_cluster_scoped_custom_resources_without_their_crd():
    issuer = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: le\n"
    a = model.analyze(manifests.split(rendered(("c/templates/i.yaml", issuer),
                                               ("c/templates/c.yaml", cm("c", {DEP: "clusterissuer/le"}, "web")))),
                      None, "default")
    assert not checks.run_all(a, graph.collect(a), "c")


def test_absurd_durations_are_rejected():
    body = cm("c", {"appcontroller.k8s/timeout": "1" + "0" * 310 + "h"})
    a = model.analyze(manifests.split(rendered(("c/templates/c.yaml", body))), None, "default")
    [f] = checks.run_all(a, graph.collect(a), "c")
    assert f.rule == "invalid-annotation-value"


@pytest.mark.helm
def test_graph_refuses_output_dir_and_bad_estimate_keys(cli, tmp_path):
    c = write_chart(tmp_path, "c", {"a.yaml": cm("a")})
    r = cli("graph", "r", str(c), "--output-dir", str(tmp_path / "o"))
    assert r.code == 2 and "--output-dir" in r.err
    for bad in ("=5s", "deployment/=5s"):
        r = cli("graph", "r", str(c), "--estimate", bad)
        assert r.code == 2 and "not a kind" in r.err
