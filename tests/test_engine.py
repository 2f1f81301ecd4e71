"""The engine on the simulated cluster, in virtual time: ordering, failures, retries, limits, termination."""
import networkx as nx
import pytest
from conftest import cm, rendered
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helm_ac.analysis import graph, model
from helm_ac.analysis.estimates import Estimates
from helm_ac.analysis.keys import Keys
from helm_ac.engine import simulation
from helm_ac.engine.events import State, StateEvent
from helm_ac.engine.scheduler import Options
from helm_ac.engine.simulated import Behaviour
from helm_ac.kinds import ObjectKey
from helm_ac.output import views
from helm_ac.rendering import manifests

DEP = "appcontroller.k8s/depends-on"


def K(name, kind="ConfigMap"):
    return ObjectKey("", kind, "default", name)


def build(edges, n, extra=None):
    """ConfigMaps c0..c{n-1}; edges (parent, child) become depends-on on the child."""
    deps = {i: [] for i in range(n)}
    for p, c in edges:
        deps[c].append(f"configmap/c{p}")
    docs = []
    for i in range(n):
        ann = dict((extra or {}).get(i, {}))
        if deps[i]:
            ann[DEP] = ", ".join(deps[i])
        docs.append((f"c/templates/c{i}.yaml", cm(f"c{i}", ann)))
    a = model.analyze(manifests.split(rendered(*docs)), None, "default")
    return a, graph.build(a), Keys(a, "r")


def run(a, g, keys, seconds, **kw):
    est = Estimates({f"configmap/{k.name}": s for k, s in seconds.items()})
    behaviour = Behaviour(seconds=est.seconds, **kw.pop("behaviour", {}))
    return simulation.simulate(a, g, keys, est, behaviour=behaviour, options=Options(**kw)), est


def states(sim):
    final = {}
    for e in sim.events:
        if isinstance(e, StateEvent):
            final[e.key] = e.state
    return final


@st.composite
def dags(draw, max_nodes=25):
    n = draw(st.integers(1, max_nodes))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    edges = sorted({(min(p, c), max(p, c)) for p, c in edges if p != c})  # low -> high: acyclic
    seconds = {K(f"c{i}"): draw(st.integers(1, 300)) for i in range(n)}
    return n, edges, seconds


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags())
def test_asap_schedule_is_correct_and_optimal(dag):
    n, edges, seconds = dag
    a, g, keys = build(edges, n)
    sim, est = run(a, g, keys, seconds)
    # every object is ready, and none was applied before all its parents were ready
    ready_at, applied_at = {}, {}
    for e in sim.events:
        if isinstance(e, StateEvent) and e.state is State.APPLYING:
            applied_at.setdefault(e.key, e.time)
        if isinstance(e, StateEvent) and e.state is State.READY:
            ready_at[e.key] = e.time
    assert len(ready_at) == n and sim.summary.ok
    for p, c in edges:
        assert applied_at[f"configmap/c{c}"] >= ready_at[f"configmap/c{p}"]
    # with no concurrency limit the makespan is the critical path, exactly (virtual time)
    cp = views.GraphView(a, g, keys, est).critical_seconds
    assert sim.makespan == cp
    assert sim.wave_makespan >= sim.makespan


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags(max_nodes=15), latency=st.integers(1, 5))
def test_with_api_latency_the_wave_model_pays_it_too(dag, latency):
    """--slow-api: like with like, a wave-based run is never faster than the per-edge engine."""
    n, edges, seconds = dag
    a, g, keys = build(edges, n)
    sim, est = run(a, g, keys, seconds, behaviour={"api_latency": float(latency)})
    assert sim.summary.ok
    assert sim.wave_makespan >= sim.makespan
    assert sim.wave_makespan == simulation.wave_makespan(a, g, est.seconds) + latency * max(
        v for k, v in views.GraphView(a, g, keys, est).level.items() if isinstance(k, ObjectKey))


