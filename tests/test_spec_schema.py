"""The spec module, the published JSON Schemas and the prose docs say the same thing."""
import re

import jsonschema
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.extension import schema, spec


def test_schema_files_are_up_to_date():
    for name, doc in schema.schemas().items():
        path = ROOT / "schema" / "v1alpha1" / name
        assert path.read_text() == schema.render(doc), f"run: helm-ac schema --write schema   ({name} is stale)"


def test_schemas_are_valid_json_schema():
    for doc in schema.schemas().values():
        jsonschema.Draft202012Validator.check_schema(doc)


def test_docs_list_every_annotation():
    text = (ROOT / "docs" / "chart-extension.md").read_text()
    for ann in list(spec.OBJECT_ANNOTATIONS.values()) + list(spec.CHART_ANNOTATIONS.values()):
        assert f"`{ann.key}`" in text, ann.key
    keys_in_doc = set(re.findall(r"`(appcontroller\.k8s/[a-z-]+)`", text))
    known = {a.key for a in spec.OBJECT_ANNOTATIONS.values()} | {a.key for a in spec.CHART_ANNOTATIONS.values()}
    assert keys_in_doc <= known, keys_in_doc - known


def test_schema_rejects_unknown_keys_and_accepts_others():
    v = jsonschema.Draft202012Validator(schema.schemas()["object-annotations.schema.json"])
    assert v.is_valid({"appcontroller.k8s/timeout": "5m", "helm.sh/hook": "pre-install"})
    assert not v.is_valid({"appcontroller.k8s/depend-on": "x/y"})
    assert not v.is_valid({"appcontroller.k8s/retry": 3})


def test_examples_in_the_spec_parse():
    for ann in list(spec.OBJECT_ANNOTATIONS.values()) + list(spec.CHART_ANNOTATIONS.values()):
        ann.parse(ann.example)


# For the annotations whose grammar a regular expression captures exactly, the schema and the parser
# must agree on every string: what an editor accepts, helm-ac accepts.
EXACT = ["timeout", "estimate", "on-error", "retry", "success-factor"]
#: Digits that are not ASCII (Arabic-Indic, Devanagari, fullwidth): Python's \d and float() take them, Go does not.
OTHER_DIGITS = "٠٣१３"


def _by_schema(name, value):
    v = jsonschema.Draft202012Validator(schema.schemas()["object-annotations.schema.json"])
    return v.is_valid({spec.OBJECT_ANNOTATIONS[name].key: value})


def _by_parser(name, value):
    try:
        spec.OBJECT_ANNOTATIONS[name].parse(value)
    except spec.SpecValueError as exc:
        return exc
    return None


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=12), st.from_regex(rf"\A[0-9.{OTHER_DIGITS}]{{1,4}}(ms|s|m|h|%)?\Z"),
                       st.sampled_from(["abort", "ignore", "ignore-all", "100", "0", "1h30m", "5m", "101", "80%",
                                        "٣s", "1٣m", "３", "8٠%"])))
def test_schema_and_parser_agree(name, value):
    by_schema = _by_schema(name, value)
    by_parser = _by_parser(name, value) is None
    if name == "timeout" and by_schema and not by_parser:
        # the schema cannot express "greater than zero" (0s, 0.0m)
        assert all(c in "0." for c in re.sub(r"[a-zµμ]", "", value))
        return
    assert by_schema == by_parser, (value, by_schema, by_parser)


_CLAUSES = st.one_of(
    st.sampled_from(["exists", "condition:Ready", "condition:Ready=False", "condition:", "condition:Ready=Maybe",
                     "ready", "{.status.x}", "{}", "{.status..[[}", "exists\u00a0"]),
    st.builds(lambda path, ws1, op, ws2, value: f"{{{path}}}{ws1}{op}{ws2}{value}",
              st.sampled_from([".status.x", ".status.conditions[0].type", "status.phase", ".a..[[", ".a&b"]),
              st.sampled_from(["", " ", "\t", "  "]),
              st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "===", "=", "!==", "<>", "=>", "=<", "< =", "~=",
                               "!", "==="]),
              st.sampled_from(["", " ", "\t"]),
              st.one_of(st.sampled_from(["3", "٣", "१0", "Running", "'=x'", "=3", "!x", "-1", " ", "", "a & b",
                                         "x&", "\u00a0"]),
                        st.text(alphabet="ab3٣=<>!&' \t", max_size=5))),
    st.text(max_size=8),
)


