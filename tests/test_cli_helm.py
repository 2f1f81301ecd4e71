"""`helm-ac lint` as a user runs it: a real process, real helm 3 and 4, real charts."""
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import json

import pytest
from conftest import cm, rendered, write_chart

pytestmark = pytest.mark.helm

DEP = "appcontroller.k8s/depends-on"


@pytest.fixture
def chart(tmp_path):
    """A chart whose names depend on values and on the release name."""
    return write_chart(tmp_path, "app", {
        "db.yaml": 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.db }}\n',
        "web.yaml": ('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\n  annotations:\n'
                     '    appcontroller.k8s/depends-on: configmap/{{ .Release.Name }}-{{ .Values.want }}\n'
                     '    appcontroller.k8s/timeout: {{ .Values.timeout | quote }}\n'),
    }, values="db: db\nwant: db\ntimeout: 5m\n")


def test_clean_chart_exit_0(cli, chart):
    r = cli("lint", str(chart))
    assert r.code == 0, r.out + r.err
    assert "2 objects, 1 dependency; no problems" in r.out


def test_values_flags_are_passed_through(cli, chart, tmp_path):
    (tmp_path / "v.yaml").write_text("want: cache\n")
    assert cli("lint", str(chart), "-f", str(tmp_path / "v.yaml")).code == 1
    assert cli("lint", str(chart), "-f", str(tmp_path / "v.yaml"), "--set", "db=cache").code == 0
    assert cli("lint", str(chart), "--set-string", "want=other", "--set", "db=other").code == 0
    assert cli("lint", str(chart), "--set-json", 'want="x"', "--set-json", 'db="x"').code == 0
    (tmp_path / "db.txt").write_text("filedb")
    assert cli("lint", str(chart), "--set-file", f"db={tmp_path / 'db.txt'}", "--set", "want=filedb").code == 0
    r = cli("lint", str(chart), "--set", "timeout=soon", "-o", "json")
    assert [f["rule"] for f in r.json()["charts"][0]["findings"]] == ["invalid-annotation-value"]
    r = cli("lint", str(chart), "--set=want=nope")
    assert r.code == 1 and "configmap/release-name-nope: no such object" in r.out
    assert "did you mean configmap/release-name-db?" in r.out


def test_kube_and_api_versions_reach_helm(cli, tmp_path):
    c = write_chart(tmp_path, "caps", {"a.yaml": (
        "{{ if .Capabilities.APIVersions.Has \"example.com/v1\" }}" + cm("gated") + "{{ end }}"
        "---\n" + cm("a", {DEP: "configmap/gated"}) +
        "---\n{{ if semverCompare \">=1.30-0\" .Capabilities.KubeVersion.Version }}" + cm("new") + "{{ end }}")})
    assert cli("lint", str(c)).code == 1
    r = cli("lint", str(c), "--api-versions", "example.com/v1", "--kube-version", "1.31.0", "-o", "json")
    assert r.code == 0 and r.json()["charts"][0]["objects"] == 3, r.out + r.err


def test_namespace_flag_and_helm_namespace_env(cli, tmp_path):
    c = write_chart(tmp_path, "ns", {"a.yaml": cm("a", {DEP: "configmap/b"}),
                                     "b.yaml": cm("b", namespace="{{ .Release.Namespace }}")})
    assert cli("lint", str(c)).code == 0
    assert cli("lint", str(c), "-n", "prod").code == 0
    # as a plugin, Helm strips -n and exports HELM_NAMESPACE; we must pass it on to helm template
    assert cli("lint", str(c), env={"HELM_NAMESPACE": "prod"}).code == 0
    c2 = write_chart(tmp_path, "ns2", {"a.yaml": cm("a", {DEP: "configmap/b"}), "b.yaml": cm("b", namespace="fixed")})
    r = cli("lint", str(c2), "-n", "prod")
    assert r.code == 1 and "did you mean fixed/configmap/b (it is in namespace fixed)?" in r.out
    assert cli("lint", str(c2), "--namespace", "fixed").code == 0


def test_crds_are_included_unless_skipped(cli, tmp_path):
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: bs.example.com\n"
           "spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: B, plural: bs, singular: b, listKind: BList}\n"
           "  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n")
    c = write_chart(tmp_path, "crd", {"a.yaml": cm("a", {DEP: "customresourcedefinition/bs.example.com"})},
                    crds={"b.yaml": crd})
    assert cli("lint", str(c)).code == 0
    r = cli("lint", str(c), "--skip-crds")
    assert r.code == 1 and "unresolved-reference" in r.out