def test_wave_model_with_a_concurrency_limit():
    a, g, keys = build([], 4)  # one level of four
    est = Estimates({f"configmap/c{i}": s for i, s in enumerate((10, 10, 10, 30))})
    assert simulation.wave_makespan(a, g, est.seconds) == 30
    assert simulation.wave_makespan(a, g, est.seconds, concurrency=2) == 40  # c0,c2 | c1,c3 in name order
    assert simulation.wave_makespan(a, g, est.seconds, latency=1, concurrency=1) == 64


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags(max_nodes=15), data=st.data())
def test_a_failure_blocks_exactly_its_descendants(dag, data):
    n, edges, seconds = dag
    a, g, keys = build(edges, n, extra=None)
    bad = data.draw(st.integers(0, n - 1))
    sim, _ = run(a, g, keys, seconds, behaviour={"never": {K(f"c{bad}")}})
    # a ConfigMap cannot fail by status; "never" makes it time out after the default timeout
    final = states(sim)
    desc = {f"configmap/{d.name}" for d in nx.descendants(g, K(f"c{bad}")) if isinstance(d, ObjectKey)}
    for i in range(n):
        name = f"configmap/c{i}"
        if i == bad:
            assert final[name] is State.TIMED_OUT
        elif name in desc:
            assert final[name] is State.BLOCKED
        else:
            assert final[name] is State.READY
    assert not sim.summary.ok
    reasons = {u.key: u.reason for u in sim.summary.unfinished}
    assert set(reasons) == desc | {f"configmap/c{bad}"}
    assert all(reasons[d] == f"blocked by configmap/c{bad}" for d in desc)


def test_failed_job_fails_at_once_and_independent_branches_finish():
    job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n"
    docs = [("c/templates/j.yaml", job), ("c/templates/a.yaml", cm("app", {DEP: "job/migrate"})),
            ("c/templates/o.yaml", cm("other"))]
    a = model.analyze(manifests.split(rendered(*docs)), None, "default")
    g, keys = graph.build(a), Keys(a, "r")
    est = Estimates()
    beh = Behaviour(seconds=est.seconds, fail={ObjectKey("batch", "Job", "default", "migrate")})
    sim = simulation.simulate(a, g, keys, est, behaviour=beh)
    final = states(sim)
    assert final["job/migrate"] is State.FAILED and final["configmap/app"] is State.BLOCKED
    assert final["configmap/other"] is State.READY
    assert sim.makespan == 60  # the Job's duration, not its 10-minute timeout


@pytest.mark.parametrize("policy,child,ok", [("ignore", State.READY, True), ("ignore-all", State.SKIPPED, True),
                                             ("abort", State.BLOCKED, False)])
def test_on_error(policy, child, ok):
    a, g, keys = build([(0, 1), (1, 2)], 3, extra={0: {"appcontroller.k8s/on-error": policy,
                                                       "appcontroller.k8s/timeout": "30s"}})
    sim, _ = run(a, g, keys, {}, behaviour={"never": {K("c0")}})
    final = states(sim)
    assert final["configmap/c0"] is State.TIMED_OUT
    assert final["configmap/c1"] is child and final["configmap/c2"] is child
    assert sim.summary.ok is ok
    assert sim.makespan == (32 if policy == "ignore" else 30)


def test_retry_recreates_and_succeeds():
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n"
           "    appcontroller.k8s/retry: \"2\"\n")
    a = model.analyze(manifests.split(rendered(("c/templates/j.yaml", job))), None, "default")
    g, keys, est = graph.build(a), Keys(a, "r"), Estimates()
    key = ObjectKey("batch", "Job", "default", "migrate")
    beh = Behaviour(seconds=est.seconds, fail={key}, fail_attempts={key: 2})
    sim = simulation.simulate(a, g, keys, est, behaviour=beh)
    assert states(sim)["job/migrate"] is State.READY and sim.makespan == 180
    assert sim.api_calls["apply"] == 3 and sim.api_calls["delete"] == 2
    beh = Behaviour(seconds=est.seconds, fail={key}, fail_attempts={key: 3})
    assert states(simulation.simulate(a, g, keys, est, behaviour=beh))["job/migrate"] is State.FAILED


