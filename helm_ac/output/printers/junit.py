"""JUnit XML: one testsuite per chart, one testcase per rule that passed and per finding.

Errors are ``<failure>``; warnings are passing testcases with the finding in
``<system-out>`` (under ``--strict`` they are failures); a chart that could not
be rendered is an ``<error>``.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from helm_ac.analysis.lint import RULES, Severity
from helm_ac.analysis.lint.report import LintResult
from helm_ac.output.printers.paths import display_path


def print_lint(result: LintResult, out: TextIO) -> None:
    root = ET.Element("testsuites", name="helm-ac lint")
    total = failures = errors = 0
    for c in result.charts:
        suite = ET.SubElement(root, "testsuite", name=c.chart)
        s_tests = s_fail = s_err = 0
        if c.error is not None:
            case = ET.SubElement(suite, "testcase", name="render", classname=c.chart)
            ET.SubElement(case, "error", message=c.error.message, type="render").text = str(c.error)
            s_tests, s_err = 1, 1
        else:
            hit = {f.rule for f in c.findings}
            for rule_id in RULES:
                if rule_id not in hit:
                    ET.SubElement(suite, "testcase", name=rule_id, classname=c.chart)
                    s_tests += 1
            for f in c.findings:
                where = display_path(f) + (f":{f.line}" if f.line else "")
                name = f"{f.rule}: {f.object or where}"
                case = ET.SubElement(suite, "testcase", name=name, classname=c.chart, file=where)
                s_tests += 1
                body = f"{where}: {f.message}" + (f"\nhint: {f.hint}" if f.hint else "")
                if result.effective(f) is Severity.ERROR:
                    ET.SubElement(case, "failure", message=f.message, type=f.rule).text = body
                    s_fail += 1
                else:
                    ET.SubElement(case, "system-out").text = f"{result.effective(f).value}: {body}"
        suite.set("tests", str(s_tests))
        suite.set("failures", str(s_fail))
        suite.set("errors", str(s_err))
        total, failures, errors = total + s_tests, failures + s_fail, errors + s_err
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
