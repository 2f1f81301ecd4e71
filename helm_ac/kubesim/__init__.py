"""A Kubernetes API in memory: the one cluster model behind both of helm-ac's simulated faces.

Pure (no sockets, no asyncio): time comes from a :class:`helm_ac.clock.Loop`, so the same store and
simulated controllers run in virtual time (``helm ac simulate``, benchmarks) and in real time behind
the embedded API server (:mod:`helm_ac.apiserver`).

* :mod:`.errors` -- :class:`StatusError`, a refusal as a Kubernetes ``Status``; :mod:`.fields` -- field
  errors and name checks in the server's words;
* :mod:`.resources` -- the resource table (built-ins from lightkube-models; CRDs added live);
* :mod:`.store` -- objects, resourceVersions, watches, finalizers, garbage collection, namespaces;
* :mod:`.selectors` -- label and field selectors;
* :mod:`.patch` -- JSON, merge and strategic merge patches, server-side apply, PatchOptions;
* :mod:`.schemas` -- Kubernetes' OpenAPI schemas (kubernetes-validate), the one loader; what patches
  read of them (merge keys, list and map types);
* :mod:`.validation` -- decoding and validation of objects (built-ins and custom resources);
* :mod:`.discovery` and :mod:`.openapi` -- discovery and OpenAPI v3 documents;
* :mod:`.crds` -- what a CustomResourceDefinition adds to the API, its names and conditions;
  :mod:`.defaulting` -- its schema's structural defaults, on request bodies and on every read;
* :mod:`.controllers` -- simulated controllers (Deployments, Jobs, Services, PVCs, CRDs, ...), and
  :mod:`.behaviour` -- their settings (durations, failures, seeded);
* :mod:`.rbac` and :mod:`.faults` -- authentication, authorization and injected faults;
* :mod:`.audit` -- what a request asks for (``RequestInfo``) and the audit log;
* :mod:`.tables` -- server-side printing (``Table``, what ``kubectl get`` shows);
* :mod:`.times` -- RFC 3339 times as Kubernetes writes them.
"""