def test_packaged_chart_and_several_charts(cli, chart, helm, tmp_path):
    helm.run("package", str(chart), "-d", str(tmp_path))
    tgz = tmp_path / "app-0.1.0.tgz"
    r = cli("lint", str(tgz), str(chart), "--set", "want=zz")
    assert r.code == 1
    assert r.out.count("no such object") == 2 and "2 charts linted, 2 errors, 0 warnings" in r.out
    assert f"{tgz}:templates/web.yaml" in r.out


@pytest.fixture
def repo_url(chart, helm, tmp_path):
    """The chart, packaged, in a chart repository served over HTTP on localhost."""
    import functools
    import http.server
    import threading

    repo = tmp_path / "repo"
    repo.mkdir()
    helm.run("package", str(chart), "-d", str(repo))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    helm.run("repo", "index", str(repo), "--url", url)
    yield url
    server.shutdown()


def test_chart_from_a_repository(cli, repo_url):
    """`repo/chart`-style references: rendered by helm, Chart.yaml fetched with helm pull (local HTTP repo)."""
    r = cli("lint", "app", "--repo", repo_url, "--version", "0.1.0", "-o", "json")
    assert r.code == 0, r.out + r.err
    doc = r.json()["charts"][0]
    assert doc["objects"] == 2 and doc["notes"] == []


def test_a_named_repository_in_the_users_own_repository_config(cli, helm, repo_url, tmp_path):
    """helm pull gets the repository settings helm template got (--repository-config, --repository-cache)."""
    where = ["--repository-config", str(tmp_path / "repos.yaml"), "--repository-cache", str(tmp_path / "cache")]
    helm.run("repo", "add", "mine", repo_url, *where)
    r = cli("lint", "mine/app", *where, "-o", "json")
    assert r.code == 0, r.out + r.err
    doc = r.json()["charts"][0]
    assert doc["objects"] == 2 and doc["notes"] == []


def test_a_helm_flag_value_is_not_a_chart(cli, helm, chart):
    """--color takes a value (a global flag of Helm 4; Helm 3 has no such flag and says so)."""
    r = cli("lint", str(chart), "--color", "never", "-o", "json")
    charts = [c["chart"] for c in r.json()["charts"]]
    assert charts == [str(chart)]
    if helm.major == "4":
        assert r.code == 0, r.out + r.err
    else:
        assert r.code == 2 and "unknown flag: --color" in r.out


def test_lint_takes_the_implicit_rules(cli, tmp_path):
    c = write_chart(tmp_path, "ns", {"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
                                     "a.yaml": cm("a", namespace="shop")})
    with_rule = cli("lint", str(c), "-o", "json")
    assert with_rule.code == 0, with_rule.out + with_rule.err
    r = cli("lint", str(c), "--implicit", "none", "-o", "json")
    assert r.code == 0, r.out + r.err
    assert [d["chart"] for d in r.json()["charts"]] == [str(c)]
    assert with_rule.json()["charts"][0]["dependencies"] == 1 and r.json()["charts"][0]["dependencies"] == 0
    r = cli("lint", str(c), "--implicit=nope")
    assert r.code == 2 and "unknown rule 'nope'" in r.err


def _broken(tmp_path):
    return write_chart(tmp_path, "broken", {
        "a.yaml": cm("a", {DEP: "configmap/b, service/a"}),
        "b.yaml": cm("b", {DEP: "configmap/a", "appcontroller.k8s/on-error": "explode"}),
        "c.yaml": cm("c", {DEP: "chart:redis"}),
    }, chart_yaml="dependencies:\n- name: redis\n  version: 0.1.0\n  condition: redis.enabled\n",
        values="redis:\n  enabled: false\n", subcharts={"redis": {"templates": {"r.yaml": cm("r")}}})


def test_text_output_names_files_lines_and_summary(cli, tmp_path):
    c = _broken(tmp_path)
    r = cli("lint", str(c))
    assert r.code == 1
    assert f"{c}/templates/b.yaml:7: error [invalid-annotation-value] configmap/b: appcontroller.k8s/on-error: " \
           "'explode' is not an on-error policy" in r.out
    assert "dependency cycle: configmap/a → configmap/b → configmap/a" in r.out
    assert "depends-on service/a: no such object in the rendered chart\n" in r.out  # never suggests itself
    assert "warning [disabled-subchart-reference]" in r.out and "condition redis.enabled" in r.out
    assert r.out.rstrip().endswith("3 objects, 2 dependencies; 3 errors, 1 warning")
    assert "\x1b[" not in r.out  # no colour when not a terminal


