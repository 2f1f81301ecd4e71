"""Property-based: no annotation string crashes the linter, and every one yields parsed values or findings."""
import yaml
from conftest import rendered
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helm_ac.analysis import graph, model
from helm_ac.analysis.lint import checks
from helm_ac.extension import refs, spec
from helm_ac.rendering import manifests

REF_ALPHABET = st.sampled_from(list("abcxyz-./:,\n #*{}[]()=&ÄéΩ\t") + ["chart:", "deployment/", "configmap/",
                                                                       "db/", "/", ".apps", "chart:/"])
ref_text = st.lists(REF_ALPHABET, max_size=25).map("".join)
any_text = st.one_of(st.text(max_size=40), ref_text)

OTHERS = [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"),
]


def _lint(annotations: dict[str, str]):
    body = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "a", "annotations": annotations}}, width=30)  # multi-line values
    docs = [("c/templates/a.yaml", body)] + [(f"c/templates/o{i}.yaml", o) for i, o in enumerate(OTHERS)]
    out = manifests.split(rendered(*docs))
    # the head the pipeline read is what was written (multi-line, quoted, escaped values included)
    assert [o.annotations for o in out.objects if o.key.name == "a"] == [annotations]
    a = model.analyze(out, None, "default")
    return a, checks.run_all(a, graph.collect(a), "c")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=any_text)
def test_depends_on_yields_references_or_findings(value):
    a, findings = _lint({"appcontroller.k8s/depends-on": value})
    [info] = [i for i in a.objects.values() if i.key.name == "a"]
    texts = refs.split_refs(value)
    assert [r.text for r in info.references] == texts
    reported = " ".join(f.message for f in findings)
    for r in info.references:
        ok = bool(r.targets) and not r.duplicate
        assert ok or r.text in reported or repr(r.text) in reported, (r, findings)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from([n for n in spec.OBJECT_ANNOTATIONS if n != "depends-on"]), value=any_text)
def test_settings_parse_or_are_reported(name, value):
    a, findings = _lint({f"appcontroller.k8s/{name}": value})
    [info] = [i for i in a.objects.values() if i.key.name == "a"]
    s = info.settings[name]
    mine = [f for f in findings if f.rule == "invalid-annotation-value"]
    assert (s.error is None) == (not mine)


@settings(max_examples=200, deadline=None)
@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20), value=any_text)
def test_unknown_keys_are_reported(key, value):
    a, findings = _lint({f"appcontroller.k8s/{key}": value})
    known = key in spec.OBJECT_ANNOTATIONS
    assert known or any(f.rule == "unknown-annotation" for f in findings)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_rendered_text_never_crashes(text):
    a = model.analyze(manifests.split(text), None, "default")
    checks.run_all(a, graph.collect(a), "c")


_scalars = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none(),
                     st.sampled_from(["true", "3", "1e3", "~", "=", "a: b", "x:y", "- a", "#c", "null", "0x1", "2024-01-01",
                                      "deployment/web", "void/a.b.c", "'q'", '"q"', ""]))
_trees = st.recursive(st.dictionaries(st.text(min_size=1, max_size=10), _scalars, max_size=4),
                      lambda c: st.dictionaries(st.text(min_size=1, max_size=10),
                                                st.one_of(c, st.lists(_scalars, max_size=3), _scalars), max_size=4),
                      max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(tree=_trees)
def test_dump_simple_round_trips(tree):
    from helm_ac.rendering import yamlio

    assert yaml.safe_load(yamlio.dump_simple(tree)) == tree
