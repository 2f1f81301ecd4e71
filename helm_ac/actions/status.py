"""``helm ac status NAME``: a release's rollout as the cluster holds it, object by object.

Reads the release's Definitions (their status, written by the controller), Dependencies and
ReleaseGraph through the official client, found as Helm finds the cluster (``--kubeconfig``,
``--kube-context``, ``-n``), and returns :class:`~helm_ac.controller.view.ReleaseView`
(``controller/view.py``); the CLI prints it as a table, JSON or YAML.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from urllib3.exceptions import HTTPError

from helm_ac.controller import follow, view
from helm_ac.engine.cluster import ApiError
from helm_ac.engine.events import Event
from helm_ac.kube.cluster import KubeCluster
from helm_ac.controller.release import selector
from helm_ac.errors import UserError
from helm_ac.kube.config import connect
from helm_ac.output import crds

#: the kinds read, in order
KINDS = ("Definition", "Dependency", "ReleaseGraph")


class ReleaseNotFound(UserError):
    """No helm-ac object of the release in the namespace."""

    exit_code = 1


def read(dynamic: DynamicClient, namespace: str, release: str) -> view.ReleaseView:
    """The release's view (blocking). A cluster without the CRDs or that refuses is a UserError."""
    got: list[list[dict[str, Any]]] = []
    for kind in KINDS:
        try:
            res = dynamic.resources.get(api_version=crds.API_VERSION, kind=kind)
            got.append(dynamic.get(res, namespace=namespace, label_selector=selector(release)).to_dict()["items"])
        except ResourceNotFoundError:
            raise UserError(f"the cluster does not serve {kind} ({crds.API_VERSION}): the helm-ac CRDs are not installed",
                            hint="install them with `helm ac crds | kubectl apply --server-side -f -`") from None
        except ApiException as exc:
            raise UserError(f"cannot list the {kind} objects of release {release} in namespace {namespace}: "
                            f"{exc.status} {exc.reason}",
                            hint="check your permissions (kubectl auth can-i list "
                                 f"{kind.lower()}s.{crds.GROUP} -n {namespace})") from None
        except (HTTPError, OSError) as exc:
            raise UserError(f"cannot reach the cluster: {exc}", hint="check the kubeconfig and the connection") from None
    graph_object = next((g for g in got[2] if g["metadata"]["name"] == release), None)
    return view.snapshot(release, namespace, got[0], got[1], graph_object)


@dataclass
class Status:
    """Read one release's status."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def run(self, release: str) -> tuple[view.ReleaseView, float]:
        conn = connect(kubeconfig=self.kubeconfig, context=self.context, namespace=self.namespace)
        # the dynamic client caches discovery in a file named for the server: a private one, so
        # nothing a previous run (or another cluster at the same address) learnt is taken for true
        with tempfile.TemporaryDirectory(prefix="helm-ac-") as tmp:
            try:
                v = read(DynamicClient(conn.api, cache_file=str(Path(tmp) / "discovery.json")), conn.namespace, release)
            finally:
                conn.api.close()
        if not v.found:
            raise ReleaseNotFound(f"release {release}: no helm-ac objects (Definitions, ReleaseGraph) in namespace "
                                  f"{conn.namespace}",
                                  hint="check the release name and -n NAMESPACE (helm list -A shows the releases)")
        return v, time.time()

    def follow(self, release: str, sink: Callable[[Event], None], timeout: float | None) -> tuple[view.ReleaseView, float]:
        """Follow the release's rollout until every object is final or ``timeout`` seconds passed,
        handing ``sink`` the state changes (the engine's events)."""
        conn = connect(kubeconfig=self.kubeconfig, context=self.context, namespace=self.namespace)

        async def run() -> view.ReleaseView:
            cluster = KubeCluster(conn.api, asyncio.get_running_loop())
            try:
                await asyncio.get_running_loop().run_in_executor(
                    cluster.pool, lambda: [cluster.resource(crds.API_VERSION, k) for k in KINDS])
                return await follow.follow(cluster, conn.namespace, release, sink, timeout=timeout)
            except ApiError as exc:
                if exc.code == 404:
                    raise UserError(f"the cluster does not serve the helm-ac kinds ({crds.API_VERSION}): "
                                    "the CRDs are not installed",
                                    hint="install them with `helm ac crds | kubectl apply --server-side -f -`") from None
                raise UserError(f"cannot watch release {release}: {exc.code}: {exc.message}",
                                hint="check your permissions and the connection") from None
            finally:
                cluster.close()

        try:
            v = asyncio.run(run())
        finally:
            conn.api.close()
        return v, time.time()
