"""Bad input costs about what good input costs: findings deduplicated, "did you mean" from an index,
each template file read once for line numbers.  Counted in operations, never timed."""
import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import cm, rendered, write_chart

from helm_ac.analysis import graph, model
from helm_ac.analysis.lint import checks
from helm_ac.analysis.lint.suggest import CloseNames
from helm_ac.rendering import chart as chartmod
from helm_ac.rendering import manifests

DEP = "appcontroller.k8s/depends-on"


def lint(*docs, chart=None):
    a = model.analyze(manifests.split(rendered(*docs)), chart, "default")
    return checks.run_all(a, graph.collect(a), "chart")


def test_a_repeated_reference_is_reported_once():
    fs = lint(("c/templates/a.yaml", cm("a", {DEP: ", ".join(["configmap/b"] * 50 + ["configmap/nope"] * 30)})),
              ("c/templates/b.yaml", cm("b")))
    dup = [f for f in fs if f.rule == "duplicate-reference"]
    assert [f.message for f in dup] == ["depends-on lists 2 references more than once: configmap/b (49 repetitions), "
                                        "configmap/nope (29 repetitions)"]
    assert len([f for f in fs if f.rule == "unresolved-reference"]) == 1


def test_many_repeated_references_make_one_finding():
    refs = [f"configmap/c{i}" for i in range(12)]
    fs = lint(("c/templates/a.yaml", cm("a", {DEP: ", ".join(refs * 2)})),
              *[(f"c/templates/c{i}.yaml", cm(f"c{i}")) for i in range(12)])
    [dup] = [f for f in fs if f.rule == "duplicate-reference"]
    assert dup.message == ("depends-on lists 12 references more than once: configmap/c0, configmap/c1, configmap/c2, "
                           "configmap/c3, configmap/c4, and 7 more")
    fs = lint(("c/templates/a.yaml", cm("a", {DEP: "configmap/b, configmap/b"})), ("c/templates/b.yaml", cm("b")))
    assert [f.message for f in fs] == ["depends-on lists configmap/b more than once"]



def test_a_repeated_reference_is_parsed_and_resolved_once(monkeypatch):
    """The same text listed again reuses its first reading (parse and resolution), as a duplicate."""
    from helm_ac.extension import refs

    parsed = []
    real = refs.parse_ref
    monkeypatch.setattr(refs, "parse_ref", lambda text: (parsed.append(text), real(text))[1])
    doc = ("c/templates/a.yaml", cm("a", {DEP: ", ".join(["configmap/b", "configmap/nope"] * 40)}))
    a = model.analyze(manifests.split(rendered(doc, ("c/templates/b.yaml", cm("b")))), None, "default")
    assert sorted(parsed) == ["configmap/b", "configmap/nope"]
    info = next(i for i in a.objects.values() if i.key.name == "a")
    assert [r.duplicate for r in info.references] == [False, False] + [True] * 78
    assert {tuple(r.targets) for r in info.references if r.text == "configmap/b"} == {
        (next(k for k in a.order if k.name == "b"),)}

def _many(n):
    return [(f"c/templates/d{i}.yaml", f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i:04d}\n")
            for i in range(n)]


def test_suggestions_do_not_compare_every_reference_with_every_object(monkeypatch):
    typos = ["deployment/svc-0o17", "deployment/scv-0123", "deployment/svc-00042", "deployment/sv-0999"]
    names = [f"svc-{i:04d}" for i in range(1000)]
    expected = sorted(f"deployment/{difflib.get_close_matches(t.split('/')[1], names, 1, 0.6)[0]}?" for t in typos)
    calls = []
    real = difflib.SequenceMatcher.set_seq1
    monkeypatch.setattr(difflib.SequenceMatcher, "set_seq1", lambda self, a: (calls.append(a), real(self, a))[1])
    fs = lint(*_many(1000), ("c/templates/a.yaml", cm("a", {DEP: ", ".join(typos)})))
    got = sorted(f.message.split("did you mean ")[-1] for f in fs if f.rule == "unresolved-reference")
    assert got == expected  # what difflib finds scanning every name
    assert len(calls) < 100  # a scan of every object name would compare 4 x 1,000 times


