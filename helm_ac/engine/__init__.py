"""The orchestration engine: a per-edge, event-driven scheduler over a :class:`~.cluster.Cluster`.

* :mod:`.loop`: time and callbacks (a virtual clock for simulation and tests);
* :mod:`.cluster`: the seam the engine talks to (apply, get, delete, watch);
* :mod:`.simulated`: an in-memory cluster with simulated controllers and fault injection;
* :mod:`.events`: what the engine emits; renderers and tests consume it;
* :mod:`.scheduler`: the engine itself.
"""
