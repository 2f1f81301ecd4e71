"""The pure core: rendered text + chart tree -> analysis -> graph."""
import subprocess
import sys
from pathlib import Path

import networkx as nx
from conftest import cm, rendered, write_chart
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.analysis import graph, model
from helm_ac.analysis.graph import Barrier
from helm_ac.kinds import ObjectKey
from helm_ac.rendering import manifests
from helm_ac.rendering.chart import load_chart


def analyze(*docs, chart=None, namespace="default"):
    return model.analyze(manifests.split(rendered(*docs)), chart, namespace)


def K(kind, name, ns="default", group=""):
    return ObjectKey(group, kind, ns, name)


def test_object_references_resolve_case_insensitively_in_the_same_namespace():
    a = analyze(("c/templates/a.yaml", cm("a", {"appcontroller.k8s/depends-on": "ConfigMap/b, configmap/c"})),
                ("c/templates/b.yaml", cm("b")), ("c/templates/c.yaml", cm("c", namespace="other")))
    refs_ = a.objects[K("ConfigMap", "a")].references
    assert refs_[0].targets == [K("ConfigMap", "b")]
    assert not refs_[1].targets  # c lives in another namespace
    g = graph.build(a)
    assert g.has_edge(K("ConfigMap", "b"), K("ConfigMap", "a"))


def test_namespaced_reference_and_cluster_scoped_targets():
    ns_obj = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: db\n"
    a = analyze(("c/templates/ns.yaml", ns_obj), ("c/templates/c.yaml", cm("c", namespace="db")),
                ("c/templates/a.yaml", cm("a", {"appcontroller.k8s/depends-on": "db/configmap/c, namespace/db"})),
                namespace="apps")
    r = a.objects[K("ConfigMap", "a", "apps")].references
    assert r[0].targets == [K("ConfigMap", "c", "db")]
    assert r[1].targets == [ObjectKey("", "Namespace", None, "db")]
    assert a.namespaces == {"apps", "db"}


def test_crd_scope_is_read_from_the_chart():
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gs.example.com\n"
           "spec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Global, plural: gs}\n")
    glob = "apiVersion: example.com/v1\nkind: Global\nmetadata:\n  name: g\n"
    a = analyze(("c/crds/crd.yaml", crd), ("c/templates/g.yaml", glob),
                ("c/templates/a.yaml", cm("a", {"appcontroller.k8s/depends-on": "global/g"})))
    assert ObjectKey("example.com", "Global", None, "g") in a.objects
    assert a.objects[K("ConfigMap", "a")].references[0].targets == [ObjectKey("example.com", "Global", None, "g")]


def test_same_kind_in_two_groups_is_ambiguous_until_qualified():
    x = "apiVersion: a.example.com/v1\nkind: Certificate\nmetadata:\n  name: tls\n"
    y = "apiVersion: b.example.com/v1\nkind: Certificate\nmetadata:\n  name: tls\n"
    a = analyze(("c/templates/x.yaml", x), ("c/templates/y.yaml", y),
                ("c/templates/a.yaml", cm("a", {"appcontroller.k8s/depends-on":
                                                "certificate/tls, certificate.b.example.com/tls"})))
    amb, ok = a.objects[K("ConfigMap", "a")].references
    assert len(amb.ambiguous) == 2 and not amb.targets
    assert ok.targets == [K("Certificate", "tls", group="b.example.com")]


def test_subchart_rule_uses_barriers_not_cross_products(tmp_path):
    d = write_chart(tmp_path, "wp", {}, subcharts={"mariadb": {"templates": {}}, "redis": {"templates": {}}})
    docs = [("wp/charts/mariadb/templates/s.yaml", cm(f"db{i}")) for i in range(5)]
    docs += [("wp/charts/redis/templates/r.yaml", cm("r"))]
    docs += [("wp/templates/w.yaml", cm(f"web{i}")) for i in range(4)]
    a = analyze(*docs, chart=load_chart(d))
    g = graph.build(a)
    gate, done_db = Barrier("gate", ("wp",)), Barrier("done", ("wp", "mariadb"))
    assert nx.has_path(g, K("ConfigMap", "db3"), K("ConfigMap", "web2"))
    assert nx.has_path(g, K("ConfigMap", "r"), K("ConfigMap", "web0"))
    assert not nx.has_path(g, K("ConfigMap", "web0"), K("ConfigMap", "db0"))
    assert g.has_edge(done_db, gate)
    # 5 + 1 member edges into the subcharts' dones, 2 dones -> gate, 4 gate -> own objects; done(wp) orders
    # nothing and is pruned with its edges
    assert g.number_of_edges() == 6 + 2 + 4
    assert Barrier("done", ("wp",)) not in g
    assert not list(nx.simple_cycles(g))


