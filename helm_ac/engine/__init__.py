"""The orchestration engine: a per-edge, event-driven scheduler over a :class:`~.cluster.Cluster`
(a pure reactor: requests out, replies and watch messages in; docs/engine.md).

* :mod:`helm_ac.clock`: time and callbacks (a virtual clock for simulation and tests);
* :mod:`.cluster`: the seam the engine talks to (asynchronous calls, watches per kind and namespace);
* :mod:`.simulated`: an in-memory cluster with simulated controllers and fault injection;
* :mod:`.events`: what the engine emits; renderers and tests consume it;
* :mod:`.scheduler`: the engine itself.
"""