def test_transient_api_errors_are_retried_with_backoff():
    """HTTP 500 is retried after 1 s, 2 s, ... within the same attempt (no `retry` needed); a call
    that keeps failing counts as a failed attempt, naming the error."""
    a, g, keys = build([], 1)
    sim, _ = run(a, g, keys, {}, behaviour={"api_errors": {K("c0"): 2}})
    assert states(sim)["configmap/c0"] is State.READY and sim.makespan == 1 + 2 + 1
    assert sim.api_calls["apply"] == 3 and max(b.attempts for b in sim.bars) == 1
    sim, _ = run(a, g, keys, {}, behaviour={"api_errors": {K("c0"): 8}})
    assert states(sim)["configmap/c0"] is State.FAILED
    assert sim.summary.unfinished[0].reason.startswith("API error: 500: simulated API error applying")
    assert sim.summary.unfinished[0].reason.endswith("(after 8 tries)")


def test_a_permanent_api_error_fails_the_attempt():
    a, g, keys = build([], 1, extra={0: {"appcontroller.k8s/retry": "1"}})
    sim, _ = run(a, g, keys, {}, behaviour={"api_errors": {K("c0"): 1}, "api_error_code": 422})
    assert states(sim)["configmap/c0"] is State.READY and max(b.attempts for b in sim.bars) == 2
    sim, _ = run(a, g, keys, {}, behaviour={"api_errors": {K("c0"): 2}, "api_error_code": 422})
    assert states(sim)["configmap/c0"] is State.FAILED and "API error: 422" in sim.summary.unfinished[0].reason


def test_concurrency_limit_is_respected():
    a, g, keys = build([], 6)
    sim, _ = run(a, g, keys, {K(f"c{i}"): 10 for i in range(6)}, concurrency=2)
    inflight = peak = 0
    for e in sim.events:
        if isinstance(e, StateEvent) and e.state is State.APPLYING:
            inflight += 1
            peak = max(peak, inflight)
        elif isinstance(e, StateEvent) and e.state.final:
            inflight -= 1
    assert peak == 2 and sim.makespan == 30


def test_global_timeout_ends_the_run_and_says_why():
    a, g, keys = build([(0, 1)], 2)
    sim, _ = run(a, g, keys, {K("c0"): 100}, timeout=50)
    final = states(sim)
    assert final["configmap/c0"] is State.TIMED_OUT and final["configmap/c1"] is State.BLOCKED
    assert sim.makespan == 50 and not sim.summary.ok


def test_slow_api_adds_latency_per_hop():
    a, g, keys = build([(0, 1), (1, 2)], 3)
    sim, _ = run(a, g, keys, {K(f"c{i}"): 10 for i in range(3)}, behaviour={"api_latency": 2.0})
    assert sim.makespan == 36


def test_api_calls_per_object_are_bounded():
    a, g, keys = build([(i, i + 1) for i in range(49)], 50)
    sim, _ = run(a, g, keys, {})
    calls = sim.api_calls
    assert (calls.get("apply", 0) + calls.get("get", 0) + calls.get("list", 0)) / 50 <= 3
    assert calls["watch"] == 1


def test_present_gate_starts_on_existence():
    job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: slow\n"
    w = cm("w", {"werf.io/deploy-dependency-a": "state=present,kind=Job,name=slow"})
    r = cm("r", {DEP: "job/slow"})
    a = model.analyze(manifests.split(rendered(("c/templates/j.yaml", job), ("c/templates/w.yaml", w),
                                                ("c/templates/r.yaml", r))), None, "default")
    g, keys, est = graph.build(a), Keys(a, "r"), Estimates()
    sim = simulation.simulate(a, g, keys, est)
    started = {e.key: e.time for e in sim.events if isinstance(e, StateEvent) and e.state is State.APPLYING}
    assert started["configmap/w"] == 0 and started["configmap/r"] == 60