@settings(max_examples=500, deadline=None)
@given(clauses=st.lists(_CLAUSES, min_size=0, max_size=3),
       seps=st.lists(st.sampled_from(["&&", "\n", " && ", "\r\n", "&&&", ""]), min_size=3, max_size=3),
       pad=st.sampled_from(["", " ", "\n", "\t"]))
def test_ready_when_schema_and_parser_agree(clauses, seps, pad):
    """The same, for ready-when, except that the schema cannot tell a valid JSONPath: what the parser accepts,
    the schema accepts; what the schema accepts and the parser refuses has an invalid JSONPath."""
    value = pad + "".join(c + s for c, s in zip(clauses, seps)) + pad
    by_schema = _by_schema("ready-when", value)
    error = _by_parser("ready-when", value)
    if error is None:
        assert by_schema, value
    elif by_schema:
        assert "invalid JSONPath" in error.reason, (value, error.reason)


@pytest.mark.parametrize("raw, words, hint", [
    (3, "an integer", 'quote the value: appcontroller.k8s/retry: "3"'),
    (True, "a boolean", 'quote the value: appcontroller.k8s/retry: "true"'),
    (1.5, "a number", 'quote the value: appcontroller.k8s/retry: "1.5"'),
    (b"hello", "binary data (a !!binary value)", "without the !!binary tag"),
    ([1, 2], "a list", "write the value as one quoted string"),
    ({"a": 1}, "a mapping", "write the value as one quoted string"),
    (None, "empty (null)", "or remove it"),
    (__import__("datetime").date(2024, 1, 1), "a date (a YAML timestamp)", "one quoted string"),
])
def test_a_value_that_is_not_a_string_is_described_not_shown_as_python(raw, words, hint):
    message, shown_hint = spec.non_string_problem("appcontroller.k8s/retry", raw)
    assert message == f"appcontroller.k8s/retry is {words}, not a string: Kubernetes annotation values are strings"
    assert hint in shown_hint and "b'" not in shown_hint + message and "[1, 2]" not in shown_hint + message
    if spec.scalar_text(raw) is None:  # nothing to parse: an error (reported as non-string-annotation only)
        with pytest.raises(spec.SpecValueError) as err:
            spec.parse_raw(spec.OBJECT_ANNOTATIONS["retry"], raw)
        assert err.value.reason == f"{words} is not a string"


def test_a_number_or_boolean_is_read_as_the_string_it_stands_for():
    assert spec.parse_raw(spec.OBJECT_ANNOTATIONS["retry"], 3) == 3
    assert spec.parse_raw(spec.CHART_ANNOTATIONS["wait-for-subcharts"], False) is False
    assert spec.parse_raw(spec.OBJECT_ANNOTATIONS["success-factor"], 80) == 80


def test_schema_write_names_a_file_it_cannot_write(tmp_path):
    """A file where schema --write's v1alpha1/ directory must go was an internal error (FileExistsError, exit 3)."""
    import subprocess
    import sys

    (tmp_path / "v1alpha1").write_text("in the way\n")
    r = subprocess.run([sys.executable, "-m", "helm_ac", "schema", "--write", str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == "" and "internal error" not in r.stderr
    assert f"Error: --write {tmp_path}/v1alpha1/" in r.stderr and "cannot write the file" in r.stderr
    ok = subprocess.run([sys.executable, "-m", "helm_ac", "schema", "--write", str(tmp_path / "fresh")],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and ok.stdout.split() == [str(tmp_path / "fresh" / "v1alpha1" / name)
                                                        for name in schema.schemas()]
    for name, doc in schema.schemas().items():
        assert (tmp_path / "fresh" / "v1alpha1" / name).read_text() == schema.render(doc)