def test_warnings_only_exit_0_and_strict_exit_1(cli, tmp_path):
    c = write_chart(tmp_path, "w", {"c.yaml": cm("c", {DEP: "chart:redis"})},
                    chart_yaml="dependencies:\n- name: redis\n  version: 0.1.0\n  condition: redis.enabled\n",
                    values="redis:\n  enabled: false\n", subcharts={"redis": {"templates": {"r.yaml": cm("r")}}})
    assert cli("lint", str(c)).code == 0
    r = cli("lint", str(c), "--strict")
    assert r.code == 1 and "error [disabled-subchart-reference]" in r.out
    assert cli("lint", str(c), "--set", "redis.enabled=true").code == 0


def test_json_output(cli, tmp_path):
    c = _broken(tmp_path)
    doc = cli("lint", str(c), "-o", "json").json()
    assert doc["version"] == 1 and doc["summary"] == {"errors": 3, "warnings": 1, "infos": 0, "exitCode": 1}
    f = next(f for f in doc["charts"][0]["findings"] if f["rule"] == "invalid-annotation-value")
    assert f == {"rule": "invalid-annotation-value", "severity": "error", "object": "configmap/b",
                 "file": "templates/b.yaml", "path": f"{c}/templates/b.yaml", "line": 7,
                 "message": "appcontroller.k8s/on-error: 'explode' is not an on-error policy", "hint": f["hint"]}


def test_the_annotation_parsers_edge_cases_through_helm(cli, tmp_path):
    """A !!binary value (helm takes it) is described, not shown as Python bytes; Go refuses non-ASCII
    digits in durations, and ready-when knows only its six operators."""
    body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
            "    appcontroller.k8s/timeout: !!binary NW0=\n"
            "    appcontroller.k8s/estimate: \"\u0663s\"\n"
            "    appcontroller.k8s/ready-when: \"{.status.x} === 3\"\n")
    c = write_chart(tmp_path, "edges", {"a.yaml": body})
    r = cli("lint", str(c), "-o", "json")
    assert r.code == 1, r.out + r.err
    found = {(f["rule"], f["message"]) for f in r.json()["charts"][0]["findings"]}
    assert found == {
        ("non-string-annotation", "appcontroller.k8s/timeout is binary data (a !!binary value), not a string: "
                                  "Kubernetes annotation values are strings"),
        ("invalid-annotation-value", "appcontroller.k8s/estimate: '\u0663s' is not a Go duration"),
        ("invalid-annotation-value", "appcontroller.k8s/ready-when: ready-when clause '{.status.x} === 3': unknown "
                                     "operator '==='; write {<jsonpath>} [== != < <= > >= <value>]"),
    }
    assert "b'" not in r.out


def test_sarif_output_is_valid_2_1_0_with_chart_relative_paths(cli, tmp_path):
    c = _broken(tmp_path)
    doc = cli("lint", str(c), "-o", "sarif", cwd=tmp_path).json()
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert run["originalUriBaseIds"]["CHARTROOT"] == {"uri": "broken/", "uriBaseId": "%SRCROOT%"}
    rules = run["tool"]["driver"]["rules"]
    res = next(x for x in run["results"] if x["ruleId"] == "invalid-annotation-value")
    assert rules[res["ruleIndex"]]["id"] == "invalid-annotation-value"
    assert res["level"] == "error"
    assert res["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "templates/b.yaml", "uriBaseId": "CHARTROOT"}, "region": {"startLine": 7}}
    warn = next(x for x in run["results"] if x["ruleId"] == "disabled-subchart-reference")
    assert warn["level"] == "warning"
    _validate_sarif(doc)


def _validate_sarif(doc):
    """Check the document against the SARIF 2.1.0 essentials (the official schema is not reachable offline)."""
    import jsonschema

    schema = {
        "type": "object", "required": ["version", "runs"],
        "properties": {"version": {"const": "2.1.0"}, "runs": {"type": "array", "items": {
            "type": "object", "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name", "rules"]}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["ruleId", "message", "level", "locations"],
                    "properties": {"level": {"enum": ["none", "note", "warning", "error"]},
                                   "message": {"type": "object", "required": ["text"]}}}},
                "originalUriBaseIds": {"type": "object", "additionalProperties": {"type": "object"}}}}}},
    }
    jsonschema.validate(doc, schema)
    for run in doc["runs"]:
        for base in run.get("originalUriBaseIds", {}).values():
            if "uri" in base:
                assert base["uri"].endswith("/"), base


