"""The seeded fault plan (helm_ac.kubesim.faults): spec parsing, its errors, matching, reproducibility."""
from __future__ import annotations

import pytest

from helm_ac.errors import UserError
from helm_ac.kubesim.faults import Fault, FaultPlan, FaultSpecError, parse_spec

REQUESTS = [("create", "", "secrets", "team-a", "s1"), ("get", "", "secrets", "team-a", "s1"),
            ("create", "apps", "deployments", "team-a", "web"), ("create", "", "secrets", "team-b", "s2")] * 50


def run(plan: FaultPlan) -> list[Fault | None]:
    return [plan.decide(*r) for r in REQUESTS]


def test_a_spec_as_the_brief_writes_it():
    rule = parse_spec("verb=create,resource=secrets,error=429,retry-after=1,rate=0.5")
    assert rule.verbs == {"create"} and (rule.group, rule.resource) == (None, "secrets")
    assert rule.errors == (429,) and rule.retry_after == 1.0 and rule.rate == 0.5


def test_faults_are_reproducible_from_the_seed():
    specs = ["verb=create,resource=secrets,error=429,retry-after=1,rate=0.5", "error=500|503,rate=0.1",
             "latency=50ms,rate=0.3"]
    first = run(FaultPlan.parse(specs, seed=7))
    assert first == run(FaultPlan.parse(specs, seed=7))
    assert first != run(FaultPlan.parse(specs, seed=8))
    hits = [f for f in first if f and f.error == 429]
    # rate=0.5 over the 100 matching requests: neither none nor all of them
    assert 25 < len(hits) < 75
    assert {f.error for f in first if f and f.error in (500, 503)} == {500, 503}


def test_a_rules_draws_do_not_depend_on_the_other_rules():
    alone = FaultPlan.parse(["verb=get,error=503,rate=0.5"], seed=3)
    with_other = FaultPlan.parse(["verb=get,error=503,rate=0.5", "verb=create,latency=1s,rate=0.5"], seed=3)
    # the first rule is the plan's first in both, so it has the same generator
    a = [(f.error if f else None) for f in run(alone)]
    b = [(f.error if f else None) for f in run(with_other)]
    assert a == b


def test_matching_by_verb_resource_group_namespace_and_name():
    plan = FaultPlan.parse(["verb=create|patch,resource=deployments.apps,namespace=team-a,name=web,error=500"])
    assert plan.decide("create", "apps", "deployments", "team-a", "web") is not None
    assert plan.decide("patch", "apps", "deployments", "team-a", "web") is not None
    assert plan.decide("update", "apps", "deployments", "team-a", "web") is None
    assert plan.decide("create", "extensions", "deployments", "team-a", "web") is None
    assert plan.decide("create", "apps", "deployments", "team-b", "web") is None
    assert plan.decide("create", "apps", "deployments", "team-a", "db") is None
    # a resource without a group matches it in any group
    assert FaultPlan.parse(["resource=deployments,error=500"]).decide("get", "apps", "deployments") is not None


def test_count_limits_the_hits():
    plan = FaultPlan.parse(["verb=create,error=500,count=3"])
    got = [plan.decide("create", "", "pods", "team-a", f"p{i}") for i in range(10)]
    assert [f is not None for f in got] == [True] * 3 + [False] * 7


def test_latency_adds_up_and_the_first_refusal_wins():
    plan = FaultPlan.parse(["latency=50ms", "verb=create,latency=1s", "verb=create,error=429,retry-after=2",
                            "verb=create,error=500"])
    fault = plan.decide("create", "", "secrets", "team-a", "s")
    assert fault is not None
    assert fault.latency == pytest.approx(1.05) and fault.error == 429 and fault.retry_after == 2
    only_latency = plan.decide("get", "", "secrets", "team-a", "s")
    assert only_latency == Fault(latency=0.05, rule="latency=50ms")
    assert only_latency.status_error() is None


def test_drops():
    plan = FaultPlan.parse(["drop=watch,after=2s", "verb=patch,drop=connection"])
    watch = plan.decide("watch", "", "pods", "team-a")
    assert watch is not None and (watch.drop, watch.after, watch.error) == ("watch", 2.0, None)
    assert plan.decide("list", "", "pods", "team-a") is None  # drop=watch is for watches only
    patch = plan.decide("patch", "apps", "deployments", "team-a", "web")
    assert patch is not None and patch.drop == "connection"


