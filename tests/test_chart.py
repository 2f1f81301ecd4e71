import io
import tarfile

import pytest
from conftest import tgz, write_chart
from hypothesis import given, settings
from hypothesis import strategies as st

from helm_ac.errors import ChartError
from helm_ac.rendering.chart import find_line, load_chart


def test_tree_with_alias_condition_tags_library(tmp_path):
    d = write_chart(tmp_path, "app", {"a.yaml": ""}, chart_yaml=(
        "annotations:\n  appcontroller.k8s/subchart-order: db -> cache\n"
        "dependencies:\n- name: redis\n  version: 0.1.0\n  alias: cache\n  condition: cache.enabled\n"
        "- name: redis\n  version: 0.1.0\n  alias: queue\n  tags: [async]\n"
        "- name: common\n  version: 0.1.0\n- name: postgresql\n  version: 0.1.0\n  alias: db\n"),
        subcharts={"redis": {"templates": {"r.yaml": ""}},
                   "common": {"templates": {}, "chart_yaml": "type: library\n"}})
    pg = write_chart(tmp_path / "src", "postgresql", {"p.yaml": ""})
    (d / "charts" / "postgresql-0.1.0.tgz").write_bytes(tgz(pg, "postgresql"))
    chart = load_chart(d)
    assert sorted(chart.subcharts) == ["cache", "common", "db", "queue"]
    assert chart.subcharts["cache"].dependency.condition == "cache.enabled"
    assert chart.subcharts["queue"].dependency.tags == ("async",)
    assert chart.subcharts["common"].is_library
    assert chart.subcharts["db"].path == ("app", "db") and chart.subcharts["db"].directory is None
    assert chart.annotations["appcontroller.k8s/subchart-order"] == "db -> cache"
    assert chart.find(("app", "cache")).name == "cache"


def test_packaged_chart_with_nested_subchart(tmp_path):
    d = write_chart(tmp_path, "top", {}, subcharts={"mid": {"templates": {}, "subcharts": {"leaf": {"templates": {}}}}})
    archive = tmp_path / "top-0.1.0.tgz"
    archive.write_bytes(tgz(d, "top"))
    chart = load_chart(archive)
    assert [c.path for c in chart.walk()] == [("top",), ("top", "mid"), ("top", "mid", "leaf")]


def _archive(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


CHART = "apiVersion: v2\nname: {}\nversion: 0.1.0\n"


def test_archive_member_paths_lose_a_leading_dot_slash_only(tmp_path):
    """``./`` is a prefix, not characters: a chart directory named ``.hidden`` or ``..app`` keeps its name."""
    archive = tmp_path / "c.tgz"
    archive.write_bytes(_archive({"./top/Chart.yaml": CHART.format("top"),
                                  "./top/charts/sub/Chart.yaml": CHART.format("sub")}))
    assert [c.path for c in load_chart(archive).walk()] == [("top",), ("top", "sub")]
    for top in (".hidden", "..app"):
        archive.write_bytes(_archive({f"{top}/Chart.yaml": CHART.format("x"),
                                      f"{top}/charts/sub/Chart.yaml": CHART.format("sub")}))
        assert [c.path for c in load_chart(archive).walk()] == [("x",), ("x", "sub")]
    # a second directory is no longer folded into the chart's: ".c/charts/other" is not c's subchart
    archive.write_bytes(_archive({"c/Chart.yaml": CHART.format("c"), ".c/charts/other/Chart.yaml": CHART.format("o")}))
    assert [c.path for c in load_chart(archive).walk()] == [("c",)]


def test_v1_chart_reads_requirements(tmp_path):
    d = write_chart(tmp_path, "old", {}, subcharts={"db": {"templates": {}}})
    (d / "Chart.yaml").write_text("apiVersion: v1\nname: old\nversion: 1.0.0\n")
    (d / "requirements.yaml").write_text("dependencies:\n- name: db\n  version: 0.1.0\n  condition: db.enabled\n")
    assert load_chart(d).subcharts["db"].dependency.condition == "db.enabled"


@pytest.mark.parametrize("setup,fragment", [
    (lambda p: None, "no such chart"),
    (lambda p: p.mkdir(), "not a chart directory"),
    (lambda p: p.write_bytes(b"not a tarball"), "not a readable chart archive"),
])
def test_errors(tmp_path, setup, fragment):
    p = tmp_path / "x"
    setup(p)
    with pytest.raises(ChartError) as e:
        load_chart(p)
    assert fragment in e.value.message


def test_bad_chart_yaml(tmp_path):
    d = write_chart(tmp_path, "c", {})
    (d / "Chart.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ChartError) as e:
        load_chart(d)
    assert "Chart.yaml: invalid YAML" in e.value.message


def test_find_line(tmp_path):
    d = write_chart(tmp_path, "c", {"a.yaml": "kind: ConfigMap\nmetadata:\n  annotations:\n    appcontroller.k8s/timeout: x\n"})
    chart = load_chart(d)
    assert find_line(chart, "templates/a.yaml", "appcontroller.k8s/timeout") == 4
    assert find_line(chart, "templates/a.yaml", "nope") is None
    assert find_line(chart, "templates/missing.yaml", "kind") is None


def _code_oracle(text):
    """What the line finder's reading of a template was before its fast paths: line by line, runs by regex."""
    import re

    code = []
    for line in text.split("\n"):
        c = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if c.lstrip().startswith("{{/*") or c.lstrip().startswith("{{- /*"):
            c = ""
        code.append(c)
    starts, pos = [], 0
    for c in code:
        starts.append(pos)
        pos += len(c) + 1
    joined = "\n".join(code)
    return joined, starts, frozenset(re.findall(r"[A-Za-z0-9_.-]+", joined))


_TEMPLATE_PIECES = ["kind: ConfigMap", "  name: {{ .Release.Name }}-a", "# comment", "  # indented comment",
                    "x: y # trailing", "x: a#b", "{{/* note */}}", "  {{- /* note */}}", "/* not a comment */",
                    "deployment/web-api", "é-ü.ß_x", "\t#tab", "\u3000# ideographic space", "\x1c\x1fsep", "a\rb",
                    "", " ", "--- # doc", "v: \"#quoted\"", "svc/x,svc/y"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_TEMPLATE_PIECES), st.text(max_size=12)), max_size=12))
def test_template_reading_agrees_with_the_line_by_line_reading(tmp_path_factory, lines):
    """The fast paths (lines without '#' or '/*' kept as they are; runs of ASCII text by str.translate)
    read every template as the line-by-line reading did."""
    from helm_ac.rendering import chart as chartmod

    text = "\n".join(lines)
    path = tmp_path_factory.mktemp("tpl") / "t.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    got = chartmod._code(str(path), (0, len(lines)))
    with open(path, encoding="utf-8", errors="replace") as fh:  # as _code reads it
        assert got == _code_oracle(fh.read())
