"""The helm-ac controller (issue 10 point 3; design: ``docs/controller.md``): reads one release's
Definitions and Dependencies from the cluster, rolls the wrapped objects out in dependency order
with the engine on :class:`helm_ac.kube.cluster.KubeCluster`, and writes each Definition's status.

* :mod:`.release` -- the release's graph read from the cluster: Definitions and Dependencies
  turned into the engine's :class:`~helm_ac.analysis.model.Analysis` and graph (pure but for
  :func:`.release.read`, which lists them);
* :mod:`.status` -- a Definition's status from the engine's events (pure), and the writer that
  patches the ``status`` subresource in order;
* :mod:`.run` -- one rollout of one release (:func:`.run.rollout`), the ReleaseGraph's summary;
* :mod:`.watch` -- ``--watch``: the long-running controller (runs superseded as the graph changes);
* :mod:`.health` -- ``--health-port``: ``/healthz``, ``/readyz``;
* :mod:`.__main__` -- ``python -m helm_ac.controller --release NAME -n NS``.
"""