def test_wait_for_subcharts_false_and_list(tmp_path):
    for value, waits_db, waits_redis in (("false", False, False), ("redis", False, True), ("true", True, True)):
        d = write_chart(tmp_path / value, "wp", {},
                        chart_yaml=f"annotations:\n  appcontroller.k8s/wait-for-subcharts: \"{value}\"\n",
                        subcharts={"mariadb": {"templates": {}}, "redis": {"templates": {}}})
        a = analyze(("wp/charts/mariadb/templates/s.yaml", cm("db")), ("wp/charts/redis/templates/r.yaml", cm("r")),
                    ("wp/templates/w.yaml", cm("web")), chart=load_chart(d))
        g = graph.build(a)
        assert nx.has_path(g, K("ConfigMap", "db"), K("ConfigMap", "web")) is waits_db, value
        assert nx.has_path(g, K("ConfigMap", "r"), K("ConfigMap", "web")) is waits_redis, value


def test_disabled_subchart_has_no_barrier(tmp_path):
    d = write_chart(tmp_path, "wp", {}, chart_yaml="dependencies:\n- name: mariadb\n  version: 0.1.0\n"
                                                   "  condition: mariadb.enabled\n",
                    subcharts={"mariadb": {"templates": {}}})
    a = analyze(("wp/templates/w.yaml", cm("web")), chart=load_chart(d))
    assert a.chart_state(("wp", "mariadb")) == "disabled"
    g = graph.build(a)
    assert set(g.nodes) == {K("ConfigMap", "web")}


def test_subchart_order_orders_whole_subtrees(tmp_path):
    d = write_chart(tmp_path, "top", {}, chart_yaml="annotations:\n  appcontroller.k8s/subchart-order: pg -> kc\n"
                                                    "  appcontroller.k8s/wait-for-subcharts: \"false\"\n",
                    subcharts={"pg": {"templates": {}}, "kc": {"templates": {}, "subcharts": {"inner": {"templates": {}}}}})
    a = analyze(("top/charts/pg/templates/p.yaml", cm("pg")), ("top/charts/kc/templates/k.yaml", cm("kc")),
                ("top/charts/kc/charts/inner/templates/i.yaml", cm("inner")), ("top/templates/t.yaml", cm("top")),
                chart=load_chart(d))
    g = graph.build(a)
    assert nx.has_path(g, K("ConfigMap", "pg"), K("ConfigMap", "kc"))
    assert nx.has_path(g, K("ConfigMap", "pg"), K("ConfigMap", "inner"))
    assert not nx.has_path(g, K("ConfigMap", "pg"), K("ConfigMap", "top"))  # top opted out
    assert nx.has_path(g, K("ConfigMap", "inner"), K("ConfigMap", "kc"))  # kc waits for its own subchart


def test_chart_reference_is_one_edge_from_the_barrier(tmp_path):
    d = write_chart(tmp_path, "top", {}, chart_yaml="annotations:\n  appcontroller.k8s/wait-for-subcharts: \"false\"\n",
                    subcharts={"app": {"templates": {}}, "redis": {"templates": {}}})
    a = analyze(("top/charts/redis/templates/r.yaml", cm("r")),
                ("top/charts/app/templates/a.yaml", cm("a", {"appcontroller.k8s/depends-on": "chart:/redis"})),
                chart=load_chart(d))
    g = graph.build(a)
    assert g.has_edge(Barrier("done", ("top", "redis")), K("ConfigMap", "a"))


def test_cycles_are_found_with_their_path():
    a = analyze(("c/templates/a.yaml", cm("a", {"appcontroller.k8s/depends-on": "configmap/b"})),
                ("c/templates/b.yaml", cm("b", {"appcontroller.k8s/depends-on": "configmap/c"})),
                ("c/templates/c.yaml", cm("c", {"appcontroller.k8s/depends-on": "configmap/a"})),
                ("c/templates/d.yaml", cm("d", {"appcontroller.k8s/depends-on": "configmap/d"})))
    e = graph.collect(a)
    assert (K("ConfigMap", "d"), K("ConfigMap", "d")) not in e  # self-dependencies stay out
    [cyc] = graph.cycles(e)
    assert [str(n) for n in graph.waits_for_path(cyc)] == ["configmap/a", "configmap/b", "configmap/c", "configmap/a"]


def test_many_cycles_are_bounded_per_component():
    # a complete digraph on 8 nodes has thousands of elementary cycles
    names = [f"n{i}" for i in range(8)]
    docs = [(f"c/templates/{n}.yaml", cm(n, {"appcontroller.k8s/depends-on": ", ".join(
        f"configmap/{m}" for m in names if m != n)})) for n in names]
    e = graph.collect(analyze(*docs))
    assert 0 < len(graph.cycles(e, per_component=10)) <= 10


CRD = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: backups.example.com\n"
       "spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Backup, plural: backups}\n")
BACKUP = "apiVersion: example.com/v1\nkind: Backup\nmetadata:\n  name: nightly\n"
NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: db\n"
CRD_KEY = ObjectKey("apiextensions.k8s.io", "CustomResourceDefinition", None, "backups.example.com")


