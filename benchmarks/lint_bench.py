#!/usr/bin/env python3
"""Benchmark: how much slower is ``helm ac lint`` than the ``helm template`` it runs?

``helm ac lint`` renders the chart with the real helm (``helm template
--include-crds``), then parses the output, builds the dependency graph and runs
the lint rules.  Its price is therefore *helm template + Python start-up +
analysis*; the target is that the whole command stays within **1.3x** the time
of ``helm template`` alone, on a large generated chart and on a real chart with big
CRDs; and that bad input costs about what good input costs (**1.5x**).

What is measured
----------------
Three cases (``--cases``), side by side in one run:

* ``synthetic``: the generated chart of 1. below, against ``helm template`` of it;
* ``real``: kube-prometheus-stack 88.5.3, vendored as a packaged chart under
  ``benchmarks/charts/`` (see its README: source, commit, license), rendered with
  ``--include-crds`` as lint does: 135 objects, 5 MB, ten CRDs of several hundred kB;
  lint must report 125 objects (10 are hooks) and no findings;
* ``bad-refs``: the generated chart plus one ConfigMap whose ``depends-on`` lists
  ``--bad-refs B`` (default 10,000) misspelt and repeated references: B/2 distinct
  misspellings (two neighbouring characters of an object's name swapped), each twice;
  lint must exit 1 with exactly B/2 ``unresolved-reference`` findings, each with a
  "did you mean", and one
  ``duplicate-reference`` finding (for all repetitions); its lint time is compared with the ``synthetic``
  chart's lint (its clean twin, which therefore runs too), target ``--bad-target``.

1. A synthetic chart is generated in a temporary directory (deleted at the
   end): ``--objects N`` objects (default 2000) in dependency chains of
   ``--chain L`` objects (default 50).  Objects cycle through ConfigMap,
   Service and Deployment (~40 template lines, with a pod template); every
   object but the head of its chain carries
   ``appcontroller.k8s/depends-on: <kind>/{{ .Release.Name }}-<previous>``,
   Deployments also ``appcontroller.k8s/timeout: "5m"``.  Names and labels are
   templated (``{{ .Release.Name }}``, ``include`` helpers, values), so helm
   does real templating work.  Templates hold ``--per-file`` objects each
   (default 10, i.e. chains span several files).  About 5% of the objects
   (``--subchart-share``) live in an enabled subchart ``backend``, so the
   subchart rule (the parent's objects wait for the subchart) is exercised.
2. helm-ac is installed the way users get it: a copy of this repository is
   installed as a Helm plugin (``helm plugin install``) into fresh, isolated
   HELM_*_HOME directories, so its install hook builds the plugin's own virtual
   environment with a regular (non-editable) ``pip install``, offline from the
   wheelhouse of ``scripts/wheelhouse.py`` when that exists.  With
   ``--lint-from source`` the working tree is run instead (``python -m helm_ac``
   from the repository root: quicker to iterate on, but the editable install's
   import hooks make Python start slower).
3. For each helm major version (``--helm 3,4``; binaries from
   ``scripts/get_helm.py``) these are timed with wall-clock time
   (``time.perf_counter``), stdout read fully through a pipe:

   (a) ``helm template <chart> --include-crds``, what lint itself asks helm for;
   (b) ``helm-ac lint <chart> -o json``: the installed program (the plugin's
       ``.venv/bin/helm-ac``), with ``HELM_BIN`` pointing at the same helm;
   (c) ``helm ac lint <chart> -o json``: the same through Helm's plugin
       mechanism, i.e. plus helm starting once more to dispatch to the plugin.

   One untimed warm-up of each, then ``--repeat R`` rounds (default 5) of
   (a), (b), (c) for every case in turn, interleaved so that machine noise
   affects all alike; the median of each is reported.  Every run is checked:
   (a) must exit 0 and print the case's objects; (b) and (c) must exit as the
   case expects and their JSON must report its objects, dependencies and
   exactly its findings (``checked_runs`` in the JSON counts them).  Any failed
   check aborts the benchmark with exit code 1.
4. A table (or ``--json``) gives, per case and helm version: objects, median
   seconds of each command, the ratio to the baseline (``helm template``, or
   the clean twin's lint) and PASS/MISS for (b) against the target; (c)'s
   ratio is shown beside it, with Helm's dispatch cost included.  A MISS still
   exits 0: this is a benchmark, not a test.

How to run
----------
From the repository root, with helm-ac installed (``pip install -e .``)::

    python3 benchmarks/lint_bench.py                       # defaults: 2000 objects, chains of 50, helm 3 and 4
    python3 benchmarks/lint_bench.py --objects 500 --repeat 3 --helm 4
    python3 benchmarks/lint_bench.py --cases real --repeat 9         # only the real chart
    python3 benchmarks/lint_bench.py --json                # machine-readable results
    python3 benchmarks/lint_bench.py --lint-from source    # the working tree, no plugin install
    python3 benchmarks/lint_bench.py --generate-only /tmp/bench-chart   # just write the chart (for profiling)

Only the Python standard library is used.  Progress goes to stderr, results
to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
GET_HELM = ROOT / "scripts" / "get_helm.py"
WHEELHOUSE = ROOT / "scripts" / "wheelhouse.py"

DEFAULT_OBJECTS = 2000
DEFAULT_CHAIN = 50
DEFAULT_REPEAT = 5
DEFAULT_PER_FILE = 10
DEFAULT_SUBCHART_SHARE = 0.05
DEFAULT_TARGET = 1.3
DEFAULT_BAD_REFS = 10_000
DEFAULT_BAD_TARGET = 1.5
CASES = ("synthetic", "real", "bad-refs")
RUN_TIMEOUT = 900  # seconds, per command: a hung helm must not hang the benchmark

PARENT_CHART = "bench"
SUBCHART = "backend"

#: Object kinds cycled along each chain: (kind, depends-on kind token, name suffix).
KINDS = (("ConfigMap", "configmap", "cm"), ("Service", "service", "svc"), ("Deployment", "deployment", "deploy"))


class BenchError(Exception):
    """A run failed or produced unexpected output: the benchmark result would be meaningless."""


# --------------------------------------------------------------------------------------------------------------
# Chart generation
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChartSpec:
    """Shape of the generated chart, and what a correct lint of it must report."""

    objects: int
    chain: int
    per_file: int
    subchart_objects: int

    @property
    def parent_objects(self) -> int:
        return self.objects - self.subchart_objects

    @staticmethod
    def chains_of(n: int, length: int) -> list[int]:
        """Lengths of the chains holding ``n`` objects (the last one may be shorter)."""
        return [min(length, n - start) for start in range(0, n, length)]

    @property
    def chain_count(self) -> int:
        return len(self.chains_of(self.parent_objects, self.chain)) + len(self.chains_of(self.subchart_objects,
                                                                                         self.chain))

    @property
    def expected_dependencies(self) -> int:
        """What objects wait for directly: one depends-on edge per object but a chain head, plus one edge
        per object of the parent chart from the subchart barrier (the parent waits for its subchart)."""
        return self.objects - self.chain_count + self.parent_objects


CHART_YAML = """\
apiVersion: v2
name: {name}
description: Synthetic chart of the helm-ac lint benchmark ({count} objects in chains of {chain}).
type: application
version: 0.1.0
appVersion: "1.0.0"
{extra}"""

PARENT_CHART_EXTRA = f"""\
annotations:
  # Every object of this chart waits for the whole {SUBCHART} subchart (the default, spelled out).
  appcontroller.k8s/wait-for-subcharts: "true"