def test_estimate_annotation_and_command_line_precedence():
    from helm_ac.analysis.estimates import from_analysis

    a, g, keys = build([(0, 1)], 2, extra={0: {"appcontroller.k8s/estimate": "90s"}})
    est = from_analysis(a)
    assert est.seconds(K("c0")) == 90 and est.seconds(K("c1")) == 1
    assert from_analysis(a, {"configmap/c0": 5}).seconds(K("c0")) == 5
    assert from_analysis(a, {"ConfigMap": 7}).seconds(K("c0")) == 90  # the object's own annotation beats a kind
    sim = simulation.simulate(a, g, keys, est)
    assert sim.makespan == 91


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags(max_nodes=15), data=st.data())
def test_every_run_terminates_with_every_object_accounted_for(dag, data):
    """Random faults, policies, retries, limits and timeouts: the run ends, every object has a final
    state, and the summary explains every object that is not ready."""
    n, edges, seconds = dag
    extra = {}
    for i in range(n):
        ann = {}
        if data.draw(st.booleans()):
            ann["appcontroller.k8s/on-error"] = data.draw(st.sampled_from(["abort", "ignore", "ignore-all"]))
        if data.draw(st.booleans()):
            ann["appcontroller.k8s/retry"] = str(data.draw(st.integers(0, 2)))
        if data.draw(st.booleans()):
            ann["appcontroller.k8s/timeout"] = f"{data.draw(st.integers(1, 400))}s"
        extra[i] = ann
    a, g, keys = build(edges, n, extra=extra)
    never = {K(f"c{i}") for i in data.draw(st.sets(st.integers(0, n - 1), max_size=3))}
    errors = {K(f"c{i}"): data.draw(st.integers(1, 3)) for i in data.draw(st.sets(st.integers(0, n - 1), max_size=2))}
    sim, _ = run(a, g, keys, seconds, behaviour={"never": never, "api_errors": errors},
                 concurrency=data.draw(st.one_of(st.none(), st.integers(1, 4))),
                 timeout=data.draw(st.one_of(st.none(), st.integers(1, 2000))))
    final = states(sim)
    assert set(final) == {f"configmap/c{i}" for i in range(n)}
    assert all(s.final for s in final.values())
    not_ready = {k for k, s in final.items() if s is not State.READY}
    assert {u.key for u in sim.summary.unfinished} == not_ready
    assert all(u.reason for u in sim.summary.unfinished)


def test_services_are_re_evaluated_from_watched_pods_only():
    """Many Deployments and Services in one namespace: no LIST calls, linear work."""
    docs = []
    for i in range(60):
        docs.append((f"c/templates/d{i}.yaml", f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\n"
                     f"spec:\n  replicas: 3\n  template:\n    metadata:\n      labels: {{app: d{i}}}\n"))
        docs.append((f"c/templates/s{i}.yaml", f"apiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\n"
                     f"  annotations:\n    appcontroller.k8s/ready-when: endpoints\n"
                     f"spec:\n  selector: {{app: d{i}}}\n"))
    a = model.analyze(manifests.split(rendered(*docs)), None, "default")
    g, keys, est = graph.build(a), Keys(a, "r"), Estimates()
    sim = simulation.simulate(a, g, keys, est)
    assert sim.summary.ok and sim.api_calls.get("list", 0) == 0
    assert sim.api_calls["get"] <= 3 * len(a.order)
    ready = {e.key: e.message for e in sim.events if isinstance(e, StateEvent) and e.state is State.READY}
    assert ready["service/s0"] == "3/3 selected pods ready"


def test_a_statefulset_may_depend_on_its_headless_service():
    sts = ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  annotations:\n"
           "    appcontroller.k8s/depends-on: service/db\nspec:\n  replicas: 1\n  template:\n    metadata:\n"
           "      labels: {app: db}\n")
    svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\nspec:\n  clusterIP: None\n  selector: {app: db}\n"
    a = model.analyze(manifests.split(rendered(("c/templates/s.yaml", sts), ("c/templates/v.yaml", svc))), None,
                      "default")
    sim = simulation.simulate(a, graph.build(a), Keys(a, "r"), Estimates())
    assert sim.summary.ok and sim.makespan == 2 + 120


@pytest.mark.parametrize("doc,key", [
    ("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", ObjectKey("example.com", "Widget", "default", "w")),
    ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n", ObjectKey("", "Namespace", None, "n")),
    ("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec: {}\n", ObjectKey("", "Service", "default", "s")),
])
def test_instantly_ready_kinds_take_their_duration_and_honour_faults(doc, key):
    a = model.analyze(manifests.split(rendered(("c/templates/x.yaml", doc))), None, "default")
    g, keys = graph.build(a), Keys(a, "r")
    est = Estimates({f"{key.kind.lower()}/{key.name}": 100})
    assert simulation.simulate(a, g, keys, est).makespan == 100
    beh = Behaviour(seconds=est.seconds, never={key})
    sim = simulation.simulate(a, g, keys, est, behaviour=beh, options=Options(timeout=500))
    assert not sim.summary.ok