@pytest.mark.parametrize("word", ["svc-0017", "svc-017", "svc-00170", "svc-0071", "scv-0017", "xyz", "svc-9999",
                                  "svc-001", "s", ""])
def test_close_names_of_a_big_set_agree_with_difflib_on_one_edit(word):
    """Among many names, the index finds what difflib finds when the best name is one edit away."""
    names = [f"svc-{i:04d}" for i in range(CloseNames.SCAN + 200)] + ["api", "web"]
    full = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    got = CloseNames(names).best(word, 0.6)
    if got is None:
        assert not full or _edits(word, full[0]) > 1
    else:
        assert [got] == full


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.text(alphabet="ab-1", max_size=6), min_size=1, max_size=40), word=st.text(alphabet="ab-1",
                                                                                                  max_size=6))
def test_the_deletion_index_finds_exactly_the_names_one_edit_away(names, word):
    """Oracle: the edit distance computed directly (insert, delete, replace, swap of neighbours)."""
    index = CloseNames(names)
    index._deletions = index._index()
    near, far = index.lookup(word)
    assert near == {n for n in set(names) if _edits(word, n) <= 1}
    assert all(_edits(word, n) == 2 for n in far)


def _edit(name, op, at, char):
    """``name`` with one edit at ``at``: a character deleted, inserted, replaced or swapped with the next."""
    at = at % (len(name) + 1)
    return {"delete": name[:at] + name[at + 1:], "insert": name[:at] + char + name[at:],
            "replace": name[:at] + char + name[at + 1:],
            "swap": name[:at] + name[at + 1:at + 2] + name[at:at + 1] + name[at + 2:]}[op]


@settings(max_examples=1000, deadline=None)
@given(names=st.lists(st.text(alphabet="ab-1\u00e9", max_size=7), min_size=1, max_size=30),
       word=st.text(alphabet="ab-1", max_size=7), affix=st.sampled_from(["", "release-", "x\u00e9"]),
       edit=st.one_of(st.none(), st.tuples(st.integers(0, 100), st.sampled_from(["delete", "insert", "replace", "swap"]),
                                           st.integers(0, 10), st.sampled_from("ab-1\u00e9"))))
def test_the_windowed_search_finds_exactly_the_names_one_edit_away(names, word, affix, edit):
    """Oracle: the edit distance computed directly; names sharing long starts and ends (helm's release
    prefix) narrow the window (non-ASCII ones by their UTF-8 bytes); words one edit from a name, and any."""
    names = [affix + n for n in names] + names
    if edit is None:
        word = affix + word
    else:
        k, op, at, char = edit
        word = _edit(names[k % len(names)], op, at, char)
    index = CloseNames(names)
    index._deletions = index._index()
    assert index.near(word) == {n for n in set(names) if _edits(word, n) <= 1}


def _edits(a, b):
    """Optimal string alignment distance (insert, delete, replace, swap of neighbours)."""
    d = [[i + j if not (i and j) else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_each_template_is_read_once_for_line_numbers(tmp_path, monkeypatch):
    refs = [f"configmap/missing-{i}" for i in range(40)]
    c = write_chart(tmp_path, "c", {"a.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
                                              f"  annotations:\n    {DEP}: |\n" + "".join(f"      {r}\n" for r in refs)})
    opened = []
    real_open = open

    def counting_open(file, *args, **kwargs):
        if str(file).endswith("a.yaml"):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    monkeypatch.setattr(chartmod.Path, "open", lambda self, *a, **k: counting_open(str(self), *a, **k))
    chart = chartmod.load_chart(c)
    lines = [chartmod.find_line(chart, "templates/a.yaml", r) for r in refs]
    assert lines == list(range(7, 47))
    assert len(opened) == 1