dependencies:
  - name: {SUBCHART}
    version: 0.1.0
    condition: {SUBCHART}.enabled
"""

VALUES_YAML = """\
replicaCount: 2
image:
  repository: registry.example.com/bench/app
  tag: "1.0.0"
  pullPolicy: IfNotPresent
service:
  type: ClusterIP
  port: 80
resources:
  requests:
    cpu: 50m
    memory: 64Mi
  limits:
    memory: 128Mi
logLevel: info
{extra}"""

PARENT_VALUES_EXTRA = f"""\
{SUBCHART}:
  enabled: true
"""

HELPERS_TPL = """\
{{{{- define "{c}.labels" -}}}}
helm.sh/chart: {{{{ .Chart.Name }}}}-{{{{ .Chart.Version | replace "+" "_" }}}}
{{{{ include "{c}.selectorLabels" . }}}}
app.kubernetes.io/version: {{{{ .Chart.AppVersion | quote }}}}
app.kubernetes.io/managed-by: {{{{ .Release.Service }}}}
{{{{- end }}}}

{{{{- define "{c}.selectorLabels" -}}}}
app.kubernetes.io/name: {{{{ .Chart.Name }}}}
app.kubernetes.io/instance: {{{{ .Release.Name }}}}
{{{{- end }}}}
"""


def _name(prefix: str, chain: int, index: int, suffix: str) -> str:
    """Templated object name, e.g. ``{{ .Release.Name }}-c03-017-deploy``."""
    return f"{{{{ .Release.Name }}}}-{prefix}{chain:02d}-{index:03d}-{suffix}"


def _annotations(depends_on: str | None, timeout: bool) -> str:
    lines = []
    if depends_on:
        lines.append(f"    appcontroller.k8s/depends-on: {depends_on}")
    if timeout:
        lines.append('    appcontroller.k8s/timeout: "5m"')
    return ("  annotations:\n" + "\n".join(lines) + "\n") if lines else ""


def render_object(chart: str, prefix: str, chain: int, index: int) -> str:
    """One manifest (as a template) for object ``index`` of chain ``chain``."""
    kind, _, suffix = KINDS[index % len(KINDS)]
    name = _name(prefix, chain, index, suffix)
    component = f"{prefix}{chain:02d}-{index:03d}"
    depends_on = None
    if index > 0:
        _, prev_token, prev_suffix = KINDS[(index - 1) % len(KINDS)]
        depends_on = f"{prev_token}/{_name(prefix, chain, index - 1, prev_suffix)}"
    head = (f"---\n# object {index} of chain {component.split('-')[0]}\n"
            f"apiVersion: {'apps/v1' if kind == 'Deployment' else 'v1'}\nkind: {kind}\nmetadata:\n"
            f"  name: {name}\n  labels:\n    {{{{- include \"{chart}.labels\" . | nindent 4 }}}}\n"
            f"    app.kubernetes.io/component: {component}\n"
            + _annotations(depends_on, timeout=kind == "Deployment"))
    if kind == "ConfigMap":
        return head + f"""\