def test_retries_are_announced_as_applying_not_as_failures():
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: m\n  annotations:\n    appcontroller.k8s/retry: \"1\"\n")
    a = model.analyze(manifests.split(rendered(("c/templates/j.yaml", job))), None, "default")
    key = ObjectKey("batch", "Job", "default", "m")
    est = Estimates()
    sim = simulation.simulate(a, graph.build(a), Keys(a, "r"), est,
                              behaviour=Behaviour(seconds=est.seconds, fail={key}, fail_attempts={key: 1}))
    seen = [(e.state, e.attempt) for e in sim.events if isinstance(e, StateEvent)]
    assert (State.FAILED, 1) not in seen and (State.APPLYING, 2) in seen and seen[-1] == (State.READY, 2)


def analyze(*docs):
    a = model.analyze(manifests.split(rendered(*[(f"c/templates/t{i}.yaml", d) for i, d in enumerate(docs)])), None,
                      "default")
    return a, graph.build(a), Keys(a, "r")


def svc(name, selector, *, deps="", ready_when="", extra=""):
    ann = (f"\n    {DEP}: {deps}" if deps else "") + (f"\n    appcontroller.k8s/ready-when: {ready_when}" if ready_when else "")
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  annotations:{ann or ' {}'}\n"
            f"spec:\n  selector: {{app: {selector}}}\n{extra}")


def deploy(name, app, *, deps=""):
    ann = f"\n    {DEP}: {deps}" if deps else ""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:{ann or ' {}'}\n"
            f"spec:\n  replicas: 2\n  template:\n    metadata:\n      labels: {{app: {app}}}\n")


def test_a_service_whose_pods_come_from_elsewhere_is_ready_with_its_cluster_ip():
    """An operator makes the pods (Prometheus from a custom resource): the chart must not wait for them."""
    cr = "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: prom\n"
    user = cm("dashboards", {DEP: "service/prom"})
    a, g, keys = analyze(cr, svc("prom", "prometheus"), user)
    sim = simulation.simulate(a, g, keys, Estimates())
    assert sim.summary.ok, sim.summary.unfinished
    ready = {e.key: (e.time, e.message) for e in sim.events if isinstance(e, StateEvent) and e.state is State.READY}
    assert ready["service/prom"][0] == 2 and ready["configmap/dashboards"][0] == 2 + 1  # Service 2s, ConfigMap 1s
    assert ready["service/prom"][1].startswith("cluster IP 10.96.")


def test_a_load_balancer_is_ready_when_its_address_comes():
    lb = svc("web", "web", extra="  type: LoadBalancer\n")
    a, g, keys = analyze(lb, cm("after", {DEP: "service/web"}))
    est = Estimates({"service/web": 30})
    sim = simulation.simulate(a, g, keys, est)
    events = [(e.time, e.key, e.state) for e in sim.events if isinstance(e, StateEvent)]
    assert (30, "service/web", State.READY) in events and sim.makespan == 31


def test_a_service_waiting_for_endpoints_of_a_blocked_deployment_is_blocked_at_once():
    """The run ends with the failure, not 10 minutes later, and names it."""
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n")
    a, g, keys = analyze(job, deploy("web", "web", deps="job/migrate"),
                         svc("web", "web", ready_when="endpoints"), cm("after", {DEP: "service/web"}))
    est = Estimates({"job/migrate": 60})
    key = ObjectKey("batch", "Job", "default", "migrate")
    sim = simulation.simulate(a, g, keys, est, behaviour=Behaviour(seconds=est.seconds, fail={key}))
    final = states(sim)
    assert final["job/migrate"] is State.FAILED and final["deployment/web"] is State.BLOCKED
    assert final["service/web"] is State.BLOCKED and final["configmap/after"] is State.BLOCKED
    assert sim.makespan == 60
    why = {u.key: u.reason for u in sim.summary.unfinished}
    assert why["service/web"] == ("the pods it selects will not come: deployment/web blocked "
                                  "(blocked by job/migrate)")
    assert why["configmap/after"] == "blocked by service/web (after job/migrate failed)"
    blocked = next(e for e in sim.events if isinstance(e, StateEvent) and e.key == "service/web"
                   and e.state is State.BLOCKED)
    assert blocked.blocked_by == ("deployment/web",)


