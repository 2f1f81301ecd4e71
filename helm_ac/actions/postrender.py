"""``helm ac post-render``: Helm's post-renderer. Reads the manifest Helm rendered on stdin and
returns what ``helm ac template`` emits for it (the same analysis, lint and emission:
:meth:`Template.emit`) plus the controller's objects (:mod:`helm_ac.output.controller_manifests`),
so that Helm creates, tracks and deletes all of it as one release.

What is wrapped is exactly what Helm rendered (its random values, its ``lookup`` answers): nothing
is rendered again. The chart's Chart.yaml tree (``--chart``) only adds what the manifest cannot
tell, which decides edges, never content: chart-level annotations (subchart order), dependency
aliases, conditions and tags. That tree does not depend on values (a condition decides whether a
subchart renders, which the manifest shows), so no values flags are taken.

Helm 3 hands its post-renderer the regular objects only, each after a ``# Source:`` line (hooks are
set aside before, and whatever the post-renderer returns is installed as regular objects: no hook
may be added). Helm 4 hands it every template's documents, hooks included, each carrying its file
in the annotation ``postrenderer.helm.sh/postrender-filename`` instead of a ``# Source:`` line,
and sorts hooks out of the answer: the teardown ``pre-delete`` hook Job is added for Helm 4 only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from helm_ac.actions.render import Checked, RenderedChart, check
from helm_ac.actions.template import RELEASE_GRAPH_SOURCE, Document, Template, TemplateResult
from helm_ac.errors import ChartError, UserError

if TYPE_CHECKING:
    from helm_ac.rendering.chart import Chart

#: Helm 4's annotation naming each document's template file (pkg/action/action.go)
HELM4_FILENAME = "postrenderer.helm.sh/postrender-filename"
CONTROLLER_SOURCE = "appcontroller/controller.yaml"  # under the chart's name, like the Dependencies
_RELEASE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


#: the annotation as Helm 4 writes it (kio: block style, a plain one-line value), found from the
#: newline before it; group 1 its indentation, group 2 the file
_FILENAME_LINE = re.compile(r"\n( +)" + re.escape(HELM4_FILENAME) + r": ([^\s'\"#{}\[\],&*!|>%@`][^\n]*?)[ \t]*(?=\n|\Z)")


def _cut_filename(chunk: str) -> tuple[str, str] | None:
    """(the file, the document without its annotation) read from the text, when the annotation is
    written as Helm 4 writes it (a block mapping under ``metadata.annotations``); else None."""
    m = _FILENAME_LINE.search(chunk)
    if m is None or ": " in m.group(2) or " #" in m.group(2) or m.group(1) != "    ":
        return None  # not metadata.annotations of a document indented as kio writes it
    indent = m.group(1)
    head, tail = chunk[:m.start()], chunk[m.end():]
    parent = f"\n{indent[:-2]}annotations:"
    if not (head.endswith(parent) or tail.startswith(f"\n{indent}")):
        return None  # the last of several (the parent line is not next to it): parsed instead
    if head.endswith(parent) and not tail.startswith(f"\n{indent}"):  # it was the only one
        head = head[:-len(parent)]
    return m.group(2), head + tail


def helm4_sources(text: str) -> str:
    """Helm 4's post-renderer input with each document's template file (its
    ``postrenderer.helm.sh/postrender-filename`` annotation) as a ``# Source:`` line, the annotation
    removed (it must not reach the objects the controller applies). The usual layout is edited as
    text (parsing and writing every document again cost ~0.2 ms each); anything else is parsed."""
    from helm_ac.rendering import manifests, yamlio

    out = []
    for _, chunk in manifests._documents(text):
        if HELM4_FILENAME not in chunk:
            out.append(f"---{chunk}" if chunk.startswith("\n") else f"---\n{chunk}")
            continue
        cut = _cut_filename(chunk if chunk.startswith("\n") else "\n" + chunk)
        if cut is not None:
            out.append(f"---\n# Source: {cut[0]}{cut[1]}" + ("" if cut[1].endswith("\n") else "\n"))
            continue
        try:
            body = yamlio.load(chunk)
        except Exception as exc:  # noqa: BLE001 - the YAML loader's errors: Helm's input is not YAML
            raise UserError(f"the manifest Helm passed is not YAML: {' '.join(str(exc).split())}") from None
        meta = body.get("metadata") if isinstance(body, dict) else None
        ann = meta.get("annotations") if isinstance(meta, dict) else None
        source = ann.pop(HELM4_FILENAME, None) if isinstance(ann, dict) else None
        if isinstance(meta, dict) and ann == {}:
            del meta["annotations"]
        out.append(f"---\n# Source: {source}\n{yamlio.dump(body)}" if source else f"---\n{yamlio.dump(body)}")
    return "".join(out)


def check_names(release: str, namespace: str) -> None:
    """The release and namespace as Helm accepts them (the emitted objects are named after them)."""
    if not (len(release) <= 53 and _RELEASE.fullmatch(release)):
        raise UserError(f"--release {release!r} is not a release name Helm accepts (a DNS-1123 label of at most "
                        "53 characters: lower-case letters, digits and '-')",
                        hint="pass the release name helm installs: --post-renderer-args=--release=NAME")
    if not (len(namespace) <= 63 and _RELEASE.fullmatch(namespace)):
        raise UserError(f"--namespace {namespace!r} is not a namespace name (a DNS-1123 label of at most 63 "
                        "characters: lower-case letters, digits and '-')",
                        hint="pass helm's -n: --post-renderer-args=--namespace=NS")


@dataclass
class PostRender:
    """One post-render of one release."""

    release: str
    namespace: str
    chart: str | None = None  # the chart's directory or .tgz (its Chart.yaml tree)
    image: str | None = None  # the controller image (default: controller_manifests.DEFAULT_IMAGE)
    helm: str | None = None  # "3" or "4"; None: Helm 4 when its filename annotations are there
    implicit: Iterable[str] = ("crd", "namespace")
    #: the gate Job's --timeout (seconds): helm ac install passes its own --timeout
    gate_timeout: int = 300

    def run(self, text: str) -> TemplateResult:
        from helm_ac.output import controller_manifests as cm
        from helm_ac.rendering import manifests
        from helm_ac.rendering.chart import load_chart

        check_names(self.release, self.namespace)
        helm4 = self.helm == "4" or (self.helm is None and HELM4_FILENAME in text)
        if HELM4_FILENAME in text:
            text = helm4_sources(text)
        chart = None
        if self.chart:
            try:
                chart = load_chart(self.chart)
            except ChartError as exc:
                raise UserError(f"--chart {self.chart}: {exc.message}",
                                hint="give the chart's directory or packaged .tgz (a chart from a repository: "
                                     "helm pull it first)") from None
        rendered = manifests.split(text)
        # Helm 4 passes the chart's hooks: the teardown hook goes after its own pre-delete hooks
        teardown_weight = cm.teardown_weight(cm.hook_weight(o.annotations) for o in rendered.objects
                                             if "pre-delete" in o.hooks)
        crds_skipped = not any(o.template.startswith("crds/") for o in rendered.objects)
        if crds_skipped and chart is not None:
            # Helm installs the charts' crds/ before anything and does not pass them to its
            # post-renderer: read them from the chart, so that references to them resolve
            rendered = manifests.split(_chart_crds(chart) + text)
            crds_skipped = not any(c.crd_files for c in chart.walk())
        rc = RenderedChart(self.chart or "<stdin>", rendered, chart, self.namespace, text=text,
                           crds_skipped=crds_skipped)
        checked = check(rc, self.release, rc.location, self.implicit)
        _leave_crds_to_helm(checked)
        result = Template(None).emit(checked)
        if result.failed:
            return result
        needs = cm.needs(checked.analysis, self.release, payload_secrets(result.documents))
        source = f"{checked.analysis.root[0]}/{CONTROLLER_SOURCE}"
        from helm_ac.rendering import yamlio

        for obj in cm.manifests(needs, self.image or cm.DEFAULT_IMAGE, teardown_hook=helm4,
                                digest=graph_digest(result.documents), gate_timeout=self.gate_timeout,
                                teardown_hook_weight=teardown_weight):
            result.documents.append(Document(source, yamlio.dump(obj)))
        if helm4:
            for d in result.documents:
                d.text = with_file_annotation(d.text, d.source)
        return result


def with_file_annotation(text: str, source: str) -> str:
    """A document with Helm 4's file annotation, so that Helm 4 files it under ``source`` (in
    ``helm get manifest``, and a hook's path) instead of ``generated-by-postrender-<n>.yaml``; Helm
    removes the annotation before it creates anything. Written into the text as our emitters lay
    it out (block style, two-space indents), parsed otherwise."""
    import json

    from helm_ac.rendering import yamlio

    line = f"    {HELM4_FILENAME}: {json.dumps(source)}\n"
    head, sep, rest = text.partition("\nmetadata:\n") if not text.startswith("metadata:\n") else \
        ("", "metadata:\n", text[len("metadata:\n"):])
    if sep and rest.startswith("  ") and not rest.startswith("   "):
        block_end = re.search(r"^(?!  )", rest, re.MULTILINE)
        block = rest[:block_end.start()] if block_end else rest
        at = block.find("\n  annotations:\n") if not block.startswith("  annotations:\n") else -1
        if block.startswith("  annotations:\n"):
            return head + sep + "  annotations:\n" + line + rest[len("  annotations:\n"):]
        if at != -1:
            cut = at + len("\n  annotations:\n")
            return head + sep + rest[:cut] + line + rest[cut:]
        if "\n  annotations:" not in "\n" + block:  # none yet (a flow-style one is parsed below)
            return head + sep + "  annotations:\n" + line + rest
    body = yamlio.load(text)
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return text
    ann = body["metadata"].get("annotations")
    body["metadata"]["annotations"] = {**(ann if isinstance(ann, dict) else {}), HELM4_FILENAME: source}
    return yamlio.dump(body)


def _chart_crds(chart: "Chart") -> str:
    """The charts' crds/ files as ``helm template --include-crds`` prints them."""
    from helm_ac.rendering.manifests import chart_file

    out = []
    for c in chart.walk():
        for rel in c.crd_files:
            data = c.files.read(rel) if c.files is not None else None
            if data is not None:
                out.append(f"---\n# Source: {c.path[0]}/{chart_file(c.path, rel)}\n{data.decode('utf-8', errors='replace')}\n")
    return "".join(out)


