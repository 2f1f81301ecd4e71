"""Subcharts as Helm really renders them: aliases, conditions, tags, library charts, packaged subcharts."""
import pytest
from conftest import cm, tgz, write_chart

pytestmark = pytest.mark.helm
DEP = "appcontroller.k8s/depends-on"


def _findings(r):
    return {(f["rule"], f["object"]) for f in r.json()["charts"][0]["findings"]}


@pytest.fixture
def aliased(tmp_path):
    """One chart used twice under two aliases, with a nested subchart, plus a library chart."""
    return write_chart(tmp_path, "top", {"t.yaml": cm("top", {DEP: "chart:cache, chart:common"})}, chart_yaml=(
        "dependencies:\n- name: redis\n  version: 0.1.0\n  alias: cache\n- name: redis\n  version: 0.1.0\n"
        "  alias: queue\n- name: common\n  version: 0.1.0\n"),
        values="cache:\n  x: c\nqueue:\n  x: q\n",
        subcharts={"redis": {"templates": {"r.yaml": cm("redis-{{ .Values.x }}")},
                             "subcharts": {"sentinel": {"templates": {"s.yaml": cm("sentinel")}}}},
                   "common": {"templates": {"_h.tpl": '{{ define "common.x" }}x{{ end }}'},
                              "chart_yaml": "type: library\n"}})


def test_aliases_library_and_the_helm_3_4_difference(cli, helm, aliased):
    r = cli("lint", str(aliased), "-o", "json")
    found = _findings(r)
    assert ("empty-subchart-reference", "configmap/top") in found  # chart:common is a library chart
    assert not [f for f in found if f[0] in ("unknown-subchart-reference", "unresolved-reference")]
    # Helm 4 renders the nested subchart once per alias (two identical ConfigMaps), Helm 3 once
    assert (("duplicate-object", "configmap/sentinel") in found) is (helm.major == "4")
    assert r.json()["charts"][0]["objects"] == 4


def test_condition_and_tags(cli, tmp_path):
    c = write_chart(tmp_path, "app", {"a.yaml": cm("a", {DEP: "chart:redis, chart:metrics"})}, chart_yaml=(
        "dependencies:\n- name: redis\n  version: 0.1.0\n  condition: redis.enabled\n"
        "- name: metrics\n  version: 0.1.0\n  tags: [monitoring]\n"),
        values="redis:\n  enabled: false\ntags:\n  monitoring: false\n",
        subcharts={"redis": {"templates": {"r.yaml": cm("r")}}, "metrics": {"templates": {"m.yaml": cm("m")}}})
    r = cli("lint", str(c), "-o", "json")
    assert r.code == 0 and _findings(r) == {("disabled-subchart-reference", "configmap/a")}
    msgs = " ".join(f["message"] for f in r.json()["charts"][0]["findings"])
    assert "condition redis.enabled" in msgs and "tags monitoring" in msgs
    r = cli("lint", str(c), "--set", "redis.enabled=true", "--set", "tags.monitoring=true", "-o", "json")
    # a waits for its own chart's gate (the subchart rule) and for each chart: reference
    assert r.code == 0 and _findings(r) == set() and r.json()["charts"][0]["dependencies"] == 3
    assert cli("lint", str(c), "--strict").code == 1


def test_packaged_subchart_in_charts_dir(cli, tmp_path):
    sub = write_chart(tmp_path / "src", "db", {"d.yaml": cm("db")})
    c = write_chart(tmp_path, "app", {"a.yaml": cm("a", {DEP: "chart:db, configmap/db"})},
                    chart_yaml="dependencies:\n- name: db\n  version: 0.1.0\n")
    (c / "charts").mkdir()
    (c / "charts" / "db-0.1.0.tgz").write_bytes(tgz(sub, "db"))
    r = cli("lint", str(c), "-o", "json")
    assert r.code == 0 and _findings(r) == set(), r.out


def test_subchart_object_waiting_for_its_parent_is_a_cycle(cli, tmp_path):
    c = write_chart(tmp_path, "app", {"web.yaml": cm("web")},
                    subcharts={"cache": {"templates": {"c.yaml": cm("c", {DEP: "configmap/web"})}}})
    r = cli("lint", str(c))
    assert r.code == 1 and "configmap/c → configmap/web → [app own objects] → [app/cache ready] → configmap/c" in r.out
    c2 = write_chart(tmp_path / "optout", "app", {"web.yaml": cm("web")},
                     chart_yaml="annotations:\n  appcontroller.k8s/wait-for-subcharts: \"false\"\n",
                     subcharts={"cache": {"templates": {"c.yaml": cm("c", {DEP: "configmap/web"})}}})
    assert cli("lint", str(c2)).code == 0