def test_a_service_waiting_for_endpoints_becomes_ready_with_its_pods():
    a, g, keys = analyze(deploy("web", "web"), svc("web", "web", ready_when="endpoints"),
                         cm("after", {DEP: "service/web"}))
    sim = simulation.simulate(a, g, keys, Estimates({"deployment/web": 50}))
    assert sim.summary.ok and sim.makespan == 51


def test_the_simulated_statefulset_reports_available_replicas():
    """Its status comes from kubesim's StatefulSet controller (engine/simulated's own table of
    controlled kinds' statuses was dead code)."""
    from helm_ac.clock import VirtualLoop
    from helm_ac.engine.cluster import Apply
    from helm_ac.engine.simulated import SimulatedCluster

    key = ObjectKey("apps", "StatefulSet", "default", "db")
    loop = VirtualLoop()
    c = SimulatedCluster(loop, Behaviour(seconds=lambda k: 1.0))
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "db", "image": "db"}]}}}}
    c.call(Apply(key, body), lambda r: None)
    loop.run()
    st_ = (c.get_quietly(key) or {}).get("status") or {}
    assert st_["availableReplicas"] == st_["readyReplicas"] == 3


# ---------------------------------------------------------------- the failure timeline picture

def _failed_run():
    """job/migrate fails twice (retry 1), deployment/web and what waits for it are blocked."""
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n"
           "    appcontroller.k8s/retry: \"1\"\n")
    a, g, keys = analyze(job, deploy("web", "web", deps="job/migrate"), svc("web", "web", ready_when="endpoints"),
                         cm("after", {DEP: "service/web"}), deploy("worker", "worker"))
    est = Estimates({"job/migrate": 60})
    key = ObjectKey("batch", "Job", "default", "migrate")
    sim = simulation.simulate(a, g, keys, est, behaviour=Behaviour(seconds=est.seconds, fail={key}))
    view = views.GraphView(a, g, keys, est)
    return simulation.SimulateResult("c", "r", simulation=sim, critical_seconds=view.critical_seconds,
                                     critical_path=view.critical_labels())


@pytest.mark.parametrize("span", [0.3, 3, 9, 11, 47, 100, 182, 201, 600, 612, 1000, 3600, 7200])
def test_axis_ticks_are_round(span):
    from helm_ac.output.printers.timeline import tick_step, ticks

    step = tick_step(span)
    unit = 60 if step >= 30 else 1
    mantissa = step / unit / 10 ** __import__("math").floor(__import__("math").log10(step / unit))
    assert round(mantissa, 9) in (1, 2, 5), (span, step)
    marks = ticks(span)
    assert marks[0] == 0 and marks[-1] >= span and marks[-2] < span and len(marks) <= 11



@pytest.mark.parametrize("span", [0.3, 2, 3, 9, 47, 95, 182, 3600])
def test_axis_tick_labels_name_their_ticks(span):
    """Each label reads back as its tick (1.5s is not shown as "2s" beside the real 2s)."""
    import re

    from helm_ac.output.printers.timeline import tick_label, ticks

    def seconds(label):
        parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:(\d+)ms)?", label)
        assert parts and label, label
        h, m, s, ms = (float(x) if x else 0.0 for x in parts.groups())
        return h * 3600 + m * 60 + s + ms / 1000

    marks = ticks(span, 8)
    labels = [tick_label(t) for t in marks]
    assert len(set(labels)) == len(labels), labels
    assert [seconds(label) for label in labels] == pytest.approx(marks), labels