def test_junit_output(cli, tmp_path):
    c = _broken(tmp_path)
    r = cli("lint", str(c), "-o", "junit")
    root = ET.fromstring(r.out)
    suite = root.find("testsuite")
    assert suite.get("name") == str(c) and suite.get("failures") == "3"
    failures = [tc for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert {tc.find("failure").get("type") for tc in failures} == {"invalid-annotation-value", "dependency-cycle",
                                                                  "unresolved-reference"}
    passing = {tc.get("name") for tc in suite.iter("testcase") if len(tc) == 0}
    assert "self-dependency" in passing and "duplicate-object" in passing
    r = cli("lint", str(c), "-o", "junit", "--strict")
    assert ET.fromstring(r.out).find("testsuite").get("failures") == "4"


def test_github_output(cli, tmp_path):
    c = _broken(tmp_path)
    r = cli("lint", str(c), "-o", "github", cwd=tmp_path)
    lines = r.out.splitlines()
    assert "::error file=broken/templates/b.yaml,line=7,title=invalid-annotation-value::configmap/b%3A" not in r.out
    assert any(l.startswith("::error file=broken/templates/b.yaml,line=7,title=invalid-annotation-value::configmap/b: "
                            "appcontroller.k8s/on-error") for l in lines), r.out
    assert any(l.startswith("::warning file=broken/templates/c.yaml") for l in lines)
    assert all("\n" not in l for l in lines) and "%0A" in r.out


# ------------------------------------------------------------------ bad input

def test_missing_chart_is_exit_2_without_traceback(cli, tmp_path):
    r = cli("lint", str(tmp_path / "nope"))
    assert r.code == 2 and "Traceback" not in r.out + r.err
    assert "no such chart directory" in r.out


def test_helm_template_failure_shows_helms_message(cli, tmp_path):
    c = write_chart(tmp_path, "bad", {"a.yaml": "{{ fail \"boom: set x\" }}\n"})
    r = cli("lint", str(c))
    assert r.code == 2 and "helm template failed" in r.out and "boom: set x" in r.out
    assert "Traceback" not in r.out + r.err


def fake_helm(helm, tmp_path, rendered_text: str) -> str:
    """A helm whose `template` prints ``rendered_text`` (what a post-renderer or a future helm could
    hand us, and real helm refuses before helm-ac sees it); every other command runs the real helm."""
    out = tmp_path / "rendered.yaml"
    out.write_text(rendered_text)
    fake = tmp_path / "fake-helm"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = template ]; then cat "{out}"; exit 0; fi\nexec "{helm.binary}" "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return str(fake)