data:
  COMPONENT: {component}
  LOG_LEVEL: {{{{ .Values.logLevel | quote }}}}
  RELEASE: {{{{ .Release.Name | quote }}}}
  app.properties: |
    component={component}
    listen=:8080
    upstream={{{{ .Release.Name }}}}-{component}.{{{{ .Release.Namespace }}}}.svc
"""
    if kind == "Service":
        return head + f"""\
spec:
  type: {{{{ .Values.service.type }}}}
  ports:
    - name: http
      port: {{{{ .Values.service.port }}}}
      targetPort: http
      protocol: TCP
  selector:
    {{{{- include "{chart}.selectorLabels" . | nindent 4 }}}}
    app.kubernetes.io/component: {component}
"""
    return head + f"""\
spec:
  replicas: {{{{ .Values.replicaCount }}}}
  selector:
    matchLabels:
      {{{{- include "{chart}.selectorLabels" . | nindent 6 }}}}
      app.kubernetes.io/component: {component}
  template:
    metadata:
      labels:
        {{{{- include "{chart}.selectorLabels" . | nindent 8 }}}}
        app.kubernetes.io/component: {component}
    spec:
      containers:
        - name: app
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}"
          imagePullPolicy: {{{{ .Values.image.pullPolicy }}}}
          args: ["--listen=:8080", "--component={component}"]
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          env:
            - name: COMPONENT
              value: {component}
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          resources:
            {{{{- toYaml .Values.resources | nindent 12 }}}}
