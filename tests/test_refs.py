import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.extension import refs
from helm_ac.extension.refs import ChartRef, ObjectRef


@pytest.mark.parametrize("text,expected", [
    ("deployment/web", ObjectRef("deployment", "web")),
    ("Deployment/web", ObjectRef("deployment", "web")),
    ("deployment.apps/web", ObjectRef("deployment", "web", "apps")),
    ("certificate.cert-manager.io/tls", ObjectRef("certificate", "tls", "cert-manager.io")),
    ("db/statefulset/postgres", ObjectRef("statefulset", "postgres", None, "db")),
    ("db/statefulset.apps/postgres", ObjectRef("statefulset", "postgres", "apps", "db")),
    ("clusterrole/system:controller", ObjectRef("clusterrole", "system:controller")),
    ("configmap/app.config-v2", ObjectRef("configmap", "app.config-v2")),
])
def test_object_refs(text, expected):
    got = refs.parse_ref(text)
    assert (got.kind, got.name, got.group, got.namespace) == (expected.kind, expected.name, expected.group,
                                                              expected.namespace)
    assert got.text == text


@pytest.mark.parametrize("text,path,absolute", [
    ("chart:mariadb", ("mariadb",), False),
    ("chart:/redis", ("redis",), True),
    ("chart:app/cache", ("app", "cache"), False),
])
def test_chart_refs(text, path, absolute):
    got = refs.parse_ref(text)
    assert isinstance(got, ChartRef) and got.path == path and got.absolute is absolute
    assert str(got) == text


@pytest.mark.parametrize("text,reason", [
    ("web", "has no kind"),
    ("deployment/web deployment/db", "contains whitespace"),
    ("a/b/c/d", "too many"),
    ("chart:", "not a valid subchart"),
    ("chart:a//b", "not a valid subchart"),
    ("svc:x/y", "unknown prefix"),
    ("deployment/", "is not"),
    ("Db/deployment/web", "is not"),
])
def test_bad_refs(text, reason):
    with pytest.raises(refs.RefSyntaxError) as e:
        refs.parse_ref(text)
    assert reason in e.value.reason
    assert e.value.hint


def test_split_commas_newlines_comments():
    value = "deployment/a, service/b\n# the database\nstatefulset/db,\n\n  chart:redis  "
    assert refs.split_refs(value) == ["deployment/a", "service/b", "statefulset/db", "chart:redis"]


def test_canonical_form():
    assert refs.parse_ref("db/Deployment/web").canonical() == "db/deployment/web"
    assert refs.parse_ref("Deployment.apps/web").canonical() == "deployment.apps/web"


# References built from their parts (the grammar of docs/chart-extension.md, written out here as
# Kubernetes names are: DNS labels for namespaces and groups, names of letters, digits, - _ . :),
# listed in an annotation value, come back with the same parts: the parser's own regular expressions
# are not the oracle.
_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?\Z")
_kind = st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,8}\Z")
_name = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.:]{0,8}[A-Za-z0-9])?\Z")
_chart = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?\Z")
_object_parts = st.tuples(st.one_of(st.none(), _label), _kind,
                          st.one_of(st.none(), st.lists(_label, min_size=1, max_size=3).map(".".join)), _name)
_chart_parts = st.tuples(st.booleans(), st.lists(_chart, min_size=1, max_size=3).map(tuple))


def _object_text(ns, kind, group, name):
    return (f"{ns}/" if ns else "") + kind + (f".{group}" if group else "") + f"/{name}"


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(_object_parts, _chart_parts), min_size=1, max_size=6),
       seps=st.lists(st.sampled_from([",", ", ", "\n", ",\n", " ,\n  ", "\n# a comment\n"]), min_size=6, max_size=6))
def test_generated_references_come_back_with_their_parts(parts, seps):
    texts = [_object_text(*p) if len(p) == 4 else "chart:" + ("/" if p[0] else "") + "/".join(p[1]) for p in parts]
    value = "".join(t + s for t, s in zip(texts, seps))
    assert refs.split_refs(value) == texts
    for p, text in zip(parts, texts):
        ref = refs.parse_ref(text)
        if len(p) == 4:
            ns, kind, group, name = p
            assert ref == ObjectRef(kind.lower(), name, group, ns, text)
        else:
            assert ref == ChartRef(p[1], p[0], text)


def _split_oracle(value):
    """Splitting as written out in the spec: lines, a line starting with '#' dropped, then commas, blanks dropped."""
    out = []
    for line in value.split("\n"):
        if line.lstrip().startswith("#"):
            continue
        out += [p.strip() for p in line.split(",") if p.strip()]
    return out


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab/-,#\n\r\t \u3000\x1c.:")), max_size=40))
def test_splitting_any_value_agrees_with_the_spec(value):
    """With and without comments (the value without '#' takes one split)."""
    assert refs.split_refs(value) == _split_oracle(value)