def _leave_crds_to_helm(checked: Checked) -> None:
    """The charts' crds/ are Helm's: it creates them before anything else, so they are neither
    wrapped nor returned, and what waits for them waits for nothing (the edges go with them)."""
    a = checked.analysis
    crds = [k for k in a.order if a.objects[k].obj.template.startswith("crds/")]
    if not crds:
        return
    gone = {a.objects[k].obj.index for k in crds}
    checked.graph.remove_nodes_from(crds)
    for k in crds:
        del a.objects[k]
    a.order[:] = [k for k in a.order if k not in set(crds)]
    rendered = checked.rendered.rendered
    rendered.objects[:] = [o for o in rendered.objects if o.index not in gone]


def graph_digest(documents: Iterable[Document]) -> str:
    """The ReleaseGraph's ``spec.digest`` among the emitted documents (the gate waits for it)."""
    from helm_ac.rendering import yamlio

    for d in documents:
        if d.source.endswith(RELEASE_GRAPH_SOURCE):
            body = yamlio.load(d.text)
            if isinstance(body, dict) and body.get("kind") == "ReleaseGraph":
                return str(body["spec"]["digest"])
    raise AssertionError("Template.emit wrote no ReleaseGraph")


def payload_secrets(documents: Iterable[Document]) -> list[str]:
    """The names of the payload Secrets among the emitted documents (issue 10 point 4: Secrets of
    type ``appcontroller.k8s/payload``, which the controller reads by name)."""
    from helm_ac.output.controller_manifests import PAYLOAD_TYPE
    from helm_ac.rendering import yamlio

    names = []
    for d in documents:
        if PAYLOAD_TYPE not in d.text:
            continue
        body = yamlio.load(d.text)
        if isinstance(body, dict) and body.get("kind") == "Secret" and body.get("type") == PAYLOAD_TYPE:
            names.append(str((body.get("metadata") or {}).get("name")))
    return names
