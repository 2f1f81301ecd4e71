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


#: Reference texts as the spec allows them in a list: no comma or newline, no whitespace at either end,
#: not starting with "#" (at the start of a line that makes a comment); anything else, even malformed.
_ref_texts = st.lists(st.sampled_from(list("abcxyz-./:#*{}[]()=&ÄéΩ \t") + ["chart:", "deployment/", "configmap/",
                                                                              "db/", "/", ".apps", "chart:/"]),
                      min_size=1, max_size=12).map("".join).map(str.strip).filter(lambda t: t and t[0] != "#")
_blank = st.sampled_from(["", " ", "  ", "\t", " \t "])


@st.composite
def depends_on_values(draw):
    """(annotation value, the references it lists): built from the references, as a user writes them
    (commas and/or newlines, blank entries, spaces around, comment lines), never by splitting."""
    expected: list[str] = []
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(_blank) + "#" + draw(st.text(alphabet="abc ,#/:", max_size=10)))  # a comment line
            continue
        items = draw(st.lists(_ref_texts, max_size=4))
        expected += items
        line = ""
        for i, item in enumerate(items):
            sep = "" if i == 0 else draw(st.sampled_from([",", ", ", " ,", ",,", ", ,"]))
            line += sep + draw(_blank) + item + draw(_blank)
        if draw(st.booleans()):
            line += draw(st.sampled_from([",", ", ", ",\r"]))
        lines.append(line)
    newline = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    return newline.join(lines), expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=depends_on_values())
def test_depends_on_lists_the_references_it_was_built_from(case):
    value, expected = case
    assert refs.split_refs(value) == expected
    a, findings = _lint({"appcontroller.k8s/depends-on": value})
    [info] = [i for i in a.objects.values() if i.key.name == "a"]
    assert [r.text for r in info.references] == expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=any_text)
def test_depends_on_yields_references_or_findings(value):
    a, findings = _lint({"appcontroller.k8s/depends-on": value})
    [info] = [i for i in a.objects.values() if i.key.name == "a"]
    for r in info.references:  # what the spec says a listed reference is
        assert r.text and r.text == r.text.strip() and "," not in r.text and "\n" not in r.text, r
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