def test_subchart_of_a_chart_aliased_twice_keeps_its_alias_order(cli, helm, tmp_path):
    """Helm 3 prints the nested subchart of an aliased chart under the chart's name (charts/redis/...) and renders
    it once, with the values of the last alias; Helm 4 renders it under each alias. Either way it belongs to an
    alias, and chart:cache waits for it."""
    c = write_chart(tmp_path, "top", {"t.yaml": cm("top", {DEP: "chart:cache"})}, chart_yaml=(
        "dependencies:\n- name: redis\n  version: 0.1.0\n  alias: queue\n- name: redis\n  version: 0.1.0\n"
        "  alias: cache\nannotations:\n  appcontroller.k8s/wait-for-subcharts: \"false\"\n"),
        values="cache:\n  x: c\nqueue:\n  x: q\n",
        subcharts={"redis": {"templates": {"r.yaml": cm("redis-{{ .Values.x }}")},
                             "subcharts": {"sentinel": {"templates": {"s.yaml": cm("sentinel-{{ .Values.y }}")}}}}})
    values = ["--set", "cache.sentinel.y=c", "--set", "queue.sentinel.y=q"]
    r = cli("graph", "t", str(c), "-o", "json", *values)
    assert r.code == 0, r.out + r.err
    nodes = {n["id"]: n for n in r.json()["nodes"] if n["type"] == "object"}
    sentinels = {"configmap/sentinel-c"} | ({"configmap/sentinel-q"} if helm.major == "4" else set())
    assert {k for k in nodes if "sentinel" in k} == sentinels
    cache = nodes["configmap/sentinel-c"]
    assert cache["chart"] == ["top", "cache", "sentinel"] and cache["file"] == "charts/cache/charts/sentinel/templates/s.yaml"
    assert nodes["configmap/top"]["level"] > cache["level"]
    assert cli("lint", str(c), *values).code == 0


def test_skip_crds_names_the_skipped_crd_of_a_packaged_subchart(cli, tmp_path):
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.e.com\n"
           "spec:\n  group: e.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n"
           "  - name: v1\n    served: true\n    storage: true\n"
           "    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n")
    sub = write_chart(tmp_path / "src", "op", {"d.yaml": cm("op")}, crds={"widgets.yaml": crd})
    c = write_chart(tmp_path, "app", {"a.yaml": cm("a", {DEP: "customresourcedefinition/widgets.e.com"})},
                    chart_yaml="dependencies:\n- name: op\n  version: 0.1.0\n")
    (c / "charts").mkdir()
    (c / "charts" / "op-0.1.0.tgz").write_bytes(tgz(sub, "op"))
    assert cli("lint", str(c)).code == 0
    r = cli("lint", str(c), "--skip-crds", "-o", "json")
    [f] = r.json()["charts"][0]["findings"]
    assert r.code == 1 and f["rule"] == "unresolved-reference" and f["object"] == "configmap/a"
    assert "the CRD is in charts/op/crds/widgets.yaml, which --skip-crds leaves out" in f["message"]
    assert "drop --skip-crds" in f["hint"]


def test_subchart_order_holds_back_the_templates_of_a_subchart_not_its_crds(cli, tmp_path):
    """As docs/chart-extension.md says: Helm installs crds/ before any template, whatever the order."""
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.e.com\n"
           "spec:\n  group: e.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n"
           "  - name: v1\n    served: true\n    storage: true\n"
           "    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n")
    c = write_chart(tmp_path, "top", {"t.yaml": cm("t")},
                    chart_yaml="annotations:\n  appcontroller.k8s/subchart-order: a -> b\n",
                    subcharts={"a": {"templates": {"a.yaml": cm("a")}},
                               "b": {"templates": {"b.yaml": cm("b")}, "crds": {"w.yaml": crd}}})
    r = cli("graph", "t", str(c), "-o", "json")
    assert r.code == 0, r.err
    nodes = {n["id"]: n for n in r.json()["nodes"]}
    assert nodes["customresourcedefinition/widgets.e.com"]["chart"] == ["top", "b"]
    assert nodes["customresourcedefinition/widgets.e.com"]["level"] == 1
    assert nodes["configmap/b"]["level"] > nodes["configmap/a"]["level"]
