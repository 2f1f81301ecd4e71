"""The lint printers on a hand-made result: escaping, --strict, charts that could not be rendered."""
import io
import json
import xml.etree.ElementTree as ET

import pytest

from helm_ac.analysis.lint import RULES, Finding, Severity
from helm_ac.analysis.lint.report import ChartResult, LintResult
from helm_ac.errors import RenderError
from helm_ac.output.printers import github, json_printer, junit


@pytest.fixture
def result(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "web").mkdir()
    err = Finding("unresolved-reference", Severity.ERROR, "depends-on a,b: 100% wrong", "web",
                  "templates/a.yaml", 3, "configmap/a", "fix it:\nnow")
    warn = Finding("disabled-subchart-reference", Severity.WARNING, "dropped", "web", "templates/b.yaml", None,
                   "configmap/b")
    return LintResult([ChartResult("web", 2, findings=[err, warn]),
                       ChartResult("gone,1", error=RenderError("helm template failed: boom", hint="see helm"))])


def _print(printer, result):
    out = io.StringIO()
    printer.print_lint(result, out)
    return out.getvalue()


def test_github_escapes_data_and_properties_and_reports_unrendered_charts(result):
    assert _print(github, result).splitlines() == [
        "::error file=web/templates/a.yaml,line=3,title=unresolved-reference::"
        "configmap/a: depends-on a,b: 100%25 wrong%0Afix it:%0Anow",
        "::warning file=web/templates/b.yaml,title=disabled-subchart-reference::configmap/b: dropped",
        "::error title=helm-ac%3A gone%2C1::helm template failed: boom%0Asee helm",
    ]
    result.strict = True
    assert _print(github, result).splitlines()[1].startswith("::error file=web/templates/b.yaml,")


def test_junit_counts_failures_errors_and_passing_rules(result):
    root = ET.fromstring(_print(junit, result))
    web, gone = root.findall("testsuite")
    assert (web.get("tests"), web.get("failures"), web.get("errors")) == (str(len(RULES)), "1", "0")
    assert (gone.get("tests"), gone.get("failures"), gone.get("errors")) == ("1", "0", "1")
    [case] = gone.findall("testcase")
    assert case.get("name") == "render" and case.find("error").get("message") == "helm template failed: boom"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (str(len(RULES) + 1), "1", "1")
    warn = next(c for c in web.findall("testcase") if c.get("name").startswith("disabled-subchart-reference"))
    assert warn.find("failure") is None and warn.find("system-out").text == "warning: web/templates/b.yaml: dropped"
    result.strict = True
    assert ET.fromstring(_print(junit, result)).find("testsuite").get("failures") == "2"


def test_json_summary_and_unrendered_chart(result):
    doc = json.loads(_print(json_printer, result))
    assert doc["summary"] == {"errors": 1, "warnings": 1, "infos": 0, "exitCode": 2}
    assert doc["charts"][1] == {"chart": "gone,1", "rendered": False,
                                "error": {"message": "helm template failed: boom", "hint": "see helm"},
                                "objects": 0, "hooks": 0, "dependencies": 0, "notes": [], "findings": []}
    result.charts.pop()
    result.strict = True
    doc = json.loads(_print(json_printer, result))
    assert doc["summary"] == {"errors": 2, "warnings": 0, "infos": 0, "exitCode": 1} and doc["strict"] is True
    assert [f["severity"] for f in doc["charts"][0]["findings"]] == ["error", "error"]


def test_json_is_written_as_json_dumps_indents_it(result):
    """The text users and scripts see stays that of ``json.dumps(indent=2, ensure_ascii=False)``: non-ASCII
    kept, control characters and quotes escaped, empty lists and null as json writes them."""
    import dataclasses

    first = result.charts[0].findings[0]
    result.charts[0].findings[0] = dataclasses.replace(first, message='é "q" \\ \x01 tab\t ✔ \U0001f680')
    result.charts[0].notes = ["rendered twice"]
    expected = json.dumps(json_printer.lint_document(result), indent=2, ensure_ascii=False) + "\n"
    assert _print(json_printer, result) == expected


@pytest.mark.parametrize("strict", [False, True])
def test_counts_and_json_severities_follow_strict(strict):
    """The counts (list.count) and the JSON's severities (one look-up per severity) as effective() says."""
    from helm_ac.analysis.lint import Finding, Severity
    from helm_ac.analysis.lint.report import ChartResult, LintResult
    from helm_ac.output.printers.json_printer import lint_document

    findings = [Finding("unresolved-reference", s, "m", "c", "templates/a.yaml", 1, "configmap/a")
                for s in (Severity.ERROR, Severity.WARNING, Severity.WARNING, Severity.INFO)]
    result = LintResult([ChartResult("c", findings=findings[:2]), ChartResult("d", findings=findings[2:])], strict)
    for s in Severity:
        assert result.count(s) == sum(1 for f in findings if result.effective(f) is s)
    got = [f["severity"] for c in lint_document(result)["charts"] for f in c["findings"]]
    assert got == [result.effective(f).value for f in findings]