def test_failure_timeline_svg_is_readable_at_a_glance():
    import xml.etree.ElementTree as ET

    from helm_ac.output.printers import timeline

    r = _failed_run()
    svg = timeline.to_svg(r)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text or "" for t in root.iter(ns + "text")]
    for word in ("ready", "failed", "timed out", "blocked", "skipped", "retry", "critical path"):  # the legend
        assert word in texts, word
    assert "blocked by job/migrate" in texts  # a blocked object's row says what blocked it
    assert any(t.startswith("blocked: the pods it selects will not come") for t in texts)
    assert "2 attempts, failed" in texts  # retries counted, the failure named
    assert any(t.startswith("first failure: job/migrate at 2m") for t in texts)
    titles = ["".join(t.itertext()) for t in root.iter(ns + "title")]
    assert any(t.startswith("job/migrate: failed 0s → 2m, 2 attempts") for t in titles)
    # the retry is a tick on the bar at 1m; the failure a cross in a circle at the bar's end
    bar = next(e for e in root.iter(ns + "rect") if "".join(e.itertext()).startswith("job/migrate"))
    assert bar.get("stroke") == "#1f3b73"  # on the critical path: outlined
    x_end = float(bar.get("x")) + float(bar.get("width"))
    assert any(abs(float(c.get("cx")) - x_end) < 0.2 for c in root.iter(ns + "circle"))
    retry_x = [float(ln.get("x1")) for ln in root.iter(ns + "line") if ln.get("stroke") == "#222"
               and ln.get("y1") != "51"]
    assert any(abs(x - (float(bar.get("x")) + float(bar.get("width")) / 2)) < 0.2 for x in retry_x)
    labels = [t for t in texts if t and t[0].isdigit() and t[-1] in "sm"]
    assert labels[:5] == ["0s", "20s", "40s", "1m", "1m20s"]  # round ticks


def test_failure_timeline_text_marks_blocked_retries_and_the_critical_path():
    from helm_ac.output.printers import timeline

    text = timeline.to_text(_failed_run())
    rows = {line.split()[0].lstrip("*"): line for line in text.splitlines() if "│" in line and "/" in line}
    assert "↻" in rows["job/migrate"] and "✖" in rows["job/migrate"] and rows["job/migrate"].startswith("*")
    assert "⊘" in rows["deployment/web"] and "blocked at 2m (blocked by job/migrate)" in rows["deployment/web"]
    assert "⊘ blocked/skipped  ↻ retry  * critical path" in text


def test_under_a_concurrency_limit_the_longest_chain_ahead_goes_first():
    """c2 -> c3 (100s) is the long chain: it starts at once, not after c0 and c1 by name."""
    a, g, keys = build([(2, 3)], 4)
    sim, _ = run(a, g, keys, {K("c0"): 10, K("c1"): 10, K("c2"): 10, K("c3"): 100}, concurrency=2)
    assert sim.summary.ok and sim.makespan == 110  # name order: 120
    starts = [e.key for e in sim.events if isinstance(e, StateEvent) and e.state is State.APPLYING]
    assert starts[:2] == ["configmap/c2", "configmap/c0"]


def test_a_service_whose_pod_sources_were_skipped_is_skipped_too():
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n"
           "    appcontroller.k8s/on-error: ignore-all\n")
    a, g, keys = analyze(job, deploy("web", "web", deps="job/migrate"),
                         svc("web", "web", ready_when="endpoints"), cm("after", {DEP: "service/web"}))
    est = Estimates()
    key = ObjectKey("batch", "Job", "default", "migrate")
    sim = simulation.simulate(a, g, keys, est, behaviour=Behaviour(seconds=est.seconds, fail={key}))
    final = states(sim)
    assert final["service/web"] is State.SKIPPED and final["configmap/after"] is State.SKIPPED
    assert sim.summary.ok and sim.makespan == est.seconds(key)


def test_a_service_applied_after_its_pod_sources_ended_is_blocked_when_applied():
    job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n"
    a, g, keys = analyze(job, deploy("web", "web", deps="job/migrate"), cm("slow"),
                         svc("web", "web", deps="configmap/slow", ready_when="endpoints"))
    est = Estimates({"job/migrate": 60, "configmap/slow": 100})
    key = ObjectKey("batch", "Job", "default", "migrate")
    sim = simulation.simulate(a, g, keys, est, behaviour=Behaviour(seconds=est.seconds, fail={key}))
    blocked = [(e.time, e.key) for e in sim.events if isinstance(e, StateEvent) and e.state is State.BLOCKED]
    assert blocked == [(60, "deployment/web"), (100, "service/web")] and sim.makespan == 100
