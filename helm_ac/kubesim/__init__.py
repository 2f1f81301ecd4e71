"""A Kubernetes API in memory: the one cluster model behind both of helm-ac's simulated faces.

Pure (no sockets, no asyncio): time comes from a :class:`helm_ac.clock.Loop`, so the same store and
simulated controllers run in virtual time (``helm ac simulate``, benchmarks) and in real time behind
the embedded API server (:mod:`helm_ac.apiserver`).

* :mod:`.errors` -- :class:`StatusError`, a refusal as a Kubernetes ``Status``;
* :mod:`.resources` -- the resource table (built-ins from lightkube-models; CRDs added live);
* :mod:`.store` -- objects, resourceVersions, watches, finalizers, garbage collection, namespaces;
* :mod:`.patch` -- JSON, merge and strategic merge patches, server-side apply;
* :mod:`.schemas` -- Kubernetes' OpenAPI schemas (kubernetes-validate): validation, patch metadata;
* :mod:`.discovery` -- discovery and OpenAPI documents;
* :mod:`.controllers` -- simulated controllers (Deployments, Jobs, Services, PVCs, CRDs, ...);
* :mod:`.rbac` and :mod:`.faults` -- authorization and injected faults.
"""