"""


def _write_templates(chart_dir: Path, chart: str, prefix: str, count: int, spec: ChartSpec) -> None:
    templates = chart_dir / "templates"
    templates.mkdir(parents=True)
    (templates / "_helpers.tpl").write_text(HELPERS_TPL.format(c=chart))
    for chain, length in enumerate(ChartSpec.chains_of(count, spec.chain)):
        for part, start in enumerate(range(0, length, spec.per_file)):
            docs = [render_object(chart, prefix, chain, i) for i in range(start, min(start + spec.per_file, length))]
            (templates / f"chain-{prefix}{chain:02d}-{part:02d}.yaml").write_text("".join(docs))


def generate_chart(parent_dir: Path, spec: ChartSpec) -> Path:
    """Write the benchmark chart under ``parent_dir`` and return its directory."""
    root = parent_dir / PARENT_CHART
    root.mkdir(parents=True)
    has_sub = spec.subchart_objects > 0
    (root / "Chart.yaml").write_text(CHART_YAML.format(name=PARENT_CHART, count=spec.objects, chain=spec.chain,
                                                       extra=PARENT_CHART_EXTRA if has_sub else ""))
    (root / "values.yaml").write_text(VALUES_YAML.format(extra=PARENT_VALUES_EXTRA if has_sub else ""))
    _write_templates(root, PARENT_CHART, "c", spec.parent_objects, spec)
    if has_sub:
        sub = root / "charts" / SUBCHART
        sub.mkdir(parents=True)
        (sub / "Chart.yaml").write_text(CHART_YAML.format(name=SUBCHART, count=spec.subchart_objects,
                                                          chain=spec.chain, extra=""))
        (sub / "values.yaml").write_text(VALUES_YAML.format(extra=""))
        _write_templates(sub, SUBCHART, "b", spec.subchart_objects, spec)
    return root


BAD_TEMPLATE = "bad-references.yaml"


def _swaps(literal: str) -> list[str]:
    """``literal`` with two neighbours swapped, where one is not a digit (so no other object's name results)."""
    out = []
    for j in range(len(literal) - 1):
        x, y = literal[j], literal[j + 1]
        if x != y and not (x.isdigit() and y.isdigit()):
            out.append(literal[:j] + y + x + literal[j + 2:])
    return out


def bad_references(spec: ChartSpec, count: int) -> list[str]:
    """``count`` distinct references, each a typo (two neighbours swapped) of a parent chart object's name."""
    names = []
    for chain, length in enumerate(ChartSpec.chains_of(spec.parent_objects, spec.chain)):
        for index in range(length):
            _, token, suffix = KINDS[index % len(KINDS)]
            names.append((token, f"c{chain:02d}-{index:03d}-{suffix}"))
    variants = [(token, _swaps(literal)) for token, literal in names]
    out: list[str] = []
    for v in range(max(len(x) for _, x in variants)):
        for token, typos in variants:
            if v < len(typos):
                out.append(f"{token}/{{{{ .Release.Name }}}}-{typos[v]}")
                if len(out) == count:
                    return out
    raise BenchError(f"{spec.parent_objects} objects give fewer than {count} distinct misspelt references")


def generate_bad_chart(parent_dir: Path, spec: ChartSpec, count: int) -> Path:
    """The benchmark chart plus one ConfigMap whose depends-on lists ``count`` references: ``count // 2``
    distinct misspelt ones, each twice."""
    root = generate_chart(parent_dir, spec)
    lines = "".join(f"      {ref}\n      {ref}\n" for ref in bad_references(spec, count // 2))
    (root / "templates" / BAD_TEMPLATE).write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-misspelt\n  annotations:\n"
        f"    appcontroller.k8s/depends-on: |\n{lines}data: {{}}\n")
    return root


REAL_CHART = ROOT / "benchmarks" / "charts" / "kube-prometheus-stack-88.5.3.tgz"
REAL_DOCUMENTS = 135  # what helm template --include-crds prints with the default values (Helm 3.17 and 4.1)
REAL_HOOKS = 10  # of which Helm hooks (the admission webhook's certificate jobs, grafana's test)


def make_cases(work: Path, spec: ChartSpec, names: Sequence[str], bad_refs: int, target: float,
               bad_target: float) -> list[Case]:
    """Write the generated charts and describe every case asked for (the bad-references case brings its twin)."""
    cases = []
    if "synthetic" in names or "bad-refs" in names:
        cases.append(Case("synthetic", generate_chart(work / "synthetic", spec), spec.objects, spec.objects,
                          spec.expected_dependencies, target=target))
    if "real" in names:
        cases.append(Case("real", REAL_CHART, REAL_DOCUMENTS, REAL_DOCUMENTS - REAL_HOOKS, None, target=target))
    if "bad-refs" in names:
        # one more object of the parent chart: one more edge from the subchart barrier
        cases.append(Case("bad-refs", generate_bad_chart(work / "bad", spec, bad_refs), spec.objects + 1,
                          spec.objects + 1, spec.expected_dependencies + 1,
                          {"unresolved-reference": bad_refs // 2, "duplicate-reference": 1},
                          target=bad_target, twin="synthetic"))
    return cases


# --------------------------------------------------------------------------------------------------------------
# Running and checking
# --------------------------------------------------------------------------------------------------------------

def helm_binary(major: str) -> str:
    """Path of the cached helm ``major`` binary (fetched by scripts/get_helm.py if needed)."""
    proc = subprocess.run([sys.executable, str(GET_HELM), major, "--quiet"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not path or not os.access(path, os.X_OK):
        raise BenchError(f"could not get helm {major} via {GET_HELM}: {proc.stderr.strip()[-2000:]}")
    return path


def helm_env(binary: str, home: Path) -> dict[str, str]:
    """The caller's environment without HELM_*, plus HELM_BIN and fresh helm home directories.

    PYTHONDONTWRITEBYTECODE is dropped so that the warm-up run leaves bytecode behind, as
    `pip install` (and so the plugin's install hook) does: otherwise every timed run would
    also pay for compiling helm-ac's sources.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_") and k != "PYTHONDONTWRITEBYTECODE"}
    for sub in ("cache", "config", "data"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(HELM_BIN=binary, HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
               HELM_DATA_HOME=str(home / "data"), NO_COLOR="1")
    return env


def _tail(text: str, limit: int = 3000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def timed_run(argv: Sequence[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """Run ``argv`` from the repository root, reading stdout/stderr fully; return (wall seconds, result)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(list(argv), capture_output=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {RUN_TIMEOUT}s: {' '.join(argv)}") from None
    except OSError as exc:
        raise BenchError(f"could not run {argv[0]}: {exc}") from None
    return time.perf_counter() - start, proc


def _failed(what: str, argv: Sequence[str], proc: subprocess.CompletedProcess[bytes], why: str) -> BenchError:
    return BenchError(f"{what} {why}\n  command: {' '.join(argv)}\n  exit code: {proc.returncode}\n"
                      f"  stderr: {_tail(proc.stderr.decode('utf-8', 'replace')) or '(empty)'}")


def _count_kinds(stdout: bytes) -> int:
    return len(re.findall(rb"^kind: ", stdout, flags=re.M))


@dataclass
class Case:
    """One chart to lint, what helm must print for it and what lint must report."""

    name: str
    chart: Path
    documents: int  # objects helm prints (top-level "kind:" lines), hooks included
    objects: int  # regular objects lint reports
    dependencies: int | None  # what lint must report, None: not checked
    findings: dict[str, int] = field(default_factory=dict)  # rule -> count lint must report (nothing else)
    target: float = DEFAULT_TARGET
    twin: str | None = None  # the case whose lint time is the baseline (else helm template's)

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0


def check_template(argv: Sequence[str], proc: subprocess.CompletedProcess[bytes], case: Case) -> None:
    if proc.returncode != 0:
        raise _failed("helm template", argv, proc, "failed")
    docs = _count_kinds(proc.stdout)
    if docs != case.documents:
        raise _failed("helm template", argv, proc, f"rendered {docs} objects, expected {case.documents}")


def check_lint(argv: Sequence[str], proc: subprocess.CompletedProcess[bytes], case: Case) -> None:
    if proc.returncode != case.exit_code:
        raise _failed("helm ac lint", argv, proc, f"exited {proc.returncode}, expected {case.exit_code}\n  stdout: "
                                                 f"{_tail(proc.stdout.decode('utf-8', 'replace'))}")
    try:
        doc = json.loads(proc.stdout)
        [chart] = doc["charts"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _failed("helm ac lint", argv, proc, f"printed unexpected JSON ({exc}): "
                                                 f"{_tail(proc.stdout.decode('utf-8', 'replace'), 500)}") from None
    problems = []
    if not chart.get("rendered"):
        problems.append(f"chart not rendered: {chart.get('error')}")
    if chart.get("objects") != case.objects:
        problems.append(f"{chart.get('objects')} objects, expected {case.objects}")
    if case.dependencies is not None and chart.get("dependencies") != case.dependencies:
        problems.append(f"{chart.get('dependencies')} dependencies, expected {case.dependencies}")
    findings = chart.get("findings") or []
    rules: dict[str, int] = {}
    for f in findings:
        rules[f["rule"]] = rules.get(f["rule"], 0) + 1
    if rules != case.findings:
        shown = "; ".join(f"{f['rule']}: {f['message']}" for f in findings[:5])
        problems.append(f"findings {rules}, expected {case.findings or 'none'} ({shown})")
    unhelped = [f["message"] for f in findings if f["rule"] == "unresolved-reference" and "did you mean" not in
                f["message"]]
    if unhelped:
        problems.append(f"{len(unhelped)} unresolved references without a suggestion, e.g. {unhelped[0]}")
    summary = doc.get("summary", {})
    if summary.get("exitCode") != case.exit_code or (not case.findings and any(
            summary.get(k) for k in ("errors", "warnings", "infos"))):
        problems.append(f"summary unexpected: {summary}")
    if problems:
        raise _failed("helm ac lint", argv, proc, "reported " + "; ".join(problems))


@dataclass
class Result:
    """Timings of one case on one helm version."""

    helm: str
    helm_binary: str
    case: str
    objects: int
    lint_from: str
    template_runs: list[float] = field(default_factory=list)
    lint_runs: list[float] = field(default_factory=list)
    plugin_runs: list[float] = field(default_factory=list)  # helm ac lint (only when installed)
    target: float = DEFAULT_TARGET
    baseline: str = "helm template"
    baseline_runs: list[float] = field(default_factory=list)  # the twin's lint runs, when the baseline is a twin
    baseline_plugin_runs: list[float] = field(default_factory=list)
    checked_runs: int = 0  # runs whose output passed the checks (warm-up included)

    @property
    def template_median(self) -> float:
        return statistics.median(self.template_runs)

    @property
    def lint_median(self) -> float:
        return statistics.median(self.lint_runs)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline_runs) if self.baseline_runs else self.template_median

    @property
    def ratio(self) -> float:
        return self.lint_median / self.baseline_median

    @property
    def plugin_median(self) -> float | None:
        return statistics.median(self.plugin_runs) if self.plugin_runs else None

    @property
    def plugin_ratio(self) -> float | None:
        if self.plugin_median is None:
            return None
        base = statistics.median(self.baseline_plugin_runs) if self.baseline_plugin_runs else self.template_median
        return self.plugin_median / base

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.update(template_median_s=round(self.template_median, 4), lint_median_s=round(self.lint_median, 4),
                 baseline_median_s=round(self.baseline_median, 4),
                 lint_overhead_s=round(self.lint_median - self.baseline_median, 4), ratio=round(self.ratio, 3),
                 result="PASS" if self.passed else "MISS",
                 plugin_median_s=None if self.plugin_median is None else round(self.plugin_median, 4),
                 plugin_ratio=None if self.plugin_ratio is None else round(self.plugin_ratio, 3))
        for k in ("template_runs", "lint_runs", "plugin_runs", "baseline_runs", "baseline_plugin_runs"):
            d[k] = [round(t, 4) for t in d[k]]
        return d


def helm_version(binary: str, env: dict[str, str]) -> str:
    proc = subprocess.run([binary, "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                          env=env, timeout=60)
    if proc.returncode != 0:
        raise BenchError(f"{binary} version failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def install_plugin(binary: str, env: dict[str, str], source: Path) -> Path:
    """``helm plugin install`` a copy of this repository; return the installed ``helm-ac`` program."""
    env = dict(env)
    env.pop("HELM_PLUGINS", None)  # Helm 4.1 installs into HELM_DATA_HOME/plugins but looks up HELM_PLUGINS
    house = subprocess.run([sys.executable, str(WHEELHOUSE)], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if house.returncode == 0 and house.stdout.strip():  # offline and fast; else pip uses the network
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=house.stdout.strip().splitlines()[-1])
    proc = subprocess.run([binary, "plugin", "install", str(source)], capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT)
    program = source / ".venv" / "bin" / "helm-ac"
    if proc.returncode != 0 or not program.exists():
        raise BenchError(f"helm plugin install {source} failed:\n{_tail(proc.stdout + proc.stderr)}")
    return program


def copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                    "build", "dist")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def bench_helm(major: str, cases: list[Case], repeat: int, work: Path, log: bool, lint_from: str) -> list[Result]:
    """Warm up once, then time ``repeat`` rounds; each round runs helm template, helm-ac lint (and helm ac
    lint) on every case in turn, so that machine noise affects all alike."""
    binary = helm_binary(major)
    env = helm_env(binary, work / f"helm{major}-home")
    version = helm_version(binary, env)
    program = None
    if lint_from == "installed":
        source = work / "helm-ac" if (work / "helm-ac").exists() else copy_repo(work / "helm-ac")
        program = install_plugin(binary, env, source)
    results = {c.name: Result(version, binary, c.name, c.objects, lint_from, target=c.target,
                              baseline=f"{c.twin} lint" if c.twin else "helm template") for c in cases}
    commands = []
    for c in cases:
        r = results[c.name]
        chart = str(c.chart)
        commands.append((c, "template", [binary, "template", chart, "--include-crds"], check_template,
                         r.template_runs))
        if program is not None:
            commands += [(c, "helm-ac lint", [str(program), "lint", chart, "-o", "json"], check_lint, r.lint_runs),
                         (c, "helm ac lint", [binary, "ac", "lint", chart, "-o", "json"], check_lint, r.plugin_runs)]
        else:
            commands.append((c, "helm-ac lint", [sys.executable, "-m", "helm_ac", "lint", chart, "-o", "json"],
                             check_lint, r.lint_runs))
    for round_no in range(repeat + 1):  # round 0 is the warm-up, checked but not kept
        shown = []
        for case, name, argv, check, runs in commands:
            t, proc = timed_run(argv, env)
            check(argv, proc, case)
            results[case.name].checked_runs += 1
            shown.append(f"{case.name} {name} {t:.3f}s")
            if round_no:
                runs.append(t)
        if log:
            label = "warm-up" if round_no == 0 else f"run {round_no}/{repeat}"
            print(f"  helm {version} {label}: {', '.join(shown)}", file=sys.stderr, flush=True)
    for c in cases:
        if c.twin:
            twin = results[c.twin]
            results[c.name].baseline_runs = list(twin.lint_runs)
            results[c.name].baseline_plugin_runs = list(twin.plugin_runs)
    return [results[c.name] for c in cases]


# --------------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------------

def machine() -> dict[str, object]:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return {"nproc": usable, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "python_implementation": platform.python_implementation(), "platform": platform.platform(),
            "machine": platform.machine(), "python_executable": sys.executable}


def print_table(results: list[Result], spec: ChartSpec, bad_refs: int, repeat: int, info: dict[str, object]) -> None:
    print(f"machine: nproc={info['nproc']} (cpu_count={info['cpu_count']}), "
          f"{info['python_implementation']} {info['python']}, {info['platform']}")
    names = {r.case for r in results}
    if names & {"synthetic", "bad-refs"}:
        print(f"synthetic: {spec.objects} objects ({spec.parent_objects} + {spec.subchart_objects} in subchart "
              f"'{SUBCHART}'), chains of {spec.chain} ({spec.chain_count} chains, {spec.expected_dependencies} "
              f"dependencies), {spec.per_file} objects per template file")
    if "real" in names:
        print(f"real:      {REAL_CHART.name} rendered with --include-crds ({REAL_DOCUMENTS} objects, ten large CRDs)")
    if "bad-refs" in names:
        print(f"bad-refs:  the synthetic chart plus one object listing {bad_refs} references ({bad_refs // 2} distinct "
              "misspelt ones, each twice); compared with the synthetic chart's lint")
    print(f"timing:    median of {repeat} interleaved runs after 1 warm-up; wall clock, whole processes")
    installed = bool(results) and results[0].lint_from == "installed"
    print("helm-ac:   " + ("installed as a Helm plugin (regular pip install in the plugin's venv)" if installed
                           else f"the working tree, {sys.executable} -m helm_ac"))
    print()
    headers = ["case", "helm", "objects", "helm template [s]", "helm-ac lint [s]", "baseline", "ratio", "target",
               "result"]
    if installed:
        headers += ["helm ac lint [s]", "ratio (plugin)"]
    rows = []
    for r in results:
        row = [r.case, r.helm, str(r.objects), f"{r.template_median:.3f}", f"{r.lint_median:.3f}", r.baseline,
               f"{r.ratio:.2f}x", f"<= {r.target:.1f}x", "PASS" if r.passed else "MISS"]
        if installed:
            row += [f"{r.plugin_median:.3f}", f"{r.plugin_ratio:.2f}x"]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) if i in (0, 1, 5, 7, 8) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    print()
    print("ratio: helm-ac lint over its baseline (helm template of the same chart; for bad-refs the clean twin's "
          "lint).")
    if installed:
        print("helm-ac lint is the program; helm ac lint adds Helm's own plugin dispatch (helm starts once more, "
              "reads its plugins and runs the plugin's launcher).")


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0].replace("``", ""),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--objects", type=int, default=DEFAULT_OBJECTS, metavar="N", help="objects in the chart")
    p.add_argument("--chain", type=int, default=DEFAULT_CHAIN, metavar="L", help="length of each depends-on chain")
    p.add_argument("--per-file", type=int, default=DEFAULT_PER_FILE, metavar="K", help="objects per template file")
    p.add_argument("--subchart-share", type=float, default=DEFAULT_SUBCHART_SHARE, metavar="F",
                   help="fraction of the objects in the subchart (0 for none)")
    p.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, metavar="R", help="timed runs (after 1 warm-up)")
    p.add_argument("--helm", default="3,4", metavar="MAJORS", help="helm major versions, comma-separated")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET, help="maximum lint/template ratio for PASS")
    p.add_argument("--cases", default=",".join(CASES), metavar="NAMES",
                   help=f"cases to run, comma-separated, of: {', '.join(CASES)}")
    p.add_argument("--bad-refs", type=int, default=DEFAULT_BAD_REFS, metavar="B",
                   help="references of the bad-refs case: B/2 distinct misspelt ones, each listed twice")
    p.add_argument("--bad-target", type=float, default=DEFAULT_BAD_TARGET,
                   help="maximum ratio of the bad-refs case's lint to its clean twin's for PASS")
    p.add_argument("--lint-from", choices=["installed", "source"], default="installed",
                   help="time helm-ac installed as a Helm plugin, or the working tree (python -m helm_ac)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--generate-only", metavar="DIR", type=Path,
                   help="only write the chart to DIR/bench (e.g. for profiling) and exit")
    a = p.parse_args(argv)
    a.majors = [m.strip() for m in a.helm.split(",") if m.strip()]
    if not a.majors or any(m not in ("3", "4") for m in a.majors):
        p.error(f"--helm takes 3, 4 or 3,4, not {a.helm!r}")
    if a.objects < 2 or a.chain < 1 or a.per_file < 1 or a.repeat < 1 or a.target <= 0:
        p.error("--objects must be >= 2; --chain, --per-file and --repeat >= 1; --target > 0")
    a.case_names = [c.strip() for c in a.cases.split(",") if c.strip()]
    if not a.case_names or any(c not in CASES for c in a.case_names):
        p.error(f"--cases takes some of {', '.join(CASES)}, not {a.cases!r}")
    if a.bad_refs < 2 or a.bad_refs % 2 or a.bad_target <= 0:
        p.error("--bad-refs must be even and >= 2, --bad-target > 0")
    if not 0 <= a.subchart_share < 1:
        p.error("--subchart-share must be in [0, 1)")
    return a


def make_spec(a: argparse.Namespace) -> ChartSpec:
    sub = max(1, round(a.objects * a.subchart_share)) if a.subchart_share > 0 else 0
    return ChartSpec(a.objects, a.chain, a.per_file, min(sub, a.objects - 1))


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    spec = make_spec(a)
    if a.generate_only:
        if (a.generate_only / PARENT_CHART).exists():
            print(f"lint_bench: {a.generate_only / PARENT_CHART} already exists", file=sys.stderr)
            return 1
        print(generate_chart(a.generate_only, spec))
        return 0
    log = not a.quiet
    work = Path(tempfile.mkdtemp(prefix="helm-ac-bench-"))
    try:
        cases = make_cases(work, spec, a.case_names, a.bad_refs, a.target, a.bad_target)
        if log:
            print(f"cases: {', '.join(c.name + ' (' + str(c.chart) + ')' for c in cases)}", file=sys.stderr, flush=True)
        results = []
        for major in a.majors:
            if log:
                print(f"helm {major}: 1 warm-up + {a.repeat} runs", file=sys.stderr, flush=True)
            results += bench_helm(major, cases, a.repeat, work, log, a.lint_from)
    except BenchError as exc:
        print(f"lint_bench: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = [r for r in results if r.case in a.case_names]  # the twin ran for bad-refs only: not reported
    info = machine()
    if a.json:
        json.dump({"machine": info, "chart": {**asdict(spec), "parent_objects": spec.parent_objects,
                                              "chains": spec.chain_count,
                                              "dependencies": spec.expected_dependencies},
                   "real_chart": str(REAL_CHART.relative_to(ROOT)), "bad_refs": a.bad_refs,
                   "repeat": a.repeat, "warmup": 1, "target": a.target, "bad_target": a.bad_target,
                   "results": [r.as_dict() for r in results]}, sys.stdout, indent=2)
        print()
    else:
        print_table(results, spec, a.bad_refs, a.repeat, info)
    return 0

if __name__ == "__main__":
    sys.exit(main())
