import pytest

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
