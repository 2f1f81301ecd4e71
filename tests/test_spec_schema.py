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
EXACT = ["timeout", "on-error", "retry", "success-factor"]


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=12), st.from_regex(r"\A[0-9.]{1,4}(ms|s|m|h|%)?\Z"),
                       st.sampled_from(["abort", "ignore", "ignore-all", "100", "0", "1h30m", "5m", "101", "80%"])))
def test_schema_and_parser_agree(name, value):
    ann = spec.OBJECT_ANNOTATIONS[name]
    v = jsonschema.Draft202012Validator(schema.schemas()["object-annotations.schema.json"])
    by_schema = v.is_valid({ann.key: value})
    try:
        ann.parse(value)
        by_parser = True
    except spec.SpecValueError:
        by_parser = False
    if name == "timeout" and by_schema and not by_parser:
        # the schema cannot express "greater than zero" (0s, 0.0m)
        assert all(c in "0." for c in re.sub(r"[a-zµμ]", "", value))
        return
    assert by_schema == by_parser, (value, by_schema, by_parser)