def test_implicit_rules_crd_and_namespace_and_switching_them_off():
    a = analyze(("c/crds/crd.yaml", CRD), ("c/templates/b.yaml", BACKUP), ("c/templates/ns.yaml", NS),
                ("c/templates/cm.yaml", cm("x", namespace="db")))
    backup = ObjectKey("example.com", "Backup", "default", "nightly")
    g = graph.build(a)
    assert g.has_edge(CRD_KEY, backup)
    assert g.has_edge(ObjectKey("", "Namespace", None, "db"), K("ConfigMap", "x", "db"))
    assert [w.rule for w in g[CRD_KEY][backup]["why"]] == ["implicit-crd"]
    g = graph.build(a, implicit=["namespace"])
    assert not g.has_edge(CRD_KEY, backup)
    g = graph.build(a, implicit=[])
    assert not g.has_edge(ObjectKey("", "Namespace", None, "db"), K("ConfigMap", "x", "db"))


def test_crds_and_namespaces_do_not_wait_for_subcharts(tmp_path):
    """The parent's CRD (crds/) and Namespace serve its subcharts: no cycle through the subchart rule."""
    d = write_chart(tmp_path, "op", {}, subcharts={"app": {"templates": {}}})
    a = analyze(("op/crds/crd.yaml", CRD), ("op/templates/ns.yaml", NS), ("op/templates/own.yaml", cm("own")),
                ("op/charts/app/templates/b.yaml", BACKUP), ("op/charts/app/templates/c.yaml", cm("c", namespace="db")),
                chart=load_chart(d))
    g = graph.build(a)
    assert not graph.cycles(graph.collect(a))
    assert nx.has_path(g, CRD_KEY, ObjectKey("example.com", "Backup", "default", "nightly"))
    assert nx.has_path(g, ObjectKey("example.com", "Backup", "default", "nightly"), K("ConfigMap", "own"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20))
def test_graphlib_cycle_check_agrees_with_networkx(pairs):
    """Lint decides "is there a cycle" with graphlib (networkx is slow to import); networkx enumerates them."""
    e = graph.Edges(K("ConfigMap", f"n{i}") for i in range(8))
    for p, c in pairs:
        if p != c:
            e.add(K("ConfigMap", f"n{p}"), K("ConfigMap", f"n{c}"), graph.Why("depends-on", "test"))
    assert e.has_cycle() == (not nx.is_directed_acyclic_graph(e.digraph()))
    assert bool(graph.cycles(e)) == e.has_cycle()


def test_barriers_nothing_waits_for_are_pruned_transitively(tmp_path):
    # top waits for sub (gate), sub's done feeds top's done; top's done has no successor: pruned, and so on
    d = write_chart(tmp_path, "top", {}, subcharts={"sub": {"templates": {}}})
    a = analyze(("top/templates/a.yaml", cm("a")), ("top/charts/sub/templates/b.yaml", cm("b")), chart=load_chart(d))
    e = graph.collect(a)
    barriers = {n for edge in e for n in edge if isinstance(n, Barrier)}
    assert barriers == {Barrier("done", ("top", "sub")), Barrier("gate", ("top",))}
    assert all(any(p == b for p, _ in e) for b in barriers)  # every barrier left orders something


def test_lint_of_an_acyclic_chart_does_not_import_networkx():
    code = ("import sys; from conftest import rendered, cm; from helm_ac.analysis import model, graph; from helm_ac.rendering import manifests;"
            "from helm_ac.analysis.lint import checks;"
            "a = model.analyze(manifests.split(rendered(('c/templates/a.yaml', cm('a')),"
            " ('c/templates/b.yaml', cm('b', {'appcontroller.k8s/depends-on': 'configmap/a'})))), None, 'd');"
            "assert not checks.run_all(a, graph.collect(a), 'c');"
            "print('networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent).stdout
    assert out.strip() == "False"


def test_a_cycle_is_reported_from_its_smallest_object_whatever_networkx_returns():
    a, b, c = K("ConfigMap", "a"), K("ConfigMap", "b"), K("ConfigMap", "c")
    done = Barrier("done", ("c",))
    assert graph._rotate([c, done, a, b]) == [a, b, c, done]
    assert graph._rotate([done, b]) == [b, done]


def _crd(group, kind, scope=None, api_version="apiextensions.k8s.io/v1"):
    return (f"apiVersion: {api_version}\nkind: CustomResourceDefinition\nmetadata:\n  name: {kind.lower()}s.{group}\n"
            f"spec:\n  group: {group}\n" + (f"  scope: {scope}\n" if scope else "") +
            f"  names: {{kind: {kind}, plural: {kind.lower()}s}}\n")


def test_a_charts_crd_overrides_the_built_in_scope_table():
    issuer = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: le\n"
    a = analyze(("c/crds/crd.yaml", _crd("cert-manager.io", "ClusterIssuer", "Namespaced")), ("c/templates/i.yaml", issuer))
    assert ObjectKey("cert-manager.io", "ClusterIssuer", "default", "le") in a.objects


def test_only_apiextensions_crds_declare_scopes_and_the_default_is_namespaced():
    glob = "apiVersion: example.com/v1\nkind: Global\nmetadata:\n  name: g\n"
    for crd in (_crd("example.com", "Global", "Cluster", api_version="other.io/v1"), _crd("example.com", "Global")):
        a = analyze(("c/crds/crd.yaml", crd), ("c/templates/g.yaml", glob))
        assert ObjectKey("example.com", "Global", "default", "g") in a.objects, crd
