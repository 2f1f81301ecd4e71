"""Label and field selectors: apimachinery's grammar, error messages and matching."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.kubesim.errors import StatusError
from helm_ac.kubesim.selectors import (check_fields, object_fields, parse_field_selector, parse_label_selector,
                                       supported_fields)

# good and bad strings in the manner of apimachinery's pkg/labels TestSelectorParse
GOOD = ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5",
        "x in (a)", "x in (a,b)", "x notin (a)", "x in (a,,b)", "x in ()", "x in (,)", "x in (in)",
        "notin in (notin)", "a.b/c-d_e=f", " x = a ", "x == a"]
BAD = ["x>1,z<5,", "x=a||y=b", "x==a==b", "!x=a", "x<a", "x in a", "x in (a", "x notin", "-x", "x=a b", "x in (a b)",
       "a" * 64, "x=" + "v" * 64, ",x", "x,,y", "(x)", "x > a"]


@pytest.mark.parametrize("text", GOOD)
def test_good_label_selectors_parse(text):
    parse_label_selector(text)


@pytest.mark.parametrize("text", BAD)
def test_bad_label_selectors_are_400(text):
    with pytest.raises(StatusError) as e:
        parse_label_selector(text)
    assert (e.value.code, e.value.reason) == (400, "BadRequest")


def test_label_selector_messages_are_apimachinerys():
    def msg(text: str) -> str:
        with pytest.raises(StatusError) as e:
            parse_label_selector(text)
        return e.value.message
    assert msg("x in a") == "unable to parse requirement: found 'a' expected: '('"
    assert msg("x y") == "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"
    assert msg("x=a=b") == "found '=', expected: ',' or 'end of string'"
    assert msg(",x") == "found ',', expected: !, identifier, or 'end of string'"
    assert msg("x,,y") == "found ',', expected: identifier after ','"


@pytest.mark.parametrize("text,labels,expected", [
    ("", {}, True), ("x", {"x": ""}, True), ("x", {}, False), ("!x", {}, True), ("!x", {"x": "a"}, False),
    ("x=a", {"x": "a"}, True), ("x==a", {"x": "b"}, False), ("x!=a", {}, True), ("x!=a", {"x": "a"}, False),
    ("x in (a,b)", {"x": "b"}, True), ("x in (a,b)", {}, False), ("x notin (a,b)", {}, True),
    ("x notin (a,b)", {"x": "a"}, False), ("x in ()", {"x": ""}, True), ("x>1", {"x": "2"}, True),
    ("x>1", {"x": "1"}, False), ("x<1", {"x": "0"}, True), ("x>1", {"x": "abc"}, False), ("x>1", {}, False),
    ("x=a,y", {"x": "a"}, False), ("x=a,y", {"x": "a", "y": "z"}, True),
])
def test_label_matching(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


KEYS = st.sampled_from(["app", "tier", "example.com/team", "x"])
VALUES = st.sampled_from(["", "a", "b", "web", "1", "22"])
LABELS = st.dictionaries(KEYS, VALUES, max_size=4)


@settings(max_examples=300, deadline=None)
@given(LABELS, KEYS, st.lists(VALUES.filter(bool), min_size=1, max_size=3))  # "(,,)" is bad syntax, as real
def test_set_operators_agree_with_their_definitions(labels, key, values):
    in_sel = parse_label_selector(f"{key} in ({','.join(values)})")
    notin_sel = parse_label_selector(f"{key} notin ({','.join(values)})")
    assert in_sel.matches(labels) == (key in labels and labels[key] in values)
    assert notin_sel.matches(labels) == (not in_sel.matches(labels))
    assert parse_label_selector(key).matches(labels) == (key in labels)
    assert parse_label_selector(f"!{key}").matches(labels) == (key not in labels)
    v = values[0]
    assert parse_label_selector(f"{key}={v}").matches(labels) == parse_label_selector(f"{key} in ({v})").matches(labels)
    assert parse_label_selector(f"{key}!={v}").matches(labels) == \
        parse_label_selector(f"{key} notin ({v})").matches(labels)


@settings(max_examples=200, deadline=None)
@given(LABELS, st.lists(st.tuples(KEYS, st.sampled_from(["=", "!=", "in", "notin", "", "!"]), VALUES), max_size=4))
def test_a_selector_is_the_conjunction_of_its_terms(labels, terms):
    def term(k: str, op: str, v: str) -> str:
        return {"in": f"{k} in ({v})", "notin": f"{k} notin ({v})", "": k, "!": f"!{k}"}.get(op, f"{k}{op}{v}")
    parts = [term(*t) for t in terms]
    whole = parse_label_selector(",".join(parts)).matches(labels)
    assert whole == all(parse_label_selector(p).matches(labels) for p in parts)


def test_field_selectors_parse_with_escapes_and_operators():
    sel = parse_field_selector(r"metadata.name=a\,b,status.phase!=Running,spec.nodeName==n\=1")
    assert [(t.field, t.op, t.value) for t in sel.terms] == [
        ("metadata.name", "=", "a,b"), ("status.phase", "!=", "Running"), ("spec.nodeName", "=", "n=1")]
    assert sel.matches({"metadata.name": "a,b", "status.phase": "Pending", "spec.nodeName": "n=1"})
    assert not sel.matches({"metadata.name": "a,b", "status.phase": "Running", "spec.nodeName": "n=1"})
    for bad in ("metadata.name", r"a=b\x", "a=b\\"):
        with pytest.raises(StatusError) as e:
            parse_field_selector(bad)
        assert e.value.code == 400


def test_supported_fields_are_per_resource():
    assert supported_fields("", "configmaps", True) == {"metadata.name", "metadata.namespace"}
    assert supported_fields("", "namespaces", False) == {"metadata.name", "status.phase"}
    assert {"spec.nodeName", "status.phase"} <= supported_fields("", "pods", True)
    assert "type" in supported_fields("", "secrets", True)
    with pytest.raises(StatusError) as e:
        check_fields(parse_field_selector("type=Opaque"), "", "configmaps", True)
    assert (e.value.code, e.value.message) == (400, "field label not supported: type")
    pod = {"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    f = object_fields(pod, "", "pods", True)
    assert (f["metadata.name"], f["metadata.namespace"], f["spec.nodeName"], f["status.phase"]) == \
        ("p", "d", "n1", "Running")


@pytest.mark.parametrize("text,message", [
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ("a", "invalid selector: 'a'; can't understand 'a'"),
])
def test_field_selector_messages_are_apimachinerys(text, message):
    with pytest.raises(StatusError) as e:
        parse_field_selector(text)
    assert e.value.message == message


def test_metadata_and_selectors_check_label_keys_with_one_rule() -> None:
    """apimachinery's IsQualifiedName, once (kubesim.fields): a key with two '/' is refused as a
    whole, in a label of an object as in a selector."""
    from helm_ac.kubesim import fields
    from helm_ac.kubesim.resources import Registry

    whole = fields.is_qualified_name("a/b/c")
    assert len(whole) == 1 and whole[0].startswith("a qualified name must consist of")
    cm = Registry.builtin().for_kind("v1", "ConfigMap")
    assert cm is not None
    causes = fields.metadata_causes(cm, {"name": "x", "labels": {"a/b/c": "v"}})
    assert [c["message"] for c in causes] == [f'Invalid value: "a/b/c": {whole[0]}']
    with pytest.raises(StatusError) as e:
        parse_label_selector("a/b/c=v")
    assert whole[0] in e.value.message