@pytest.mark.parametrize("code,reason,message", [
    (429, "TooManyRequests", "Too many requests, please try again later."),
    (500, "InternalError", "Internal error occurred: injected fault (error=500)"),
    (503, "ServiceUnavailable", "the server is currently unable to handle the request (injected fault: error=503)"),
    (504, "Timeout", "Timeout: injected fault (error=504)"),
])
def test_status_errors(code, reason, message):
    fault = FaultPlan.parse([f"error={code}"]).decide("get", "", "pods")
    assert fault is not None
    err = fault.status_error()
    assert err is not None and (err.code, err.reason, err.message) == (code, reason, message)
    assert err.status()["code"] == code


def test_retry_after_reaches_the_status_and_the_header():
    err = FaultPlan.parse(["error=429,retry-after=3"]).decide("get", "", "pods").status_error()  # type: ignore[union-attr]
    assert err is not None and err.retry_after == 3 and err.status()["details"] == {"retryAfterSeconds": 3}


@pytest.mark.parametrize("spec,words", [
    ("", "empty"),
    ("verb=create", "does nothing"),
    ("verb=create,error", "'error' is not key=value"),
    ("verb=create,,error=500", "'' is not key=value"),
    ("verb=fetch,error=500", "verb=fetch is not an API verb"),
    ("error=418", "error=418 is not one the fault plan can answer"),
    ("error=abc", "error=abc is not a whole number"),
    ("error=500,retry-after=1", "retry-after goes with error=429 or error=503"),
    ("error=429,retry-after=-1", "retry-after must not be negative"),
    ("error=500,rate=1.5", "rate=1.5 must be between 0 and 1"),
    ("error=500,rate=half", "rate=half is not a number"),
    ("error=500,count=0", "count=0 must be at least 1"),
    ("error=500,count=2.5", "count=2.5 is not a whole number"),
    ("latency=fast", "latency=fast is not a duration"),
    ("latency=-5ms", "latency=-5ms is not a duration"),
    ("drop=socket", "drop=socket is not a drop"),
    ("drop=watch,verb=get", "drop=watch applies to watch requests only"),
    ("drop=connection,error=500", "either answers an error or drops"),
    ("error=500,after=2s", "after= goes with drop=watch"),
    ("error=500,colour=red", "unknown key 'colour'"),
    ("error=500,error=503", "error is given twice"),
    ("verb=,error=500", "verb= needs a value"),
])
def test_bad_specs_are_named_and_explained(spec, words):
    with pytest.raises(FaultSpecError) as e:
        parse_spec(spec)
    assert isinstance(e.value, UserError)  # the CLI prints it without a traceback
    assert str(e.value).startswith(f"--fault {spec!r}: ") and words in str(e.value)


def test_yaml_plans():
    text = """
seed: 11
faults:
  - {verb: create, resource: secrets, error: 429, retry-after: 1, rate: 0.5}
  - {drop: watch, after: 2s}
  - {latency: 0.05}
"""
    plan = FaultPlan.from_yaml(text, source="faults.yaml")
    assert plan.seed == 11 and len(plan.rules) == 3 and plan.rules[2].latency == 0.05
    assert run(plan) == run(FaultPlan.from_yaml(text))
    assert FaultPlan.from_yaml(text, seed=5).seed == 5
    listed = FaultPlan.from_yaml("- {verb: get, error: 503}\n")
    assert listed.decide("get", "", "pods") is not None


@pytest.mark.parametrize("text,words", [
    ("faults: [", "faults.yaml: not YAML"),
    ("just text", "faults.yaml: expected a list of fault rules"),
    ("- [1, 2]", "faults.yaml: fault 1 is not a mapping"),
    ("- {error: 500}\n- {verb: create}\n", "faults.yaml: fault 2: the rule does nothing"),
    ("seeds: 1\nfaults: []", "unknown key 'seeds'"),
    ("seed: x\nfaults: []", "seed=x is not a whole number"),
])
def test_bad_yaml_plans(text, words):
    with pytest.raises(FaultSpecError) as e:
        FaultPlan.from_yaml(text, source="faults.yaml")
    assert words in str(e.value)
