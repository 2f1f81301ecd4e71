import pytest

from helm_ac.extension import readywhen as rw

DEPLOY = {"status": {"readyReplicas": 3, "phase": "Running", "replicas": "3",
                     "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "False"}],
                     "loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}


@pytest.mark.parametrize("value,ready", [
    ("exists", True),
    ("condition:Available", True),
    ("condition:Progressing", False),
    ("condition:Progressing=False", True),
    ("condition:Missing", False),
    ("{.status.readyReplicas} >= 2", True),
    ("{.status.readyReplicas} > 3", False),
    ("{.status.replicas} == 3", True),  # numeric string compares numerically
    ("{.status.phase} == Running", True),
    ("{.status.phase} == 'Running'", True),
    ("{.status.phase} != Running", False),
    ("{.status.loadBalancer.ingress}", True),
    ("{.status.nothing}", False),
    ("{.status.conditions[?(@.type==\"Available\")].status} == True", True),
    ("{.status.readyReplicas} >= 2 && condition:Available", True),
    ("{.status.readyReplicas} >= 2\ncondition:Progressing", False),
    ("{.status.phase} < 3", False),  # incomparable types never hold, never raise
])
def test_evaluate(value, ready):
    assert rw.is_ready(rw.parse(value), DEPLOY) is ready


@pytest.mark.parametrize("value,fragment", [
    ("", "empty"),
    ("ready", "expected exists"),
    ("condition:", "condition:<Type>"),
    ("condition:Ready=Maybe", "condition:<Type>"),
    ("{.status..[[} == 1", "invalid JSONPath"),
    ("{.status.phase} ==", "write {<jsonpath>}"),
    ("{.status.phase} ~= x", "write {<jsonpath>}"),
])
def test_reject(value, fragment):
    with pytest.raises(rw.ReadyWhenError) as e:
        rw.parse(value)
    assert fragment in e.value.reason
