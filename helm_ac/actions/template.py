"""``helm ac template``: the rendered chart alongside its AppController graph.

Renders like ``helm template`` (same flags), checks the chart extension (a
chart with lint errors has no meaningful graph, so nothing is emitted), then
emits, deterministically:

* ``--format appcontroller`` (default): every orchestrated object wrapped in a
  ``Definition``, hooks unchanged, then the ``Dependency`` objects, then the release's
  ``ReleaseGraph`` (the digest of all of them, which each of them carries as an annotation);
  a Secret's Definition holds no data but names its payload Secret, which follows it (same
  ``# Source:``; ``appcontroller.payloads``);
* ``--format plain``: helm's output byte for byte, then the ``Dependency`` objects;
* ``--format argocd``: the objects, each annotated with ``argocd.argoproj.io/sync-wave`` from its
  level in the graph (Argo CD applies wave by wave);
* ``--format cli-utils``: the objects, each annotated with ``config.kubernetes.io/depends-on``
  listing the objects it waits for (kpt, Config Sync, kapply).

The last two export the order to other tools and carry no AppController objects; docs/interop.md
says what each loses against the DAG.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from helm_ac.actions.render import Checked, Renderer, render_and_check
from helm_ac.analysis.keys import Keys
from helm_ac.analysis.lint import Finding, has_errors
from helm_ac.errors import UserError
from helm_ac.rendering.helm import HelmArgs

if TYPE_CHECKING:
    from helm_ac.rendering.manifests import RenderedObject

FORMATS = ("appcontroller", "plain", "argocd", "cli-utils")
DEPENDENCIES_SOURCE = "appcontroller/dependencies.yaml"  # under the chart's name, like helm's Source paths
RELEASE_GRAPH_SOURCE = "appcontroller/releasegraph.yaml"
#: the file of objects with no ``# Source:`` (a post-renderer added them), named as Helm 4 names them
NO_SOURCE = "generated-by-postrender.yaml"


@dataclass
class Document:
    """One YAML document of the output and the file it belongs to (chart-name-relative, like helm's)."""

    source: str
    text: str  # YAML without the leading '---'

    def render(self) -> str:
        return f"---\n# Source: {self.source}\n{self.text.rstrip()}\n"


@dataclass
class TemplateResult:
    chart: str
    release: str
    documents: list[Document] = field(default_factory=list)
    raw: str | None = None  # --format plain: helm's output, verbatim
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return has_errors(self.findings)

    def render(self) -> str:
        head = (self.raw.rstrip("\n") + "\n") if self.raw else ""
        return head + "".join(d.render() for d in self.documents)


@dataclass
class Template:
    """Emit a chart's objects and its AppController graph."""

    renderer: Renderer | None  # None: emit() only (the manifest is rendered already)
    format: str = "appcontroller"
    implicit: Iterable[str] = ("crd", "namespace")

    def run(self, positionals: Sequence[str], args: HelmArgs) -> TemplateResult:
        assert self.renderer is not None
        return self.emit(render_and_check(self.renderer, positionals, args, self.implicit))

    def emit(self, checked: Checked) -> TemplateResult:
        """The output for a release rendered and checked (``helm ac post-render`` calls it on the
        manifest Helm rendered)."""
        from helm_ac.extension import interop
        from helm_ac.output import appcontroller, exports
        from helm_ac.rendering import yamlio

        rc, a, g, release = checked.rendered, checked.analysis, checked.graph, checked.release
        result = TemplateResult(checked.location, release, findings=checked.findings)
        if result.failed:
            return result
        keys = Keys(a, release)
        chart_name = a.root[0]
        if self.format == "plain":
            result.raw = rc.text
        elif self.format in ("argocd", "cli-utils"):
            annotate = exports.annotations(a, g, keys, self.format)
            for obj in rc.rendered.objects:
                body = obj.body
                if not obj.hooks:
                    body = interop.without_invalid_keys(body, annotate.get(obj.index))
                result.documents.append(Document(obj.source or NO_SOURCE, yamlio.dump(body)))
            return result
        else:
            # each Definition and Dependency carries the graph's digest, which is a hash of all of
            # them: emitted with a placeholder, hashed, then the placeholder replaced
            effective = {info.obj.index: k for k, info in a.objects.items()}
            graph_docs: list[int] = []  # indices of the Definitions and Dependencies in documents
            placeholder = appcontroller.DIGEST_PLACEHOLDER
            payloads = appcontroller.payloads(a, keys)
            for obj in rc.rendered.objects:
                key = effective.get(obj.index)
                payload = payloads.get(key) if key is not None else None
                if key is not None:
                    text = appcontroller.definition_text(a, key, keys, placeholder,
                                                         payload.name if payload else None)
                    graph_docs.append(len(result.documents))
                else:  # hooks stay as helm rendered them
                    text = _own_text(obj) or yamlio.dump(obj.body)
                result.documents.append(Document(obj.source or NO_SOURCE, text))
                if payload is not None:  # a plain object, not part of the graph (nor of its digest)
                    result.documents.append(Document(obj.source or NO_SOURCE, yamlio.dump(payload.secret)))
            deps = appcontroller.dependencies(a, g, keys, placeholder)
            for dep in deps:
                graph_docs.append(len(result.documents))
                result.documents.append(Document(f"{chart_name}/{DEPENDENCIES_SOURCE}", appcontroller.dependency_text(dep)))
            stamped, digest = appcontroller.stamp([result.documents[i].text for i in graph_docs])
            for i, text in zip(graph_docs, stamped):
                result.documents[i].text = text
            rg = appcontroller.release_graph(release, a.namespace, digest, len(graph_docs) - len(deps), len(deps))
            result.documents.append(Document(f"{chart_name}/{RELEASE_GRAPH_SOURCE}", yamlio.dump_simple(rg)))
            return result
        for dep in appcontroller.dependencies(a, g, keys):
            result.documents.append(Document(f"{chart_name}/{DEPENDENCIES_SOURCE}", appcontroller.dependency_text(dep)))
        return result


def write_tree(result: TemplateResult, directory: str) -> list[str]:
    """Write the output under ``directory`` the way ``helm template --output-dir`` does:
    one file per ``# Source:`` path, documents in order; return the files written."""
    from pathlib import Path

    from helm_ac.actions.files import write_file
    from helm_ac.rendering import manifests

    docs = list(result.documents)
    if result.raw is not None:
        docs = [Document(src or NO_SOURCE, chunk.split("\n", 2)[-1] if chunk.lstrip().startswith("# Source:") else chunk)
                for src, chunk in manifests._documents(result.raw) if manifests._CONTENT.search(chunk)]
        docs += result.documents
    files: dict[str, list[str]] = {}
    for d in docs:
        files.setdefault(d.source, []).append(d.render())
    root = Path(directory)
    written = []
    for source, parts in files.items():
        target = (root / source).resolve()
        if root.resolve() not in target.parents:
            raise UserError(f"refusing to write {source!r} outside {directory}")
        write_file(root / source, "".join(parts), "--output-dir", make_parents=True)
        written.append(str(root / source))
    return written


def _own_text(obj: "RenderedObject") -> str | None:
    """The document as helm printed it, without its ``# Source:`` comment (None if not kept)."""
    from helm_ac.rendering.manifests import strip_leading_comments

    return None if obj.text is None else strip_leading_comments(obj.text)
