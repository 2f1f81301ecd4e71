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
    ("{.status.phase} == '=Running'", False),  # a value starting with an operator character, quoted
    ("{.status.readyReplicas} == ٣", False),  # not a number (digits are ASCII): the string "٣"
    ("{.status.readyReplicas} >= 2.5e0", True),
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
    ("{.status.x} === 3", "unknown operator '==='"),
    ("{.status.x} = 3", "unknown operator '='"),
    ("{.status.x} <> 3", "unknown operator '<>'"),
    ("{.status.x} =< 3", "unknown operator '=<'"),
    ("{.status.x} !== 3", "unknown operator '!=='"),
    ("{.status.x} < =3", "the value after < starts with '='"),
    ("exists\u00a0", "expected exists"),  # whitespace is spaces, tabs and CRs only, as in the schema
])
def test_reject(value, fragment):
    with pytest.raises(rw.ReadyWhenError) as e:
        rw.parse(value)
    assert fragment in e.value.reason


@pytest.mark.parametrize("text, value", [("3", 3), ("-2", -2), ("2.5", 2.5), (".5", 0.5), ("1e3", 1000.0),
                                         ("٣", "٣"), ("1_000", "1_000"), ("nan", "nan"), ("inf", "inf"),
                                         ("'3'", "3"), ("true", True), ("null", None)])
def test_values(text, value):
    (clause,) = rw.parse("{.status.x} == " + text)
    assert clause.value == value and type(clause.value) is type(value)