def _bomb(indent: str, levels: int) -> str:
    """YAML whose aliases expand to 10**levels nodes."""
    return (f"{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, levels)))


def test_invalid_yaml_from_a_template(cli, helm, tmp_path):
    """Invalid YAML in helm's output (helm itself refuses it; a fake helm hands it over) is helm-ac's
    invalid-manifest error, exit 1, naming the template, the object's neighbours still linted."""
    c = write_chart(tmp_path, "y", {"a.yaml": cm("a")})
    text = rendered(("y/templates/a.yaml", cm("a", {DEP: "configmap/b"})),
                    ("y/templates/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [b\n"))
    r = cli("lint", str(c), env={"HELM_BIN": fake_helm(helm, tmp_path, text)})
    assert r.code == 1, r.out + r.err
    assert "Traceback" not in r.out + r.err
    assert f"{c}/templates/b.yaml: error [invalid-manifest] invalid YAML: " in r.out
    assert "error [unresolved-reference] configmap/a: depends-on configmap/b" in r.out


def test_invalid_yaml_in_a_body_is_reported_where_the_body_is_read(cli, helm, tmp_path):
    """Real helm parses every document it prints, so only a post-renderer or a YAML helm reads and
    PyYAML does not can bring such a body.  lint reads heads only (a full parse of big CRDs would
    cost more than helm itself): it sees the object; simulate, which needs the body, names the object
    and its file and exits 2, never an internal error (exit 3)."""
    c = write_chart(tmp_path, "y", {"a.yaml": cm("a")})
    text = rendered(("y/templates/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata: [\n"))
    env = {"HELM_BIN": fake_helm(helm, tmp_path, text)}
    lint = cli("lint", str(c), "-o", "json", env=env)
    assert lint.code == 0 and json.loads(lint.out)["charts"][0]["objects"] == 1, lint.out + lint.err
    r = cli("simulate", str(c), env=env)
    assert r.code == 2, r.out + r.err
    assert "templates/b.yaml: configmap/b cannot be read as YAML" in r.err and "Traceback" not in r.out + r.err


def test_alias_bomb_in_chart_yaml_is_bounded(cli, helm, tmp_path):
    """helm-ac reads Chart.yaml itself: a bomb there (helm refuses it too) is a chart error, exit 2."""
    c = write_chart(tmp_path, "bomb", {"a.yaml": cm("a")}, chart_yaml="annotations:\n" + _bomb("  ", 9))
    r = cli("lint", str(c), env={"HELM_BIN": fake_helm(helm, tmp_path, rendered(("bomb/templates/a.yaml", cm("a"))))})
    assert r.code == 2, r.out + r.err
    assert "Traceback" not in r.out + r.err
    assert f"{c}/Chart.yaml: invalid YAML: " in r.out and "alias" in r.out


def test_alias_bomb_rendered_into_a_manifest(cli, helm, tmp_path):
    """A bomb in helm's output is bounded by helm-ac's loader: invalid-manifest, exit 1, file named."""
    c = write_chart(tmp_path, "bomb2", {"a.yaml": cm("a")})
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" + _bomb("  ", 8)
    text = rendered(("bomb2/templates/a.yaml", cm("a")), ("bomb2/templates/bomb.yaml", body))
    r = cli("lint", str(c), env={"HELM_BIN": fake_helm(helm, tmp_path, text)})
    assert r.code == 1, r.out + r.err
    assert "Traceback" not in r.out + r.err
    assert f"{c}/templates/bomb.yaml: error [invalid-manifest] YAML alias bomb: " in r.out
    assert "2 objects" not in r.out and "1 object" in r.out


def test_helm_missing(cli, tmp_path):
    r = cli("lint", str(tmp_path), env={"HELM_BIN": "", "PATH": str(tmp_path)})
    assert r.code == 2 and "helm was not found" in r.err and "Traceback" not in r.err


def test_a_missing_helm_bin_file_is_named_as_missing(cli, tmp_path):
    r = cli("lint", str(tmp_path), env={"HELM_BIN": str(tmp_path / "bin" / "helm")})
    assert r.code == 2 and "Traceback" not in r.err
    assert f"HELM_BIN={tmp_path / 'bin' / 'helm'}: the file does not exist" in r.err
    assert "scripts/get_helm.py" in r.err and "PATH" in r.err


def test_a_directory_named_helm_on_path_is_not_permission_denied(cli, tmp_path):
    """The system says "Permission denied" when its search of PATH meets a directory named helm."""
    (tmp_path / "helm").mkdir()
    r = cli("lint", str(tmp_path), env={"HELM_BIN": "", "PATH": str(tmp_path)})
    assert r.code == 2 and "helm was not found on PATH" in r.err and "Permission denied" not in r.err


def _slow_helm(tmp_path):
    """A helm that never answers; it writes its process id first."""
    fake = tmp_path / "slow-helm"
    fake.write_text(f'#!/bin/sh\necho $$ > "{tmp_path}/pid"\nexec sleep 600\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def _gone(pid):
    """True when the process has ended and was reaped (a zombie still answers signal 0)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_helm_template_that_hangs_is_stopped_and_reaped(tmp_path):
    from helm_ac.errors import RenderError
    from helm_ac.rendering.helm import Helm

    fake = _slow_helm(tmp_path)
    helm = Helm(str(fake), {"PATH": "/usr/bin:/bin", "HELM_AC_HELM_TIMEOUT": "300ms"})
    pending = helm.start_template([str(tmp_path)])
    with pytest.raises(RenderError) as err:
        pending.result()
    assert "helm template did not finish: it was stopped after 300ms" in err.value.message
    assert "HELM_AC_HELM_TIMEOUT" in err.value.message and str(fake) in (err.value.hint or "")
    assert pending.returncode is not None
    assert _gone(int((tmp_path / "pid").read_text()))


def test_helm_pull_that_hangs_is_stopped_and_reaped(tmp_path):
    from helm_ac.rendering.helm import Helm

    fake = _slow_helm(tmp_path)
    ok, message = Helm(str(fake), {"PATH": "/usr/bin:/bin", "HELM_AC_HELM_TIMEOUT": "200ms"}).pull(
        "repo/app", str(tmp_path), [])
    assert not ok and message.startswith("helm pull did not finish: it was stopped after 200ms")
    assert _gone(int((tmp_path / "pid").read_text()))


def test_the_helm_timeout_setting(cli, chart):
    from helm_ac.rendering.helm import DEFAULT_TIMEOUT, run_timeout

    assert run_timeout({}) == DEFAULT_TIMEOUT == 300
    assert run_timeout({"HELM_AC_HELM_TIMEOUT": "15m"}) == 900 and run_timeout({"HELM_AC_HELM_TIMEOUT": "0"}) is None
    r = cli("lint", str(chart), env={"HELM_AC_HELM_TIMEOUT": "ten minutes"})
    assert r.code == 2 and "HELM_AC_HELM_TIMEOUT='ten minutes' is not a duration" in r.err
    assert cli("lint", str(chart), env={"HELM_AC_HELM_TIMEOUT": "10m"}).code == 0


def test_helm_too_old(cli, tmp_path, chart):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = version ]; then echo v3.5.0; exit 0; fi\necho 'unknown flag' >&2; exit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    r = cli("lint", str(chart), env={"HELM_BIN": str(fake)})
    assert r.code == 2 and "helm 3.5.0; helm-ac needs helm 3.12.0 or newer" in r.out


def test_output_dir_is_a_usage_error(cli, chart, tmp_path):
    r = cli("lint", str(chart), "--output-dir", str(tmp_path / "o"))
    assert r.code == 2 and "--output-dir" in r.err


def test_bad_output_format_is_a_usage_error(cli, chart):
    r = cli("lint", str(chart), "-o", "yaml")
    assert r.code == 2 and "Invalid value" in r.err


def test_debug_shows_traceback_for_user_errors(cli, tmp_path):
    nope = str(tmp_path / "nope")
    for r in (cli("--debug", "lint", nope), cli("lint", nope, "--debug"), cli("lint", nope, env={"HELM_DEBUG": "true"}),
              cli("--debug", "template", "x", nope)):
        assert r.code == 2, r.out + r.err
        assert "Traceback (most recent call last):" in r.err, r.err
        assert "helm_ac.errors.ChartError: " in r.err and "no such chart directory" in r.err, r.err
    r = cli("lint", nope)
    assert r.code == 2 and "Traceback" not in r.out + r.err


def test_console_script_and_module_agree(helm, chart):
    exe = Path(sys.executable).with_name("helm-ac")
    if not exe.exists():
        import shutil
        exe = Path(shutil.which("helm-ac") or "helm-ac")
    a = subprocess.run([str(exe), "lint", str(chart), "-o", "json"], capture_output=True, text=True, env=helm.env)
    b = subprocess.run([sys.executable, "-m", "helm_ac", "lint", str(chart), "-o", "json"], capture_output=True,
                       text=True, env=helm.env)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout


def test_a_flag_missing_its_value_gets_helms_own_message(cli, chart):
    r = cli("lint", str(chart), "--set")
    assert r.code == 2 and "--set" in r.out and "--include-crds" not in r.out.split("command:")[0]


def test_lint_json_counts_hooks_and_notes_a_chart_it_could_not_fetch(cli, helm, tmp_path):
    """A repository chart whose Chart.yaml helm cannot pull (the fake helm renders it, the real one pulls
    from no repository): linted from helm's output, with a note; hooks are counted, not linted as objects."""
    hook = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: init\n  annotations:\n"
            "    helm.sh/hook: pre-install\n")
    text = rendered(("app/templates/a.yaml", cm("a")), ("app/templates/j.yaml", hook))
    r = cli("lint", "norepo/app", "-o", "json", env={"HELM_BIN": fake_helm(helm, tmp_path, text)})
    assert r.code == 0, r.out + r.err
    [c] = r.json()["charts"]
    assert (c["objects"], c["hooks"], c["findings"]) == (1, 1, [])
    [note] = c["notes"]
    assert note.startswith("chart metadata unavailable: norepo/app: could not fetch the chart to read its Chart.yaml")
